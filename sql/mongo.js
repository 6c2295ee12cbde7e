// The seed's MongoDB collections and indexes, for mongosh, on the database
// named in the connection string ("DB name is free of choice"):
//
//     mongosh "mongodb://127.0.0.1:27017/mqtt" sql/mongo.js
//
// One statement a line, arguments in JSON: the tests apply this same file
// through the driver (tests/support/mongo.rs), line by line.

db.createCollection("mqtt_client")
db.createCollection("mqtt_sub")
db.createCollection("mqtt_msg")
db.createCollection("mqtt_retain")
db.createCollection("mqtt_acked")

// The seed's indexes (its ensureIndex, which mongosh no longer has; key
// values 1, since current servers take only 1 or -1 for ascending or
// descending). mqtt_retain's is unique here: one document per topic, which
// on_message_retain replaces.
db.mqtt_client.createIndex({"clientid": 1, "node": 1})
db.mqtt_sub.createIndex({"clientid": 1})
db.mqtt_msg.createIndex({"sender": 1, "topic": 1})
db.mqtt_retain.createIndex({"topic": 1}, {"unique": true})

// cistern's: one document per client and per (client, topic), as the stock
// functions upsert them, even when two writes race; the offline fetch reads
// a topic's messages in _id order.
db.mqtt_client.createIndex({"clientid": 1}, {"unique": true})
db.mqtt_sub.createIndex({"clientid": 1, "topic": 1}, {"unique": true})
db.mqtt_msg.createIndex({"topic": 1, "_id": 1})
db.mqtt_acked.createIndex({"clientid": 1, "topic": 1}, {"unique": true})

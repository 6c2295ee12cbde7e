-- The seed's PostgreSQL tables (EMQX 4 Backends, "PostgreSQL Backend"), for cistern.
-- Import as the seed does:
--   createdb mqtt -E UTF8 -e
--   psql mqtt, then \i sql/pgsql.sql
--
-- Mended from the seed, and why:
--  * payload is bytea, not text: MQTT payloads are bytes, and text refuses
--    what is not valid UTF-8 (and any NUL byte).
--  * mqtt_msg and mqtt_retain get the node column the seed's own query
--    output shows (and MySQL's tables have).
--  * mqtt_acked.topic is varchar(200), not 100, to hold every topic
--    mqtt_msg and mqtt_sub can hold.
--  * created columns default to now(), as MySQL's do.
--  * mqtt_msg gets an index on msgid (an acknowledgement looks the message up
--    by it) and on (topic, id) (an offline fetch scans a topic in id order).

CREATE TABLE mqtt_client(
    id SERIAL primary key,
    clientid character varying(100),
    state integer,
    node character varying(100),
    online_at timestamp,
    offline_at timestamp,
    created timestamp without time zone DEFAULT now(),
    UNIQUE (clientid)
);

CREATE TABLE mqtt_sub(
    id SERIAL primary key,
    clientid character varying(100),
    topic character varying(200),
    qos integer,
    created timestamp without time zone DEFAULT now(),
    UNIQUE (clientid, topic)
);

CREATE TABLE mqtt_msg (
  id SERIAL primary key,
  msgid character varying(60),
  sender character varying(100),
  topic character varying(200),
  node character varying(100),
  qos integer,
  retain integer,
  payload bytea,
  arrived timestamp without time zone
);
CREATE INDEX mqtt_msg_msgid ON mqtt_msg (msgid);
CREATE INDEX mqtt_msg_topic_id ON mqtt_msg (topic, id);

CREATE TABLE mqtt_retain(
  id SERIAL primary key,
  topic character varying(200),
  msgid character varying(60),
  sender character varying(100),
  node character varying(100),
  qos integer,
  payload bytea,
  arrived timestamp without time zone,
  UNIQUE (topic)
);

CREATE TABLE mqtt_acked (
  id SERIAL primary key,
  clientid character varying(100),
  topic character varying(200),
  mid integer,
  created timestamp without time zone,
  UNIQUE (clientid, topic)
);

-- cistern's own (not the seed's): what the stock on_session_store keeps of a
-- persistent session, so that it survives a broker restart.
CREATE TABLE cistern_session_sub (
  id SERIAL primary key,
  clientid character varying(100) NOT NULL,
  topic character varying(200) NOT NULL,
  qos integer NOT NULL,
  UNIQUE (clientid, topic)
);

CREATE TABLE cistern_session_msg (
  id SERIAL primary key,
  clientid character varying(100) NOT NULL,
  msgid character varying(64) NOT NULL,
  topic character varying(200) NOT NULL,
  sender character varying(100),
  qos integer NOT NULL,
  retain integer,
  payload bytea,
  arrived timestamp without time zone NOT NULL,
  UNIQUE (clientid, msgid)
);

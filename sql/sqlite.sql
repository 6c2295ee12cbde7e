-- cistern's embedded default store: the seed's tables (EMQX 4 Backends,
-- "MySQL Backend"), in SQLite. Applied on every start; every statement is
-- IF NOT EXISTS, so an existing database is left as it is.
--
-- Mended from the seed, and why:
--  * Columns holding times are declared DATETIME and hold UTC text
--    ('YYYY-MM-DD HH:MM:SS.sss'), the form SQLite's date functions read.
--  * state is INTEGER (MySQL's seed says varchar(3); PostgreSQL's says integer).
--  * mqtt_msg gets an index on (topic, id), which an offline fetch scans, and a
--    unique index on msgid, which an acknowledgement looks up.

CREATE TABLE IF NOT EXISTS mqtt_client (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  clientid TEXT UNIQUE,
  state INTEGER,
  node TEXT,
  online_at DATETIME,
  offline_at DATETIME,
  created DATETIME DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS mqtt_sub (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  clientid TEXT,
  topic TEXT,
  qos INTEGER,
  created DATETIME DEFAULT CURRENT_TIMESTAMP,
  UNIQUE (clientid, topic)
);

CREATE TABLE IF NOT EXISTS mqtt_msg (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  msgid TEXT,
  topic TEXT NOT NULL,
  sender TEXT,
  node TEXT,
  qos INTEGER NOT NULL DEFAULT 0,
  retain INTEGER,
  payload BLOB,
  arrived DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS mqtt_msg_topic_id ON mqtt_msg (topic, id);
CREATE UNIQUE INDEX IF NOT EXISTS mqtt_msg_msgid ON mqtt_msg (msgid);

CREATE TABLE IF NOT EXISTS mqtt_retain (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT UNIQUE,
  msgid TEXT,
  sender TEXT,
  node TEXT,
  qos INTEGER,
  payload BLOB,
  arrived DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS mqtt_acked (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  clientid TEXT,
  topic TEXT,
  mid INTEGER,
  created DATETIME,
  UNIQUE (clientid, topic)
);

-- cistern's own (not the seed's): what the stock on_session_store keeps of a
-- persistent session, so that it survives a broker restart.
CREATE TABLE IF NOT EXISTS cistern_session_sub (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  clientid TEXT NOT NULL,
  topic TEXT NOT NULL,
  qos INTEGER NOT NULL,
  UNIQUE (clientid, topic)
);

CREATE TABLE IF NOT EXISTS cistern_session_msg (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  clientid TEXT NOT NULL,
  msgid TEXT NOT NULL,
  topic TEXT NOT NULL,
  sender TEXT,
  qos INTEGER NOT NULL,
  retain INTEGER,
  payload BLOB,
  arrived DATETIME NOT NULL,
  UNIQUE (clientid, msgid)
);

-- The seed's MySQL tables (EMQX 4 Backends, "MySQL Backend"), for cistern.
-- Import as the seed does:
--   mysql -u root -p -e 'create database mqtt'
--   mysql -u root -p mqtt < sql/mysql.sql
--
-- Mended from the seed, and why:
--  * CHARSET utf8mb4, not utf8 (which is MySQL's 3-byte utf8mb3): MQTT topics
--    and client ids are UTF-8 and may hold any character, emoji included.
--  * payload LONGBLOB, not BLOB: a BLOB holds 64 KB, an MQTT payload up to 256 MB.
--  * mqtt_msg gets an index on msgid (an acknowledgement looks the message up
--    by it) and on (topic, id) (an offline fetch scans a topic in id order).
--  * mqtt_acked.mid is unsigned, as mqtt_msg.id is, since it holds one.

DROP TABLE IF EXISTS `mqtt_client`;
CREATE TABLE `mqtt_client` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `clientid` varchar(64) DEFAULT NULL,
  `state` varchar(3) DEFAULT NULL,
  `node` varchar(100) DEFAULT NULL,
  `online_at` datetime DEFAULT NULL,
  `offline_at` datetime DEFAULT NULL,
  `created` timestamp NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  KEY `mqtt_client_idx` (`clientid`),
  UNIQUE KEY `mqtt_client_key` (`clientid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

DROP TABLE IF EXISTS `mqtt_sub`;
CREATE TABLE `mqtt_sub` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `clientid` varchar(64) DEFAULT NULL,
  `topic` varchar(255) DEFAULT NULL,
  `qos` int(3) DEFAULT NULL,
  `created` timestamp NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  KEY `mqtt_sub_idx` (`clientid`,`topic`(255),`qos`),
  UNIQUE KEY `mqtt_sub_key` (`clientid`,`topic`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

DROP TABLE IF EXISTS `mqtt_msg`;
CREATE TABLE `mqtt_msg` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `msgid` varchar(100) DEFAULT NULL,
  `topic` varchar(1024) NOT NULL,
  `sender` varchar(1024) DEFAULT NULL,
  `node` varchar(60) DEFAULT NULL,
  `qos` int(11) NOT NULL DEFAULT '0',
  `retain` tinyint(2) DEFAULT NULL,
  `payload` longblob,
  `arrived` datetime NOT NULL,
  PRIMARY KEY (`id`),
  KEY `mqtt_msg_msgid` (`msgid`),
  KEY `mqtt_msg_topic_id` (`topic`(255),`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

DROP TABLE IF EXISTS `mqtt_retain`;
CREATE TABLE `mqtt_retain` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `topic` varchar(200) DEFAULT NULL,
  `msgid` varchar(60) DEFAULT NULL,
  `sender` varchar(100) DEFAULT NULL,
  `node` varchar(100) DEFAULT NULL,
  `qos` int(2) DEFAULT NULL,
  `payload` longblob,
  `arrived` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  UNIQUE KEY `mqtt_retain_key` (`topic`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

DROP TABLE IF EXISTS `mqtt_acked`;
CREATE TABLE `mqtt_acked` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `clientid` varchar(200) DEFAULT NULL,
  `topic` varchar(200) DEFAULT NULL,
  `mid` int(11) unsigned DEFAULT NULL,
  `created` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `mqtt_acked_key` (`clientid`,`topic`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- cistern's own (not the seed's): what the stock on_session_store keeps of a
-- persistent session, so that it survives a broker restart.
DROP TABLE IF EXISTS `cistern_session_sub`;
CREATE TABLE `cistern_session_sub` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `clientid` varchar(64) NOT NULL,
  `topic` varchar(180) NOT NULL,
  `qos` tinyint(1) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `cistern_session_sub_key` (`clientid`,`topic`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

DROP TABLE IF EXISTS `cistern_session_msg`;
CREATE TABLE `cistern_session_msg` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `clientid` varchar(64) NOT NULL,
  `msgid` varchar(64) NOT NULL,
  `topic` varchar(180) NOT NULL,
  `sender` varchar(64) DEFAULT NULL,
  `qos` tinyint(1) NOT NULL,
  `retain` tinyint(1) DEFAULT NULL,
  `payload` longblob,
  `arrived` datetime NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `cistern_session_msg_key` (`clientid`,`msgid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

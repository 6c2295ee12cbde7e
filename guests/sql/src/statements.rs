//! The statements of each dialect, over the seed's tables. Parameters are
//! always bound (`?` or `$n`); only these fixed texts ever reach the database.
//!
//! Topic filters with wildcards are narrowed with `LIKE prefix%` (escape
//! character `!`, the same in every dialect) and then matched exactly by the
//! guest, since `LIKE` cannot express MQTT's level rules.

use cistern_guest::Dialect;

pub struct Statements {
    /// clientid, node, online_at, created
    pub client_connected: &'static str,
    /// clientid, node, offline_at, created
    pub client_disconnected: &'static str,
    /// clientid
    pub subscriptions: &'static str,
    /// msgid, topic, sender, node, qos, retain, payload, arrived, msgid: inserts only when no row
    /// has that msgid yet, so that storing a message again (a replay) is harmless. A `WHERE NOT
    /// EXISTS` rather than a unique key, because the seed's own tables have none on msgid.
    pub insert_message: &'static str,
    /// clientid, topic, arrived_since, after_id, limit
    pub fetch_exact: &'static str,
    /// clientid, like_pattern, arrived_since, after_id, limit
    pub fetch_like: &'static str,
    /// clientid, topic, created, msgid
    pub ack: &'static str,
    /// topic, msgid, sender, node, qos, payload, arrived
    pub retain: &'static str,
    /// topic
    pub delete_retained: &'static str,
    /// topic
    pub retained_exact: &'static str,
    /// like_pattern, after_id, limit
    pub retained_like: &'static str,
    /// A persistent session's own state, in cistern's tables (`cistern_session_sub`,
    /// `cistern_session_msg`). clientid, topic, qos
    pub session_subscribe: &'static str,
    /// clientid, topic
    pub session_unsubscribe: &'static str,
    /// clientid
    pub session_subscriptions: &'static str,
    /// clientid
    pub session_clear_subscriptions: &'static str,
    /// clientid, msgid, topic, sender, qos, retain, payload, arrived: nothing when the session has
    /// that msgid already (a replay, or a second subscription matching the message)
    pub session_queue: &'static str,
    /// clientid, msgid
    pub session_dequeue: &'static str,
    /// clientid
    pub session_messages: &'static str,
    /// clientid
    pub session_clear_messages: &'static str,
}

impl Statements {
    pub fn of(dialect: Dialect) -> &'static Statements {
        match dialect {
            Dialect::Sqlite => &SQLITE,
            Dialect::Mysql => &MYSQL,
            Dialect::Postgres => &POSTGRES,
        }
    }
}

/// Columns read back for a stored message, in the order `functions::message_from_row` expects.
macro_rules! message_columns {
    () => {
        "m.id, m.msgid, m.topic, m.sender, m.qos, m.retain, m.payload, m.arrived"
    };
}

static SQLITE: Statements = Statements {
    client_connected: "INSERT INTO mqtt_client(clientid, state, node, online_at, offline_at, created) \
        VALUES (?, 1, ?, ?, NULL, ?) ON CONFLICT (clientid) DO UPDATE SET state = 1, \
        node = excluded.node, online_at = excluded.online_at, offline_at = NULL",
    client_disconnected: "INSERT INTO mqtt_client(clientid, state, node, online_at, offline_at, created) \
        VALUES (?, 0, ?, NULL, ?, ?) ON CONFLICT (clientid) DO UPDATE SET state = 0, \
        offline_at = excluded.offline_at",
    subscriptions: "SELECT topic, qos FROM mqtt_sub WHERE clientid = ? ORDER BY id",
    insert_message: "INSERT INTO mqtt_msg(msgid, topic, sender, node, qos, retain, payload, arrived) \
        SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM mqtt_msg WHERE msgid = ?)",
    fetch_exact: concat!(
        "SELECT ",
        message_columns!(),
        " FROM mqtt_msg m LEFT JOIN mqtt_acked a ON a.clientid = ? AND a.topic = m.topic \
        WHERE m.topic = ? AND m.id > COALESCE(a.mid, 0) AND m.arrived >= ? AND m.id > ? \
        ORDER BY m.id LIMIT ?"
    ),
    fetch_like: concat!(
        "SELECT ",
        message_columns!(),
        " FROM mqtt_msg m LEFT JOIN mqtt_acked a ON a.clientid = ? AND a.topic = m.topic \
        WHERE m.topic LIKE ? ESCAPE '!' AND m.id > COALESCE(a.mid, 0) AND m.arrived >= ? AND m.id > ? \
        ORDER BY m.id LIMIT ?"
    ),
    ack: "INSERT INTO mqtt_acked(clientid, topic, mid, created) \
        SELECT ?, ?, id, ? FROM mqtt_msg WHERE msgid = ? ORDER BY id DESC LIMIT 1 \
        ON CONFLICT (clientid, topic) DO UPDATE SET mid = MAX(mid, excluded.mid), created = excluded.created",
    retain: "INSERT INTO mqtt_retain(topic, msgid, sender, node, qos, payload, arrived) \
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (topic) DO UPDATE SET msgid = excluded.msgid, \
        sender = excluded.sender, node = excluded.node, qos = excluded.qos, payload = excluded.payload, \
        arrived = excluded.arrived",
    delete_retained: "DELETE FROM mqtt_retain WHERE topic = ?",
    retained_exact: "SELECT id, msgid, topic, sender, qos, payload, arrived FROM mqtt_retain WHERE topic = ?",
    retained_like: "SELECT id, msgid, topic, sender, qos, payload, arrived FROM mqtt_retain \
        WHERE topic LIKE ? ESCAPE '!' AND id > ? ORDER BY id LIMIT ?",
    session_subscribe: "INSERT INTO cistern_session_sub(clientid, topic, qos) VALUES (?, ?, ?) \
        ON CONFLICT (clientid, topic) DO UPDATE SET qos = excluded.qos",
    session_unsubscribe: "DELETE FROM cistern_session_sub WHERE clientid = ? AND topic = ?",
    session_subscriptions: "SELECT topic, qos FROM cistern_session_sub WHERE clientid = ? ORDER BY id",
    session_clear_subscriptions: "DELETE FROM cistern_session_sub WHERE clientid = ?",
    session_queue: "INSERT INTO cistern_session_msg(clientid, msgid, topic, sender, qos, retain, payload, arrived) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (clientid, msgid) DO NOTHING",
    session_dequeue: "DELETE FROM cistern_session_msg WHERE clientid = ? AND msgid = ?",
    session_messages: "SELECT id, msgid, topic, sender, qos, retain, payload, arrived FROM cistern_session_msg \
        WHERE clientid = ? ORDER BY id",
    session_clear_messages: "DELETE FROM cistern_session_msg WHERE clientid = ?",
};

static MYSQL: Statements = Statements {
    client_connected: "INSERT INTO mqtt_client(clientid, state, node, online_at, offline_at, created) \
        VALUES (?, 1, ?, ?, NULL, ?) ON DUPLICATE KEY UPDATE state = 1, node = VALUES(node), \
        online_at = VALUES(online_at), offline_at = NULL",
    client_disconnected: "INSERT INTO mqtt_client(clientid, state, node, online_at, offline_at, created) \
        VALUES (?, 0, ?, NULL, ?, ?) ON DUPLICATE KEY UPDATE state = 0, offline_at = VALUES(offline_at)",
    subscriptions: SQLITE.subscriptions,
    insert_message: "INSERT INTO mqtt_msg(msgid, topic, sender, node, qos, retain, payload, arrived) \
        SELECT ?, ?, ?, ?, ?, ?, ?, ? FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM mqtt_msg WHERE msgid = ?)",
    fetch_exact: SQLITE.fetch_exact,
    fetch_like: SQLITE.fetch_like,
    ack: "INSERT INTO mqtt_acked(clientid, topic, mid, created) \
        SELECT ?, ?, id, ? FROM mqtt_msg WHERE msgid = ? ORDER BY id DESC LIMIT 1 \
        ON DUPLICATE KEY UPDATE mid = GREATEST(COALESCE(mid, 0), VALUES(mid)), created = VALUES(created)",
    retain: "INSERT INTO mqtt_retain(topic, msgid, sender, node, qos, payload, arrived) \
        VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE msgid = VALUES(msgid), \
        sender = VALUES(sender), node = VALUES(node), qos = VALUES(qos), payload = VALUES(payload), \
        arrived = VALUES(arrived)",
    delete_retained: SQLITE.delete_retained,
    retained_exact: SQLITE.retained_exact,
    retained_like: SQLITE.retained_like,
    session_subscribe: "INSERT INTO cistern_session_sub(clientid, topic, qos) VALUES (?, ?, ?) \
        ON DUPLICATE KEY UPDATE qos = VALUES(qos)",
    session_unsubscribe: SQLITE.session_unsubscribe,
    session_subscriptions: SQLITE.session_subscriptions,
    session_clear_subscriptions: SQLITE.session_clear_subscriptions,
    session_queue: "INSERT IGNORE INTO cistern_session_msg(clientid, msgid, topic, sender, qos, retain, payload, \
        arrived) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    session_dequeue: SQLITE.session_dequeue,
    session_messages: SQLITE.session_messages,
    session_clear_messages: SQLITE.session_clear_messages,
};

static POSTGRES: Statements = Statements {
    client_connected: "INSERT INTO mqtt_client(clientid, state, node, online_at, offline_at, created) \
        VALUES ($1, 1, $2, $3, NULL, $4) ON CONFLICT (clientid) DO UPDATE SET state = 1, \
        node = EXCLUDED.node, online_at = EXCLUDED.online_at, offline_at = NULL",
    client_disconnected: "INSERT INTO mqtt_client(clientid, state, node, online_at, offline_at, created) \
        VALUES ($1, 0, $2, NULL, $3, $4) ON CONFLICT (clientid) DO UPDATE SET state = 0, \
        offline_at = EXCLUDED.offline_at",
    subscriptions: "SELECT topic, qos FROM mqtt_sub WHERE clientid = $1 ORDER BY id",
    insert_message: "INSERT INTO mqtt_msg(msgid, topic, sender, node, qos, retain, payload, arrived) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE NOT EXISTS (SELECT 1 FROM mqtt_msg WHERE msgid = $9)",
    fetch_exact: concat!(
        "SELECT ",
        message_columns!(),
        " FROM mqtt_msg m LEFT JOIN mqtt_acked a ON a.clientid = $1 AND a.topic = m.topic \
        WHERE m.topic = $2 AND m.id > COALESCE(a.mid, 0) AND m.arrived >= $3 AND m.id > $4 \
        ORDER BY m.id LIMIT $5"
    ),
    fetch_like: concat!(
        "SELECT ",
        message_columns!(),
        " FROM mqtt_msg m LEFT JOIN mqtt_acked a ON a.clientid = $1 AND a.topic = m.topic \
        WHERE m.topic LIKE $2 ESCAPE '!' AND m.id > COALESCE(a.mid, 0) AND m.arrived >= $3 AND m.id > $4 \
        ORDER BY m.id LIMIT $5"
    ),
    ack: "INSERT INTO mqtt_acked(clientid, topic, mid, created) \
        SELECT $1, $2, id, $3 FROM mqtt_msg WHERE msgid = $4 ORDER BY id DESC LIMIT 1 \
        ON CONFLICT (clientid, topic) DO UPDATE SET mid = GREATEST(mqtt_acked.mid, EXCLUDED.mid), \
        created = EXCLUDED.created",
    retain: "INSERT INTO mqtt_retain(topic, msgid, sender, node, qos, payload, arrived) \
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (topic) DO UPDATE SET msgid = EXCLUDED.msgid, \
        sender = EXCLUDED.sender, node = EXCLUDED.node, qos = EXCLUDED.qos, payload = EXCLUDED.payload, \
        arrived = EXCLUDED.arrived",
    delete_retained: "DELETE FROM mqtt_retain WHERE topic = $1",
    retained_exact: "SELECT id, msgid, topic, sender, qos, payload, arrived FROM mqtt_retain WHERE topic = $1",
    retained_like: "SELECT id, msgid, topic, sender, qos, payload, arrived FROM mqtt_retain \
        WHERE topic LIKE $1 ESCAPE '!' AND id > $2 ORDER BY id LIMIT $3",
    session_subscribe: "INSERT INTO cistern_session_sub(clientid, topic, qos) VALUES ($1, $2, $3) \
        ON CONFLICT (clientid, topic) DO UPDATE SET qos = EXCLUDED.qos",
    session_unsubscribe: "DELETE FROM cistern_session_sub WHERE clientid = $1 AND topic = $2",
    session_subscriptions: "SELECT topic, qos FROM cistern_session_sub WHERE clientid = $1 ORDER BY id",
    session_clear_subscriptions: "DELETE FROM cistern_session_sub WHERE clientid = $1",
    session_queue: "INSERT INTO cistern_session_msg(clientid, msgid, topic, sender, qos, retain, payload, arrived) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (clientid, msgid) DO NOTHING",
    session_dequeue: "DELETE FROM cistern_session_msg WHERE clientid = $1 AND msgid = $2",
    session_messages: "SELECT id, msgid, topic, sender, qos, retain, payload, arrived FROM cistern_session_msg \
        WHERE clientid = $1 ORDER BY id",
    session_clear_messages: "DELETE FROM cistern_session_msg WHERE clientid = $1",
};

/// The `LIKE` pattern for every topic starting with `prefix`, escaped with `!`.
pub fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '!' | '%' | '_') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::like_prefix;

    /// LIKE metacharacters in a topic are matched literally.
    #[test]
    fn escapes_metacharacters() {
        assert_eq!(like_prefix("a_b/%!/"), "a!_b/!%!!/%");
        assert_eq!(like_prefix(""), "%");
    }
}

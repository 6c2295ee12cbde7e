//! The statements of each dialect, over the seed's tables, that read them or
//! write columns every shape of them has (the writes whose columns differ
//! between the seed's tables and cistern's are built in `tables`).
//! Parameters are always bound (`?` or `$n`); only these fixed texts ever
//! reach the database.
//!
//! Topic filters with wildcards are narrowed with `LIKE prefix%` (escape
//! character `!`, the same in every dialect) and then matched exactly by the
//! guest, since `LIKE` cannot express MQTT's level rules.

use cistern_guest::Dialect;

pub struct Statements {
    /// clientid
    pub subscriptions: &'static str,
    /// clientid, topic, arrived_since, after_id, limit
    pub fetch_exact: &'static str,
    /// clientid, like_pattern, arrived_since, after_id, limit
    pub fetch_like: &'static str,
    /// clientid, topic, created, msgid
    pub ack: &'static str,
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
    subscriptions: "SELECT topic, qos FROM mqtt_sub WHERE clientid = ? ORDER BY id",
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
    subscriptions: SQLITE.subscriptions,
    fetch_exact: SQLITE.fetch_exact,
    fetch_like: SQLITE.fetch_like,
    ack: "INSERT INTO mqtt_acked(clientid, topic, mid, created) \
        SELECT ?, ?, id, ? FROM mqtt_msg WHERE msgid = ? ORDER BY id DESC LIMIT 1 \
        ON DUPLICATE KEY UPDATE mid = GREATEST(COALESCE(mid, 0), VALUES(mid)), created = VALUES(created)",
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
    subscriptions: "SELECT topic, qos FROM mqtt_sub WHERE clientid = $1 ORDER BY id",
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

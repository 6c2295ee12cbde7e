//! The text of the writes to the seed's tables, fitted to the columns a
//! table has. Every piece of text is the guest's own: table and column names
//! from the lists below, placeholders, and fixed literals; the database's
//! answer only decides which of the guest's columns are left out.

use cistern_guest::Dialect;

use super::columns::{Columns, PayloadColumn};

/// Columns the seed's tables may lack (PostgreSQL's `mqtt_msg` and
/// `mqtt_retain` have no `node`). Every other column is always written, so
/// a table without one is refused by the database with the column named,
/// rather than written without it.
const OPTIONAL: &[&str] = &["node"];

/// The writes whose text depends on the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    ClientConnected,
    ClientDisconnected,
    /// A published message, live: a plain insert.
    Message,
    /// A published message replayed from the outbox: an earlier attempt may
    /// have committed (it timed out), so it is inserted only if absent.
    MessageReplay,
    Retain,
}

impl Kind {
    pub fn table(self) -> &'static str {
        match self {
            Kind::ClientConnected | Kind::ClientDisconnected => "mqtt_client",
            Kind::Message | Kind::MessageReplay => "mqtt_msg",
            Kind::Retain => "mqtt_retain",
        }
    }
}

/// The most rows one multi-row insert takes.
pub const MAX_ROWS: usize = 64;

/// A write fitted to its table.
#[derive(Debug)]
pub struct Write {
    pub text: String,
    /// Where each bound parameter's value comes from, by column name, in order.
    pub params: Vec<&'static str>,
    /// How the table's payload column takes bytes (binary when it has none).
    pub payload: PayloadColumn,
    /// For a plain insert on a database server, the same insert of 2, 4, 8
    /// ... `MAX_ROWS` rows in one statement (`VALUES (..), (..)`), each row's
    /// parameters in `params` order after the row before. Empty for SQLite,
    /// and for an upsert or insert-if-absent, whose rows each depend on what
    /// the one before left.
    pub rows: Vec<String>,
}

impl Write {
    /// The insert of `n` rows in one statement, when `n` is a power of two
    /// this write has one for. Whole powers of two keep the texts few, so
    /// each stays among a connection's prepared statements.
    pub fn of_rows(&self, n: usize) -> Option<&str> {
        if n < 2 || !n.is_power_of_two() {
            return None;
        }
        self.rows.get(n.trailing_zeros() as usize - 1).map(String::as_str)
    }
}

/// What a column gets: a bound value, or a literal of the guest's own.
#[derive(Clone, Copy)]
enum Val {
    Bound,
    Fixed(&'static str),
}

/// How a key conflict is settled.
enum OnConflict {
    /// Upsert on the unique `key`: `set` columns take the new row's value, `fixed` a literal.
    Update { key: &'static str, set: &'static [&'static str], fixed: &'static [(&'static str, &'static str)] },
    /// Insert only when no row has the new row's `key` (a replay stores nothing
    /// twice). No unique key is needed, and the seed's `mqtt_msg` has none on msgid.
    IfAbsent { key: &'static str },
    /// A plain insert. A live write's earlier attempts (a conflict retried)
    /// were rolled back whole, so it cannot store twice; and it takes no
    /// locks beyond its row, where insert-if-absent's read of the key made
    /// MariaDB deadlock under concurrent publishers.
    Insert,
}

use Val::{Bound, Fixed};

fn spec(kind: Kind) -> (&'static [(&'static str, Val)], OnConflict) {
    match kind {
        Kind::ClientConnected => (
            &[
                ("clientid", Bound),
                ("state", Fixed("1")),
                ("node", Bound),
                ("online_at", Bound),
                ("offline_at", Fixed("NULL")),
                ("created", Bound),
            ],
            OnConflict::Update {
                key: "clientid",
                set: &["node", "online_at"],
                fixed: &[("state", "1"), ("offline_at", "NULL")],
            },
        ),
        Kind::ClientDisconnected => (
            &[
                ("clientid", Bound),
                ("state", Fixed("0")),
                ("node", Bound),
                ("online_at", Fixed("NULL")),
                ("offline_at", Bound),
                ("created", Bound),
            ],
            // online_at stays as it was.
            OnConflict::Update { key: "clientid", set: &["offline_at"], fixed: &[("state", "0")] },
        ),
        Kind::Message | Kind::MessageReplay => (
            &[
                ("msgid", Bound),
                ("topic", Bound),
                ("sender", Bound),
                ("node", Bound),
                ("qos", Bound),
                ("retain", Bound),
                ("payload", Bound),
                ("arrived", Bound),
            ],
            if kind == Kind::MessageReplay { OnConflict::IfAbsent { key: "msgid" } } else { OnConflict::Insert },
        ),
        Kind::Retain => (
            &[
                ("topic", Bound),
                ("msgid", Bound),
                ("sender", Bound),
                ("node", Bound),
                ("qos", Bound),
                ("payload", Bound),
                ("arrived", Bound),
            ],
            OnConflict::Update {
                key: "topic",
                set: &["msgid", "sender", "node", "qos", "payload", "arrived"],
                fixed: &[],
            },
        ),
    }
}

/// The write of `kind` for a table with `columns` (all of the guest's columns when it has none:
/// the table is missing, and the database will say so).
pub fn build(kind: Kind, dialect: Dialect, columns: &Columns) -> Write {
    let table = kind.table();
    let keep = |name: &&str| columns.is_empty() || !OPTIONAL.contains(name) || columns.has(name);
    let (all, on_conflict) = spec(kind);
    let cols: Vec<(&'static str, Val)> = all.iter().copied().filter(|(n, _)| keep(n)).collect();

    let mut params = Vec::new();
    let mut placeholder = |name: &'static str| {
        params.push(name);
        match dialect {
            Dialect::Postgres => format!("${}", params.len()),
            Dialect::Mysql | Dialect::Sqlite => "?".to_string(),
        }
    };
    let names = cols.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let mut row = || {
        cols.iter()
            .map(|(n, v)| match v {
                Bound => placeholder(n),
                Fixed(literal) => literal.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let values = row();

    let mut rows = Vec::new();
    let text = match on_conflict {
        OnConflict::Insert => {
            let text = format!("INSERT INTO {table}({names}) VALUES ({values})");
            // Placeholders go on numbering from the first row's (PostgreSQL's `$9`).
            let mut tuples = vec![format!("({values})")];
            // SQLite runs in cistern's process, so a statement a row costs no
            // round trip, and a statement of many rows in a transaction keeps
            // a statement journal (a temporary file) to undo it alone.
            while tuples.len() < MAX_ROWS && dialect != Dialect::Sqlite {
                for _ in 0..tuples.len() {
                    tuples.push(format!("({})", row()));
                }
                rows.push(format!("INSERT INTO {table}({names}) VALUES {}", tuples.join(", ")));
            }
            // Every row binds the first row's parameters, numbered on.
            params.truncate(params.len() / tuples.len());
            text
        }
        OnConflict::IfAbsent { key } => {
            let from_dual = if dialect == Dialect::Mysql { " FROM DUAL" } else { "" };
            format!(
                "INSERT INTO {table}({names}) SELECT {values}{from_dual} \
                 WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {key} = {})",
                placeholder(key)
            )
        }
        OnConflict::Update { key, set, fixed } => {
            let new_value = |c: &str| match dialect {
                Dialect::Mysql => format!("{c} = VALUES({c})"),
                Dialect::Postgres | Dialect::Sqlite => format!("{c} = excluded.{c}"),
            };
            let fixed = fixed.iter().map(|(c, literal)| format!("{c} = {literal}"));
            let sets =
                fixed.chain(set.iter().copied().filter(|c| keep(c)).map(new_value)).collect::<Vec<_>>().join(", ");
            match dialect {
                Dialect::Mysql => {
                    format!("INSERT INTO {table}({names}) VALUES ({values}) ON DUPLICATE KEY UPDATE {sets}")
                }
                Dialect::Postgres | Dialect::Sqlite => {
                    format!("INSERT INTO {table}({names}) VALUES ({values}) ON CONFLICT ({key}) DO UPDATE SET {sets}")
                }
            }
        }
    };
    let payload = columns.payload(dialect, "payload");
    Write { text, params, payload, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::columns::TextLimits;

    fn seed_pgsql_msg() -> Columns {
        let names = ["id", "msgid", "sender", "topic", "qos", "retain", "payload", "arrived"];
        let types = [
            "integer",
            "character varying",
            "character varying",
            "character varying",
            "integer",
            "integer",
            "text",
            "timestamp without time zone",
        ];
        Columns::of(&names.iter().zip(types).map(|(n, t)| (*n, t, "")).collect::<Vec<_>>())
    }

    /// The seed's PostgreSQL mqtt_msg has no node: it is left out, the
    /// parameters are numbered without it, and the payload is text. A replay
    /// inserts only if absent.
    #[test]
    fn message_without_node() {
        let w = build(Kind::MessageReplay, Dialect::Postgres, &seed_pgsql_msg());
        assert_eq!(
            w.text,
            "INSERT INTO mqtt_msg(msgid, topic, sender, qos, retain, payload, arrived) \
             SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM mqtt_msg WHERE msgid = $8)"
        );
        assert_eq!(w.params, ["msgid", "topic", "sender", "qos", "retain", "payload", "arrived", "msgid"]);
        assert_eq!(w.payload, PayloadColumn::Text(TextLimits { no_nul: true, bmp_only: false }));
    }

    /// A live message is a plain insert.
    #[test]
    fn live_message_is_a_plain_insert() {
        let w = build(Kind::Message, Dialect::Mysql, &Columns::default());
        assert_eq!(
            w.text,
            "INSERT INTO mqtt_msg(msgid, topic, sender, node, qos, retain, payload, arrived) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        );
        assert_eq!(w.params, ["msgid", "topic", "sender", "node", "qos", "retain", "payload", "arrived"]);
    }

    /// A live message's rows go several to a statement; PostgreSQL's
    /// placeholders number on from row to row, and each row binds the
    /// parameters of one.
    #[test]
    fn live_messages_in_one_statement() {
        let w = build(Kind::Message, Dialect::Postgres, &seed_pgsql_msg());
        assert_eq!(w.params, ["msgid", "topic", "sender", "qos", "retain", "payload", "arrived"]);
        assert_eq!(
            w.of_rows(2).unwrap(),
            "INSERT INTO mqtt_msg(msgid, topic, sender, qos, retain, payload, arrived) \
             VALUES ($1, $2, $3, $4, $5, $6, $7), ($8, $9, $10, $11, $12, $13, $14)"
        );
        let last = w.of_rows(MAX_ROWS).unwrap();
        assert!(last.ends_with(&format!(", ${}, ${})", MAX_ROWS * 7 - 1, MAX_ROWS * 7)), "{last}");
        assert_eq!(last.matches('(').count(), MAX_ROWS + 1);
        assert!(w.of_rows(1).is_none() && w.of_rows(3).is_none() && w.of_rows(MAX_ROWS * 2).is_none());

        let mysql = build(Kind::Message, Dialect::Mysql, &Columns::default());
        assert!(mysql.of_rows(4).unwrap().ends_with(
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?), \
             (?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?)"
        ));
    }

    /// An upsert or insert-if-absent stays one row a statement, and so does
    /// every write to SQLite.
    #[test]
    fn only_plain_inserts_to_servers_take_rows() {
        for kind in [Kind::MessageReplay, Kind::Retain, Kind::ClientConnected, Kind::ClientDisconnected] {
            assert!(build(kind, Dialect::Postgres, &Columns::default()).rows.is_empty(), "{kind:?}");
        }
        let sqlite = build(Kind::Message, Dialect::Sqlite, &Columns::default());
        assert!(sqlite.rows.is_empty());
        assert_eq!(sqlite.params.len(), 8);
    }

    /// cistern's own tables keep node, in the insert and in the upsert.
    #[test]
    fn retain_with_node_on_mysql() {
        let cols = Columns::of(&[
            ("topic", "varchar", "utf8mb4"),
            ("node", "varchar", "utf8mb4"),
            ("payload", "longblob", ""),
        ]);
        let w = build(Kind::Retain, Dialect::Mysql, &cols);
        assert_eq!(
            w.text,
            "INSERT INTO mqtt_retain(topic, msgid, sender, node, qos, payload, arrived) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE msgid = VALUES(msgid), sender = VALUES(sender), node = VALUES(node), \
             qos = VALUES(qos), payload = VALUES(payload), arrived = VALUES(arrived)"
        );
        assert_eq!(w.payload, PayloadColumn::Binary);
    }

    /// Fixed values are literals of the guest's, not parameters.
    #[test]
    fn client_connected_on_sqlite() {
        let cols = Columns::of(&[("clientid", "text", ""), ("node", "text", "")]);
        let w = build(Kind::ClientConnected, Dialect::Sqlite, &cols);
        assert_eq!(
            w.text,
            "INSERT INTO mqtt_client(clientid, state, node, online_at, offline_at, created) VALUES (?, 1, ?, ?, NULL, ?) \
             ON CONFLICT (clientid) DO UPDATE SET state = 1, offline_at = NULL, node = excluded.node, \
             online_at = excluded.online_at"
        );
        assert_eq!(w.params, ["clientid", "node", "online_at", "created"]);
    }

    /// A table the database does not know gets every column, so the database names what is missing.
    #[test]
    fn missing_table_gets_every_column() {
        let w = build(Kind::ClientDisconnected, Dialect::Postgres, &Columns::default());
        assert_eq!(w.params, ["clientid", "node", "offline_at", "created"]);
        assert!(w.text.ends_with("ON CONFLICT (clientid) DO UPDATE SET state = 0, offline_at = excluded.offline_at"));
    }
}

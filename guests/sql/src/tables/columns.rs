//! What the guest learns of a table: its columns and, for the payload, whether
//! it holds bytes or text. EMQX 4's tables differ from cistern's own
//! (`sql/*.sql`): the seed's PostgreSQL `mqtt_msg` has no `node` and keeps the
//! payload as `text`, so the guest asks the database rather than assume.
//!
//! Only the table's name goes to the database, as a bound parameter; what
//! comes back is used to choose among the guest's own column names, never
//! pasted into a statement.

use cistern_guest::{row, Dialect, Error, Value};

/// How a column takes a payload's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadColumn {
    /// `bytea`, `blob`, `varbinary`, ...: any bytes, as they are.
    Binary,
    /// A character column: only UTF-8 text fits, and the dialect may narrow it further.
    Text(TextLimits),
}

/// What a text column cannot hold beyond bytes that are not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TextLimits {
    /// PostgreSQL's text types refuse the NUL character.
    pub no_nul: bool,
    /// MySQL's `utf8` (`utf8mb3`, the seed's charset) holds no character beyond U+FFFF.
    pub bmp_only: bool,
}

/// One table's columns, as the database describes them.
#[derive(Debug, Default)]
pub struct Columns {
    /// (name in lower case, type in lower case, character set in lower case or empty)
    columns: Vec<(String, String, String)>,
}

impl Columns {
    /// Whether the table has no columns at all: it does not exist (yet) in the pool's database.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    pub fn has(&self, name: &str) -> bool {
        self.columns.iter().any(|(n, _, _)| n == name)
    }

    /// How the column `name` takes a payload; binary when the table does not say.
    pub fn payload(&self, dialect: Dialect, name: &str) -> PayloadColumn {
        match self.columns.iter().find(|(n, _, _)| n == name) {
            Some((_, ty, charset)) => classify(dialect, ty, charset),
            None => PayloadColumn::Binary,
        }
    }

    #[cfg(test)]
    pub fn of(columns: &[(&str, &str, &str)]) -> Columns {
        let columns = columns.iter().map(|(n, t, c)| (n.to_string(), t.to_string(), c.to_string())).collect();
        Columns { columns }
    }
}

/// Asks the pool's database for the columns of `table`.
pub fn learn(
    dialect: Dialect,
    query: impl Fn(&str, &[Value]) -> Result<Vec<Vec<Value>>, Error>,
    table: &str,
) -> Result<Columns, Error> {
    let statement = match dialect {
        // Unqualified names in the guest's statements resolve in the connection's
        // database (MySQL) or current schema (PostgreSQL), so those are the ones asked.
        Dialect::Mysql => {
            "SELECT column_name, data_type, COALESCE(character_set_name, '') FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ?"
        }
        // The casts: information_schema's own domain types are not ones every client decodes.
        Dialect::Postgres => {
            "SELECT column_name::text, data_type::text, COALESCE(character_set_name::text, '') \
             FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1"
        }
        Dialect::Sqlite => "SELECT name, type, '' FROM pragma_table_info(?)",
    };
    let rows = query(statement, &[Value::Text(table.to_string())])?;
    let lower = |v: Option<&Value>| v.and_then(row::text).unwrap_or_default().to_ascii_lowercase();
    let columns = rows.iter().map(|r| (lower(r.first()), lower(r.get(1)), lower(r.get(2)))).collect();
    Ok(Columns { columns })
}

/// Binary or text, by the type's name as each dialect spells it.
fn classify(dialect: Dialect, ty: &str, charset: &str) -> PayloadColumn {
    let text = |limits| PayloadColumn::Text(limits);
    match dialect {
        Dialect::Postgres if ty == "bytea" => PayloadColumn::Binary,
        Dialect::Postgres => text(TextLimits { no_nul: true, bmp_only: false }),
        Dialect::Mysql if ty.ends_with("blob") || ty.ends_with("binary") => PayloadColumn::Binary,
        Dialect::Mysql => text(TextLimits { no_nul: false, bmp_only: matches!(charset, "utf8" | "utf8mb3") }),
        // SQLite's affinity rules: a declared type naming CHAR, CLOB or TEXT is text;
        // BLOB, or no type, keeps bytes as they are.
        Dialect::Sqlite if ["char", "clob", "text"].iter().any(|t| ty.contains(t)) => text(TextLimits::default()),
        Dialect::Sqlite => PayloadColumn::Binary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each dialect's binary types take bytes; its character types take checked text.
    #[test]
    fn payload_types_by_dialect() {
        let pg = Columns::of(&[("payload", "text", ""), ("bin", "bytea", "")]);
        assert_eq!(pg.payload(Dialect::Postgres, "bin"), PayloadColumn::Binary);
        assert_eq!(
            pg.payload(Dialect::Postgres, "payload"),
            PayloadColumn::Text(TextLimits { no_nul: true, bmp_only: false })
        );
        let my = Columns::of(&[("a", "longblob", ""), ("b", "varbinary", ""), ("c", "text", "utf8mb3")]);
        assert_eq!(my.payload(Dialect::Mysql, "a"), PayloadColumn::Binary);
        assert_eq!(my.payload(Dialect::Mysql, "b"), PayloadColumn::Binary);
        assert_eq!(my.payload(Dialect::Mysql, "c"), PayloadColumn::Text(TextLimits { no_nul: false, bmp_only: true }));
        let lite = Columns::of(&[("a", "blob", ""), ("b", "", ""), ("c", "varchar(10)", "")]);
        assert_eq!(lite.payload(Dialect::Sqlite, "a"), PayloadColumn::Binary);
        assert_eq!(lite.payload(Dialect::Sqlite, "b"), PayloadColumn::Binary);
        assert_eq!(lite.payload(Dialect::Sqlite, "c"), PayloadColumn::Text(TextLimits::default()));
        assert!(lite.has("a") && !lite.has("node"));
    }
}

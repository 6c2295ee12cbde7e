//! The TimescaleDB template file (`emqx_backend_timescale.tmpl`): JSON keyed
//! by topic filter; each value has a `name`, an `sql` INSERT with `$1..$n`,
//! and `param_keys`, whose first element is `$1` and so on.

use serde_json::Value as Json;

use crate::file;
use crate::spec::{expand, Message, Spec, TemplateError, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The topic filter the template is for.
    pub filter: String,
    pub name: String,
    pub sql: String,
    params: Vec<Spec>,
}

/// Reads a template file's text; the error names the template and what is wrong.
pub fn parse(text: &str) -> Result<Vec<Template>, String> {
    let mut templates: Vec<Template> = Vec::new();
    for entry in file::entries(text, &["name", "sql", "param_keys"])? {
        let at = |m: String| entry.at(m);
        let fields = &entry.fields;
        let text_field = |k: &str| match fields.get(k) {
            Some(Json::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            _ => Err(at(format!("\"{k}\" must be a non-empty string"))),
        };
        let name = text_field("name")?;
        let sql = text_field("sql")?;
        let Some(Json::Array(keys)) = fields.get("param_keys") else {
            return Err(at("\"param_keys\" must be an array".into()));
        };
        let params = keys.iter().map(|k| Spec::parse(k).map_err(&at)).collect::<Result<Vec<_>, _>>()?;
        let highest = highest_parameter(&sql);
        if highest > params.len() {
            return Err(at(format!("the sql uses ${highest} but param_keys has {} values", params.len())));
        }
        if templates.iter().any(|t| t.name == name) {
            return Err(at(format!("the name {name:?} is used twice")));
        }
        templates.push(Template { filter: entry.filter.clone(), name, sql, params });
    }
    Ok(templates)
}

impl Template {
    /// The rows of parameters this template makes of a message.
    pub fn rows(&self, message: &Message) -> Result<Vec<Vec<Value>>, TemplateError> {
        let specs: Vec<&Spec> = self.params.iter().collect();
        expand(&specs, message)
    }
}

/// The highest `$n` in a statement, outside quoted text.
fn highest_parameter(sql: &str) -> usize {
    let mut highest = 0;
    let mut in_quote = false;
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => in_quote = !in_quote,
            b'$' if !in_quote => {
                let digits: String = sql[i + 1..].chars().take_while(|c| c.is_ascii_digit()).collect();
                if let Ok(n) = digits.parse::<usize>() {
                    highest = highest.max(n);
                }
                i += digits.len();
            }
            _ => {}
        }
        i += 1;
    }
    highest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's example template file, verbatim.
    pub const SEED_EXAMPLE: &str = r##"{
    "sensor_data": {
        "name": "insert_sensor_data",
        "sql": "insert into sensor_data(time, location, temperature, humidity) values (NOW(), $1, $2, $3)",
        "param_keys": [
            ["$payload", "data", "$0", "location"],
            ["$payload", "data", "$0", "temperature"],
            ["$payload", "data", "$0", "humidity"]
        ]
    },
    "sensor_data2/#": {
        "name": "insert_sensor_data2",
        "sql": "insert into sensor_data(time, location, temperature, humidity) values (NOW(), $1, $2, $3)",
        "param_keys": [
            ["$payload", "location"],
            ["$payload", "temperature"],
            ["$payload", "humidity"]
        ]
    },
    "easy_data": {
        "name": "insert_easy_data",
        "sql": "insert into easy_data(time, data) values (NOW(), $1)",
        "param_keys": [
            "$payload"
        ]
    }
}"##;

    fn message(payload: &[u8]) -> Message<'_> {
        Message {
            id: "M",
            clientid: "c",
            username: None,
            peerhost: None,
            qos: 0,
            topic: "sensor_data",
            payload,
            timestamp_ns: 0,
        }
    }

    /// The seed's sensor_data payload becomes its three rows.
    #[test]
    fn seed_example() {
        let templates = parse(SEED_EXAMPLE).unwrap();
        assert_eq!(templates.len(), 3);
        let payload = br#"{"data":[{"location":"bedroom","temperature":21.3,"humidity":40.3},{"location":"bathroom","temperature":22.3,"humidity":61.8},{"location":"kitchen","temperature":29.5,"humidity":58.7}]}"#;
        let rows = templates[0].rows(&message(payload)).unwrap();
        let t = |s: &str| Value::Text(s.into());
        assert_eq!(
            rows,
            vec![
                vec![t("bedroom"), Value::Float(21.3), Value::Float(40.3)],
                vec![t("bathroom"), Value::Float(22.3), Value::Float(61.8)],
                vec![t("kitchen"), Value::Float(29.5), Value::Float(58.7)],
            ]
        );
        let easy = templates[2].rows(&message(b"anything at all")).unwrap();
        assert_eq!(easy, vec![vec![t("anything at all")]]);
    }

    /// A template that asks for more parameters than it supplies is refused.
    #[test]
    fn counts_parameters() {
        let bad = r#"{"t": {"name": "n", "sql": "insert into x values ($1, $2, '$9')", "param_keys": ["$qos"]}}"#;
        assert!(parse(bad).unwrap_err().contains("uses $2"));
        assert!(parse(r#"{"t": {"name": "n", "sql": "x", "param_keys": [], "extra": 1}}"#)
            .unwrap_err()
            .contains("extra"));
        assert!(parse(r#"{"a/#/b": {"name": "n", "sql": "x", "param_keys": []}}"#).is_err());
    }
}

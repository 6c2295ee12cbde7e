//! InfluxDB 1.x line protocol: `measurement,tag=value,... field=value,... timestamp`,
//! escaped so that any text a client sends is stored as it is and can never
//! split a point or add one.
//!
//! Escaping, as InfluxDB 1.x's parser (`models/points.go`) reads it back:
//! - the measurement: `,` and space get a backslash;
//! - tag keys, tag values and field keys: `,`, `=` and space get a backslash;
//! - string field values: in double quotes, with `"` and `\` backslashed.
//!
//! Refused, with a [`TemplateError::Unwritable`] naming the part, because the
//! protocol has no way to write them:
//! - a line break (`\n` or `\r`) anywhere: InfluxDB 1.x has no escape for it
//!   (its docs: not supported in tag or field values), so such a point is
//!   refused rather than written split or mangled;
//! - a measurement, tag key, tag value or field key that ends in a backslash
//!   (it would escape the separator after it);
//! - a measurement that starts with `#` (a comment line), a tab or a NUL
//!   (whitespace the parser strips);
//! - an empty measurement, and a float that is NaN or infinite.
//!
//! Tags are written sorted by key, as InfluxDB advises and the seed shows.

use std::fmt::Write;

use super::{Field, Point};
use crate::spec::TemplateError;

impl Point {
    /// The point as one line of line protocol, without the final newline.
    pub fn line(&self) -> Result<String, TemplateError> {
        let mut out = String::new();
        let measurement = &self.measurement;
        if measurement.is_empty() {
            return Err(refuse("the measurement is empty".into()));
        }
        if measurement.starts_with(['#', '\t', '\0']) {
            return Err(refuse(format!("the measurement {measurement:?} starts with '#', a tab or a NUL")));
        }
        name(&mut out, format_args!("the measurement"), measurement, &[',', ' '])?;
        let mut tags: Vec<&(String, String)> = self.tags.iter().collect();
        tags.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (key, value) in tags {
            out.push(',');
            name(&mut out, format_args!("a tag key"), key, &[',', '=', ' '])?;
            out.push('=');
            name(&mut out, format_args!("tag {key:?}"), value, &[',', '=', ' '])?;
        }
        if self.fields.is_empty() {
            return Err(refuse("a point needs at least one field".into()));
        }
        for (i, (key, value)) in self.fields.iter().enumerate() {
            out.push(if i == 0 { ' ' } else { ',' });
            name(&mut out, format_args!("a field key"), key, &[',', '=', ' '])?;
            out.push('=');
            field(&mut out, key, value)?;
        }
        if let Some(ts) = self.timestamp {
            let _ = write!(out, " {ts}");
        }
        Ok(out)
    }
}

/// Writes the points as a request body: one line each, each ended by a newline.
pub fn lines(points: &[Point]) -> Result<String, TemplateError> {
    let mut out = String::new();
    for p in points {
        out.push_str(&p.line()?);
        out.push('\n');
    }
    Ok(out)
}

fn refuse(problem: String) -> TemplateError {
    TemplateError::Unwritable(format!("cannot write to InfluxDB: {problem}"))
}

/// Checks a name-like part (`what`) and writes it with `special` backslashed.
/// `what` is formatted only for an error, so a part that is fine costs no allocation.
fn name(out: &mut String, what: std::fmt::Arguments<'_>, text: &str, special: &[char]) -> Result<(), TemplateError> {
    no_line_break(what, text)?;
    if text.is_empty() {
        return Err(refuse(format!("{what} is empty")));
    }
    if text.ends_with('\\') {
        return Err(refuse(format!("{what} {text:?} ends in a backslash")));
    }
    for c in text.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(())
}

fn field(out: &mut String, key: &str, value: &Field) -> Result<(), TemplateError> {
    match value {
        Field::Text(s) => {
            no_line_break(format_args!("field {key:?}"), s)?;
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        Field::Int(i) => {
            let _ = write!(out, "{i}i");
        }
        Field::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f:?}");
        }
        Field::Float(f) => return Err(refuse(format!("field {key:?} is {f}, which InfluxDB cannot store"))),
        Field::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    }
    Ok(())
}

fn no_line_break(what: std::fmt::Arguments<'_>, text: &str) -> Result<(), TemplateError> {
    if text.contains(['\n', '\r']) {
        return Err(refuse(format!("{what} holds a line break, which line protocol cannot carry: {text:?}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(measurement: &str, tags: &[(&str, &str)], fields: Vec<(&str, Field)>) -> Point {
        Point {
            measurement: measurement.into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            timestamp: Some(1),
        }
    }

    /// Commas, spaces and `=` are escaped where the protocol needs it: the
    /// measurement keeps `=` as it is, tags and field keys escape all three.
    #[test]
    fn escapes_names() {
        let p = point("m,e a=s", &[("k,e y=", "v,a l=ue")], vec![("f,i e=ld", Field::Int(-3))]);
        assert_eq!(p.line().unwrap(), r#"m\,e\ a=s,k\,e\ y\==v\,a\ l\=ue f\,i\ e\=ld=-3i 1"#);
    }

    /// String fields are quoted with `"` and `\` escaped; `,`, `=` and spaces
    /// inside them stay as they are.
    #[test]
    fn escapes_strings() {
        let p = point("m", &[], vec![("s", Field::Text(r#"a "b" \c\ d,e=f"#.into()))]);
        assert_eq!(p.line().unwrap(), r#"m s="a \"b\" \\c\\ d,e=f" 1"#);
    }

    /// Typed fields: integers get `i`, floats keep a decimal point or an
    /// exponent, booleans are words; NaN and infinity are refused.
    #[test]
    fn typed_fields() {
        let p = point(
            "m",
            &[],
            vec![("i", Field::Int(1)), ("f", Field::Float(23.9)), ("g", Field::Float(2.0)), ("b", Field::Bool(false))],
        );
        assert_eq!(p.line().unwrap(), "m i=1i,f=23.9,g=2.0,b=false 1");
        let nan = point("m", &[], vec![("f", Field::Float(f64::NAN))]);
        assert!(nan.line().unwrap_err().to_string().contains("cannot store"));
    }

    /// Tags come out sorted by key, whatever order the template gave them in.
    #[test]
    fn sorts_tags() {
        let p = point("m", &[("b", "2"), ("a", "1"), ("C", "3")], vec![("f", Field::Bool(true))]);
        assert_eq!(p.line().unwrap(), "m,C=3,a=1,b=2 f=true 1");
    }

    /// A line break anywhere, a trailing backslash in a name, a comment-like
    /// or empty measurement and a point without fields are refused, each
    /// with the part named.
    #[test]
    fn refuses_what_cannot_be_written() {
        let err = |p: Point| p.line().unwrap_err().to_string();
        let f = || vec![("f", Field::Int(1))];
        assert!(err(point("m\n", &[], f())).contains("the measurement holds a line break"));
        assert!(err(point("m", &[("k", "a\r\nb")], f())).contains("tag \"k\" holds a line break"));
        assert!(
            err(point("m", &[], vec![("s", Field::Text("x\ny".into()))])).contains("field \"s\" holds a line break")
        );
        assert!(err(point("m", &[("k", "v\\")], f())).contains("ends in a backslash"));
        assert!(err(point("#m", &[], f())).contains("starts with '#'"));
        assert!(err(point("", &[], f())).contains("the measurement is empty"));
        assert!(err(point("m", &[], vec![])).contains("at least one field"));
    }

    /// Several points make one body, a line each.
    #[test]
    fn body_of_lines() {
        let a = point("a", &[], vec![("f", Field::Int(1))]);
        let b = point("b", &[], vec![("f", Field::Int(2))]);
        assert_eq!(lines(&[a, b]).unwrap(), "a f=1i 1\nb f=2i 1\n");
    }
}

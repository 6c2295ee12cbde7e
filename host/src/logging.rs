//! The standalone binary's log: one record a line, whatever a client, a
//! guest or a database puts in the values it logs. Client ids, topics,
//! payload-derived errors and guest lines are anyone's text; a line break
//! in one would otherwise start what reads as a record of its own.

use std::fmt::Write;

use tracing_subscriber::field::MakeExt;

/// Installs the subscriber: `CISTERN_LOG` (or the default filter), to
/// standard error, with every field and message's control characters
/// escaped.
pub fn init() {
    let fields = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let raw = format!("{value:?}");
        let text = one_line(&raw);
        match field.name() {
            "message" => write!(w, "{text}"),
            name => write!(w, "{name}={text}"),
        }
    })
    .delimited(" ");
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CISTERN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmqtt=warn,rmqtt_net=warn,sqlx=warn")),
        )
        .fmt_fields(fields)
        .with_writer(std::io::stderr)
        .init();
}

/// `text` with its control characters (line breaks, NUL, escapes) written
/// as Rust escapes (`\n`, `\u{0}`), and nothing else changed.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn control_characters_are_escaped_and_nothing_else() {
        assert_eq!(one_line("x\ny=1 2\r\n\0\u{1b}[31m"), "x\\ny=1 2\\r\\n\\u{0}\\u{1b}[31m");
        assert_eq!(one_line("topic \"é☃\" \\ 'q'"), "topic \"é☃\" \\ 'q'");
    }
}

//! Values as the seed writes them: durations (`2h`, `30s`, `100ms`),
//! sizes (`64MB`), booleans (`true`, `on`), `infinity`; and serde helpers
//! that read them out of the string every `key = value` line holds.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `500ms`, `30s`, `5m`, `2h`, `1d`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 500ms, 30s, 5m, 2h or 1d"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        other => return Err(format!("`{text}` has unknown unit `{other}`; use ms, s, m, h or d")),
    };
    // Later arithmetic on instants (`now + timeout`) would overflow past this.
    if !(0.0..=MAX_DURATION_SECS).contains(&secs) {
        return Err(format!("`{text}` is longer than the longest duration cistern takes, 100 years"));
    }
    Ok(Duration::from_secs_f64(secs))
}

const MAX_DURATION_SECS: f64 = 100.0 * 365.0 * 86400.0;

/// `64MB`, `512KB`, `1GB` (powers of 1024) or a number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_uppercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a size like 64MB"))?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        other => return Err(format!("`{text}` has unknown unit `{other}`; use KB, MB or GB")),
    };
    n.checked_mul(factor).ok_or_else(|| format!("`{text}` is too large"))
}

/// `true`/`on`/`yes`/`1` or `false`/`off`/`no`/`0`.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(format!("`{text}` is not true or false")),
    }
}

/// A limit that may be `infinity`.
pub fn parse_limit<T: FromStr>(text: &str) -> Result<Option<T>, String> {
    if text.trim() == "infinity" {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(|_| format!("`{text}` is not a number or infinity"))
}

fn with<'de, D: Deserializer<'de>, T>(d: D, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// serde: any `FromStr` value written as text.
pub fn parsed<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<T, D::Error>
where
    T::Err: std::fmt::Display,
{
    with(d, |s| s.trim().parse::<T>().map_err(|e| format!("`{s}`: {e}")))
}

/// serde: a duration written as text.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    with(d, parse_duration)
}

/// serde: a size written as text.
pub fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    with(d, parse_size)
}

/// serde: a boolean written as text.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    with(d, parse_bool)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's duration and size spellings read as they should; nonsense is refused.
    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert!(parse_duration("2 fortnights").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration(&"9".repeat(400)).is_err(), "a number past f64's range");
        assert_eq!(parse_size("64MB").unwrap(), 64 << 20);
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_limit::<u32>("infinity").unwrap(), None);
        assert_eq!(parse_limit::<u32>("500").unwrap(), Some(500));
    }
}

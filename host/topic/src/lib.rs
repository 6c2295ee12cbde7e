//! MQTT topic names and filters, as MQTT 3.1.1 section 4.7 defines them.
//!
//! Shared by the host (routing hooks to actions) and the guests (checking
//! rows a database pre-selected with a coarse `LIKE`), so both agree exactly.

#![no_std]

/// Whether `topic` (a topic name, no wildcards) matches `filter`.
///
/// `+` matches one level, `#` (last level only) matches the parent and any
/// number of levels below. A filter starting with a wildcard does not match a
/// topic starting with `$` (MQTT 4.7.2).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every topic that `inner` can match is also matched by `outer`:
/// used to route a subscription (itself a filter) to the actions whose
/// configured filter covers it, so `queue/+` goes to a `queue/#` action.
pub fn covers(outer: &str, inner: &str) -> bool {
    if inner.starts_with('$') && outer.starts_with(['+', '#']) {
        return false;
    }
    let mut o = outer.split('/');
    let mut i = inner.split('/');
    loop {
        match (o.next(), i.next()) {
            (Some("#"), _) => return true,
            (Some(_), Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(ol), Some(il)) if ol == il => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether `filter` holds a wildcard.
pub fn has_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

/// The literal part of `filter` before its first wildcard: every topic the
/// filter matches starts with it, so a database can narrow its scan by it.
pub fn literal_prefix(filter: &str) -> &str {
    match filter.find(['+', '#']) {
        // `a/#` matches `a` itself too (the parent level), so its prefix stops before the `/`.
        Some(i) if filter[i..].starts_with('#') => filter[..i].strip_suffix('/').unwrap_or(&filter[..i]),
        Some(i) => &filter[..i],
        None => filter,
    }
}

/// Why a string is not a valid topic filter, if it is not one.
pub fn filter_error(filter: &str) -> Option<&'static str> {
    if filter.is_empty() {
        return Some("a topic filter cannot be empty");
    }
    if filter.contains('\0') {
        return Some("a topic filter cannot contain NUL");
    }
    let levels = filter.split('/').count();
    for (n, level) in filter.split('/').enumerate() {
        if level.contains('#') && (level != "#" || n + 1 != levels) {
            return Some("`#` must be a whole level and the last one");
        }
        if level.contains('+') && level != "+" {
            return Some("`+` must be a whole level");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of MQTT 3.1.1 section 4.7 match as the standard says.
    #[test]
    fn standard_examples() {
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
        assert!(matches("sport/#", "sport"));
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("sport/+", "sport/"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(matches("#", "a/b/c"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
    }

    /// A leading wildcard never matches a `$` topic, a literal `$` level does.
    #[test]
    fn dollar_topics() {
        assert!(!matches("#", "$SYS/broker"));
        assert!(!matches("+/broker", "$SYS/broker"));
        assert!(matches("$SYS/#", "$SYS/broker"));
        assert!(matches("$SYS/+", "$SYS/broker"));
        assert!(!covers("#", "$SYS/#"));
    }

    /// A filter covers the subscriptions it subsumes and no others.
    #[test]
    fn covering() {
        assert!(covers("#", "a/b"));
        assert!(covers("queue/#", "queue/+"));
        assert!(covers("queue/#", "queue/#"));
        assert!(covers("queue/+", "queue/a"));
        assert!(!covers("queue/+", "queue/#"));
        assert!(!covers("queue/a", "queue/+"));
        assert!(!covers("pubsub/#", "queue/a"));
    }

    /// Malformed filters are named as such.
    #[test]
    fn validation() {
        assert!(filter_error("a/#").is_none());
        assert!(filter_error("+/a/+").is_none());
        assert!(filter_error("a/#/b").is_some());
        assert!(filter_error("a#").is_some());
        assert!(filter_error("a+/b").is_some());
        assert!(filter_error("").is_some());
        assert_eq!(literal_prefix("a/b/+/c"), "a/b/");
        assert_eq!(literal_prefix("#"), "");
        // Found by the `topic` fuzz target: `a/#` matches `a`, which does not start with `a/`.
        assert_eq!(literal_prefix("a/#"), "a");
        assert!(matches("a/#", "a") && "a".starts_with(literal_prefix("a/#")));
        assert_eq!(literal_prefix("a/+/#"), "a/");
    }
}

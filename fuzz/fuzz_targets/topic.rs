//! The topic matcher (`cistern-topic`), against the rules of MQTT 3.1.1
//! section 4.7. The input is a filter and a topic, split at the first NUL
//! (neither may hold one). Checked:
//! - `has_wildcard` and `literal_prefix` agree with the filter's text;
//! - a filter without wildcards matches exactly the topic equal to it;
//! - a valid topic name matches itself, and `#` matches it unless it starts with `$`;
//! - every topic a valid filter matches starts with the filter's literal
//!   prefix (the guests narrow database scans by it; this found that the
//!   parent level of `a/#` did not);
//! - `covers` agrees with `matches` on topic names, is reflexive on valid
//!   filters, and a filter covering another matches all that the other does.

#![no_main]

use cistern_topic::{covers, filter_error, has_wildcard, literal_prefix, matches};
use libfuzzer_sys::fuzz_target;

/// A topic name a client may publish to: no wildcard, no NUL, not empty.
fn is_topic_name(t: &str) -> bool {
    !t.is_empty() && !has_wildcard(t) && !t.contains('\0')
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (filter, topic) = text.split_once('\0').unwrap_or((text, ""));

    for s in [filter, topic] {
        assert_eq!(has_wildcard(s), s.contains(['+', '#']));
        let prefix = literal_prefix(s);
        assert!(s.starts_with(prefix));
        assert!(!has_wildcard(prefix));
        if !has_wildcard(s) {
            assert_eq!(prefix, s);
        }
        if filter_error(s).is_none() {
            assert!(covers(s, s), "{s:?} does not cover itself");
        }
        let _ = matches(s, s);
    }

    let valid = filter_error(filter).is_none();
    let m = matches(filter, topic);
    if valid && !has_wildcard(filter) {
        assert_eq!(m, filter == topic, "literal filter {filter:?}, topic {topic:?}");
    }
    if is_topic_name(topic) {
        assert!(matches(topic, topic), "{topic:?} does not match itself");
        assert_eq!(matches("#", topic), !topic.starts_with('$'), "`#` and {topic:?}");
        assert_eq!(covers(filter, topic), m, "covers and matches disagree: {filter:?}, {topic:?}");
        if valid && m {
            let prefix = literal_prefix(filter);
            assert!(
                topic.starts_with(prefix),
                "{filter:?} matches {topic:?}, which does not start with its literal prefix {prefix:?}"
            );
        }
        // Whatever a valid filter covers of the topic's own filter, it matches.
        if valid && covers(filter, topic) {
            assert!(m);
        }
    }
    if valid && filter_error(topic).is_none() && covers(filter, topic) {
        // `topic` read as a filter: each name it matches, `filter` matches too.
        // The name made of its levels with `+` as `x` and `#` dropped is one.
        let name: Vec<&str> = topic.split('/').filter(|l| *l != "#").map(|l| if l == "+" { "x" } else { l }).collect();
        let name = name.join("/");
        if is_topic_name(&name) && matches(topic, &name) {
            assert!(matches(filter, &name), "{filter:?} covers {topic:?} but does not match {name:?}");
        }
    }
});

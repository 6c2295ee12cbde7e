//! A published message as the seed's template language reads it (`$id`,
//! `$clientid`, `$payload`, `$timestamp`, ...), for the guests whose
//! backends write by template files (TimescaleDB, InfluxDB, OpenTSDB).

use std::rc::Rc;

use crate::MessageEvent;

/// Template files an instance has parsed, with the backend and the text
/// each came from, so that each is parsed once. An instance sees one or two
/// (its pool serves one backend, and a reload may bring a changed file), so
/// a look compares the text, which costs less than hashing it on every call;
/// beyond [`Parsed::KEPT`] the oldest makes way.
pub struct Parsed<T> {
    kept: Vec<(String, String, Rc<T>)>,
}

impl<T> Parsed<T> {
    pub const KEPT: usize = 4;

    pub const fn new() -> Self {
        Parsed { kept: Vec::new() }
    }

    /// The file `text` of `backend`, parsed by `parse` the first time.
    pub fn get_or_parse<E>(
        &mut self,
        backend: &str,
        text: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Rc<T>, E> {
        if let Some((_, _, p)) = self.kept.iter().find(|(b, t, _)| b == backend && t == text) {
            return Ok(p.clone());
        }
        let p = Rc::new(parse(text)?);
        if self.kept.len() == Self::KEPT {
            self.kept.remove(0);
        }
        self.kept.push((backend.to_string(), text.to_string(), p.clone()));
        Ok(p)
    }
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The template language's view of a `message.publish` event.
pub fn view(publish: &MessageEvent) -> cistern_template::Message<'_> {
    let m = &publish.message;
    cistern_template::Message {
        id: &m.id,
        clientid: &publish.client.clientid,
        username: publish.client.username.as_deref(),
        peerhost: publish.client.peerhost.as_deref(),
        qos: m.qos,
        topic: &m.topic,
        payload: &m.payload,
        timestamp_ns: (m.timestamp_ms as i64).saturating_mul(1_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file is parsed once per backend and text; past `KEPT` the oldest
    /// makes way and is parsed again when it comes back.
    #[test]
    fn parses_each_file_once_and_keeps_a_few() {
        let mut parsed: Parsed<String> = Parsed::new();
        let parses = std::cell::Cell::new(0);
        let mut get = |backend: &str, text: &str| {
            let p = parsed.get_or_parse(backend, text, |t| {
                parses.set(parses.get() + 1);
                Ok::<_, ()>(t.to_uppercase())
            });
            p.unwrap()
        };
        assert_eq!(*get("influxdb", "a"), "A");
        assert_eq!(*get("influxdb", "a"), "A");
        assert_eq!(parses.get(), 1, "parsed once");
        get("opentsdb", "a");
        assert_eq!(parses.get(), 2, "another backend's file is its own");
        for text in ["b", "c", "d"] {
            get("influxdb", text);
        }
        get("opentsdb", "a");
        assert_eq!(parses.get(), 5, "four are kept");
        get("influxdb", "a");
        assert_eq!(parses.get(), 6, "the oldest made way");
    }
}

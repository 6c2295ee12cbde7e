//! The template engine (`cistern-template`): any text as a TimescaleDB,
//! InfluxDB or OpenTSDB template file, or as a JSON array of template
//! values, expanded over a message whose payload, topic and username come
//! from the input too. Nothing may panic, and what comes out keeps its shape:
//! - every template read has a valid topic filter;
//! - each row has one value per template value;
//! - an InfluxDB body has exactly one line per point, and no carriage return;
//! - OpenTSDB bodies are JSON arrays holding every point once, in order.
//!
//! Input: a kind byte, two bytes for a number (HTTP status, batch size), then
//! the template text, payload, topic and username, separated by NUL bytes.

#![no_main]

use cistern_template::{expand, influxdb, opentsdb, timescale, Message, Spec};
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;

fn check_filter(filter: &str) {
    assert!(cistern_topic::filter_error(filter).is_none(), "a template was read for the filter {filter:?}");
}

fuzz_target!(|data: &[u8]| {
    let [kind, n0, n1, rest @ ..] = data else { return };
    let number = u16::from_le_bytes([*n0, *n1]);
    let mut parts = rest.splitn(4, |b| *b == 0);
    let text = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let payload = parts.next().unwrap_or_default();
    let topic = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let username = parts.next().map(String::from_utf8_lossy);
    let message = Message {
        id: "0006E3AB6F4B4F8A",
        clientid: "client\n\"',=\\ 1",
        username: username.as_deref(),
        peerhost: Some("127.0.0.1"),
        qos: (number % 3) as u8,
        topic: &topic,
        payload,
        timestamp_ns: 1_560_743_513_626_681_000,
    };

    match kind % 5 {
        0 => {
            let Ok(templates) = timescale::parse(&text) else { return };
            for t in &templates {
                check_filter(&t.filter);
                assert!(!t.name.trim().is_empty() && !t.sql.trim().is_empty());
                let _ = cistern_topic::matches(&t.filter, &topic);
                if let Ok(rows) = t.rows(&message) {
                    if let Some(first) = rows.first() {
                        assert!(rows.iter().all(|r| r.len() == first.len()), "rows of different lengths");
                    }
                }
            }
        }
        1 => {
            let Ok(templates) = influxdb::parse(&text) else { return };
            for t in &templates {
                check_filter(&t.filter);
                let Ok(points) = t.points(&message) else { continue };
                let Ok(body) = influxdb::lines(&points) else { continue };
                assert_eq!(body.matches('\n').count(), points.len(), "points split or joined: {body:?}");
                assert!(!body.contains('\r'), "a carriage return in {body:?}");
                for (p, line) in points.iter().zip(body.lines()) {
                    assert_eq!(p.line().as_deref(), Ok(line));
                    assert!(!p.fields.is_empty());
                    assert!(!line.is_empty() && !line.starts_with(['#', ' ', '\t']), "line {line:?}");
                }
                assert_eq!(t.lines(&message).as_deref(), Ok(body.as_str()));
            }
        }
        2 => {
            let Ok(templates) = opentsdb::parse(&text) else { return };
            for t in &templates {
                check_filter(&t.filter);
                let Ok(points) = t.points(&message) else { continue };
                for p in &points {
                    assert!(!p.metric.is_empty() && !p.tags.is_empty(), "{p:?}");
                    if let opentsdb::Number::Float(f) = p.value {
                        assert!(f.is_finite(), "{p:?}");
                    }
                }
                let bodies = opentsdb::bodies(&points, usize::from(number % 64));
                let mut sent = Vec::new();
                for body in &bodies {
                    let Ok(Json::Array(items)) = serde_json::from_str::<Json>(body) else {
                        panic!("an OpenTSDB body is not a JSON array: {body}");
                    };
                    assert!(!items.is_empty());
                    sent.extend(items);
                }
                assert_eq!(sent.len(), points.len());
                for (item, p) in sent.iter().zip(&points) {
                    assert_eq!(item["metric"].as_str(), Some(p.metric.as_str()));
                    assert_eq!(item["timestamp"].as_i64(), Some(p.timestamp));
                    for (k, v) in &p.tags {
                        assert_eq!(item["tags"][k].as_str(), Some(v.as_str()));
                    }
                }
            }
        }
        3 => {
            let Ok(Json::Array(values)) = serde_json::from_str::<Json>(&text) else { return };
            let specs: Vec<Spec> = values.iter().filter_map(|v| Spec::parse(v).ok()).collect();
            let refs: Vec<&Spec> = specs.iter().collect();
            if let Ok(rows) = expand(&refs, &message) {
                assert!(rows.iter().all(|r| r.len() == specs.len()), "a row without one value per spec");
            }
        }
        _ => {
            let body = String::from_utf8_lossy(payload);
            let _ = opentsdb::answer(number, &body, usize::from(number >> 4));
        }
    }
});

//! The MQTT 5 properties of retained messages that a store keeps.
//!
//! The seed's retained tables hold a message's topic, payload and QoS, and
//! no column for MQTT 5's publish properties, so a retained message served
//! from a store would reach a new subscriber without its user properties,
//! content type, response topic or correlation data, and with no expiry.
//! cistern keeps them beside the outbox, durably (redb, fsync on commit,
//! before the publish is acknowledged), keyed by topic and tagged with the
//! message id, so that only the message they came with gets them back: a
//! store whose retained message was replaced by another path (an EMQX node
//! sharing the tables, a user's own SQL) serves it without stale properties.

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};
use rmqtt::codec::v5::PublishProperties;
use serde::{Deserialize, Serialize};

use crate::model::now_ms;

/// topic → [`Kept`], encoded with postcard.
const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("retained_properties");
const FILE: &str = "retained-properties.redb";

#[derive(Serialize, Deserialize)]
struct Kept {
    msgid: String,
    properties: PublishProperties,
    /// When the broker took the message, for its expiry interval.
    at_ms: u64,
}

pub struct RetainedProperties {
    db: Database,
}

impl RetainedProperties {
    /// Opens (or creates) the file in `dir`.
    pub fn open(dir: &Path) -> Result<RetainedProperties, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join(FILE);
        let db = Database::create(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        txn.open_table(TABLE).map_err(|e| e.to_string())?;
        txn.commit().map_err(|e| e.to_string())?;
        Ok(RetainedProperties { db })
    }

    /// The retained message on `topic` is now `msgid` with these
    /// properties; `None` (no properties worth keeping, or an empty payload
    /// that deletes the retained message) forgets the topic's.
    pub fn set(&self, topic: &str, msgid: &str, properties: Option<PublishProperties>) -> Result<(), String> {
        let txn = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut table = txn.open_table(TABLE).map_err(|e| e.to_string())?;
            match properties {
                Some(properties) => {
                    let kept = Kept { msgid: msgid.to_string(), properties, at_ms: now_ms() };
                    let bytes = postcard::to_allocvec(&kept).map_err(|e| e.to_string())?;
                    table.insert(topic, bytes.as_slice()).map_err(|e| e.to_string())?;
                }
                None => {
                    table.remove(topic).map_err(|e| e.to_string())?;
                }
            }
        }
        txn.commit().map_err(|e| e.to_string())
    }

    /// The properties of the retained message `msgid` on `topic`, with its
    /// expiry interval counted down to what is left; [`Expired`] when that
    /// interval has run out (the message must not be delivered).
    pub fn get(&self, topic: &str, msgid: &str) -> Result<Option<PublishProperties>, Expired> {
        let kept = self.read(topic).filter(|k| k.msgid == msgid);
        let Some(Kept { mut properties, at_ms, .. }) = kept else { return Ok(None) };
        if let Some(interval) = properties.message_expiry_interval {
            let elapsed = (now_ms().saturating_sub(at_ms) / 1000) as u32;
            match interval.get().checked_sub(elapsed).and_then(std::num::NonZeroU32::new) {
                Some(left) => properties.message_expiry_interval = Some(left),
                None => return Err(Expired),
            }
        }
        Ok(Some(properties))
    }

    fn read(&self, topic: &str) -> Option<Kept> {
        let read = || -> Result<Option<Kept>, String> {
            let txn = self.db.begin_read().map_err(|e| e.to_string())?;
            let table = txn.open_table(TABLE).map_err(|e| e.to_string())?;
            let Some(bytes) = table.get(topic).map_err(|e| e.to_string())? else { return Ok(None) };
            postcard::from_bytes(bytes.value()).map(Some).map_err(|e| e.to_string())
        };
        read().unwrap_or_else(|e| {
            tracing::warn!(topic, "cannot read a retained message's properties: {e}");
            None
        })
    }
}

/// A retained message whose MQTT 5 expiry interval has run out.
#[derive(Debug)]
pub struct Expired;

/// What of a publish's properties belongs to the retained message: not the
/// topic alias or subscription identifiers (the connection's and the
/// subscription's), not cistern's own marks; `None` when nothing is left.
pub fn worth_keeping(properties: Option<&PublishProperties>) -> Option<PublishProperties> {
    let mut p = properties?.clone();
    p.topic_alias = None;
    p.subscription_ids.clear();
    p.user_properties.retain(|(k, _)| !super::convert::is_ours(k));
    (p != PublishProperties::default()).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytestring::ByteString;

    fn props(expiry: Option<u32>) -> PublishProperties {
        PublishProperties {
            user_properties: vec![(ByteString::from("a"), ByteString::from("2"))],
            content_type: Some(ByteString::from("text/plain")),
            message_expiry_interval: expiry.and_then(std::num::NonZeroU32::new),
            ..PublishProperties::default()
        }
    }

    /// Kept across a reopen, for the same message only; forgotten on delete.
    #[test]
    fn kept_per_message_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let kept = RetainedProperties::open(dir.path()).unwrap();
        kept.set("t", "m1", Some(props(None))).unwrap();
        drop(kept);
        let kept = RetainedProperties::open(dir.path()).unwrap();
        assert_eq!(kept.get("t", "m1").unwrap(), Some(props(None)));
        assert_eq!(kept.get("t", "m2").unwrap(), None, "another message on the topic has none");
        kept.set("t", "m3", None).unwrap();
        assert_eq!(kept.get("t", "m1").unwrap(), None);
    }

    /// The expiry interval counts down; one that ran out is expired.
    #[test]
    fn expiry_counts_down() {
        let dir = tempfile::tempdir().unwrap();
        let kept = RetainedProperties::open(dir.path()).unwrap();
        let mut p = props(Some(100));
        kept.set("t", "m1", Some(p.clone())).unwrap();
        assert_eq!(kept.get("t", "m1").unwrap(), Some(p.clone()));
        // As if taken 150 s ago.
        let old = Kept { msgid: "m2".into(), properties: p.clone(), at_ms: now_ms() - 150_000 };
        let txn = kept.db.begin_write().unwrap();
        txn.open_table(TABLE).unwrap().insert("t", postcard::to_allocvec(&old).unwrap().as_slice()).unwrap();
        txn.commit().unwrap();
        assert!(kept.get("t", "m2").is_err());
        p.message_expiry_interval = None;
        assert_eq!(worth_keeping(Some(&p)).unwrap().message_expiry_interval, None);
    }

    /// cistern's marks, the topic alias and subscription ids are not the message's.
    #[test]
    fn only_the_message_s_own() {
        let mut p = PublishProperties::default();
        p.user_properties.push((ByteString::from("cistern-msgid"), ByteString::from("x")));
        p.topic_alias = std::num::NonZeroU16::new(3);
        assert_eq!(worth_keeping(Some(&p)), None);
        p.user_properties.push((ByteString::from("k"), ByteString::from("v")));
        assert_eq!(
            worth_keeping(Some(&p)).unwrap().user_properties,
            vec![(ByteString::from("k"), ByteString::from("v"))]
        );
    }
}

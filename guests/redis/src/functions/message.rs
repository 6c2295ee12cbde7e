//! Published messages (`mqtt:msg:${msgid}` hashes and the `mqtt:msg:${topic}`
//! sorted sets), their offline fetch, and acknowledgements: one-to-one
//! (queue) removes an acknowledged message, many-to-many (pubsub) moves the
//! subscriber's read position `mqtt:acked:${clientid}:${topic}`.

use std::collections::HashMap;

use cistern_guest::page::Page;
use cistern_guest::redis::{cmd, decimal, exec, run, run_all, run_all_ok, Cmd, Reply};
use cistern_guest::{clock, settings, wrong_hook, Context, Error, Event, Message, Outcome};

use super::{scan, Sharing};
use crate::{keys, stored};

/// Members read per ZRANGEBYSCORE, and hashes per pipeline, while fetching.
const PAGE: u64 = 1000;

/// `on_message_publish`: a QoS 1 or 2 message is stored in its hash and
/// added to its topic's set, both living `msg.expired_after` seconds; set
/// members older than that (whose hashes have expired) are trimmed.
pub fn publish(pool: &str, ctx: &Context, event: &Event) -> Result<Outcome, Error> {
    let mut commands = Vec::new();
    if let Some(stored) = Publish::of(ctx, event)? {
        commands.extend(stored.commands);
        commands.extend(stored.trim.commands());
    }
    exec(pool, commands, false)?;
    Ok(Outcome::none())
}

/// Several events of `on_message_publish`: every message's commands in one
/// pipeline, each topic's set trimmed once, after its last message. An
/// event that cannot be stored fails alone; when Redis refuses a command of
/// the pipeline, each message is stored alone, so that only the one it
/// refuses fails.
pub fn publish_batch(pool: &str, ctx: &Context, events: &[Event]) -> Vec<Result<Outcome, Error>> {
    let mut made: Vec<Result<Option<Publish>, Error>> = events.iter().map(|e| Publish::of(ctx, e)).collect();
    let stores: Vec<bool> = made.iter().map(|p| matches!(p, Ok(Some(_)))).collect();
    let mut all = Vec::new();
    // Each set once, in the order of its first message.
    let mut trims: Vec<Trim> = Vec::new();
    let mut trim_of: HashMap<Vec<u8>, usize> = HashMap::new();
    for stored in made.iter_mut().filter_map(|p| p.as_mut().ok().and_then(Option::take)) {
        let trim = stored.trim;
        match trim_of.get(&trim.set) {
            Some(&t) => trims[t].oldest = trims[t].oldest.max(trim.oldest),
            None => {
                trim_of.insert(trim.set.clone(), trims.len());
                trims.push(trim);
            }
        }
        // Moved, not copied: each message's payload is in its HSET.
        all.extend(stored.commands);
    }
    all.extend(trims.into_iter().flat_map(Trim::commands));
    match exec(pool, all, false) {
        Err(e) if !matches!(e, Error::Unavailable(_)) => events.iter().map(|event| publish(pool, ctx, event)).collect(),
        written => made
            .into_iter()
            .zip(stores)
            .map(|(stored, stores)| match stored {
                Err(e) => Err(e),
                Ok(_) if stores => written.clone().map(|()| Outcome::none()),
                Ok(_) => Ok(Outcome::none()),
            })
            .collect(),
    }
}

/// What storing a message takes: its hash, living `ttl` seconds, and its
/// place in its topic's set, then the set's trim.
struct Publish {
    commands: Vec<Cmd>,
    trim: Trim,
}

/// A topic's set: its members scored below `oldest` (older than the newest
/// message by more than `ttl`, so their hashes have expired) are removed,
/// and the set lives `ttl` seconds from now.
struct Trim {
    set: Vec<u8>,
    oldest: u64,
    ttl: u64,
}

impl Publish {
    /// None for QoS 0, which is not stored.
    fn of(ctx: &Context, event: &Event) -> Result<Option<Publish>, Error> {
        let Event::MessagePublish(publish) = event else {
            return Err(wrong_hook("on_message_publish", "message.publish", event));
        };
        let m = &publish.message;
        if m.qos < 1 {
            return Ok(None);
        }
        let ttl = stored::ttl(ctx)?;
        let hash = keys::message(&m.id);
        let set = keys::topic(&m.topic);
        let score = stored::score(&m.id, m.timestamp_ms);
        let commands = vec![
            stored::hset(cmd("HSET").arg(&hash), m),
            cmd("EXPIRE").arg(&hash).num(ttl),
            cmd("ZADD").arg(&set).num(score).arg(&m.id),
        ];
        let oldest = score.saturating_sub(ttl.saturating_mul(1_000_000));
        Ok(Some(Publish { commands, trim: Trim { set, oldest, ttl } }))
    }
}

impl Trim {
    fn commands(self) -> [Cmd; 2] {
        [
            cmd("ZREMRANGEBYSCORE").arg(&self.set).arg("-inf").joined(&[b"(", &decimal(self.oldest)]),
            cmd("EXPIRE").arg(&self.set).num(self.ttl),
        ]
    }
}

/// `on_message_fetch_for_queue` and `on_message_fetch_for_pubsub`: the
/// stored messages on the subscribed filter's topics, oldest first, within
/// `max_returned_count` and `time_range`; for pubsub only those after the
/// subscriber's read position on each topic.
pub fn fetch(pool: &str, ctx: &Context, event: &Event, sharing: Sharing) -> Result<Outcome, Error> {
    let Event::SessionSubscribed(sub) = event else {
        let name = match sharing {
            Sharing::Queue => "on_message_fetch_for_queue",
            Sharing::Pubsub => "on_message_fetch_for_pubsub",
        };
        return Err(wrong_hook(name, "session.subscribed", event));
    };
    if sub.resumed {
        // The broker's live session kept what this subscription missed.
        return Ok(Outcome::none());
    }
    let max = settings::limit(ctx, "max_returned_count")?;
    if max == Some(0) {
        // Offline messages are off for this subscription.
        return Ok(Outcome::none());
    }
    let since = settings::limit(ctx, "time_range")?
        .map(|secs| clock::now_ms().saturating_sub(secs.saturating_mul(1000)).saturating_mul(1000));
    // Paged (see `cistern_guest::page`): the position is the last msgid delivered.
    let mut page = Page::begin(String::new())?;
    let resume = (!page.position.is_empty()).then(|| page.position.clone());
    let left = page.left(max);
    if left == Some(0) {
        return Ok(Outcome::none());
    }
    let per_topic = page.per_topic(left);
    let filter = &sub.subscription.topic;
    let topics = topics(pool, filter)?;
    let positions: Vec<Option<String>> = match sharing {
        Sharing::Queue => vec![None; topics.len()],
        Sharing::Pubsub => {
            let gets = topics.iter().map(|t| cmd("GET").arg(keys::acked(&sub.client.clientid, t))).collect();
            run_all_ok(pool, gets, false)?
                .into_iter()
                .map(|r| r.into_bytes().and_then(|b| String::from_utf8(b).ok()))
                .collect()
        }
    };

    // (msgid, topic) of every candidate, then the oldest first.
    let mut candidates = Vec::new();
    for (topic, position) in topics.iter().zip(positions) {
        let after = position.into_iter().chain(resume.clone()).max();
        let from = match (after.as_deref().map(|a| stored::score(a, 0)), since) {
            (Some(a), Some(s)) => Some(a.max(s)),
            (a, s) => a.or(s),
        };
        for id in members(pool, &keys::topic(topic), from, after.as_deref(), per_topic)? {
            candidates.push((id, topic.clone()));
        }
    }
    candidates.sort();
    candidates.dedup();

    let claim_ms = match sharing {
        Sharing::Queue => Some(claim_time_ms(ctx)?),
        Sharing::Pubsub => None,
    };
    let mut outcome = Outcome::none();
    let mut gone = Vec::new();
    let read_at_once = page.limit().map_or(PAGE, |l| l.min(PAGE)) as usize;
    'read: for chunk in candidates.chunks(read_at_once) {
        let reads = chunk.iter().map(|(id, _)| cmd("HGETALL").arg(keys::message(id))).collect();
        let mut found = Vec::new();
        for ((id, topic), reply) in chunk.iter().zip(run_all_ok(pool, reads, false)?) {
            match stored::from_hash(reply) {
                Some(m) if cistern_topic::matches(filter, &m.topic) => found.push(m),
                Some(_) => {}
                // Expired, or taken by another queue subscriber's ack.
                None => gone.push(cmd("ZREM").arg(keys::topic(topic)).arg(id)),
            }
        }
        // At most what `max` and the page leave room for is claimed at a time: a claim
        // on a message this fetch does not deliver would keep it from the next subscriber.
        let mut found = found.into_iter().peekable();
        loop {
            let room = left.map_or(u64::MAX, |n| n.saturating_sub(page.delivered() - page.before));
            let next = page.fitting(&mut found, room);
            if next.is_empty() {
                if found.peek().is_some() {
                    // The page holds all the payload it may.
                    page.more();
                    break 'read;
                }
                break;
            }
            let mine = match claim_ms {
                Some(ms) => claimed(pool, &sub.client.clientid, next, ms)?,
                None => next,
            };
            for m in mine {
                page.add(&m);
                page.position.clone_from(&m.id);
                outcome.deliver.push(m);
            }
            if left.is_some_and(|l| page.delivered() - page.before >= l) {
                break 'read;
            }
            if page.is_full() {
                page.more();
                break 'read;
            }
        }
    }
    // Tidying only: what fails here is left for the next fetch.
    let _ = run_all(pool, gone, false);
    Ok(outcome)
}

/// How long a queue message fetched for one client stays its own before
/// another subscriber may be given it: `queue.claim_time` in seconds
/// (ours; the seed has no claims), 60 by default.
fn claim_time_ms(ctx: &Context) -> Result<u64, Error> {
    match settings::get(ctx, "queue.claim_time") {
        None => Ok(60_000),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(secs) if secs > 0 => Ok(secs.saturating_mul(1000)),
            _ => Err(Error::InvalidInput(format!("queue.claim_time = {v:?} is not a number of seconds above 0"))),
        },
    }
}

/// The messages of `found` that are this client's to deliver: one-to-one,
/// a queue message goes to one subscriber. Each is claimed for the client
/// (`SET NX` with a lease) as it is fetched, so a second subscriber
/// fetching before the first acknowledges does not get it too; the client's
/// own claim (a fetch again after a reconnect) is its to deliver. A claim
/// that lapses (the client went without acknowledging) frees the message
/// for the next subscriber; an acknowledgement removes it with the message.
fn claimed(pool: &str, clientid: &str, found: Vec<Message>, ms: u64) -> Result<Vec<Message>, Error> {
    if found.is_empty() {
        return Ok(found);
    }
    let claims =
        found.iter().map(|m| cmd("SET").arg(keys::claim(&m.id)).arg(clientid).arg("NX").arg("PX").num(ms)).collect();
    let replies = run_all_ok(pool, claims, false)?;
    let (mut mine, mut taken) = (Vec::new(), Vec::new());
    for (m, reply) in found.into_iter().zip(replies) {
        if matches!(reply, Reply::Nil) {
            taken.push(m);
        } else {
            mine.push(m);
        }
    }
    if !taken.is_empty() {
        let owners = taken.iter().map(|m| cmd("GET").arg(keys::claim(&m.id))).collect();
        for (m, owner) in taken.into_iter().zip(run_all_ok(pool, owners, false)?) {
            if owner.into_bytes().is_some_and(|o| o == clientid.as_bytes()) {
                mine.push(m);
            }
        }
        mine.sort_by(|a, b| a.id.cmp(&b.id));
    }
    Ok(mine)
}

/// The topics whose sets a filter reads: itself, or for a filter with
/// wildcards, every stored topic it matches.
fn topics(pool: &str, filter: &str) -> Result<Vec<String>, Error> {
    if !cistern_topic::has_wildcard(filter) {
        return Ok(vec![filter.to_string()]);
    }
    let prefix = keys::topic(cistern_topic::literal_prefix(filter));
    // TYPE zset leaves out the `mqtt:msg:${msgid}` hashes that share the prefix.
    Ok(scan::keys(pool, &prefix, "zset")?
        .iter()
        .filter_map(|k| keys::topic_of(k))
        .filter(|t| cistern_topic::matches(filter, t))
        .collect())
}

/// The msgids of a topic's set from score `from` on, in order, after
/// `after` (a read position), at most `max` of them.
fn members(
    pool: &str,
    set: &[u8],
    from: Option<u64>,
    after: Option<&str>,
    max: Option<u64>,
) -> Result<Vec<String>, Error> {
    let lower = from.map_or_else(|| "-inf".to_string(), |s| s.to_string());
    let mut ids = Vec::new();
    let mut offset = 0;
    loop {
        let reply =
            run(pool, cmd("ZRANGEBYSCORE").arg(set).arg(&lower).arg("+inf").arg("LIMIT").num(offset).num(PAGE))?;
        let page = reply.into_array();
        let full = page.len() as u64 == PAGE;
        for id in page.into_iter().filter_map(Reply::into_bytes).filter_map(|b| String::from_utf8(b).ok()) {
            // Members at the position's own score may be at or before it.
            if after.is_none_or(|a| id.as_str() > a) {
                ids.push(id);
            }
        }
        if !full || max.is_some_and(|m| ids.len() as u64 >= m) {
            return Ok(ids);
        }
        offset += PAGE;
    }
}

/// `on_message_acked_for_queue` removes the message (its hash, and its
/// place in the topic's set); `on_message_acked_for_pubsub` moves this
/// client's read position on the topic to it, living as long as messages do.
pub fn acked(pool: &str, ctx: &Context, event: &Event, sharing: Sharing) -> Result<Outcome, Error> {
    let Event::MessageAcked(ack) = event else {
        let name = match sharing {
            Sharing::Queue => "on_message_acked_for_queue",
            Sharing::Pubsub => "on_message_acked_for_pubsub",
        };
        return Err(wrong_hook(name, "message.acked", event));
    };
    let m = &ack.message;
    let commands: Vec<Cmd> = match sharing {
        Sharing::Queue => vec![
            cmd("DEL").arg(keys::message(&m.id)),
            cmd("ZREM").arg(keys::topic(&m.topic)).arg(&m.id),
            cmd("DEL").arg(keys::claim(&m.id)),
        ],
        Sharing::Pubsub => {
            let position = keys::acked(&ack.client.clientid, &m.topic);
            // Forward only: a client may acknowledge out of order, and an
            // older message's acknowledgement must not move the position back
            // over a later one (that message would be fetched again). A
            // client's acknowledgements come one after another, so reading
            // first is enough. Ids of another shape are not compared.
            let current = run(pool, cmd("GET").arg(&position))?.into_bytes();
            if current.is_some_and(|c| c.len() == m.id.len() && c.as_slice() >= m.id.as_bytes()) {
                return Ok(Outcome::none());
            }
            // A position outlives every message at or before it: those
            // expire `ttl` after being published, the position `ttl` after
            // the later acknowledgement.
            let ttl = stored::ttl(ctx)?;
            vec![cmd("SET").arg(position).arg(&m.id).arg("EX").num(ttl)]
        }
    };
    exec(pool, commands, false)?;
    Ok(Outcome::none())
}

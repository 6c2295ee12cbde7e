//! A guest that misbehaves on purpose, so tests can show that only the call
//! it fails is lost: the broker keeps delivering and persisting. Its `clock`
//! function behaves: one host call and back, the smallest useful hook, which
//! the `hook_cost` benchmark times. Its `trespass` writes the message's id
//! into the pool its action's options name as `"target"`, which the host must
//! deny unless it is the action's own. Its `batch` and `short` take
//! several events a call (`handle-batch`): each event's outcome delivers one
//! message whose payload is the number of events its call held; a client id
//! `trap` traps the call, and `short` answers one result too few.

use cistern_guest::{
    clock, redis, sql, Batch, Context, Error, Event, FunctionInfo, FunctionKind, Guest, Message, Outcome,
};

struct Misbehave;

const FUNCTIONS: &[&str] = &["trap", "spin", "hog", "fail", "clock", "smuggle", "trespass", "batch", "short"];

impl Guest for Misbehave {
    fn functions() -> Vec<FunctionInfo> {
        FUNCTIONS
            .iter()
            .map(|name| FunctionInfo { name: name.to_string(), hooks: Vec::new(), kind: FunctionKind::Read })
            .collect()
    }

    fn handle(ctx: Context, event: Event) -> Result<Outcome, Error> {
        match ctx.function.as_str() {
            "trap" => panic!("misbehave: trapping on purpose"),
            "spin" => spin(),
            "work" => Ok(work(event.client().clientid.parse().unwrap_or(0))),
            "hog" => hog(),
            "fail" => Err(Error::Other("misbehave: failing on purpose".into())),
            "clock" => {
                std::hint::black_box(clock::now_ms());
                Ok(Outcome::none())
            }
            "smuggle" => Ok(smuggle(&event)),
            "trespass" => trespass(&ctx, &event).map(|()| Outcome::none()),
            "batch" | "short" => Ok(batched(&event, 1)),
            other => Err(Error::InvalidInput(format!("no function {other}"))),
        }
    }
}

impl Batch for Misbehave {
    fn batch_functions() -> Vec<String> {
        vec!["batch".into(), "short".into()]
    }

    fn handle_batch(ctx: Context, events: Vec<Event>) -> Vec<Result<Outcome, Error>> {
        let held = events.len();
        let mut answers: Vec<_> = events.iter().map(|e| Ok(batched(e, held))).collect();
        if ctx.function == "short" {
            answers.pop();
        }
        answers
    }
}

/// A fixed amount of computing, `rounds` steps of it, then an empty answer.
fn work(rounds: u64) -> Outcome {
    let mut x = 0u64;
    for i in 0..rounds {
        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
    }
    std::hint::black_box(x);
    Outcome::none()
}

/// What `batch` answers for one event of a call that held `held` events;
/// traps for the client id `trap`.
fn batched(event: &Event, held: usize) -> Outcome {
    if event.client().clientid == "trap" {
        panic!("misbehave: trapping on purpose in a batch");
    }
    let mut outcome = Outcome::none();
    outcome.deliver.push(Message {
        id: event.client().clientid.clone(),
        topic: "batch".into(),
        payload: held.to_string().into_bytes(),
        qos: 0,
        retain: false,
        sender: "misbehave".into(),
        timestamp_ms: clock::now_ms(),
    });
    outcome
}

/// Hands a subscribing client messages on topics it never subscribed to
/// (`$SYS/...`, another client's), beside one on the filter it subscribed.
fn smuggle(event: &Event) -> Outcome {
    let Event::SessionSubscribed(sub) = event else { return Outcome::none() };
    let message = |topic: &str, payload: &str| Message {
        id: format!("smuggled-{topic}"),
        topic: topic.to_string(),
        payload: payload.as_bytes().to_vec(),
        qos: 1,
        retain: false,
        sender: "smuggler".to_string(),
        timestamp_ms: clock::now_ms(),
    };
    let mut outcome = Outcome::none();
    outcome.deliver.push(message("$SYS/brokers/secret", "system"));
    outcome.deliver.push(message("someone/else", "theirs"));
    outcome.deliver.push(message(&sub.subscription.topic, "asked for"));
    outcome
}

/// Writes the message id into the pool named by the options' `"target"`:
/// a row of `trespass(msgid)` through `sql`, or the key `trespass:<msgid>`
/// through `redis`, as the action's backend speaks.
fn trespass(ctx: &Context, event: &Event) -> Result<(), Error> {
    let Event::MessagePublish(m) = event else { return Ok(()) };
    let target = option(&ctx.options, "target").ok_or_else(|| Error::InvalidInput("no \"target\" pool".into()))?;
    let id = m.message.id.as_str();
    if ctx.backend == "redis" {
        redis::run(target, redis::cmd("SET").arg(format!("trespass:{id}")).arg(id)).map(drop)
    } else {
        sql::execute(target, "INSERT INTO trespass(msgid) VALUES (?)", &[sql::Value::Text(id.to_string())]).map(drop)
    }
}

/// A string field of the action's JSON entry, found without a JSON parser:
/// enough for a test guest whose options the tests write.
fn option<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let after = &json[json.find(&format!("\"{key}\""))? + key.len() + 2..];
    let start = after.find('"')? + 1;
    let len = after[start..].find('"')?;
    Some(&after[start..start + len])
}

/// Loops until the host's deadline interrupts it.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates until the host's memory cap refuses more.
fn hog() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

cistern_guest::export_batch!(Misbehave);

//! The stock actions of the time-series databases: InfluxDB's and
//! OpenTSDB's `on_message_publish`. Each template of the backend's template
//! file whose topic filter matches the message turns it into points (one,
//! or one per element `$0` walks), written through the host's `influx` or
//! `opentsdb` interface to the action's pool.
//!
//! Every matching template is expanded before anything is written, so a
//! message that does not fit one of them (a payload that is not JSON, a
//! missing path, arrays of different lengths, a value line protocol cannot
//! hold) writes nothing and fails, with the reason, as invalid input.

mod templates;

use cistern_guest::bindings::cistern::hooks::{influx, opentsdb};
use cistern_guest::{settings, wrong_hook, Context, Error, Event, FunctionInfo, FunctionKind, Guest, Outcome};

struct TsdbGuest;

impl Guest for TsdbGuest {
    fn functions() -> Vec<FunctionInfo> {
        cistern_guest::function_infos(&[("on_message_publish", &["message.publish"], FunctionKind::Write)])
    }

    fn handle(ctx: Context, event: Event) -> Result<Outcome, Error> {
        let points = points(&ctx, &event)?;
        if !points.is_empty() {
            write(&ctx, &points)?;
        }
        Ok(Outcome::none())
    }
}

/// The message's points: lines of line protocol (InfluxDB) or JSON data
/// points (OpenTSDB), one or more for each template whose filter matches.
fn points(ctx: &Context, event: &Event) -> Result<Vec<String>, Error> {
    if ctx.function != "on_message_publish" {
        return Err(Error::InvalidInput(format!("no function {}", ctx.function)));
    }
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_message_publish", "message.publish", event));
    };
    let m = &publish.message;
    let view = cistern_guest::template::view(publish);
    let refused = |e: String| Error::InvalidInput(format!("message {} on {:?}: {e}", m.id, m.topic));
    match ctx.backend.as_str() {
        "influxdb" => {
            let set_timestamp = settings::get(ctx, "set_timestamp") != Some("false");
            let divisor = match settings::get(ctx, "precision").unwrap_or("ns") {
                "s" => 1_000_000_000,
                "ms" => 1_000_000,
                "u" => 1_000,
                _ => 1,
            };
            let now = set_timestamp.then_some(view.timestamp_ns / divisor);
            templates::influx_lines(ctx, &view, now).map_err(refused)
        }
        "opentsdb" => templates::opentsdb_points(ctx, &view).map_err(refused),
        other => Err(Error::InvalidInput(format!("the tsdb guest does not serve {other}"))),
    }
}

fn write(ctx: &Context, points: &[String]) -> Result<(), Error> {
    match ctx.backend.as_str() {
        "influxdb" => influx::write(&ctx.pool, points),
        _ => opentsdb::put(&ctx.pool, points),
    }
}

cistern_guest::export!(TsdbGuest);

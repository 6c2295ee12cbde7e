//! The template file the host passes as the `template` setting, parsed
//! once per instance, and expanded for a message.

use std::cell::RefCell;
use std::rc::Rc;

use cistern_guest::{settings, template, Context};
use cistern_template::{influxdb, opentsdb, Message};

enum Parsed {
    Influx(Vec<influxdb::Template>),
    Opentsdb(Vec<opentsdb::Template>),
}

thread_local! {
    static PARSED: RefCell<template::Parsed<Parsed>> = const { RefCell::new(template::Parsed::new()) };
}

fn parsed(ctx: &Context) -> Result<Rc<Parsed>, String> {
    let text = settings::get(ctx, "template")
        .ok_or_else(|| format!("no template: the host passes the {} template file as `template`", ctx.backend))?;
    PARSED.with(|p| {
        p.borrow_mut().get_or_parse(&ctx.backend, text, |text| {
            Ok(match ctx.backend.as_str() {
                "influxdb" => Parsed::Influx(influxdb::parse(text)?),
                _ => Parsed::Opentsdb(opentsdb::parse(text)?),
            })
        })
    })
}

/// The lines of every matching template; `now` is the timestamp of a point
/// whose template gives none (`set_timestamp`), in the pool's precision.
pub fn influx_lines(ctx: &Context, message: &Message, now: Option<i64>) -> Result<Vec<String>, String> {
    let Parsed::Influx(templates) = &*parsed(ctx)? else { return Err("not an InfluxDB template file".into()) };
    let mut lines = Vec::new();
    for t in templates.iter().filter(|t| cistern_topic::matches(&t.filter, message.topic)) {
        for mut point in t.points(message).map_err(|e| format!("template for {:?}: {e}", t.filter))? {
            point.timestamp = point.timestamp.or(now);
            lines.push(point.line().map_err(|e| format!("template for {:?}: {e}", t.filter))?);
        }
    }
    Ok(lines)
}

/// The data points of every matching template, each a JSON object.
pub fn opentsdb_points(ctx: &Context, message: &Message) -> Result<Vec<String>, String> {
    let Parsed::Opentsdb(templates) = &*parsed(ctx)? else { return Err("not an OpenTSDB template file".into()) };
    let mut points = Vec::new();
    for t in templates.iter().filter(|t| cistern_topic::matches(&t.filter, message.topic)) {
        for p in t.points(message).map_err(|e| format!("template for {:?}: {e}", t.filter))? {
            points.push(p.json());
        }
    }
    Ok(points)
}

//! TimescaleDB's `on_message_publish`: each template of the template file
//! whose topic filter matches the message turns it into rows (one, or one
//! per element `$0` walks), all written in one transaction
//! (`sql.execute-batches`): every template's rows are stored, or none.
//!
//! Every matching template is expanded before anything is written, so a
//! payload that does not fit any of them writes nothing.

use std::cell::RefCell;
use std::rc::Rc;

use cistern_guest::{settings, template, wrong_hook, Context, Error, Event, Outcome, Value};
use cistern_template::timescale::{self, Template};
use cistern_template::Value as TemplateValue;

use crate::db::Db;

thread_local! {
    static PARSED: RefCell<template::Parsed<Vec<Template>>> = const { RefCell::new(template::Parsed::new()) };
}

pub fn publish(db: &Db, ctx: &Context, event: &Event) -> Result<Outcome, Error> {
    let templates = templates(ctx)?;
    write(db, &templates, rows(&templates, event)?)?;
    Ok(Outcome::none())
}

/// Every template's rows in one transaction.
fn write(db: &Db, templates: &[Template], rows: Vec<TemplateRows>) -> Result<(), Error> {
    let batches: Vec<(String, Vec<Vec<Value>>)> =
        rows.into_iter().filter(|(_, r)| !r.is_empty()).map(|(t, r)| (templates[t].sql.clone(), r)).collect();
    if batches.is_empty() {
        return Ok(());
    }
    db.execute_batches(&batches).map(drop)
}

/// Several messages: every template's rows of all of them in one
/// transaction. A message no template can take fails alone; when the
/// database refuses a batch, each message is written alone, so that only
/// the one it refuses fails.
pub fn publish_batch(db: &Db, ctx: &Context, events: &[Event]) -> Vec<Result<Outcome, Error>> {
    let templates = match templates(ctx) {
        Ok(t) => t,
        Err(e) => return events.iter().map(|_| Err(e.clone())).collect(),
    };
    let made: Vec<Result<Vec<TemplateRows>, Error>> = events.iter().map(|event| rows(&templates, event)).collect();
    let mut by_template: Vec<Vec<Vec<Value>>> = vec![Vec::new(); templates.len()];
    for (t, rows) in made.iter().flatten().flatten() {
        by_template[*t].extend(rows.iter().cloned());
    }
    let written = write(db, &templates, by_template.into_iter().enumerate().collect());
    match written {
        Err(e) if !matches!(e, Error::Unavailable(_)) => events.iter().map(|event| publish(db, ctx, event)).collect(),
        written => made
            .into_iter()
            .map(|rows| match rows? {
                rows if rows.iter().any(|(_, r)| !r.is_empty()) => written.clone().map(|()| Outcome::none()),
                _ => Ok(Outcome::none()),
            })
            .collect(),
    }
}

/// The rows one template made of a message, with the template's index.
type TemplateRows = (usize, Vec<Vec<Value>>);

/// The message's rows, by the index of the template that made them. Every
/// matching template is expanded before anything is written.
fn rows(templates: &[Template], event: &Event) -> Result<Vec<TemplateRows>, Error> {
    let Event::MessagePublish(publish) = event else {
        return Err(wrong_hook("on_message_publish", "message.publish", event));
    };
    let m = &publish.message;
    let view = cistern_guest::template::view(publish);
    let mut made = Vec::new();
    for (i, t) in templates.iter().enumerate().filter(|(_, t)| cistern_topic::matches(&t.filter, &m.topic)) {
        let rows = t.rows(&view).map_err(|e| {
            Error::InvalidInput(format!("template {} refused message {} on {:?}: {e}", t.name, m.id, m.topic))
        })?;
        made.push((i, rows.into_iter().map(|r| r.into_iter().map(to_sql).collect()).collect()));
    }
    Ok(made)
}

fn templates(ctx: &Context) -> Result<Rc<Vec<Template>>, Error> {
    let text = settings::get(ctx, "template").ok_or_else(|| {
        Error::InvalidInput("no template: the host passes the timescale template file as `template`".into())
    })?;
    PARSED.with(|p| {
        p.borrow_mut().get_or_parse(&ctx.backend, text, |text| {
            timescale::parse(text).map_err(|e| Error::InvalidInput(format!("template file: {e}")))
        })
    })
}

fn to_sql(v: TemplateValue) -> Value {
    match v {
        TemplateValue::Null => Value::Null,
        TemplateValue::Bool(b) => Value::Boolean(b),
        TemplateValue::Int(i) => Value::Int(i),
        TemplateValue::Float(f) => Value::Float(f),
        TemplateValue::Text(s) => Value::Text(s),
    }
}

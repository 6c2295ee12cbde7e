//! `dynamo`: item operations on the action's own DynamoDB pool. Values
//! cross as typed attribute values and expressions name them by
//! placeholder, so nothing a client sends becomes part of an expression.

use super::operations::{self, DynamoError, Expr, Item, Page};
use super::DynamoPool;
use crate::engine::bindings::{dynamo as wit, types};
use crate::engine::HostState;
use aws_sdk_dynamodb::types::AttributeValue;

type WitItem = Vec<(String, wit::Value)>;

impl HostState {
    fn dynamo_span(&self, op: &'static str, table: &str) -> tracing::Span {
        let (action, pool) = self.scope().map_or(("", ""), |s| (&*s.action, s.pool_name.as_str()));
        tracing::debug_span!("cistern.dynamo", op, table, action, pool)
    }
}

impl wit::Host for HostState {
    async fn put_item(
        &mut self,
        pool: String,
        table: String,
        item: WitItem,
        condition: Option<wit::Expression>,
    ) -> Result<bool, types::Error> {
        let p = self.pool::<DynamoPool>(&pool, "a DynamoDB pool")?;
        let span = self.dynamo_span("put-item", &table);
        let op = operations::put_item(&p, &table, to_item(item), condition.map(to_expr));
        self.in_host(span, op).await.map_err(to_wit)
    }

    async fn update_item(
        &mut self,
        pool: String,
        table: String,
        key: WitItem,
        update: wit::Expression,
    ) -> Result<(), types::Error> {
        let p = self.pool::<DynamoPool>(&pool, "a DynamoDB pool")?;
        let span = self.dynamo_span("update-item", &table);
        let op = operations::update_item(&p, &table, to_item(key), to_expr(update));
        self.in_host(span, op).await.map_err(to_wit)
    }

    async fn delete_item(&mut self, pool: String, table: String, key: WitItem) -> Result<(), types::Error> {
        let p = self.pool::<DynamoPool>(&pool, "a DynamoDB pool")?;
        let span = self.dynamo_span("delete-item", &table);
        self.in_host(span, operations::delete_item(&p, &table, to_item(key))).await.map_err(to_wit)
    }

    async fn get_item(&mut self, pool: String, table: String, key: WitItem) -> Result<Option<WitItem>, types::Error> {
        let p = self.pool::<DynamoPool>(&pool, "a DynamoDB pool")?;
        let span = self.dynamo_span("get-item", &table);
        let item = self.in_host(span, operations::get_item(&p, &table, to_item(key))).await;
        Ok(item.map_err(to_wit)?.map(from_item))
    }

    async fn batch_get(
        &mut self,
        pool: String,
        table: String,
        keys: Vec<WitItem>,
    ) -> Result<Vec<WitItem>, types::Error> {
        let p = self.pool::<DynamoPool>(&pool, "a DynamoDB pool")?;
        let span = self.dynamo_span("batch-get", &table);
        let keys = keys.into_iter().map(to_item).collect();
        let items = self.in_host(span, operations::batch_get(&p, &table, keys)).await;
        Ok(items.map_err(to_wit)?.into_iter().map(from_item).collect())
    }

    async fn query(
        &mut self,
        pool: String,
        table: String,
        key_condition: wit::Expression,
        limit: Option<u32>,
        forward: bool,
        start: Option<WitItem>,
    ) -> Result<wit::Page, types::Error> {
        let p = self.pool::<DynamoPool>(&pool, "a DynamoDB pool")?;
        let span = self.dynamo_span("query", &table);
        let op = operations::query(&p, &table, to_expr(key_condition), limit, forward, start.map(to_item));
        Ok(from_page(self.in_host(span, op).await.map_err(to_wit)?))
    }

    async fn scan(
        &mut self,
        pool: String,
        table: String,
        filter: Option<wit::Expression>,
        start: Option<WitItem>,
    ) -> Result<wit::Page, types::Error> {
        let p = self.pool::<DynamoPool>(&pool, "a DynamoDB pool")?;
        let span = self.dynamo_span("scan", &table);
        let op = operations::scan(&p, &table, filter.map(to_expr), start.map(to_item));
        Ok(from_page(self.in_host(span, op).await.map_err(to_wit)?))
    }
}

/// Unreachable, timed out or throttled: the outbox keeps a write and
/// replays it. Refused: counted as failed, not retried.
fn to_wit(e: DynamoError) -> types::Error {
    match e {
        DynamoError::Unavailable(m) => types::Error::Unavailable(m),
        DynamoError::Refused(m) => types::Error::Other(m),
    }
}

fn to_value(v: wit::Value) -> AttributeValue {
    match v {
        wit::Value::S(s) => AttributeValue::S(s),
        wit::Value::N(n) => AttributeValue::N(n),
        wit::Value::B(b) => AttributeValue::B(b.into()),
        wit::Value::Ss(set) => AttributeValue::Ss(set),
        wit::Value::Ns(set) => AttributeValue::Ns(set),
        wit::Value::Boolean(b) => AttributeValue::Bool(b),
        wit::Value::Null => AttributeValue::Null(true),
    }
}

/// A value the interface can carry; lists, maps and binary sets (which
/// the stock tables never hold) cannot, and are left out of the item.
fn from_value(v: AttributeValue) -> Option<wit::Value> {
    Some(match v {
        AttributeValue::S(s) => wit::Value::S(s),
        AttributeValue::N(n) => wit::Value::N(n),
        AttributeValue::B(b) => wit::Value::B(b.into_inner()),
        AttributeValue::Ss(set) => wit::Value::Ss(set),
        AttributeValue::Ns(set) => wit::Value::Ns(set),
        AttributeValue::Bool(b) => wit::Value::Boolean(b),
        AttributeValue::Null(_) => wit::Value::Null,
        _ => return None,
    })
}

fn to_item(item: WitItem) -> Item {
    item.into_iter().map(|(k, v)| (k, to_value(v))).collect()
}

fn from_item(item: Item) -> WitItem {
    let mut out: WitItem = item.into_iter().filter_map(|(k, v)| Some((k, from_value(v)?))).collect();
    // A stable order, whatever the map's.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn to_expr(e: wit::Expression) -> Expr {
    Expr { text: e.text, names: e.names.into_iter().collect(), values: to_item(e.values) }
}

fn from_page(p: Page) -> wit::Page {
    wit::Page { items: p.items.into_iter().map(from_item).collect(), last_key: p.last_key.map(from_item) }
}

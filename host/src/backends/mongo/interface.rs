//! `mongo`: documents in the action's own MongoDB pool, passed as JSON text
//! and turned into BSON here (`json.rs`), never read as a query language.

use super::json;
use super::operations::{self, MongoError};
use super::pool::MongoPool;
use crate::engine::bindings::{mongo as wit, types};
use crate::engine::HostState;

impl HostState {
    fn mongo_span(&self, op: &'static str, collection: &str) -> tracing::Span {
        let (action, pool) = self.scope().map_or(("", ""), |s| (&*s.action, s.pool_name.as_str()));
        tracing::debug_span!("cistern.mongo", op, action, pool, collection)
    }
}

impl wit::Host for HostState {
    async fn insert_one(&mut self, pool: String, collection: String, doc: wit::Document) -> Result<bool, types::Error> {
        let p = self.pool::<MongoPool>(&pool, "a MongoDB pool")?;
        let doc = json::document(&doc.json, doc.binary).map_err(invalid)?;
        let span = self.mongo_span("insert_one", &collection);
        self.in_host(span, operations::insert_one(&p, &collection, doc)).await.map_err(to_wit)
    }

    async fn update_one(
        &mut self,
        pool: String,
        collection: String,
        filter: String,
        update: String,
        upsert: bool,
    ) -> Result<u64, types::Error> {
        let p = self.pool::<MongoPool>(&pool, "a MongoDB pool")?;
        let filter = json::object(&filter).map_err(invalid)?;
        let update = json::object(&update).map_err(invalid)?;
        let span = self.mongo_span("update_one", &collection);
        self.in_host(span, operations::update_one(&p, &collection, filter, update, upsert)).await.map_err(to_wit)
    }

    async fn replace_one(
        &mut self,
        pool: String,
        collection: String,
        filter: String,
        replacement: wit::Document,
        upsert: bool,
    ) -> Result<u64, types::Error> {
        let p = self.pool::<MongoPool>(&pool, "a MongoDB pool")?;
        let filter = json::object(&filter).map_err(invalid)?;
        let replacement = json::document(&replacement.json, replacement.binary).map_err(invalid)?;
        let span = self.mongo_span("replace_one", &collection);
        self.in_host(span, operations::replace_one(&p, &collection, filter, replacement, upsert)).await.map_err(to_wit)
    }

    async fn delete_many(&mut self, pool: String, collection: String, filter: String) -> Result<u64, types::Error> {
        let p = self.pool::<MongoPool>(&pool, "a MongoDB pool")?;
        let filter = json::object(&filter).map_err(invalid)?;
        let span = self.mongo_span("delete_many", &collection);
        self.in_host(span, operations::delete_many(&p, &collection, filter)).await.map_err(to_wit)
    }

    async fn find(
        &mut self,
        pool: String,
        collection: String,
        filter: String,
        sort: String,
        limit: u32,
    ) -> Result<Vec<wit::Document>, types::Error> {
        let p = self.pool::<MongoPool>(&pool, "a MongoDB pool")?;
        let filter = json::object(&filter).map_err(invalid)?;
        let sort = json::object(&sort).map_err(invalid)?;
        let span = self.mongo_span("find", &collection);
        let docs = self.in_host(span, operations::find(&p, &collection, filter, sort, limit)).await.map_err(to_wit)?;
        Ok(docs
            .into_iter()
            .map(|d| {
                let (json, binary) = json::to_text(d);
                wit::Document { json, binary }
            })
            .collect())
    }
}

fn invalid(message: String) -> types::Error {
    types::Error::InvalidInput(message)
}

/// The one place MongoDB errors become WIT errors.
fn to_wit(e: MongoError) -> types::Error {
    match e {
        MongoError::Unavailable(m) => types::Error::Unavailable(m),
        MongoError::Invalid(m) => types::Error::InvalidInput(m),
        MongoError::Refused(m) => types::Error::Other(m),
    }
}

//! The outbox on disk: a redb database of `sequence -> entry`, written by
//! one thread that commits whatever is waiting in one transaction (group
//! commit), so one fsync covers every publisher that waits at that moment.

use std::path::Path;
use std::sync::mpsc;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use super::OutboxError;

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");

/// What the writer thread is asked to do.
enum Request {
    Put { seq: u64, bytes: Vec<u8>, done: oneshot::Sender<Result<(), OutboxError>> },
    Remove { seqs: Vec<u64>, done: oneshot::Sender<Result<(), OutboxError>> },
}

pub(super) struct Store {
    db: std::sync::Arc<Database>,
    requests: mpsc::Sender<Request>,
}

impl Store {
    /// Opens (or creates) `dir/outbox.redb` and starts its writer thread.
    pub fn open(dir: &Path) -> Result<Store, OutboxError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| OutboxError::Disk(format!("cannot create the outbox directory {}: {e}", dir.display())))?;
        let path = dir.join("outbox.redb");
        let db = Database::create(&path)
            .map_err(|e| OutboxError::Disk(format!("cannot open the outbox {}: {e}", path.display())))?;
        // Make sure the table exists, so that reads never meet a missing one.
        let txn = db.begin_write().map_err(disk)?;
        txn.open_table(ENTRIES).map_err(disk)?;
        txn.commit().map_err(disk)?;
        let db = std::sync::Arc::new(db);
        let (requests, receiver) = mpsc::channel();
        let writer_db = db.clone();
        std::thread::Builder::new()
            .name("cistern-outbox".into())
            .spawn(move || write_loop(&writer_db, receiver))
            .map_err(|e| OutboxError::Disk(format!("cannot start the outbox writer: {e}")))?;
        Ok(Store { db, requests })
    }

    /// Writes one entry durably: returns once it is on disk (fsync).
    pub async fn put(&self, seq: u64, bytes: Vec<u8>) -> Result<(), OutboxError> {
        let (done, answer) = oneshot::channel();
        self.requests.send(Request::Put { seq, bytes, done }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Removes entries that were replayed (or given up on).
    pub async fn remove(&self, seqs: Vec<u64>) -> Result<(), OutboxError> {
        let (done, answer) = oneshot::channel();
        self.requests.send(Request::Remove { seqs, done }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The entries with these sequence numbers (those still there).
    pub fn get(&self, seqs: &[u64]) -> Result<Vec<(u64, Vec<u8>)>, OutboxError> {
        let txn = self.db.begin_read().map_err(disk)?;
        let table = txn.open_table(ENTRIES).map_err(disk)?;
        let mut out = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            if let Some(v) = table.get(seq).map_err(disk)? {
                out.push((seq, v.value().to_vec()));
            }
        }
        Ok(out)
    }

    /// Every entry, in sequence order: what a previous run left.
    pub fn all(&self) -> Result<Vec<(u64, Vec<u8>)>, OutboxError> {
        let txn = self.db.begin_read().map_err(disk)?;
        let table = txn.open_table(ENTRIES).map_err(disk)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(disk)? {
            let (k, v) = item.map_err(disk)?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }
}

/// Takes every request waiting, applies them in one transaction, commits
/// once (durably when it holds a new entry), then answers them all.
fn write_loop(db: &Database, receiver: mpsc::Receiver<Request>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while let Ok(more) = receiver.try_recv() {
            batch.push(more);
        }
        let result = commit(db, &batch);
        for request in batch {
            let done = match request {
                Request::Put { done, .. } | Request::Remove { done, .. } => done,
            };
            let _ = done.send(result.clone());
        }
    }
}

fn commit(db: &Database, batch: &[Request]) -> Result<(), OutboxError> {
    let mut txn = db.begin_write().map_err(disk)?;
    let durable = batch.iter().any(|r| matches!(r, Request::Put { .. }));
    // Removals alone need not reach the disk at once: replaying an entry
    // again after a crash is harmless (replays are idempotent).
    if !durable {
        txn.set_durability(Durability::None).map_err(disk)?;
    }
    {
        let mut table = txn.open_table(ENTRIES).map_err(disk)?;
        for request in batch {
            match request {
                Request::Put { seq, bytes, .. } => {
                    table.insert(*seq, bytes.as_slice()).map_err(disk)?;
                }
                Request::Remove { seqs, .. } => {
                    for seq in seqs {
                        table.remove(*seq).map_err(disk)?;
                    }
                }
            }
        }
    }
    txn.commit().map_err(disk)
}

fn disk(e: impl std::fmt::Display) -> OutboxError {
    OutboxError::Disk(e.to_string())
}

fn stopped() -> OutboxError {
    OutboxError::Disk("the outbox writer has stopped".into())
}

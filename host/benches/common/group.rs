//! Group commit for the plain programs, the way cistern's batcher
//! (`engine/batch.rs`) gathers a guest's calls: items that arrive while
//! [`GroupCommit::SLOTS`] writes are running wait, and the next write takes
//! them all (at most [`GroupCommit::MAX`]).

use std::future::Future;
use std::sync::Mutex;

use tokio::sync::{oneshot, Semaphore};

pub struct GroupCommit<T> {
    waiting: Mutex<Vec<(T, oneshot::Sender<()>)>>,
    slots: Semaphore,
}

impl<T> Default for GroupCommit<T> {
    fn default() -> Self {
        GroupCommit { waiting: Mutex::default(), slots: Semaphore::new(Self::SLOTS) }
    }
}

impl<T> GroupCommit<T> {
    /// Writes running at once, and items one takes (as cistern's batcher).
    pub const SLOTS: usize = 4;
    pub const MAX: usize = 64;

    /// Returns once `item` is written, by this caller's `write` or another's.
    pub async fn add<F, Fut>(&self, item: T, write: F)
    where
        F: Fn(Vec<T>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let (done, mut answer) = oneshot::channel();
        self.waiting.lock().unwrap().push((item, done));
        loop {
            let slot = tokio::select! {
                biased;
                _ = &mut answer => return,
                slot = self.slots.acquire() => slot.unwrap(),
            };
            let taken: Vec<_> = {
                let mut waiting = self.waiting.lock().unwrap();
                let n = waiting.len().min(Self::MAX);
                waiting.drain(..n).collect()
            };
            if taken.is_empty() {
                drop(slot);
                return answer.await.unwrap();
            }
            let (items, done): (Vec<_>, Vec<_>) = taken.into_iter().unzip();
            write(items).await;
            for d in done {
                let _ = d.send(());
            }
        }
    }
}

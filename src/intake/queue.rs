//! The intake queue as the server uses it: the store's queue table behind
//! blocking-pool calls (SQLite never runs on the request threads), and a
//! wake-up for idle workers when alerts arrive.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::model::{Alert, TraceId};
use crate::store::{Admission, Claimed, Recovered, Simulated, Store, StoreError};

#[derive(Clone)]
pub struct Queue {
    store: Arc<Store>,
    wake: Arc<Notify>,
    max_queue: usize,
}

/// Why a call into the store did not return.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the store call was cancelled: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl Queue {
    pub fn new(store: Store, max_queue: usize) -> Queue {
        Queue {
            store: Arc::new(store),
            wake: Arc::new(Notify::new()),
            max_queue,
        }
    }

    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || f(&store)).await??)
    }

    /// Stores the new alerts (all or none) and wakes the workers.
    pub async fn offer(&self, alerts: Vec<Alert>) -> Result<Admission, QueueError> {
        let max = self.max_queue;
        let admission = self.blocking(move |s| s.enqueue(&alerts, max)).await?;
        if matches!(&admission, Admission::Accepted { started, .. } if !started.is_empty()) {
            self.wake.notify_waiters();
        }
        Ok(admission)
    }

    /// Queues an investigation of a simulated scenario and wakes the workers.
    pub async fn offer_simulated(&self, alert: Alert, sim: Simulated) -> Result<Admission, QueueError> {
        let max = self.max_queue;
        let admission = self.blocking(move |s| s.enqueue_simulated(&alert, &sim, max)).await?;
        if matches!(&admission, Admission::Accepted { started, .. } if !started.is_empty()) {
            self.wake.notify_waiters();
        }
        Ok(admission)
    }

    pub async fn claim(&self) -> Result<Option<Claimed>, QueueError> {
        self.blocking(Store::claim).await
    }

    pub async fn finish(&self, id: i64, ok: bool, error: Option<String>) -> Result<(), QueueError> {
        self.blocking(move |s| s.finish_claimed(id, ok, error.as_deref())).await
    }

    pub async fn interrupt(&self, traces: Vec<TraceId>) -> Result<(), QueueError> {
        self.blocking(move |s| s.mark_interrupted(&traces)).await
    }

    pub async fn recover(&self) -> Result<Recovered, QueueError> {
        self.blocking(Store::recover_queue).await
    }

    pub async fn len(&self) -> Result<usize, QueueError> {
        self.blocking(Store::queue_len).await
    }

    /// Resolves when alerts may have arrived.
    pub async fn arrived(&self) {
        self.wake.notified().await
    }
}

//! The bounded worker pool: `[serve] workers` tasks, each taking the oldest
//! queued alert and running its investigation to the end before taking the
//! next. Nothing of a finished investigation stays behind in memory.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::hub::Hub;
use super::metrics::Metrics;
use super::queue::Queue;
use crate::config::Settings;
use crate::model::{InvestigationStatus, TraceId};
use crate::sources::sim::Simulator;
use crate::store::{Claimed, Simulated, Store};
use crate::wire::sinks::Each;
use crate::wire::{Launch, Options, SetupError, for_alert_with_store, for_scenario, launch};

/// How often an idle worker looks at the queue even without a wake-up.
const POLL: Duration = Duration::from_millis(500);

/// What the workers share.
pub struct Pool {
    pub queue: Queue,
    pub settings: Settings,
    pub store_path: PathBuf,
    pub metrics: Arc<Metrics>,
    /// Where the API finds the investigations running.
    pub hub: Arc<Hub>,
    /// Where investigations run: a runtime of their own, so a busy
    /// investigation never delays an answer (the health check above all).
    investigations: tokio::runtime::Handle,
    /// Traces being investigated now.
    running: Mutex<HashSet<TraceId>>,
    /// What each investigation runs with: `[serve] strategies`, or a bundle's.
    pub base: Options,
}

/// How the pool stopped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drained {
    /// Investigations that finished within the drain time.
    pub finished: usize,
    /// Investigations cut off and marked interrupted, to run again at the next start.
    pub interrupted: usize,
}

impl Pool {
    pub fn new(
        queue: Queue,
        settings: Settings,
        store_path: PathBuf,
        author: String,
        metrics: Arc<Metrics>,
        hub: Arc<Hub>,
        investigations: tokio::runtime::Handle,
    ) -> Pool {
        let base = Options {
            author,
            strategies: settings.serve.strategies.clone(),
            ..Options::default()
        };
        Pool {
            base,
            queue,
            settings,
            store_path,
            metrics,
            hub,
            investigations,
            running: Mutex::new(HashSet::new()),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashSet<TraceId>> {
        // The set is only inserted into and removed from: a panic cannot leave it half-changed.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `n` workers; they stop taking alerts once `stop` turns true.
    pub fn spawn(self: &Arc<Pool>, n: usize, stop: watch::Receiver<bool>) -> JoinSet<()> {
        let mut set = JoinSet::new();
        for i in 0..n {
            let (pool, stop) = (self.clone(), stop.clone());
            set.spawn(async move { pool.work(i, stop).await });
        }
        set
    }

    /// Waits up to `drain` for the workers' investigations, then marks the
    /// rest interrupted. Call after `stop` turned true.
    pub async fn drain(&self, mut workers: JoinSet<()>, drain: Duration) -> Drained {
        let before = self.metrics.done.load(Relaxed) + self.metrics.failed.load(Relaxed);
        let all_done = async { while workers.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(drain, all_done).await;
        let cut: Vec<TraceId> = self.running().iter().copied().collect();
        workers.abort_all();
        if !cut.is_empty()
            && let Err(e) = self.queue.interrupt(cut.clone()).await
        {
            tracing::error!(%e, "could not mark the investigations cut off as interrupted; the next start will");
        }
        self.metrics.interrupted.fetch_add(cut.len() as u64, Relaxed);
        for t in &cut {
            tracing::warn!(trace = %t, "investigation cut off by shutdown; the next start runs it again");
        }
        let after = self.metrics.done.load(Relaxed) + self.metrics.failed.load(Relaxed);
        Drained {
            finished: (after - before) as usize,
            interrupted: cut.len(),
        }
    }

    async fn work(&self, worker: usize, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            match self.queue.claim().await {
                Ok(Some(job)) => self.investigate(worker, job).await,
                Ok(None) => {
                    tokio::select! {
                        _ = self.queue.arrived() => {}
                        _ = tokio::time::sleep(POLL) => {}
                        _ = stop.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::error!(worker, %e, "cannot take an alert from the queue; trying again");
                    tokio::time::sleep(POLL * 4).await;
                }
            }
        }
    }

    async fn investigate(&self, worker: usize, job: Claimed) {
        let Claimed {
            id,
            trace_id,
            alert,
            attempts,
            simulated,
        } = job;
        let t0 = Instant::now();
        tracing::info!(worker, trace = %trace_id, alert = %alert.name, attempts, "investigation starting");
        let opts = self.base.clone();
        let setup = match simulated {
            Some(sim) => simulated_setup(&sim, opts),
            None => for_alert_with_store(alert, &self.settings, &opts, Some(self.store_path.clone())).map(Launch::new),
        };
        let setup = match setup {
            Ok(s) => s,
            Err(e) => return self.failed(id, trace_id, e.to_string()).await,
        };
        let path = self.store_path.clone();
        let store = match tokio::task::spawn_blocking(move || Store::open(path)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return self.failed(id, trace_id, e.to_string()).await,
            Err(e) => return self.failed(id, trace_id, e.to_string()).await,
        };
        self.running().insert(trace_id);
        self.metrics.running.fetch_add(1, Relaxed);
        // Clients of the API see its events as they happen, and steer it.
        let live = self.hub.open(trace_id);
        let publish = live.clone();
        let launched = setup
            .store(Some(store))
            .learned(true)
            .trace(trace_id)
            .keep_answers(self.settings.serve.keep_tool_answers)
            .sink(Each(move |e| publish.publish(e)));
        let status = self
            .investigations
            .spawn(async move {
                let running = launch(launched);
                live.running(running.authored());
                running.wait().await.map(|s| s.status)
            })
            .await
            .ok()
            .flatten();
        self.metrics.running.fetch_sub(1, Relaxed);
        self.metrics.observe_duration(t0.elapsed());
        let ok = matches!(status, Some(InvestigationStatus::Done | InvestigationStatus::Stopped));
        let error = (!ok).then(|| format!("the investigation ended {status:?}"));
        if let Err(e) = self.queue.finish(id, ok, error).await {
            tracing::error!(trace = %trace_id, %e, "could not mark the alert done; the next start will see it finished");
        }
        // After the queue says finished: a client that finds no entry finds the end stored.
        self.hub.close(trace_id, status.unwrap_or(InvestigationStatus::Failed));
        self.running().remove(&trace_id);
        if ok {
            self.metrics.done.fetch_add(1, Relaxed);
        } else {
            self.metrics.failed.fetch_add(1, Relaxed);
        }
        tracing::info!(worker, trace = %trace_id, ?status, secs = t0.elapsed().as_secs_f64(), "investigation ended");
    }

    async fn failed(&self, id: i64, trace: TraceId, error: String) {
        tracing::error!(%trace, %error, "investigation could not start");
        self.metrics.failed.fetch_add(1, Relaxed);
        if let Err(e) = self.queue.finish(id, false, Some(error)).await {
            tracing::error!(%trace, %e, "could not mark the alert failed");
        }
        self.hub.close(trace, InvestigationStatus::Failed);
    }
}

/// A simulated scenario's investigation, as `inquest run --scenario` sets it up.
fn simulated_setup(sim: &Simulated, mut opts: Options) -> Result<Launch, SetupError> {
    let sc = Simulator::load(&sim.scenario)?;
    // As `--pace`: each call takes from half to one and a half times the pace.
    opts.pace = sim.pace_ms.map(|ms| {
        let d = Duration::from_millis(ms);
        (d / 2, d + d / 2)
    });
    opts.budget_calls = sim.budget_calls;
    for_scenario(sc, &opts).map(Launch::new)
}

//! The server's life: built from config.toml, what the last run left
//! recovered, connections and workers started, and on a stop signal: no new
//! connections, running investigations given `[serve] drain` to finish, the
//! rest marked interrupted for the next start.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::hub::Hub;
use super::limits::Limits;
use super::metrics::Metrics;
use super::queue::Queue;
use super::server::Server;
use super::workers::{Drained, Pool};
use crate::config::Settings;
use crate::store::{Recovered, Store};

/// How long the intake's own store calls wait for a lock before the request
/// is answered 503 (Alertmanager's webhook timeout is 10s).
const STORE_BUSY: std::time::Duration = std::time::Duration::from_secs(2);

pub struct Intake {
    server: Arc<Server>,
    pool: Arc<Pool>,
}

impl Intake {
    /// Reads `[serve]` and `[intake]` (secrets from the environment) and opens
    /// the store. Investigations run on `investigations`, a runtime apart from
    /// the one serving requests.
    pub fn new(
        settings: Settings,
        store_path: PathBuf,
        author: String,
        investigations: tokio::runtime::Handle,
    ) -> Result<Intake, String> {
        let env = |name: &str| std::env::var(name).ok();
        let limits = Limits::resolve(&settings.serve, env)?;
        if !settings.serve.strategies.is_empty() {
            let catalog = crate::tools::Catalog::builtin().map_err(|e| e.to_string())?;
            crate::wire::strategies(&catalog, &settings.serve.strategies)
                .map_err(|e| format!("[serve] strategies: {e}"))?;
        }
        let pagerduty_secret = match &settings.intake.pagerduty {
            Some(p) => Some(
                env(&p.secret_env)
                    .ok_or_else(|| {
                        format!(
                            "[intake.pagerduty]: the environment variable {} is not set",
                            p.secret_env
                        )
                    })?
                    .into_bytes(),
            ),
            None => None,
        };
        let tls = match &limits.tls {
            Some((cert, key)) => Some(super::tls::acceptor(cert, key)?),
            None => None,
        };
        let store = Store::open(&store_path).map_err(|e| e.to_string())?;
        store.set_busy_timeout(STORE_BUSY).map_err(|e| e.to_string())?;
        let queue = Queue::new(store, limits.max_queue);
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::default());
        let src = &settings.sources;
        // Simulated scenarios where nothing real is configured, or where allowed outright.
        let only_simulator = src.simulator.is_some()
            && src.prometheus.is_none()
            && src.loki.is_none()
            && src.jaeger.is_none()
            && src.tempo.is_none()
            && src.kubernetes.is_none()
            && src.alertmanager.is_none();
        let scenarios = settings.serve.scenarios || only_simulator;
        let pool = Arc::new(Pool::new(
            queue.clone(),
            settings,
            store_path,
            author.clone(),
            metrics.clone(),
            hub.clone(),
            investigations,
        ));
        let server = Arc::new(Server {
            limits,
            queue,
            metrics,
            pagerduty_secret,
            tls,
            hub,
            author,
            scenarios,
        });
        Ok(Intake { server, pool })
    }

    /// The investigations the API follows: what a worker publishes there
    /// reaches every client of the trace (benches publish their own).
    pub fn hub(&self) -> Arc<Hub> {
        self.server.hub.clone()
    }

    /// Investigations run with `opts` (a bundle's) instead of `[serve]`'s; before the workers start.
    pub fn with_options(mut self, opts: crate::wire::Options) -> Intake {
        if let Some(pool) = Arc::get_mut(&mut self.pool) {
            pool.base = opts;
        }
        self
    }

    /// Whether connections are HTTPS.
    pub fn tls(&self) -> bool {
        self.server.tls.is_some()
    }

    pub fn limits(&self) -> &Limits {
        &self.server.limits
    }

    /// Puts back what the last run left claimed. Call before [`Intake::run`].
    pub async fn recover(&self) -> Result<Recovered, String> {
        self.server.queue.recover().await.map_err(|e| e.to_string())
    }

    /// Serves until `shutdown` resolves, then drains.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Drained {
        let (stop_tx, stop_rx) = watch::channel(false);
        let workers = self.pool.spawn(self.server.limits.workers, stop_rx.clone());
        let accept = tokio::spawn(super::http::accept(listener, self.server.clone(), stop_rx));
        shutdown.await;
        tracing::info!("stop asked: no new connections; letting investigations finish");
        let _ = stop_tx.send(true);
        let _ = accept.await;
        let drained = self.pool.drain(workers, self.server.limits.drain).await;
        tracing::info!(
            finished = drained.finished,
            interrupted = drained.interrupted,
            "stopped"
        );
        drained
    }
}

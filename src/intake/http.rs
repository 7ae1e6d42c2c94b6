//! Connections: a cap on how many are open (at the cap the oldest idle one
//! is closed to make room), header and idle timeouts, accept errors (out of
//! file descriptors, a connection aborted) logged and retried with back-off,
//! TLS when configured, and a graceful stop.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};

use super::server::Server;

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How long a connection may finish its request once the server is stopping.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// One open connection, as the accept loop sees it.
#[derive(Default)]
struct Conn {
    /// A request is being answered.
    busy: AtomicBool,
    /// Close now: room is needed.
    shed: Notify,
}

/// The open connections by age (ids only grow).
#[derive(Default)]
struct Open {
    next: u64,
    conns: BTreeMap<u64, Arc<Conn>>,
}

type Registry = Arc<Mutex<Open>>;

fn lock(r: &Registry) -> std::sync::MutexGuard<'_, Open> {
    // Only inserts and removes happen under the lock: a panic leaves it whole.
    r.lock().unwrap_or_else(|p| p.into_inner())
}

/// Closes the oldest connection that is not answering a request, so a flood
/// of idle or slow clients cannot keep out the next one (the health check).
fn shed_oldest_idle(r: &Registry) -> bool {
    let open = lock(r);
    match open.conns.values().find(|c| !c.busy.load(Relaxed)) {
        Some(c) => {
            c.shed.notify_one();
            true
        }
        None => false,
    }
}

/// Accepts connections until `stop` turns true. At `max_connections` the
/// oldest idle connection is closed; when every one is busy, new clients wait
/// in the kernel's backlog until one closes.
pub async fn accept(listener: TcpListener, server: Arc<Server>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(server.limits.max_connections));
    let registry: Registry = Arc::default();
    let mut backoff = BACKOFF_MIN;
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if shed_oldest_idle(&registry) {
                    tracing::debug!("at the connection cap: the oldest idle connection closed");
                }
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                    _ = stop.changed() => return,
                }
            }
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = BACKOFF_MIN;
                let conn = Arc::new(Conn::default());
                let id = {
                    let mut open = lock(&registry);
                    open.next += 1;
                    let id = open.next;
                    open.conns.insert(id, conn.clone());
                    id
                };
                let (server, stop, registry) = (server.clone(), stop.clone(), registry.clone());
                tokio::spawn(async move {
                    let ended = connection(stream, server, conn, stop).await;
                    lock(&registry).conns.remove(&id);
                    drop(permit);
                    if let Err(e) = ended {
                        tracing::debug!(%peer, %e, "connection ended");
                    }
                });
            }
            Err(e) => {
                // EMFILE, ENFILE, ECONNABORTED and the like pass; the listener stays.
                tracing::warn!(%e, retry_ms = backoff.as_millis() as u64, "accept failed; retrying");
                drop(permit);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    server: Arc<Server>,
    conn: Arc<Conn>,
    stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    server.metrics.connections.fetch_add(1, Relaxed);
    let _counted = Counted(server.clone());
    match &server.tls {
        None => serve_io(TokioIo::new(stream), server, conn, stop).await,
        Some(tls) => {
            // The handshake is held to the header timeout too, and counts as idle.
            let handshake = tokio::time::timeout(server.limits.header_timeout, tls.accept(stream));
            let stream = tokio::select! {
                r = handshake => r
                    .map_err(|_| "TLS handshake timed out".to_string())?
                    .map_err(|e| format!("TLS handshake: {e}"))?,
                _ = conn.shed.notified() => return Ok(()),
            };
            serve_io(TokioIo::new(stream), server, conn, stop).await
        }
    }
}

async fn serve_io<I>(io: I, server: Arc<Server>, conn: Arc<Conn>, mut stop: watch::Receiver<bool>) -> Result<(), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    // One timer covers the headers of each request and the idle time between
    // requests on a kept-alive connection.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(server.limits.header_timeout)
        .max_buf_size(64 * 1024);
    let svc = {
        let (server, conn) = (server.clone(), conn.clone());
        hyper::service::service_fn(move |req| {
            let (server, conn) = (server.clone(), conn.clone());
            async move {
                conn.busy.store(true, Relaxed);
                let answer = server.handle(req).await;
                conn.busy.store(false, Relaxed);
                answer
            }
        })
    };
    let http = builder.serve_connection(io, svc);
    tokio::pin!(http);
    let r = tokio::select! {
        r = http.as_mut() => r,
        _ = conn.shed.notified() => Ok(()),
        _ = stop.changed() => {
            http.as_mut().graceful_shutdown();
            tokio::time::timeout(CLOSE_GRACE, http).await.unwrap_or(Ok(()))
        }
    };
    r.map_err(|e| e.to_string())
}

/// Counts the connection closed however it ends.
struct Counted(Arc<Server>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.metrics.connections.fetch_sub(1, Relaxed);
    }
}

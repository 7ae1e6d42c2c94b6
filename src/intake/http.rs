//! Connections: a cap on how many are open, header and idle timeouts, accept
//! errors (out of file descriptors, a connection aborted) logged and retried
//! with back-off, TLS when configured, and a graceful stop.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::server::Server;

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How long a connection may finish its request once the server is stopping.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Accepts connections until `stop` turns true. At `max_connections` it
/// stops accepting (new clients wait in the kernel's backlog) until one closes.
pub async fn accept(listener: TcpListener, server: Arc<Server>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(server.limits.max_connections));
    let mut backoff = BACKOFF_MIN;
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = BACKOFF_MIN;
                let (server, stop) = (server.clone(), stop.clone());
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, server, permit, stop).await {
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
    _slot: OwnedSemaphorePermit,
    stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    server.metrics.connections.fetch_add(1, Relaxed);
    let _open = Open(server.clone());
    match &server.tls {
        None => serve_io(TokioIo::new(stream), server, stop).await,
        Some(tls) => {
            // The handshake is held to the header timeout too.
            let stream = tokio::time::timeout(server.limits.header_timeout, tls.accept(stream))
                .await
                .map_err(|_| "TLS handshake timed out".to_string())?
                .map_err(|e| format!("TLS handshake: {e}"))?;
            serve_io(TokioIo::new(stream), server, stop).await
        }
    }
}

async fn serve_io<I>(io: I, server: Arc<Server>, mut stop: watch::Receiver<bool>) -> Result<(), String>
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
        let server = server.clone();
        hyper::service::service_fn(move |req| server.clone().handle(req))
    };
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let r = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            tokio::time::timeout(CLOSE_GRACE, conn).await.unwrap_or(Ok(()))
        }
    };
    r.map_err(|e| e.to_string())
}

/// Counts the connection closed however it ends.
struct Open(Arc<Server>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.metrics.connections.fetch_sub(1, Relaxed);
    }
}

//! An investigation's event stream as Server-Sent Events: every event after
//! the client's last seq, in order, without a duplicate or a gap; feedback and
//! who is attached as they change; `end` once the investigation has finished.
//! Each client has a bounded buffer: one that falls too far behind is
//! disconnected (it resumes with `after=`) and never slows anyone else.

use std::collections::HashSet;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame as BodyFrame, SizeHint};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::hub::{Frame, Live, end_frame, event_frame, feedback_frame};
use crate::model::{Event, Feedback, InvestigationStatus};

/// Silence after which a comment keeps proxies and clients from timing out.
pub const KEEPALIVE: Duration = Duration::from_secs(15);
/// Frames written but not yet taken by the connection.
const BUFFER: usize = 256;
/// How long one frame may wait for a client that reads nothing.
const STALLED: Duration = Duration::from_secs(30);

/// A response body fed frame by frame.
pub struct Stream(mpsc::Receiver<Bytes>);

impl Body for Stream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(BodyFrame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Where a stream's frames go; `Err` once the client is gone or stalled.
struct Out(mpsc::Sender<Bytes>);

impl Out {
    async fn send(&self, b: Bytes) -> Result<(), ()> {
        match tokio::time::timeout(STALLED, self.0.send(b)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }
}

/// A stored investigation, not running: its events after `after`, its feedback, then `end`.
pub fn stored(events: Vec<Event>, feedback: Vec<Feedback>, status: InvestigationStatus, after: u64) -> Stream {
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        let out = Out(tx);
        for f in &feedback {
            if let Frame::Feedback { bytes, .. } = feedback_frame(f)
                && out.send(bytes).await.is_err()
            {
                return;
            }
        }
        for e in events.iter().filter(|e| e.seq > after) {
            if let Frame::Event(f) = event_frame(e)
                && out.send(f.bytes()).await.is_err()
            {
                return;
            }
        }
        let _ = out.send(end_frame(status)).await;
    });
    Stream(rx)
}

/// A running (or queued) investigation: subscribed before the stored
/// feedback is read, so nothing falls between; events come from the hub,
/// which holds every event of the run.
pub fn live(
    live: Arc<Live>,
    author: String,
    after: u64,
    feedback: impl Future<Output = Vec<Feedback>> + Send + 'static,
) -> Stream {
    let (tx, rx) = mpsc::channel(BUFFER);
    let (history, feed) = live.subscribe(after);
    tokio::spawn(async move {
        let (_attached, presence) = live.attach(&author);
        drop(live);
        let _ = follow(Out(tx), history, feed, presence, after, feedback.await).await;
    });
    Stream(rx)
}

async fn follow(
    out: Out,
    history: Vec<Frame>,
    mut feed: tokio::sync::broadcast::Receiver<Frame>,
    presence: Bytes,
    after: u64,
    feedback: Vec<Feedback>,
) -> Result<(), ()> {
    let mut seen: HashSet<String> = HashSet::new();
    for f in &feedback {
        if let Frame::Feedback { id, bytes } = feedback_frame(f)
            && seen.insert(id)
        {
            out.send(bytes).await?;
        }
    }
    let mut last_presence = presence.clone();
    out.send(presence).await?;
    let mut last = after;
    for frame in history {
        if let Some(end) = event(&out, frame, &mut last).await? {
            return out.send(end_frame(end)).await;
        }
    }
    loop {
        let next = tokio::select! {
            r = tokio::time::timeout(KEEPALIVE, feed.recv()) => r,
            _ = out.0.closed() => return Err(()),
        };
        let frame = match next {
            Err(_) => {
                out.send(Bytes::from_static(b": keepalive\n\n")).await?;
                continue;
            }
            // Too far behind: disconnected; the client resumes with `after=`.
            Ok(Err(RecvError::Lagged(n))) => {
                tracing::info!(behind = n, "event stream client too slow; disconnected");
                return Err(());
            }
            Ok(Err(RecvError::Closed)) => return Err(()),
            Ok(Ok(f)) => f,
        };
        match frame {
            Frame::Event(_) => {
                if let Some(end) = event(&out, frame, &mut last).await? {
                    return out.send(end_frame(end)).await;
                }
            }
            Frame::Feedback { id, bytes } => {
                if seen.insert(id) {
                    out.send(bytes).await?;
                }
            }
            Frame::Presence(bytes) => {
                if bytes != last_presence {
                    last_presence = bytes.clone();
                    out.send(bytes).await?;
                }
            }
            Frame::Closed(status) => return out.send(end_frame(status)).await,
        }
    }
}

/// Sends an event frame not sent yet; the final status once it is the last event.
async fn event(out: &Out, frame: Frame, last: &mut u64) -> Result<Option<InvestigationStatus>, ()> {
    let Frame::Event(e) = frame else {
        return Ok(None);
    };
    if e.seq <= *last {
        return Ok(None);
    }
    out.send(e.bytes()).await?;
    *last = e.seq;
    Ok(e.finished)
}

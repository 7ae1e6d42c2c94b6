//! The local end of a cockpit's link: the engine's events and the store, behind
//! the same requests and replies a remote host would answer.

use tokio::sync::mpsc;

use crate::model::{Command, Event, Feedback, Reply, Request};
use crate::store::{SaveStatus, Store};

/// Why a command cannot go anywhere.
const NOT_RUNNING: &str = "the investigation is no longer running";
/// Why feedback cannot be kept.
const NO_STORE: &str = "no store: feedback cannot be saved";

/// Links a cockpit to a local investigation: forwards `events` as replies,
/// sends commands to the engine (refused when there is none, or it has
/// ended), and saves feedback to `store`, answering only once it is committed.
/// Must be called inside a tokio runtime.
pub fn local(
    events: mpsc::UnboundedReceiver<Event>,
    commands: Option<mpsc::UnboundedSender<Command>>,
    store: Option<Store>,
) -> (mpsc::UnboundedSender<Request>, mpsc::UnboundedReceiver<Reply>) {
    local_saving(events, commands, store, None)
}

/// [`local`], also telling the cockpit, once, "not saved: <cause>" when the
/// investigation's events stop reaching the store (`saved`, from the launch).
pub fn local_saving(
    events: mpsc::UnboundedReceiver<Event>,
    commands: Option<mpsc::UnboundedSender<Command>>,
    store: Option<Store>,
    saved: Option<SaveStatus>,
) -> (mpsc::UnboundedSender<Request>, mpsc::UnboundedReceiver<Reply>) {
    let (req_tx, requests) = mpsc::unbounded_channel();
    let (reply_tx, replies) = mpsc::unbounded_channel();
    // Two tasks, so a slow save never holds back the events.
    tokio::spawn(forward(events, reply_tx.clone(), saved));
    tokio::spawn(answer(requests, commands, store, reply_tx));
    (req_tx, replies)
}

/// The request name of the refusal that says the events are not being saved.
pub const STORE: &str = "store";

async fn forward(
    mut events: mpsc::UnboundedReceiver<Event>,
    replies: mpsc::UnboundedSender<Reply>,
    mut saved: Option<SaveStatus>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        let reply = tokio::select! {
            e = events.recv() => match e {
                Some(e) => Reply::Event(e),
                None => break,
            },
            _ = tick.tick(), if saved.is_some() => {
                match saved.as_ref().and_then(|s| s.error()) {
                    Some(cause) => {
                        saved = None;
                        Reply::Refused { request: STORE.into(), reason: format!("not saved: {cause}") }
                    }
                    None => continue,
                }
            }
        };
        if replies.send(reply).is_err() {
            return;
        }
    }
    // The run is over and its writer finished: a last failure is still told.
    if let Some(cause) = saved.and_then(|s| s.error()) {
        let _ = replies.send(Reply::Refused {
            request: STORE.into(),
            reason: format!("not saved: {cause}"),
        });
    }
}

async fn answer(
    mut requests: mpsc::UnboundedReceiver<Request>,
    commands: Option<mpsc::UnboundedSender<Command>>,
    mut store: Option<Store>,
    replies: mpsc::UnboundedSender<Reply>,
) {
    while let Some(r) = requests.recv().await {
        let name = r.name().to_string();
        let reply = match r {
            Request::Command(c) => match &commands {
                Some(tx) if tx.send(c.clone()).is_ok() => {
                    tracing::info!(command = ?c, "command sent");
                    continue;
                }
                _ => Err(NOT_RUNNING.to_string()),
            },
            Request::Feedback(f) => match store.take() {
                Some(s) => {
                    let (back, saved) = save(s, f).await;
                    store = back;
                    saved
                }
                None => Err(NO_STORE.to_string()),
            },
        };
        let reply = reply.unwrap_or_else(|reason| Reply::Refused { request: name, reason });
        if replies.send(reply).is_err() {
            break;
        }
    }
}

/// Saves on a blocking thread (SQLite waits on its lock), and hands the store back.
async fn save(store: Store, f: Feedback) -> (Option<Store>, Result<Reply, String>) {
    let joined = tokio::task::spawn_blocking(move || {
        let saved = store.save_feedback(&f);
        (store, saved, f)
    })
    .await;
    match joined {
        Ok((store, Ok(_), f)) => (Some(store), Ok(Reply::FeedbackSaved(f))),
        Ok((store, Err(err), _)) => {
            tracing::error!(%err, "feedback not saved");
            (Some(store), Err(format!("NOT saved: {err}")))
        }
        // The saving thread panicked and took the store with it.
        Err(err) => {
            tracing::error!(%err, "feedback not saved");
            (None, Err(format!("NOT saved: {err}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_an_engine_or_a_store_requests_are_refused_with_a_reason() {
        let (_events, rx) = mpsc::unbounded_channel();
        let (requests, mut replies) = local(rx, None, None);
        requests.send(Request::Command(Command::Stop)).unwrap();
        let Some(Reply::Refused { request, reason }) = replies.recv().await else {
            panic!("not refused")
        };
        assert_eq!((request.as_str(), reason.as_str()), ("command", NOT_RUNNING));
    }

    #[tokio::test]
    async fn a_store_that_fails_is_told_once_as_not_saved() {
        let (events, rx) = mpsc::unbounded_channel();
        let saved = SaveStatus::new();
        let (requests, mut replies) = local_saving(rx, None, None, Some(saved.clone()));
        saved.fail("trace store /x/inquest.db: disk full".into());
        let Some(Reply::Refused { request, reason }) = replies.recv().await else {
            panic!("not told")
        };
        assert_eq!(request, STORE);
        assert_eq!(reason, "not saved: trace store /x/inquest.db: disk full");
        drop((events, requests));
        assert!(replies.recv().await.is_none(), "told twice");
    }

    #[tokio::test]
    async fn commands_reach_the_engine() {
        let (_events_tx, rx) = mpsc::unbounded_channel();
        let (cmd_tx, mut engine) = mpsc::unbounded_channel();
        let (requests, _replies) = local(rx, Some(cmd_tx), None);
        requests.send(Request::Command(Command::Stop)).unwrap();
        assert_eq!(engine.recv().await, Some(Command::Stop));
    }

    #[tokio::test]
    async fn feedback_the_store_rejects_is_refused_with_its_reason() {
        use crate::model::{SpanId, Timestamp, TraceId};
        let store = Store::open_in_memory().unwrap();
        let (_events, rx) = mpsc::unbounded_channel();
        let (requests, mut replies) = local(rx, None, Some(store));
        let f = Feedback {
            id: Feedback::new_id(),
            parent: None,
            spans: Vec::new(),
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            target: "branch".into(),
            rating: Some(crate::model::Rating::Up),
            grade: None,
            highlight: None,
            comment: None,
            author: "oncall".into(),
            at: Timestamp::from_secs(1_772_359_300),
            bundle_id: "b-1".into(),
        };
        // No such trace in the store: the save fails, and says why.
        requests.send(Request::Feedback(f)).unwrap();
        let Some(Reply::Refused { request, reason }) = replies.recv().await else {
            panic!("not refused")
        };
        assert_eq!(request, "feedback");
        assert!(reason.starts_with("NOT saved: "), "{reason}");
    }
}

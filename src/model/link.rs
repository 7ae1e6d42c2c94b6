//! What passes between a cockpit and whatever hosts its investigation (a local
//! engine and store, or a server): requests one way, replies the other, so the
//! cockpit needs no more than these two streams.

use serde::{Deserialize, Serialize};

use super::{Command, Event, Feedback};

/// What a cockpit asks of whatever hosts the investigation (a local engine and store, or a server).
// Adjacently tagged: an event's own `type` field would collide with an inner tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Request {
    Command(Command),
    Feedback(Feedback),
}

/// What comes back: the investigation's events, and answers to requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Reply {
    Event(Event),
    /// Sent only once the feedback is stored, so a cockpit never marks what was lost.
    FeedbackSaved(Feedback),
    Refused {
        /// What was refused, as [`Request::name`] gives it.
        request: String,
        reason: String,
    },
    /// Feedback stored by anyone on this investigation (a shared host tells
    /// every cockpit attached); the same record may come more than once.
    FeedbackSeen(Feedback),
    /// Who is attached to the investigation now, this cockpit included.
    Presence {
        attached: Vec<String>,
    },
    /// How the link to a remote host is doing.
    Link(LinkState),
}

/// The state of a cockpit's link to a remote host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    /// Events flow.
    Connected,
    /// The connection dropped: trying again, from the last event seen.
    Reconnecting { reason: String },
    /// The host will not answer any more (the investigation was removed, the token refused).
    Lost { reason: String },
}

impl Request {
    /// [`name`](Self::name) of a command.
    pub const COMMAND: &'static str = "command";
    /// [`name`](Self::name) of feedback.
    pub const FEEDBACK: &'static str = "feedback";

    /// A short name for logs and refusals: `command` or `feedback`.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Command(_) => Request::COMMAND,
            Request::Feedback(_) => Request::FEEDBACK,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_travel_as_tagged_json() {
        let r = Request::Command(Command::Stop);
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"type\":\"command\""), "{text}");
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        let no = Reply::Refused {
            request: "command".into(),
            reason: "the investigation is no longer running".into(),
        };
        let text = serde_json::to_string(&no).unwrap();
        assert!(text.contains("\"type\":\"refused\""), "{text}");
        assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), no);
        let down = Reply::Link(LinkState::Reconnecting { reason: "reset".into() });
        let text = serde_json::to_string(&down).unwrap();
        assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), down);
    }
}

//! What a cockpit sharing its investigation learns besides events: feedback
//! others gave, who else is attached, whether the link to the server holds;
//! and what leaving does to an investigation that still runs.

use super::state::App;
use crate::model::{Feedback, LinkState, Rating};
use crate::tools::sanitize::clean;

/// What quitting does to a running investigation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Leave {
    /// Stop it: every branch ends, the trace stays.
    #[default]
    Stop,
    /// Leave it running: on the server it is attached to, or in this process, headless.
    KeepRunning,
}

impl App {
    /// Feedback stored by anyone: shown in its thread once, whoever sent it and however often it is told.
    pub fn feedback_seen(&mut self, f: Feedback) {
        if self.feedback.iter().any(|g| g.id == f.id) {
            return;
        }
        if f.author != self.author {
            let what = match (&f.rating, &f.grade, &f.comment) {
                (_, Some(g), _) => format!("graded {}", g.name()),
                (Some(Rating::Up), _, _) => "rated up".into(),
                (Some(Rating::Down), _, _) => "rated down".into(),
                (_, _, Some(c)) => format!("commented \"{}\"", c.lines().next().unwrap_or("")),
                _ => "gave feedback".into(),
            };
            self.toast = Some((
                clean(&format!("{} {what} on {} {}", f.author, f.target, f.span_id.short())),
                false,
            ));
        }
        self.feedback.push(f);
    }

    /// Who is attached now.
    pub fn presence(&mut self, attached: Vec<String>) {
        self.attached = attached;
    }

    /// The others attached: everyone the server names, less this cockpit once.
    pub fn others(&self) -> Vec<String> {
        let mut others = self.attached.clone();
        if let Some(i) = others.iter().position(|a| *a == self.author) {
            others.remove(i);
        }
        others
    }

    /// The link to the server changed.
    pub fn link(&mut self, state: LinkState) {
        match state {
            LinkState::Connected => {
                if self.link_down.take().is_some() {
                    self.toast = Some(("reconnected: nothing was missed".into(), false));
                }
            }
            LinkState::Reconnecting { reason } => {
                tracing::warn!(%reason, "link down");
                self.link_down = Some("reconnecting…".into());
            }
            LinkState::Lost { reason } => {
                self.link_down = Some("disconnected".into());
                self.toast = Some((clean(&reason), true));
            }
        }
    }

    /// Leaves now, the investigation going on (detached from a server, or
    /// kept running headless in this process).
    pub fn keep_running(&mut self) {
        self.leave = Leave::KeepRunning;
        self.quit = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SpanId, Timestamp, TraceId};
    use crate::tui::keymap::Keymap;

    fn fb(id: &str, author: &str) -> Feedback {
        Feedback {
            id: id.into(),
            parent: None,
            spans: Vec::new(),
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            target: "branch".into(),
            rating: None,
            grade: None,
            highlight: None,
            comment: Some("pool is exhausted\x1b[2J".into()),
            author: author.into(),
            at: Timestamp::from_secs(1_772_359_300),
            bundle_id: "b".into(),
        }
    }

    #[test]
    fn others_feedback_joins_the_threads_once_with_its_author() {
        let mut app = App::new(Keymap::builtin("default").unwrap(), "carol".into(), true);
        app.feedback_seen(fb("a1", "alice"));
        app.feedback_seen(fb("a1", "alice"));
        assert_eq!(app.feedback.len(), 1);
        let (toast, _) = app.toast.clone().unwrap();
        assert!(
            toast.starts_with("alice commented \"pool is exhausted␛[2J\""),
            "{toast}"
        );
        // Mine, told by the server before the answer to my POST: still once.
        app.feedback_seen(fb("c1", "carol"));
        app.feedback_saved(fb("c1", "carol"));
        assert_eq!(app.feedback.len(), 2);
    }

    #[test]
    fn presence_names_the_others_and_the_link_says_when_it_is_down() {
        let mut app = App::new(Keymap::builtin("default").unwrap(), "carol".into(), true);
        app.presence(vec!["alice".into(), "carol".into(), "carol".into()]);
        assert_eq!(app.others(), vec!["alice".to_string(), "carol".to_string()]);
        app.link(LinkState::Reconnecting { reason: "reset".into() });
        assert_eq!(app.link_down.as_deref(), Some("reconnecting…"));
        app.link(LinkState::Connected);
        assert_eq!(app.link_down, None);
    }
}

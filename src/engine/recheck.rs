//! Looking again when an investigation started too soon after its alert to
//! tell a change that holds from a blip (the real-time path: `serve` starts
//! seconds after Alertmanager fires). Against a live stack the data keeps
//! arriving: the branches run again later, looking back from a later instant,
//! and the conclusion is the latest round's, announced by a new
//! `conclusion_updated`. A recorded or simulated incident ends where its data
//! ends: that is said, and nothing is guessed past it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::run::Orch;
use crate::model::{Alert, BranchStatus, EventKind, SpanId, Timestamp};
use crate::tools::Strategy;

/// The strategy name of the branch that tells what the re-check does.
pub const RECHECK_BRANCH: &str = "recheck";

/// When and how to look again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recheck {
    /// Looking back from less than this after the alert started is too soon, ms.
    pub within_ms: i64,
    /// When to look again, ms after the first look, in order.
    pub after_ms: Vec<i64>,
    /// The sources gain data as time passes (a live stack), so waiting helps.
    pub live: bool,
}

impl Recheck {
    /// A live stack: look again a minute and two minutes later.
    pub fn live() -> Recheck {
        Recheck {
            within_ms: 90_000,
            after_ms: vec![60_000, 120_000],
            live: true,
        }
    }

    /// Recorded or simulated telemetry: no data past its end.
    pub fn fixed() -> Recheck {
        Recheck {
            live: false,
            ..Recheck::live()
        }
    }

    /// Never look again.
    pub fn never() -> Recheck {
        Recheck {
            within_ms: 0,
            after_ms: Vec::new(),
            live: false,
        }
    }

    /// How long after the alert's start an investigation looking back from
    /// `now` began, when that is too soon.
    pub fn too_soon(&self, alert: &Alert, now: Timestamp) -> Option<i64> {
        let after = (now.0 - alert.starts_at.0) / 1_000_000;
        (self.within_ms > 0 && after < self.within_ms).then_some(after.max(0))
    }
}

/// Data arrives in Prometheus a scrape or two after its instant: wait this
/// much past the instant looked back from, ms.
pub const SETTLE_MS: i64 = 15_000;

/// The branch's title.
pub fn title(after_ms: i64) -> String {
    format!(
        "Re-check: the investigation began {} s after the alert",
        after_ms / 1000
    )
}

/// What the re-check branch says when there is no later data.
pub fn fixed_note(after_ms: i64) -> String {
    format!(
        "The telemetry ends {} s after the alert started: too soon to tell a change that holds from a blip, \
         and there is no later data to look again at. The causes above rest on that short window; \
         where a branch found no clear onset, treat them as unconfirmed.",
        after_ms / 1000
    )
}

/// What the re-check branch says before waiting for more data.
pub fn wait_note(after_ms: i64, at: Timestamp, alert: &Alert) -> String {
    format!(
        "The investigation began {} s after the alert started, too soon to tell a change that holds from a blip. \
         Looking again from {} ({} s after the alert), once that data has arrived.",
        after_ms / 1000,
        at.clock(),
        (at.0 - alert.starts_at.0) / 1_000_000_000
    )
}

/// The title of a branch in a later round.
pub fn round_title(title: &str, at: Timestamp, alert: &Alert) -> String {
    format!(
        "{title} (again, from {} s after the alert)",
        (at.0 - alert.starts_at.0) / 1_000_000_000
    )
}

/// The looks at the data: the first, then re-checks when it began too soon.
pub(super) struct Rounds {
    pub(super) policy: Recheck,
    /// The instant the first look looked back from.
    pub(super) first_now: Timestamp,
    /// The round running or last run.
    pub(super) round: u32,
    /// The round the conclusion is drawn from: the latest that finished.
    pub(super) concluded: u32,
    /// Tool calls the first round spent: what another look costs.
    pub(super) first_calls: u32,
    /// Model tokens the first round spent.
    pub(super) first_tokens: u64,
    /// The branch that tells what the re-check does.
    pub(super) note: Option<SpanId>,
    /// When the next round starts, and the instant it looks back from.
    pub(super) due: Option<(tokio::time::Instant, Timestamp)>,
    pub(super) over: bool,
}

impl Orch {
    /// After a round: the conclusion it gives, then whether and when to look
    /// again (the instant to wait for and the one to look back from).
    pub(super) fn next_round(&mut self) -> Option<(tokio::time::Instant, Timestamp)> {
        let r = &self.recheck;
        if r.round == 0 && r.first_calls == 0 {
            self.recheck.first_calls = self.shared.tool_calls.load(Ordering::SeqCst);
            self.recheck.first_tokens = self.shared.tokens.load(Ordering::SeqCst);
        } else if r.round > r.concluded {
            self.recheck.concluded = r.round;
            self.conclude(true);
            let found = match self.conclusion.first() {
                Some(rc) => format!("{} · {} ({:.2})", rc.service, rc.kind.as_str(), rc.confidence),
                None => "still no cause strong enough to name".to_string(),
            };
            let at = self.now;
            self.say(format!(
                "Looked again from {} s after the alert: {found}.",
                (at.0 - self.alert.starts_at.0) / 1_000_000_000
            ));
        }
        if self.recheck.over {
            return None;
        }
        let after = self.recheck.policy.too_soon(&self.alert, self.recheck.first_now)?;
        if self.recheck.note.is_none() {
            let span = self.shared.ids.span();
            self.emit(
                span,
                Some(self.root),
                EventKind::BranchStarted {
                    strategy: RECHECK_BRANCH.into(),
                    title: title(after),
                    parent_branch: None,
                    guidance: None,
                    allotment: None,
                },
            );
            self.set_status(span, BranchStatus::Running, None);
            self.recheck.note = Some(span);
        }
        if !self.recheck.policy.live {
            self.end_recheck(fixed_note(after));
            return None;
        }
        let Some(offset) = self.recheck.policy.after_ms.get(self.recheck.round as usize).copied() else {
            self.end_recheck("The conclusion above is from the latest look.".into());
            return None;
        };
        let at = self.recheck.first_now + offset * 1_000_000;
        // Each look may make as many tool calls as the first one made: read-only
        // queries, bounded by the rounds the policy allows. The budget grows by
        // that and says so (budget_changed), rather than leaving a second look
        // no calls to make.
        let used = self.shared.tool_calls.load(Ordering::SeqCst);
        let need = self.recheck.first_calls.max(1);
        let grown = match self.shared.budget.lock() {
            Ok(mut b) if b.tool_calls.saturating_sub(used) < need => {
                b.tool_calls = used + need;
                Some(*b)
            }
            _ => None,
        };
        if let Some(budget) = grown {
            self.emit(
                self.shared.ids.span(),
                Some(self.root),
                EventKind::BudgetChanged { budget },
            );
            self.say(format!(
                "The tool-call budget grows to {} for this look: {need} calls, what the first look made.",
                budget.tool_calls
            ));
        }
        let b = self.shared.budget();
        let tokens_left = b.tokens.saturating_sub(self.shared.tokens.load(Ordering::SeqCst));
        if self.recheck.first_tokens > 0 && tokens_left < self.recheck.first_tokens {
            self.end_recheck(format!(
                "Not looking again: {tokens_left} model tokens of the budget left, and a look took {}.",
                self.recheck.first_tokens
            ));
            return None;
        }
        let wait_ms = ((at.0 - self.shared.clock.now().0) / 1_000_000 + SETTLE_MS).max(0) as u64;
        if self.shared.elapsed_ms() + wait_ms >= b.wall_ms {
            self.end_recheck(format!(
                "Not looking again: the wall-time budget of {} ms ends before the data would be in.",
                b.wall_ms
            ));
            return None;
        }
        self.say(wait_note(after, at, &self.alert));
        Some((tokio::time::Instant::now() + Duration::from_millis(wait_ms), at))
    }

    /// Runs every strategy again, looking back from `at`.
    pub(super) fn start_round(&mut self, at: Timestamp) {
        self.recheck.round += 1;
        self.now = at;
        for s in self.strategies.clone() {
            let title = round_title(&s.title, at, &self.alert);
            self.spawn_branch(Strategy { title, ..s }, None, None, None);
        }
    }

    /// A thought on the re-check branch.
    fn say(&mut self, text: String) {
        if let Some(note) = self.recheck.note {
            let span = self.shared.ids.span();
            self.emit(span, Some(note), EventKind::ThoughtDelta { text });
        }
    }

    /// Pruning the re-check branch: no more looks; the conclusion stays the latest finished look's.
    pub(super) fn stop_recheck(&mut self, author: &str) {
        self.recheck.over = true;
        self.recheck.due = None;
        if let Some(note) = self.recheck.note {
            self.set_status(
                note,
                BranchStatus::Pruned,
                Some(format!("pruned by {author}: no more looks")),
            );
        }
    }

    /// The last word of the re-check branch: no more looks.
    pub(super) fn end_recheck(&mut self, text: String) {
        self.recheck.over = true;
        self.say(text);
        if let Some(note) = self
            .recheck
            .note
            .filter(|n| self.status(*n).is_some_and(|s| s.is_live()))
        {
            self.set_status(note, BranchStatus::Done, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert_at(secs: i64) -> Alert {
        let mut a = Alert::from_json(r#"{"labels":{"alertname":"Test","service":"web"}}"#, "test").expect("alert");
        a.starts_at = Timestamp(secs * 1_000_000_000);
        a
    }

    #[test]
    fn only_an_investigation_that_began_within_the_window_is_too_soon() {
        let a = alert_at(1_000);
        let r = Recheck::live();
        assert_eq!(r.too_soon(&a, Timestamp(1_005 * 1_000_000_000)), Some(5_000));
        assert_eq!(r.too_soon(&a, Timestamp(1_120 * 1_000_000_000)), None);
        assert_eq!(Recheck::never().too_soon(&a, Timestamp(1_005 * 1_000_000_000)), None);
        assert!(fixed_note(5_000).contains("ends 5 s after the alert"));
    }
}

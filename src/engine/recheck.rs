//! Looking again when an investigation started too soon after its alert to
//! tell a change that holds from a blip (the real-time path: `serve` starts
//! seconds after Alertmanager fires). Against a live stack the data keeps
//! arriving: the branches run again later, looking back from a later instant,
//! and the conclusion is the latest round's, announced by a new
//! `conclusion_updated`. A recorded or simulated incident ends where its data
//! ends: that is said, and nothing is guessed past it.

use crate::model::{Alert, Timestamp};

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

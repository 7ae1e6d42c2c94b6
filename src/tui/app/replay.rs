//! Replay in a review: the stored events folded up to a point, stepped one
//! event or one tool call at a time, or played at 1x, 4x or 16x.

use std::time::Duration;

use super::state::App;
use crate::model::{Event, EventKind, Timestamp};

/// Playback speeds, cycled by the play key; 0 is paused.
const SPEEDS: [u32; 4] = [0, 1, 4, 16];

/// A stored investigation and how far into it the cockpit shows.
#[derive(Debug, Default)]
pub struct Replay {
    pub events: Vec<Event>,
    /// How many events are applied.
    pub at: usize,
    /// Index into [`SPEEDS`].
    speed: usize,
    /// The trace time playback has reached.
    clock: Option<Timestamp>,
}

impl Replay {
    pub fn speed(&self) -> u32 {
        SPEEDS[self.speed]
    }
}

impl App {
    /// Opens a stored investigation for review at its end, ready to replay.
    pub fn load_replay(&mut self, events: Vec<Event>) {
        let at = events.len();
        self.replay = Some(Replay {
            events,
            at,
            ..Replay::default()
        });
        self.seek(at);
    }

    /// Shows the investigation as it was after `at` events.
    fn seek(&mut self, at: usize) {
        let Some(mut r) = self.replay.take() else { return };
        r.at = at.min(r.events.len());
        self.state = None;
        for e in &r.events[..r.at] {
            self.on_event(e);
        }
        self.live = false;
        self.toast = None;
        r.clock = r.events.get(r.at.saturating_sub(1)).map(|e| e.at);
        self.replay = Some(r);
    }

    /// One event back or forward (`delta` ±1), or to the previous or next tool call (`by_call`).
    pub(super) fn step(&mut self, forward: bool, by_call: bool) {
        let Some(r) = &self.replay else {
            self.toast = Some(("replay is for reviews: inquest open TRACE".into(), true));
            return;
        };
        let is_call = |e: &Event| matches!(e.kind, EventKind::ToolCallStarted { .. });
        let at = match (forward, by_call) {
            (true, false) => r.at + 1,
            (false, false) => r.at.saturating_sub(1),
            (true, true) => (r.at + 1..=r.events.len())
                .find(|&n| is_call(&r.events[n - 1]))
                .unwrap_or(r.events.len()),
            (false, true) => (1..r.at).rev().find(|&n| is_call(&r.events[n - 1])).unwrap_or(0),
        };
        self.seek(at);
        if let Some(r) = &mut self.replay {
            r.speed = 0;
        }
    }

    /// Cycles paused → 1x → 4x → 16x → paused; from the end, starts again from the beginning.
    pub(super) fn play(&mut self) {
        let Some(r) = &mut self.replay else { return };
        r.speed = (r.speed + 1) % SPEEDS.len();
        let restart = r.speed == 1 && r.at >= r.events.len();
        if restart {
            self.seek(1);
        }
    }

    /// Advances a playing replay by `dt` of wall time; true when it changed.
    pub fn replay_tick(&mut self, dt: Duration) -> bool {
        let until = {
            let Some(r) = &mut self.replay else { return false };
            let speed = SPEEDS[r.speed];
            let Some(clock) = r.clock.filter(|_| speed > 0) else {
                return false;
            };
            let until = Timestamp(clock.0 + dt.as_nanos() as i64 * i64::from(speed));
            r.clock = Some(until);
            until
        };
        let mut changed = false;
        loop {
            let Some(r) = &mut self.replay else { return changed };
            let Some(e) = r.events.get(r.at).filter(|e| e.at.0 <= until.0).cloned() else {
                return changed;
            };
            r.at += 1;
            if r.at >= r.events.len() {
                r.speed = 0;
            }
            // Applied on the state folded so far: cheaper than folding again.
            self.apply_replayed(&e);
            changed = true;
        }
    }

    fn apply_replayed(&mut self, e: &Event) {
        self.on_event(e);
        self.live = false;
    }
}

//! Where the engine reads the time and draws its ids. Injectable so a test can
//! run an investigation under tokio's paused time with numbered ids and get
//! the same events, byte for byte, every time.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::{SpanId, Timestamp, TraceId};

/// The wall time events are stamped with. Budgets and durations use tokio's
/// clock (`tokio::time::Instant`), which paused-time tests control.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A wall clock that starts at a fixed instant and moves with tokio's clock,
/// so under paused time it is deterministic.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock {
    base: Timestamp,
    start: tokio::time::Instant,
}

impl FixedClock {
    pub fn new(base: Timestamp) -> FixedClock {
        FixedClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.base + self.start.elapsed().as_nanos() as i64
    }
}

/// Where trace and span ids come from.
pub trait Ids: Send + Sync {
    fn trace(&self) -> TraceId;
    fn span(&self) -> SpanId;
}

/// Random ids, as W3C trace context wants them.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomIds;

impl Ids for RandomIds {
    fn trace(&self) -> TraceId {
        TraceId::random()
    }
    fn span(&self) -> SpanId {
        SpanId::random()
    }
}

/// Numbered ids (1, 2, 3, ...), for tests that compare event streams.
#[derive(Debug, Default)]
pub struct CountingIds(AtomicU64);

impl Ids for CountingIds {
    fn trace(&self) -> TraceId {
        let mut b = [0u8; 16];
        b[15] = 1;
        // Never all zero: the last byte is one.
        TraceId::from_bytes(b).unwrap_or_else(TraceId::random)
    }
    fn span(&self) -> SpanId {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        SpanId::from_bytes(n.to_be_bytes()).unwrap_or_else(SpanId::random)
    }
}

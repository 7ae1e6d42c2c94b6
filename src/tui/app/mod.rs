//! The cockpit's app: engine events and keys in, commands and feedback out,
//! as requests. Nothing here touches the terminal or the engine.

mod lines;
mod state;
mod update;

pub use lines::{LineKind, StreamLine};
pub use state::{App, Cursor, Focus, Mode, Purpose, Target};

use crate::model::Grade;

/// [`Grade::name`], for callers outside the cockpit that still ask here.
pub fn grade_name(g: Grade) -> &'static str {
    g.name()
}

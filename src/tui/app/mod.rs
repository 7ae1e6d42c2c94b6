//! The cockpit's app: engine events and keys in, commands and feedback out,
//! as requests. Nothing here touches the terminal or the engine.

mod control;
mod detail;
mod lines;
mod replay;
mod shared;
mod state;
mod update;

pub use lines::{LineKind, StreamLine};
pub use replay::Replay;
pub use shared::Leave;
pub use state::{App, Ask, Cursor, Focus, Mode, Purpose, Target, proposals};

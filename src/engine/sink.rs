//! Where the engine's events go: anything that takes them one by one, in
//! order (the store, stdout, a cockpit's channel). The implementations live
//! with their owners in `wire`.

use crate::model::Event;

pub trait EventSink: Send {
    fn emit(&mut self, e: &Event);
}

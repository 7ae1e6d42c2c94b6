//! Tools: the read-only calls reasoners make, declared by skills, checked by the
//! guard, rendered into evidence.

pub mod catalog;
pub mod guard;
pub mod redact;
pub mod render;
pub mod sanitize;
pub mod stats;

pub use catalog::{Catalog, Skill, Strategy, ToolSpec};
pub use guard::{CallError, Guard, Refusal};

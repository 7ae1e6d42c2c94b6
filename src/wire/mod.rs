//! The composition root: what joins the rooms that must not know each other,
//! such as a cockpit and the engine and store that host its investigation.

pub mod link;

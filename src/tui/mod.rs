//! The cockpit: a live tree of branches, their streams and evidence, the
//! ranked root causes, steering and feedback, all from the keyboard.

pub mod action;
pub mod alerts;
pub mod app;
pub mod highlight;
pub mod insights;
pub mod key;
pub mod keymap;
pub mod readable;
pub mod runs;
pub mod term;
pub mod theme;
pub mod views;

//! The investigations a server runs, the list `inquest --server URL` opens
//! on: pick one, and the cockpit attaches to it.

use ratatui::Frame;
use ratatui::text::{Line, Span};

use super::alerts::{ListFrame, Pick, Pickable, navigate};
use super::keymap::Keymap;
use super::theme::{Role, Theme};
use crate::tools::sanitize::clean;

/// One investigation as the list shows it (what `inquest list` prints of it).
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The full trace id, to attach to.
    pub trace: String,
    pub started: String,
    pub status: String,
    pub alert: String,
    pub service: String,
    pub top: String,
}

pub struct RunList {
    pub runs: Vec<Run>,
    pub sel: usize,
    /// The server, for the title.
    pub source: String,
    pub error: Option<String>,
}

impl Pickable for RunList {
    type Item = Run;
    fn on_key(&mut self, keymap: &Keymap, ev: &crossterm::event::KeyEvent) -> Pick {
        navigate(keymap, ev, &mut self.sel, self.runs.len())
    }
    fn item(&self, i: usize) -> Option<Run> {
        self.runs.get(i).cloned()
    }
    fn refreshed(&mut self, items: Result<Vec<Run>, String>) {
        match items {
            Ok(r) => {
                self.runs = r;
                self.sel = self.sel.min(self.runs.len().saturating_sub(1));
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }
    fn draw(&self, f: &mut Frame, t: &Theme, keymap: &Keymap) {
        let mut lines = Vec::new();
        if let Some(e) = &self.error {
            lines.push(Line::styled(clean(e), t.style(Role::StatusWarning)));
        } else if self.runs.is_empty() {
            lines.push(Line::styled(
                "No investigations on this server yet. Try: inquest --server URL demo",
                t.style(Role::CausesKind),
            ));
        }
        let offset = lines.len();
        for (i, r) in self.runs.iter().enumerate() {
            let status = if r.status == "running" {
                Role::StatusValue
            } else {
                Role::CausesKind
            };
            let mut line = Line::from(vec![
                Span::styled(
                    format!("{:<9} ", r.trace.get(..8).unwrap_or(&r.trace)),
                    t.style(Role::StreamTime),
                ),
                Span::styled(format!("{:<20} ", clean(&r.started)), t.style(Role::StreamTime)),
                Span::styled(format!("{:<11} ", clean(&r.status)), t.style(status)),
                Span::styled(format!("{:<28} ", clean(&r.alert)), t.style(Role::CausesService)),
                Span::styled(format!("{:<18} ", clean(&r.service)), t.style(Role::CausesKind)),
                Span::styled(clean(&r.top), t.style(Role::StreamThought)),
            ]);
            if i == self.sel {
                line = line.patch_style(t.style(Role::TreeSelected));
            }
            lines.push(line);
        }
        let running = self.runs.iter().filter(|r| r.status == "running").count();
        ListFrame {
            header: format!(
                "{} investigations, {running} running ─ {}",
                self.runs.len(),
                self.source
            ),
            title: "Investigations",
            lines,
            sel: self.sel + offset,
            verb: "attach",
        }
        .draw(f, t, keymap);
    }
}

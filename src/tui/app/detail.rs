//! The detail view's state: which node it shows and how far it is scrolled.
//! What it shows is drawn in `views::detail`.

use super::state::{App, Mode, Purpose};
use crate::model::Request;
use crate::tui::action::Action;

/// Rows a page key moves the detail view by.
const PAGE: usize = 10;

impl App {
    /// Opens the full view of the node under the cursor of the focused pane.
    pub(super) fn open_detail(&mut self) {
        match self.target_here() {
            Some(target) => {
                self.detail_back.clear();
                self.detail_pick = None;
                self.mode = Mode::Detail { target, scroll: 0 };
            }
            None => self.toast = Some(("nothing here to open yet".into(), true)),
        }
    }

    /// An action while the detail view is open; ratings, grades and comments go to its node.
    pub(super) fn run_detail(&mut self, action: Action) -> Option<Vec<Request>> {
        let Mode::Detail { target, scroll } = &mut self.mode else {
            return None;
        };
        match action {
            // Back to the view this one was opened from, else out.
            Action::Close => match self.detail_back.pop() {
                Some((t, s)) => {
                    self.detail_pick = None;
                    self.mode = Mode::Detail { target: t, scroll: s };
                }
                None => self.mode = Mode::Normal,
            },
            // The next link (a piece of evidence the cause rests on), round again at the end.
            Action::FocusNext => {
                let n = self.detail_links.len();
                self.detail_pick = match (n, self.detail_pick) {
                    (0, _) => None,
                    (_, None) => Some(0),
                    (n, Some(i)) => Some((i + 1) % n),
                };
                if n == 0 {
                    self.toast = Some(("nothing here links further".into(), false));
                }
            }
            Action::Detail => match self.detail_pick.and_then(|i| self.detail_links.get(i)).cloned() {
                Some(next) => {
                    self.detail_back.push((target.clone(), *scroll));
                    self.detail_pick = None;
                    self.mode = Mode::Detail {
                        target: next,
                        scroll: 0,
                    };
                }
                None => self.toast = Some(("pick a piece of evidence first (Tab)".into(), false)),
            },
            Action::Down => *scroll = scroll.saturating_add(1),
            Action::Up => *scroll = scroll.saturating_sub(1),
            Action::PageDown => *scroll = scroll.saturating_add(PAGE),
            Action::PageUp => *scroll = scroll.saturating_sub(PAGE),
            Action::First => *scroll = 0,
            // The view keeps it inside what there is to show.
            Action::Last => *scroll = usize::MAX / 2,
            Action::RateUp | Action::RateDown | Action::GradeCorrect | Action::GradePartly | Action::GradeWrong => {
                return Some(self.rate(action));
            }
            Action::Comment => {
                let target = target.clone();
                let parent = self.rated_parent(&target);
                self.open_composer(Purpose::Comment {
                    target,
                    highlight: None,
                    parent,
                    spans: Vec::new(),
                });
            }
            _ => {}
        }
        Some(vec![])
    }
}

//! The stream pane's lines: a branch's steps (and the investigation's
//! guidance, where it fell in time) as text, one line each, kept until the
//! branch changes.

use std::cell::RefCell;
use std::rc::Rc;

use super::state::{App, Target};
use crate::model::{BranchState, SpanId, Step, Timestamp};
use crate::tools::render::call_line;
use crate::tools::sanitize::clean;

/// A line of the stream pane and the node it belongs to.
#[derive(Clone, Debug)]
pub struct StreamLine {
    pub target: Target,
    pub at: Option<Timestamp>,
    pub kind: LineKind,
    pub text: String,
    /// Line within its node's own text (0-based), for highlights.
    pub node_line: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    Thought,
    ToolStart,
    ToolOk,
    ToolError,
    ToolRefused,
    ToolPending,
    Guidance,
    Hypothesis,
    Status,
}

/// What the stream lines were built from: the branch, its revision, and how
/// much investigation-wide guidance there was (it shows in every branch).
type LinesKey = (SpanId, u64, usize);

/// The selected branch's lines as last built. Drawing a frame and handling a
/// key each ask for them several times; they change only with the branch.
#[derive(Default)]
pub(super) struct LineCache(RefCell<Option<(LinesKey, Rc<Vec<StreamLine>>)>>);

impl App {
    /// The selected branch's steps as lines, built again only when it changed.
    pub fn stream_lines(&self) -> Rc<Vec<StreamLine>> {
        let Some(b) = self.selected_branch() else {
            return Rc::default();
        };
        let key = (
            b.span,
            b.revision,
            self.state.as_ref().map_or(0, |s| s.guidance_steps.len()),
        );
        if let Some((k, lines)) = &*self.lines.0.borrow()
            && *k == key
        {
            return Rc::clone(lines);
        }
        let lines = Rc::new(self.build_lines(b));
        *self.lines.0.borrow_mut() = Some((key, Rc::clone(&lines)));
        lines
    }

    fn build_lines(&self, b: &BranchState) -> Vec<StreamLine> {
        let mut out = Vec::new();
        let strategy = b.strategy.clone();
        // Guidance to the whole investigation shows in every branch, where it fell in time.
        let mut steps: Vec<&Step> = b.steps.iter().collect();
        if let Some(st) = self.state.as_ref().filter(|st| !st.guidance_steps.is_empty()) {
            // Each list is in time order already: merge, keeping a branch's own order on ties.
            let mut merged = Vec::with_capacity(steps.len() + st.guidance_steps.len());
            let mut g = st.guidance_steps.iter().peekable();
            for s in steps {
                while let Some(x) = g.next_if(|x| x.at() < s.at()) {
                    merged.push(x);
                }
                merged.push(s);
            }
            merged.extend(g);
            steps = merged;
        }
        for step in steps {
            let (kind, name, at, text, lk) = match step {
                Step::Thought { at, text, .. } => ("thought", "thought", *at, clean(text), LineKind::Thought),
                Step::ToolCall {
                    at,
                    tool,
                    args,
                    status,
                    duration_ms,
                    summary,
                    error,
                    ..
                } => {
                    let (lk, tail) = match status {
                        None => (LineKind::ToolPending, "waiting for the answer".to_string()),
                        Some(crate::model::CallStatus::Ok) => (
                            LineKind::ToolOk,
                            format!(
                                "{} · {} ms",
                                summary.clone().unwrap_or_default(),
                                duration_ms.unwrap_or(0)
                            ),
                        ),
                        Some(crate::model::CallStatus::Refused) => (
                            LineKind::ToolRefused,
                            format!("refused: {}", error.clone().unwrap_or_default()),
                        ),
                        Some(crate::model::CallStatus::Error) => (
                            LineKind::ToolError,
                            format!(
                                "{} · {} ms",
                                error.clone().unwrap_or_default(),
                                duration_ms.unwrap_or(0)
                            ),
                        ),
                    };
                    (
                        "tool_call",
                        tool.as_str(),
                        *at,
                        format!("{}\n{}", call_line(tool, args), clean(&tail)),
                        lk,
                    )
                }
                Step::Guidance { at, text, author, .. } => (
                    "guidance",
                    "guidance",
                    *at,
                    clean(&format!("{author}: {text}")),
                    LineKind::Guidance,
                ),
                Step::Hypothesis { at, hypothesis: h, .. } => (
                    "hypothesis",
                    "hypothesis",
                    *at,
                    clean(&format!(
                        "{} {} {:.2}  {}",
                        h.service,
                        h.kind.as_str(),
                        h.confidence,
                        h.statement
                    )),
                    LineKind::Hypothesis,
                ),
                Step::Status { at, status, reason, .. } => (
                    "status",
                    "status",
                    *at,
                    clean(&format!(
                        "{}{}",
                        status.as_str(),
                        reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                    )),
                    LineKind::Status,
                ),
            };
            let target = Target {
                span: step.span(),
                kind: kind.to_string(),
                label: format!("{strategy} {name}"),
            };
            for (n, line) in text.lines().enumerate() {
                let lk = match (lk, n) {
                    (LineKind::ToolOk | LineKind::ToolError | LineKind::ToolRefused | LineKind::ToolPending, 0) => {
                        LineKind::ToolStart
                    }
                    _ => lk,
                };
                out.push(StreamLine {
                    target: target.clone(),
                    at: (n == 0).then_some(at),
                    kind: lk,
                    text: line.to_string(),
                    node_line: n,
                });
            }
        }
        out
    }
}

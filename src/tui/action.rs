//! Every action a key can run: its name in key map files, the word the status
//! bar shows beside its key, the layers it belongs to and the hints each layer
//! shows, all in this one place.

use std::fmt;

use super::keymap::Layer;

/// One table, so a name, a variant and a hint label cannot drift apart.
macro_rules! actions {
    ($($variant:ident = $name:literal, $label:literal;)*) => {
        /// What a key binding runs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The name in a key map's `run`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// The word beside its key in the status bar.
            pub fn label(self) -> &'static str {
                match self {
                    $(Action::$variant => $label,)*
                }
            }
        }
    };
}

actions! {
    Quit = "quit", "quit";
    Interrupt = "interrupt", "stop";
    Stop = "stop", "stop";
    RaiseBudget = "raise_budget", "more budget";
    Help = "help", "help";
    FocusNext = "focus_next", "focus";
    FocusPrev = "focus_prev", "focus back";
    FocusTree = "focus_tree", "tree";
    FocusStream = "focus_stream", "stream";
    FocusEvidence = "focus_evidence", "evidence";
    FocusCauses = "focus_causes", "causes";
    Guide = "guide", "guide all";
    GuideBranch = "guide_branch", "guide";
    Prune = "prune", "prune";
    Pause = "pause", "pause";
    Fork = "fork", "fork";
    Open = "open", "investigate";
    Detail = "detail", "details";
    Down = "down", "down";
    Up = "up", "up";
    PageDown = "page_down", "page down";
    PageUp = "page_up", "page up";
    First = "first", "first";
    Last = "last", "last";
    Select = "select", "select";
    StepBack = "step_back", "back";
    StepForward = "step_forward", "forward";
    CallBack = "call_back", "call back";
    CallForward = "call_forward", "next call";
    Play = "play", "play";
    Raw = "raw", "raw";
    Wrap = "wrap", "wrap";
    ScrollLeft = "scroll_left", "left";
    ScrollRight = "scroll_right", "right";
    Cancel = "cancel", "cancel";
    Search = "search", "search";
    SearchNext = "search_next", "next match";
    SearchPrev = "search_prev", "previous match";
    RateUp = "rate_up", "good";
    RateDown = "rate_down", "bad";
    GradeCorrect = "grade_correct", "correct";
    GradePartly = "grade_partly", "partly";
    GradeWrong = "grade_wrong", "wrong";
    Comment = "comment", "comment";
    Submit = "submit", "send";
    Newline = "newline", "new line";
    Yes = "yes", "yes";
    Keep = "keep", "keep running";
    No = "no", "no";
    Close = "close", "close";
    Refresh = "refresh", "refresh";
    Insights = "insights", "insights";
    // Unbinds a key sequence.
    Noop = "noop", "";
}

impl Action {
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// The actions the app understands in `layer` (besides the global ones, where the layer inherits them).
    pub fn in_layer(layer: Layer) -> &'static [Action] {
        use Action::*;
        const MOVE: &[Action] = &[
            Down, Up, PageDown, PageUp, First, Last, Select, Comment, RateUp, RateDown, Cancel, Search, SearchNext,
            SearchPrev, Detail,
        ];
        match layer {
            Layer::Global => &[
                Quit,
                Help,
                FocusNext,
                FocusPrev,
                FocusTree,
                FocusStream,
                FocusEvidence,
                FocusCauses,
                Guide,
                Interrupt,
                Stop,
                RaiseBudget,
                StepBack,
                StepForward,
                CallBack,
                CallForward,
                Play,
            ],
            Layer::Tree => &[
                Down,
                Up,
                First,
                Last,
                GuideBranch,
                Prune,
                Pause,
                Fork,
                RateUp,
                RateDown,
                Comment,
                Open,
                Detail,
                Search,
            ],
            Layer::Stream => MOVE,
            Layer::Evidence => &[
                Down,
                Up,
                PageDown,
                PageUp,
                First,
                Last,
                Select,
                Comment,
                RateUp,
                RateDown,
                Cancel,
                Search,
                SearchNext,
                SearchPrev,
                Detail,
                Raw,
                Wrap,
                ScrollLeft,
                ScrollRight,
            ],
            Layer::Causes => &[
                Down,
                Up,
                GradeCorrect,
                GradePartly,
                GradeWrong,
                RateUp,
                RateDown,
                Comment,
                Search,
                Detail,
            ],
            Layer::Composer => &[Submit, Newline, Cancel],
            Layer::Confirm => &[Yes, Keep, No, Interrupt],
            Layer::Help => &[Close, Down, Up, Search],
            Layer::Alerts => &[
                Down, Up, First, Last, PageDown, PageUp, Open, Detail, Refresh, Insights, FocusNext, Close, Help, Quit,
            ],
            Layer::Detail => &[
                Close,
                FocusNext,
                Detail,
                Down,
                Up,
                PageDown,
                PageUp,
                First,
                Last,
                RateUp,
                RateDown,
                Comment,
                GradeCorrect,
                GradePartly,
                GradeWrong,
                Interrupt,
            ],
        }
    }

    /// The hints the status bar shows in `layer`, most wanted first; the last always shows.
    pub fn hints(layer: Layer) -> &'static [Action] {
        use Action::*;
        match layer {
            Layer::Composer => &[Submit, Newline, Cancel],
            Layer::Confirm => &[Yes, Keep, No],
            Layer::Help => &[Search, Close],
            Layer::Alerts => &[Detail, Down, Up, Refresh, Insights, Help, Quit],
            Layer::Detail => &[
                Down,
                PageDown,
                GradeCorrect,
                GradePartly,
                GradeWrong,
                RateUp,
                RateDown,
                Comment,
                Close,
            ],
            Layer::Tree => &[
                Help,
                Detail,
                Play,
                StepBack,
                StepForward,
                GuideBranch,
                Guide,
                Prune,
                Pause,
                Fork,
                RaiseBudget,
                Stop,
                RateUp,
                RateDown,
                Comment,
                FocusNext,
                Quit,
            ],
            Layer::Causes => &[
                Help,
                Detail,
                GradeCorrect,
                GradePartly,
                GradeWrong,
                Comment,
                Stop,
                FocusNext,
                Quit,
            ],
            Layer::Evidence => &[
                Help, Detail, Select, Comment, Raw, Wrap, RateUp, RateDown, Search, SearchNext, Stop, FocusNext, Quit,
            ],
            _ => &[
                Help, Detail, Select, Comment, RateUp, RateDown, Search, SearchNext, Stop, FocusNext, Quit,
            ],
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_action() {
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(*a));
        }
        assert_eq!(Action::from_name("prnue"), None);
    }

    #[test]
    fn every_hint_is_an_action_of_its_layer() {
        // The global layer is never the one keys go to first, so it shows no hints of its own.
        for layer in Layer::ALL.into_iter().filter(|l| *l != Layer::Global) {
            for a in Action::hints(layer) {
                let global = layer != Layer::Global && Action::in_layer(Layer::Global).contains(a);
                assert!(Action::in_layer(layer).contains(a) || global, "{layer:?} {a}");
            }
        }
    }
}

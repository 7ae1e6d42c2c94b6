//! The terminal side: raw mode and the alternate screen, restored on quit,
//! panic and signals; the event loop that merges keys, engine events and
//! ticks, and draws at most one frame per ~17 ms (under 60 a second) however fast events arrive.

use std::collections::VecDeque;
use std::io::Stdout;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::app::App;
use super::views::View;
use crate::model::{BranchStatus, Feedback, Reply, Request};

/// The shortest time between two frames.
pub const FRAME: Duration = Duration::from_millis(17);
/// How long quitting waits for the store to answer for feedback just given.
pub const SAVE_WAIT: Duration = Duration::from_secs(5);
/// How often the spinner moves while something runs.
pub const TICK: Duration = Duration::from_millis(120);

/// Merges draw requests: at most one frame per [`FRAME`].
#[derive(Debug)]
pub struct Pacer {
    /// When the last frame was drawn (one frame ago at the start, so the first is due at once).
    last: Instant,
    dirty: bool,
    pub frames: u64,
}

impl Default for Pacer {
    fn default() -> Self {
        Self::new()
    }
}

impl Pacer {
    pub fn new() -> Pacer {
        let now = Instant::now();
        Pacer {
            last: now.checked_sub(FRAME).unwrap_or(now),
            dirty: true,
            frames: 0,
        }
    }
    pub fn request(&mut self) {
        self.dirty = true;
    }
    /// When the next frame may be drawn, if one is wanted.
    pub fn due(&self) -> Option<Instant> {
        self.dirty.then_some(self.last + FRAME)
    }
    /// True (and the frame counted) if a frame should be drawn now.
    pub fn take(&mut self, now: Instant) -> bool {
        match self.due() {
            Some(at) if at <= now => {
                self.dirty = false;
                self.last = now;
                self.frames += 1;
                true
            }
            _ => false,
        }
    }
}

/// Restores the terminal when dropped, whatever happens.
struct Guard;

impl Guard {
    fn enter() -> std::io::Result<Guard> {
        enable_raw_mode()?;
        if let Err(e) = execute!(std::io::stdout(), EnterAlternateScreen, crossterm::cursor::Hide) {
            let _ = disable_raw_mode();
            return Err(e);
        }
        Ok(Guard)
    }
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Everything one cockpit session needs: the app and its view, and the link to
/// whatever hosts the investigation (local or remote, the cockpit cannot tell).
pub struct Session {
    pub app: App,
    pub view: View,
    /// The investigation's events, and answers to requests.
    pub replies: mpsc::UnboundedReceiver<Reply>,
    /// Commands and feedback.
    pub requests: mpsc::UnboundedSender<Request>,
    /// Feedback sent and not yet answered, oldest first (the host answers
    /// feedback in the order it was sent), and feedback the host refused to
    /// keep: held here and sent again every [`RETRY`], so none is lost.
    pub in_flight: VecDeque<Feedback>,
    pub unsaved: Vec<Feedback>,
    /// When the unsaved feedback is offered again.
    pub retry_at: Option<Instant>,
}

/// How often feedback the store refused is offered again.
pub const RETRY: Duration = Duration::from_secs(5);

impl Session {
    pub fn new(
        app: App,
        view: View,
        replies: mpsc::UnboundedReceiver<Reply>,
        requests: mpsc::UnboundedSender<Request>,
    ) -> Session {
        Session {
            app,
            view,
            replies,
            requests,
            in_flight: VecDeque::new(),
            unsaved: Vec::new(),
            retry_at: None,
        }
    }

    /// Sends the feedback the host refused once more; returns how many went.
    pub fn retry_unsaved(&mut self) -> usize {
        self.retry_at = None;
        let again: Vec<Request> = self.unsaved.drain(..).map(Request::Feedback).collect();
        self.apply(again)
    }

    /// Passes on what the app asked for; the answers come back as replies.
    /// Returns how many pieces of feedback went out, to await their answers.
    pub fn apply(&mut self, requests: Vec<Request>) -> usize {
        let mut feedback = 0;
        for r in requests {
            let kept = match &r {
                Request::Feedback(f) => Some(f.clone()),
                Request::Command(_) => None,
            };
            if self.requests.send(r).is_err() {
                self.app.toast = Some(("the investigation is no longer running".into(), true));
                self.unsaved.extend(kept);
            } else if let Some(f) = kept {
                self.in_flight.push_back(f);
                feedback += 1;
            }
        }
        feedback
    }

    /// Takes in one reply. Returns true if it answers feedback (saved or not).
    pub fn receive(&mut self, reply: Reply) -> bool {
        match reply {
            Reply::Event(e) => {
                self.app.on_event(&e);
                false
            }
            Reply::FeedbackSaved(f) => {
                self.in_flight.pop_front();
                self.app.feedback_saved(f);
                true
            }
            Reply::Refused { request, reason } => {
                tracing::warn!(%request, %reason, "request refused");
                if request != Request::FEEDBACK {
                    self.app.toast = Some((reason, true));
                    return false;
                }
                self.unsaved.extend(self.in_flight.pop_front());
                self.retry_at.get_or_insert_with(|| Instant::now() + RETRY);
                let kept = match self.unsaved.len() {
                    0 => String::new(),
                    n => format!(" · {n} kept, offered again every {} s", RETRY.as_secs()),
                };
                self.app.toast = Some((format!("{reason}{kept}"), true));
                true
            }
            Reply::FeedbackSeen(f) => {
                self.app.feedback_seen(f);
                false
            }
            Reply::Presence { attached } => {
                self.app.presence(attached);
                false
            }
            Reply::Link(state) => {
                self.app.link(state);
                false
            }
        }
    }
}

/// Runs the cockpit until the user quits or a signal arrives.
pub async fn run(mut s: Session) -> std::io::Result<App> {
    let _guard = Guard::enter()?;
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        prev(info);
    }));
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    terminal.clear()?;

    // Keys come from a thread: crossterm's read blocks.
    let (key_tx, mut keys) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(ev) = crossterm::event::read() {
            if key_tx.send(ev).is_err() {
                break;
            }
        }
    });
    let mut term_sig = signal(tokio::signal::unix::SignalKind::terminate());
    let mut hup_sig = signal(tokio::signal::unix::SignalKind::hangup());
    let mut pacer = Pacer::new();
    let mut tick = tokio::time::interval(TICK);
    let mut replies_open = true;
    // Feedback sent and not yet answered: quitting waits for it, so none is lost on the way to the store.
    let mut unanswered = 0usize;
    loop {
        if pacer.take(Instant::now())
            && let Err(e) = draw(&mut terminal, &mut s)
        {
            // The terminal is gone (closed before its hang-up signal arrived):
            // as on a hang-up, leave without stopping what runs.
            tracing::warn!(%e, "the terminal cannot be drawn on");
            s.app.hangup = true;
            s.app.keep_running();
            break;
        }
        let next = pacer.due();
        tokio::select! {
            r = s.replies.recv(), if replies_open => match r {
                Some(r) => {
                    if s.receive(r) {
                        unanswered = unanswered.saturating_sub(1);
                    }
                    pacer.request();
                }
                None => replies_open = false,
            },
            Some(ev) = keys.recv() => {
                match ev {
                    TermEvent::Key(k) if k.kind != KeyEventKind::Release => {
                        if s.app.toast.is_some() && !matches!(s.app.mode, super::app::Mode::Composer { .. }) {
                            s.app.toast = None;
                        }
                        let requests = s.app.on_key(&k);
                        unanswered += s.apply(requests);
                    }
                    TermEvent::Resize(..) => {
                        let _ = terminal.autoresize();
                    }
                    _ => {}
                }
                pacer.request();
            }
            _ = tick.tick() => {
                if s.app.replay_tick(TICK) {
                    pacer.request();
                }
                let running = s.app.state.as_ref().is_some_and(|st| st.branches.iter().any(|b| b.status == BranchStatus::Running));
                if running {
                    s.app.tick += 1;
                    pacer.request();
                }
            }
            _ = sleep_until(s.retry_at), if s.retry_at.is_some() => {
                unanswered += s.retry_unsaved();
            }
            _ = wait(&mut term_sig) => s.app.quit = true,
            // The terminal is gone (an SSH drop, a closed window): leave without
            // a word to it, and without stopping what runs.
            _ = wait(&mut hup_sig) => {
                tracing::warn!("the terminal hung up");
                s.app.hangup = true;
                s.app.keep_running();
            }
            _ = sleep_until(next), if next.is_some() => {}
        }
        if s.app.quit {
            break;
        }
    }
    let deadline = Instant::now() + SAVE_WAIT;
    while unanswered > 0 && replies_open {
        match tokio::time::timeout_at(deadline, s.replies.recv()).await {
            Ok(Some(r)) => {
                if s.receive(r) {
                    unanswered -= 1;
                }
            }
            Ok(None) => replies_open = false,
            Err(_) => {
                tracing::error!(unanswered, "quit before the store answered for all feedback");
                break;
            }
        }
    }
    if s.app.hangup {
        // Dropped, ratatui would show the cursor and, failing on a terminal
        // that is gone, print to it: a panic. There is nothing left to restore.
        std::mem::forget(terminal);
    } else {
        drop(terminal);
    }
    Ok(s.app)
}

fn draw(terminal: &mut Terminal<CrosstermBackend<Stdout>>, s: &mut Session) -> std::io::Result<()> {
    let Session { app, view, .. } = s;
    terminal.draw(|f| view.draw(f, app))?;
    Ok(())
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).ok()
}

async fn wait(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Shows the firing alerts until one is chosen (or the user quits).
pub fn pick_alert(
    list: super::alerts::AlertList,
    keymap: &super::keymap::Keymap,
    theme: &super::theme::Theme,
    refresh: &mut dyn FnMut() -> Result<Vec<crate::model::Alert>, String>,
) -> std::io::Result<Option<crate::model::Alert>> {
    pick(list, keymap, theme, refresh)
}

/// Shows a list until one item is chosen (or the user quits).
pub fn pick<L: super::alerts::Pickable>(
    mut list: L,
    keymap: &super::keymap::Keymap,
    theme: &super::theme::Theme,
    refresh: &mut dyn FnMut() -> Result<Vec<L::Item>, String>,
) -> std::io::Result<Option<L::Item>> {
    use super::alerts::Pick;
    let _guard = Guard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    terminal.clear()?;
    loop {
        terminal.draw(|f| list.draw(f, theme, keymap))?;
        match crossterm::event::read()? {
            TermEvent::Key(k) if k.kind != KeyEventKind::Release => match list.on_key(keymap, &k) {
                Pick::Investigate(i) => return Ok(list.item(i)),
                Pick::Quit => return Ok(None),
                Pick::Refresh => list.refreshed(refresh()),
                Pick::None => {}
            },
            TermEvent::Resize(..) => {
                terminal.autoresize()?;
            }
            _ => {}
        }
    }
}

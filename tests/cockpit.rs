//! The cockpit's screens, by snapshot at 80x24 and 160x48, from a real
//! investigation with its ids, clock and durations made stable; and the
//! frame pacer under a flood of events.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use inquest::engine::{EventSink, start};
use inquest::model::{BranchStatus, Event, EventKind, Request};
use inquest::sources::sim::Simulator;
use inquest::tui::app::{App, Focus};
use inquest::tui::keymap::Keymap;
use inquest::tui::term::Pacer;
use inquest::tui::theme::{Role, Theme};
use inquest::tui::views::View;
use inquest::wire::sinks::Collect;
use inquest::wire::{Options, for_scenario};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

mod common;

/// A real investigation, run on one thread (so its order is fixed), with
/// span and trace ids renumbered, times on a fixed clock and durations fixed.
fn events() -> Vec<Event> {
    events_learned(Vec::new())
}

/// The same, started with guidance past grades left.
fn events_learned(learned: Vec<String>) -> Vec<Event> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let collect = Collect::default();
    let c = collect.clone();
    rt.block_on(async move {
        let sc = Simulator::load("checkout-db-pool").unwrap();
        let opts = Options {
            author: "oncall".into(),
            ..Options::default()
        };
        let mut setup = for_scenario(sc, &opts).unwrap();
        setup.learned = learned;
        let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(c)];
        start(setup, sinks).wait().await.unwrap();
    });
    common::stable(&collect.events())
}

fn app(events: &[Event], live: bool) -> App {
    let mut app = App::new(Keymap::builtin("default").unwrap(), "oncall".into(), live);
    for e in events {
        app.on_event(e);
    }
    app.live = live;
    app
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    let mut view = View::new(Theme::builtin("default").unwrap());
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view.draw(f, app)).unwrap();
    t.backend().to_string()
}

fn key(app: &mut App, k: KeyCode) -> Vec<Request> {
    app.on_key(&KeyEvent::new(k, KeyModifiers::NONE))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// The events up to the point where `n` hypotheses have been proposed.
fn running(all: &[Event], n: usize) -> Vec<Event> {
    let mut seen = 0;
    let mut out = Vec::new();
    for e in all {
        out.push(e.clone());
        if matches!(e.kind, EventKind::HypothesisProposed { .. }) {
            seen += 1;
            if seen == n {
                break;
            }
        }
    }
    out
}

fn both(name: &str, mut make: impl FnMut() -> App) {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut a = make();
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(&mut a, w, h));
    }
}

#[test]
fn a_running_investigation() {
    let all = events();
    let part = running(&all, 3);
    both("running", || {
        let mut a = app(&part, true);
        key(&mut a, KeyCode::Char('j'));
        a
    });
}

#[test]
fn a_pruned_branch() {
    let all = events();
    let mut part = running(&all, 3);
    let a = app(&part, true);
    let b = a
        .state
        .as_ref()
        .unwrap()
        .branches
        .iter()
        .find(|b| b.strategy == "traces-first")
        .unwrap()
        .span;
    let mut e = part.last().unwrap().clone();
    e.seq += 1;
    e.span_id = b;
    e.parent_span_id = None;
    e.kind = EventKind::BranchStatusChanged {
        status: BranchStatus::Pruned,
        reason: Some("pruned by oncall".into()),
    };
    part.push(e);
    both("pruned", || {
        let mut a = app(&part, true);
        for _ in 0..2 {
            key(&mut a, KeyCode::Char('j'));
        }
        a
    });
}

#[test]
fn the_composer_open_on_a_branch() {
    let all = events();
    let part = running(&all, 3);
    both("composer", || {
        let mut a = app(&part, true);
        key(&mut a, KeyCode::Char('j'));
        // To a branch still running: guidance goes to live branches only.
        while !a.selected_branch().unwrap().status.is_live() {
            key(&mut a, KeyCode::Char('j'));
        }
        key(&mut a, KeyCode::Char('i'));
        assert!(matches!(a.mode, inquest::tui::app::Mode::Composer { .. }));
        typed(&mut a, "orders-db max_connections was lowered at 10:39, check the pool");
        a
    });
}

#[test]
fn a_comment_on_a_highlighted_range() {
    let all = events();
    both("comment", || {
        let mut a = app(&all, false);
        a.focus = Focus::Evidence;
        key(&mut a, KeyCode::Char('j'));
        key(&mut a, KeyCode::Char('v'));
        key(&mut a, KeyCode::Char('j'));
        key(&mut a, KeyCode::Char('c'));
        typed(&mut a, "these two lines show the pool running dry");
        a
    });
}

#[test]
fn the_help_overlay() {
    let all = events();
    let part = running(&all, 3);
    both("help", || {
        let mut a = app(&part, true);
        key(&mut a, KeyCode::Char('?'));
        a
    });
}

#[test]
fn review_of_a_finished_trace() {
    let all = events();
    both("review", || {
        let mut a = app(&all, false);
        a.focus = Focus::Causes;
        a
    });
}

#[test]
fn a_comment_becomes_feedback_with_its_range_and_quote() {
    let all = events();
    let mut a = app(&all, false);
    a.focus = Focus::Evidence;
    let lines = a.evidence_lines();
    key(&mut a, KeyCode::Char('j'));
    key(&mut a, KeyCode::Char('v'));
    key(&mut a, KeyCode::Char('j'));
    key(&mut a, KeyCode::Char('c'));
    typed(&mut a, "pool dry");
    let fx = key(&mut a, KeyCode::Enter);
    let [Request::Feedback(f)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    let h = f.highlight.as_ref().unwrap();
    assert_eq!((h.start_line, h.end_line), (2, 3));
    assert_eq!(h.quote, lines[1..=2].join("\n"));
    assert_eq!(f.comment.as_deref(), Some("pool dry"));
    assert_eq!(f.target, "evidence");
    assert_eq!(Some(f.span_id), a.evidence_span());
}

#[test]
fn review_mode_sends_no_commands_but_takes_grades() {
    let all = events();
    let mut a = app(&all, false);
    assert!(key(&mut a, KeyCode::Char('x')).is_empty(), "no prune in review");
    a.focus = Focus::Causes;
    let fx = key(&mut a, KeyCode::Char('y'));
    let [Request::Feedback(f)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(f.grade, Some(inquest::model::Grade::Correct));
    assert_eq!(f.target, "root_cause");
    assert_eq!(Some(&f.span_id), a.root_causes()[0].hypotheses.first());
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_events_draws_at_most_sixty_frames_a_second() {
    let mut pacer = Pacer::new();
    let start = tokio::time::Instant::now();
    // 10,000 events a second for three seconds, each asking for a frame.
    for _ in 0..30_000 {
        pacer.request();
        pacer.take(tokio::time::Instant::now());
        tokio::time::advance(Duration::from_micros(100)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = pacer.frames as f64 / secs;
    assert!(rate <= 60.0, "{rate:.1} frames a second");
    assert!(rate >= 30.0, "still drawing: {rate:.1} frames a second");
}

fn temp_config(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("inquest-cockpit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (f, text) in files {
        std::fs::write(dir.join(f), text).unwrap();
    }
    dir
}

#[test]
fn a_user_key_map_rebinds_prune_and_unbinds_fork() {
    let dir = temp_config(
        "keymap",
        &[(
            "keymap.toml",
            "[tree]\nprepend_keymap = [\n  { on = [\"d\"], run = \"prune\", desc = \"Prune branch\" },\n  { on = [\"f\"], run = \"noop\" },\n]\n",
        )],
    );
    let (keymap, notices) = Keymap::load("default", Some(&dir));
    assert!(notices.is_empty(), "{notices:?}");
    let all = events();
    let part = running(&all, 3);
    let mut a = app(&part, true);
    a.keymap = keymap;
    // Down the tree to a branch still running.
    while !a.selected_branch().unwrap().status.is_live() {
        key(&mut a, KeyCode::Char('j'));
    }
    assert!(key(&mut a, KeyCode::Char('f')).is_empty());
    assert!(matches!(a.mode, inquest::tui::app::Mode::Normal), "f no longer forks");
    assert!(key(&mut a, KeyCode::Char('d')).is_empty());
    assert!(
        matches!(
            a.mode,
            inquest::tui::app::Mode::Confirm(inquest::tui::app::Ask::Prune { .. })
        ),
        "d asks to prune"
    );
    let fx = key(&mut a, KeyCode::Char('y'));
    let branch = a.selected_branch().unwrap().span;
    assert_eq!(fx, vec![Request::Command(inquest::model::Command::Prune { branch })]);
    // The help overlay shows the new binding.
    key(&mut a, KeyCode::Char('?'));
    let s = screen(&mut a, 100, 40);
    assert!(s.contains("d, x") || s.contains("x, d"), "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_malformed_theme_falls_back_to_the_defaults_with_a_message() {
    let dir = temp_config(
        "theme",
        &[("theme.toml", "[tree]\nrunning = { fg = \"chartreuse-ish\" }\n")],
    );
    let (theme, notices) = Theme::load("default", Some(&dir), false);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("theme.toml:2"), "{}", notices[0]);
    assert!(notices[0].contains("chartreuse-ish"), "{}", notices[0]);
    assert_eq!(
        theme.style(Role::TreeRunning),
        Theme::builtin("default").unwrap().style(Role::TreeRunning)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn escape_sequences_in_untrusted_text_never_reach_the_screen() {
    let all = events();
    let mut part = running(&all, 3);
    let branch = app(&part, true).state.as_ref().unwrap().branches[0].span;
    let mut e = part.last().unwrap().clone();
    e.seq += 1;
    e.span_id = inquest::model::SpanId::random();
    e.parent_span_id = Some(branch);
    // A screen clear, an OSC 52 clipboard write and a bare carriage return.
    e.kind = EventKind::ThoughtDelta {
        text: "log says \u{1b}[2Jcleared \u{1b}]52;c;cm0gLXJmIC8=\u{7} then\roverwritten".into(),
    };
    part.push(e);
    let mut a = app(&part, true);
    let s = screen(&mut a, 160, 48);
    assert!(
        s.contains("log says ␛[2Jcleared ␛]52;c;cm0gLXJmIC8=␇ then␍overwritten"),
        "{s}"
    );
    assert!(!s.contains('\u{1b}') && !s.contains('\u{9b}') && !s.contains('\u{7}'));
}

#[test]
fn the_alert_list_the_cockpit_opens_on() {
    use inquest::tui::alerts::{AlertList, Pick};
    let mut alerts = Vec::new();
    for id in ["checkout-db-pool", "stripe-proxy-dns", "wiki-db-wal-disk-full"] {
        alerts.push(Simulator::new(Simulator::load(id).unwrap()).unwrap().alert());
    }
    let mut list = AlertList::new(alerts, "alertmanager http://127.0.0.1:9093".into(), None);
    let keymap = Keymap::builtin("default").unwrap();
    assert_eq!(
        list.on_key(&keymap, &KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE)),
        Pick::None
    );
    let theme = Theme::builtin("default").unwrap();
    for (w, h) in [(80, 24), (160, 48)] {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| list.draw(f, &theme, &keymap)).unwrap();
        insta::assert_snapshot!(format!("alerts_{w}x{h}"), t.backend().to_string());
    }
    assert_eq!(
        list.on_key(&keymap, &KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        Pick::Investigate(1)
    );
    assert_eq!(
        list.on_key(&keymap, &KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)),
        Pick::Quit
    );
}

/// From the alert list, `i` shows where past investigations were weak as a
/// heat map, Tab walks the groupings, `?` lists the keys, Esc goes back.
#[test]
fn the_insights_heat_map_from_the_alert_list() {
    use inquest::model::{GroupBy, HeatMap};
    use inquest::tui::alerts::{AlertList, Pick, Screen};
    let store = inquest::store::Store::open_in_memory().unwrap();
    common::planted::history(&store);
    let tables: Vec<HeatMap> = GroupBy::ALL
        .into_iter()
        .map(|by| store.insights(by, None, None).unwrap())
        .collect();
    let alerts = vec![
        Simulator::new(Simulator::load("checkout-db-pool").unwrap())
            .unwrap()
            .alert(),
    ];
    let mut list = AlertList::new(alerts, "alertmanager http://127.0.0.1:9093".into(), None);
    list.insights = Ok(tables);
    list.legend = inquest::model::INSIGHTS_LEGEND.into();
    let keymap = Keymap::builtin("default").unwrap();
    let theme = Theme::builtin("default").unwrap();
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    let draw = |list: &AlertList, w: u16, h: u16| {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| list.draw(f, &theme, &keymap)).unwrap();
        t.backend().clone()
    };
    assert_eq!(list.on_key(&keymap, &key(KeyCode::Char('i'))), Pick::None);
    assert_eq!(list.screen, Screen::Insights { table: 0, scroll: 0 });
    for (w, h) in [(80, 24), (160, 48)] {
        let b = draw(&list, w, h);
        insta::assert_snapshot!(format!("insights_{w}x{h}"), b.to_string());
    }
    // Each cell is coloured for its column: the failed share of the busiest alert is poor.
    let b = draw(&list, 160, 48);
    let text = b.to_string();
    assert!(text.contains("DiskFull␛[2J\\u{202e}evil"), "{text}");
    let cells = |y: u16| -> Vec<String> { (0..160u16).map(|x| b.buffer()[(x, y)].symbol().to_string()).collect() };
    let row = (0..48u16)
        .find(|y| cells(*y).concat().contains("CheckoutLatencyHigh"))
        .unwrap();
    let line = cells(row);
    let x = (0..158).rev().find(|x| line[*x..*x + 3].concat() == "33%").unwrap() as u16;
    assert_eq!(b.buffer()[(x, row)].style().bg, theme.style(Role::HeatPoor).bg);
    assert!(line.concat().contains("!"), "{line:?}");

    list.on_key(&keymap, &key(KeyCode::Tab));
    assert!(draw(&list, 160, 48).to_string().contains("insights by kind"));
    list.on_key(&keymap, &key(KeyCode::Tab));
    let by_strategy = draw(&list, 160, 48).to_string();
    assert!(
        by_strategy.contains("metrics-first") && by_strategy.contains("changes-first"),
        "{by_strategy}"
    );
    list.on_key(&keymap, &key(KeyCode::Char('?')));
    let help = draw(&list, 80, 24).to_string();
    assert!(help.contains("Insights: where past investigations were weak"), "{help}");
    list.on_key(&keymap, &key(KeyCode::Esc));
    assert!(!list.help);
    assert_eq!(list.on_key(&keymap, &key(KeyCode::Esc)), Pick::None);
    assert_eq!(list.screen, Screen::Alerts);
    assert_eq!(list.on_key(&keymap, &key(KeyCode::Enter)), Pick::Investigate(0));
}

/// Guidance past grades left is applied before the branches start, and every
/// branch's stream shows it first.
#[test]
fn learned_guidance_shows_in_every_branch() {
    let events = events_learned(vec![
        "Learned from trace 0badc0de, graded wrong by alice: frontend was not the cause.".into(),
    ]);
    let mut a = app(&events, false);
    for branch in 0..3 {
        key(&mut a, KeyCode::Char('2'));
        key(&mut a, KeyCode::Home);
        let s = screen(&mut a, 160, 48);
        let stream: Vec<&str> = s.lines().skip(2).take(20).collect();
        let first = stream[0];
        assert!(
            first.contains("» learned: Learned from trace 0badc0de, graded wrong by alice"),
            "branch {branch}: {first}"
        );
        key(&mut a, KeyCode::Char('1'));
        key(&mut a, KeyCode::Char('j'));
    }
}

/// Any terminal size, down to a sliver, in every mode: drawn, never a panic.
#[test]
fn every_size_and_mode_draws() {
    let all = events();
    let part = running(&all, 3);
    let modes: Vec<(&str, Vec<KeyCode>)> = vec![
        ("normal", vec![]),
        ("help", vec![KeyCode::Char('?')]),
        ("composer", vec![KeyCode::Char('i'), KeyCode::Char('x')]),
        ("prune", vec![KeyCode::Char('j'), KeyCode::Char('x')]),
        (
            "selection",
            vec![
                KeyCode::Char('3'),
                KeyCode::Char('v'),
                KeyCode::Char('j'),
                KeyCode::Char('c'),
            ],
        ),
    ];
    for (name, keys) in &modes {
        for (w, h) in [
            (1, 1),
            (2, 3),
            (10, 4),
            (20, 6),
            (40, 10),
            (60, 15),
            (79, 23),
            (300, 100),
        ] {
            let mut a = app(&part, true);
            for k in keys {
                key(&mut a, *k);
            }
            let s = screen(&mut a, w, h);
            assert_eq!(s.lines().count(), h as usize, "{name} at {w}x{h}");
        }
    }
}

/// Reading the stream: a failed call at the cursor shows whole with its error
/// (nothing else's evidence), and a thought at the cursor shows whole above
/// the evidence, however narrow the stream clips them.
#[test]
fn the_line_at_the_cursor_is_shown_whole() {
    let mut all = events();
    let error = "http://prometheus.monitoring:9090/api/v1/query_range: HTTP 503: \
                 the query engine is overloaded, try again with a larger step";
    // The first branch's last call failed.
    let first_branch = all
        .iter()
        .find(|e| matches!(e.kind, EventKind::BranchStarted { .. }))
        .unwrap()
        .span_id;
    let i = all
        .iter()
        .rposition(|e| e.parent_span_id == Some(first_branch) && matches!(e.kind, EventKind::ToolCallFinished { .. }))
        .unwrap();
    if let EventKind::ToolCallFinished { tool, duration_ms, .. } = all[i].kind.clone() {
        all[i].kind = EventKind::ToolCallFinished {
            tool,
            status: inquest::model::CallStatus::Error,
            duration_ms,
            summary: "error".into(),
            evidence_span_id: None,
            error: Some(error.into()),
        };
    }
    let mut a = app(&all, false);
    key(&mut a, KeyCode::Char('2'));
    key(&mut a, KeyCode::End);
    // Up from the end to the failed call's result line.
    for _ in 0..20 {
        let s = screen(&mut a, 100, 30);
        if s.contains("Call failed") {
            let flat: String = s
                .lines()
                .map(|l| l.trim_matches(|c| c == '"'))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                flat.contains("✗ http://prometheus.monitoring:9090/api/v1/query_range: HTTP 503"),
                "{s}"
            );
            assert!(flat.contains("try again with a larger step"), "the error is whole: {s}");
            assert!(!flat.contains("resultType"), "no other call's evidence: {s}");
            break;
        }
        key(&mut a, KeyCode::Char('k'));
        assert!(!s.is_empty());
    }
    assert!(screen(&mut a, 100, 30).contains("Call failed"));

    // A thought: its whole text, above the latest evidence.
    key(&mut a, KeyCode::Home);
    for _ in 0..40 {
        let s = screen(&mut a, 100, 30);
        let cursor = a.stream_lines()[a.stream.line].clone();
        if cursor.kind == inquest::tui::app::LineKind::Thought && cursor.text.chars().count() > 70 {
            let tail: String = cursor
                .text
                .chars()
                .rev()
                .take(12)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            // The stream clips the line well before its end; the evidence pane has it.
            assert!(!cursor_row(&s, &cursor.text).contains(tail.trim()));
            assert!(s.contains(tail.trim()), "the thought's end {tail:?} is shown:\n{s}");
            return;
        }
        key(&mut a, KeyCode::Char('j'));
    }
    panic!("no long thought in the first branch's stream");
}

/// The screen row holding the start of `text`.
fn cursor_row<'a>(screen: &'a str, text: &str) -> &'a str {
    let start: String = text.chars().take(30).collect();
    screen.lines().find(|l| l.contains(&start)).unwrap_or("")
}

/// `/` searches the focused pane: the cursor lands on the next line holding
/// the pattern (smart case), `n` and `N` move between matches, wrapping, and a
/// pattern nowhere in the pane says so.
#[test]
fn search_moves_the_cursor_between_matches() {
    let all = events();
    let mut a = app(&all, false);
    key(&mut a, KeyCode::Char('2'));
    key(&mut a, KeyCode::Home);
    key(&mut a, KeyCode::Char('/'));
    typed(&mut a, "kafka");
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("/kafka▏"), "the prompt shows what is typed: {s}");
    key(&mut a, KeyCode::Enter);
    let lines = a.stream_lines();
    let hits: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].text.to_lowercase().contains("kafka"))
        .collect();
    assert!(hits.len() >= 2, "{hits:?}");
    assert_eq!(a.stream.line, hits[0]);
    assert!(
        a.toast
            .as_ref()
            .unwrap()
            .0
            .contains(&format!("match 1 of {}", hits.len()))
    );
    key(&mut a, KeyCode::Char('n'));
    assert_eq!(a.stream.line, hits[1]);
    key(&mut a, KeyCode::Char('N'));
    key(&mut a, KeyCode::Char('N'));
    assert_eq!(a.stream.line, *hits.last().unwrap(), "wraps to the last match");
    // The cursor is drawn where the match is.
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("kafka"), "{s}");

    // Smart case: a capital letter matches case; nothing found is said.
    key(&mut a, KeyCode::Char('/'));
    typed(&mut a, "KAFKA");
    key(&mut a, KeyCode::Enter);
    assert!(a.toast.as_ref().unwrap().0.contains("no line holds"), "{:?}", a.toast);

    // In the evidence pane too (the latest with a body, from the end of the stream);
    // Esc leaves the prompt without searching.
    key(&mut a, KeyCode::End);
    key(&mut a, KeyCode::Char('3'));
    key(&mut a, KeyCode::Char('/'));
    typed(&mut a, "metric");
    key(&mut a, KeyCode::Esc);
    assert!(matches!(a.mode, inquest::tui::app::Mode::Normal));
    key(&mut a, KeyCode::Char('/'));
    typed(&mut a, "service");
    key(&mut a, KeyCode::Enter);
    let ev = a.evidence_lines();
    assert!(
        a.evidence.line > 0 && ev[a.evidence.line].contains("service"),
        "{:?}",
        ev.get(a.evidence.line)
    );
}

#[test]
fn stream_lines_are_kept_until_their_branch_or_the_selection_changes() {
    let all = events();
    let texts = |a: &App| a.stream_lines().iter().map(|l| l.text.clone()).collect::<Vec<_>>();
    let mut a = app(&all[..all.len() / 2], true);
    let first = a.stream_lines();
    assert!(
        std::rc::Rc::ptr_eq(&first, &a.stream_lines()),
        "built again with nothing changed"
    );
    for e in &all[all.len() / 2..] {
        a.on_event(e);
    }
    assert_eq!(texts(&a), texts(&app(&all, true)));
    key(&mut a, KeyCode::Char('j'));
    let mut fresh = app(&all, true);
    fresh.tree_sel = a.tree_sel;
    assert_eq!(texts(&a), texts(&fresh));
}

#[test]
fn feedback_is_marked_saved_only_when_its_host_answers() {
    use inquest::model::Reply;
    use inquest::tui::term::Session;
    let mut a = app(&events(), false);
    a.focus = Focus::Causes;
    let (requests, mut host) = tokio::sync::mpsc::unbounded_channel();
    let (_answers, replies) = tokio::sync::mpsc::unbounded_channel();
    let view = View::new(Theme::builtin("default").unwrap());
    let mut s = Session::new(a, view, replies, requests);
    let fx = key(&mut s.app, KeyCode::Char('y'));
    assert_eq!(s.apply(fx), 1);
    let Ok(Request::Feedback(f)) = host.try_recv() else {
        panic!("no feedback sent")
    };
    assert!(
        s.app.feedback.is_empty() && s.app.toast.is_none(),
        "marked before the answer"
    );
    assert!(s.receive(Reply::FeedbackSaved(f.clone())));
    assert_eq!(s.app.feedback, vec![f]);
    let (toast, error) = s.app.toast.clone().unwrap();
    assert!(toast.starts_with("saved: graded correct") && !error, "{toast}");
    // A second grade the store refuses is kept, said so, and offered again.
    let fx = key(&mut s.app, KeyCode::Char('n'));
    assert_eq!(s.apply(fx), 1);
    let Ok(Request::Feedback(g)) = host.try_recv() else {
        panic!("no feedback sent")
    };
    assert!(s.receive(Reply::Refused {
        request: Request::FEEDBACK.into(),
        reason: "NOT saved: disk full".into(),
    }));
    assert_eq!(
        s.app.toast,
        Some(("NOT saved: disk full · 1 kept, offered again every 5 s".into(), true))
    );
    assert_eq!(s.app.feedback.len(), 1);
    assert_eq!(s.unsaved, vec![g.clone()]);
    assert!(s.retry_at.is_some(), "a retry is due");
    assert_eq!(s.retry_unsaved(), 1);
    let Ok(Request::Feedback(again)) = host.try_recv() else {
        panic!("the kept feedback was not offered again")
    };
    assert_eq!(again, g);
    assert!(s.receive(Reply::FeedbackSaved(again)));
    assert!(s.unsaved.is_empty() && s.in_flight.is_empty());
    assert_eq!(s.app.feedback.len(), 2);
}

fn ctrl(app: &mut App, c: char) -> Vec<Request> {
    app.on_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

#[test]
fn ctrl_c_and_q_ask_before_ending_a_running_investigation() {
    use inquest::model::Command;
    use inquest::tui::app::{Ask, Mode};
    let all = events();
    let part = running(&all, 3);
    // Ctrl-C asks to stop; y stops and the review stays open.
    let mut a = app(&part, true);
    assert!(ctrl(&mut a, 'c').is_empty());
    assert!(matches!(a.mode, Mode::Confirm(Ask::Stop)), "Ctrl-C asks first");
    assert!(screen(&mut a, 80, 24).contains("Stop the investigation?"));
    assert_eq!(key(&mut a, KeyCode::Char('y')), vec![Request::Command(Command::Stop)]);
    assert!(!a.quit);
    // A second Ctrl-C on the question quits.
    let mut a = app(&part, true);
    ctrl(&mut a, 'c');
    ctrl(&mut a, 'c');
    assert!(a.quit, "the second Ctrl-C quits");
    // q asks while it runs; n stays.
    let mut a = app(&part, true);
    key(&mut a, KeyCode::Char('q'));
    assert!(matches!(a.mode, Mode::Confirm(Ask::Quit)), "q asks first");
    key(&mut a, KeyCode::Char('n'));
    assert!(!a.quit && matches!(a.mode, Mode::Normal));
    key(&mut a, KeyCode::Char('q'));
    key(&mut a, KeyCode::Char('y'));
    assert!(a.quit);
    // On a review, q quits at once; Ctrl-C wants a second press.
    let mut a = app(&all, false);
    ctrl(&mut a, 'c');
    assert!(!a.quit);
    ctrl(&mut a, 'c');
    assert!(a.quit);
    let mut a = app(&all, false);
    key(&mut a, KeyCode::Char('q'));
    assert!(a.quit);
}

#[test]
fn stop_and_budget_are_commands_confirmed_when_the_engine_answers() {
    use inquest::model::{Budget, Command, EventKind};
    let all = events();
    let part = running(&all, 3);
    let mut a = app(&part, true);
    assert_eq!(key(&mut a, KeyCode::Char('s')), vec![Request::Command(Command::Stop)]);
    let mut a = app(&part, true);
    let fx = key(&mut a, KeyCode::Char('b'));
    let Some(Request::Command(Command::SetBudget { budget })) = fx.first() else {
        panic!("b raises the budget: {fx:?}");
    };
    assert_eq!(budget.tool_calls, Some(300));
    // The engine's answer is confirmed in the status line.
    let mut e = part.last().unwrap().clone();
    e.seq += 1;
    e.kind = EventKind::BudgetChanged {
        budget: Budget {
            tool_calls: 300,
            ..Budget::default()
        },
    };
    a.on_event(&e);
    assert!(screen(&mut a, 80, 24).contains("budget raised to 300 tool calls"));
    // Review only: neither is offered.
    let mut a = app(&all, false);
    let s = screen(&mut a, 160, 48);
    assert!(
        !s.contains(" stop ") && !s.contains("more budget") && !s.contains("guide all"),
        "{s}"
    );
}

#[test]
fn emacs_c_g_cancels_every_prompt_and_c_c_c_c_sends() {
    use inquest::tui::app::Mode;
    let all = events();
    let part = running(&all, 3);
    let mut a = app(&part, true);
    a.keymap = Keymap::builtin("emacs").unwrap();
    a.focus = Focus::Stream;
    ctrl(&mut a, 's');
    assert!(matches!(a.mode, Mode::Search { .. }));
    ctrl(&mut a, 'g');
    assert!(matches!(a.mode, Mode::Normal), "C-g cancels the search");
    key(&mut a, KeyCode::Char('c'));
    assert!(matches!(a.mode, Mode::Composer { .. }));
    ctrl(&mut a, 'g');
    assert!(matches!(a.mode, Mode::Normal), "C-g cancels the composer");
    key(&mut a, KeyCode::Char('c'));
    typed(&mut a, "noted");
    ctrl(&mut a, 'c');
    let fx = ctrl(&mut a, 'c');
    assert!(matches!(fx.as_slice(), [Request::Feedback(_)]), "C-c C-c sends: {fx:?}");
    key(&mut a, KeyCode::Char('?'));
    ctrl(&mut a, 's');
    typed(&mut a, "prune");
    let s = screen(&mut a, 100, 40);
    assert!(s.contains("filter: prune") && !s.contains("Next line"), "{s}");
    ctrl(&mut a, 'g');
    ctrl(&mut a, 'g');
    assert!(matches!(a.mode, Mode::Normal), "C-g closes the help");
}

#[test]
fn the_detail_view_of_a_root_cause() {
    both("detail_cause", || {
        let mut a = app(&events(), false);
        key(&mut a, KeyCode::Char('4'));
        key(&mut a, KeyCode::Enter);
        a
    });
}

#[test]
fn enter_opens_the_whole_node_and_esc_returns() {
    use inquest::tui::app::Mode;
    let all = events();
    let mut a = app(&all, false);
    key(&mut a, KeyCode::Char('4'));
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.mode, Mode::Detail { .. }));
    let rc = a.root_causes()[0].clone();
    let s = screen(&mut a, 200, 60);
    // The whole statement, unclipped, and the evidence chain.
    let squeeze = |t: &str| -> String { t.chars().filter(|c| !"\"│┃ \n".contains(*c)).collect() };
    assert!(squeeze(&s).contains(&squeeze(&rc.statement)), "{s}");
    assert!(s.contains("Evidence it rests on") && s.contains("Proposed by"), "{s}");
    // A grade from the detail view goes to the cause.
    let fx = key(&mut a, KeyCode::Char('y'));
    assert!(
        matches!(fx.as_slice(), [Request::Feedback(f)] if f.target == "root_cause"),
        "{fx:?}"
    );
    // A merged cause: the grade names every hypothesis merged into it.
    let Request::Feedback(f) = &fx[0] else { unreachable!() };
    assert!(rc.hypotheses.len() > 1);
    assert_eq!(f.spans, rc.hypotheses);
    key(&mut a, KeyCode::Esc);
    assert!(matches!(a.mode, Mode::Normal));
    // Every pane opens its node.
    for pane in ['1', '2', '3'] {
        key(&mut a, KeyCode::Char(pane));
        key(&mut a, KeyCode::Enter);
        assert!(matches!(a.mode, Mode::Detail { .. }), "pane {pane}");
        key(&mut a, KeyCode::Esc);
    }
}

#[test]
fn the_evidence_a_cause_rests_on_opens_its_own_detail_and_esc_comes_back() {
    use inquest::tui::app::Mode;
    let all = events();
    let mut a = app(&all, false);
    key(&mut a, KeyCode::Char('4'));
    key(&mut a, KeyCode::Enter);
    let cause = match &a.mode {
        Mode::Detail { target, .. } => target.clone(),
        _ => panic!("not in a detail view"),
    };
    // Drawing lays out the chain; Tab picks its first piece, shown reversed, Enter opens it.
    let _ = screen(&mut a, 120, 40);
    assert!(!a.detail_links.is_empty(), "the cause rests on evidence");
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.detail_pick, Some(0));
    let first = a.detail_links[0].clone();
    key(&mut a, KeyCode::Enter);
    match &a.mode {
        Mode::Detail { target, .. } => {
            assert_eq!(target.span, first.span);
            assert_eq!(target.kind, "evidence");
        }
        _ => panic!("not in a detail view"),
    }
    let s = screen(&mut a, 120, 40);
    assert!(s.contains("Evidence:"), "{s}");
    // Esc goes back to the cause, then out.
    key(&mut a, KeyCode::Esc);
    assert!(matches!(&a.mode, Mode::Detail { target, .. } if target.span == cause.span));
    key(&mut a, KeyCode::Esc);
    assert!(matches!(a.mode, Mode::Normal));
}

#[test]
fn the_evidence_pane_follows_the_selected_cause() {
    let all = events();
    let mut a = app(&all, false);
    key(&mut a, KeyCode::Char('4'));
    for i in 0..a.root_causes().len() {
        let want = a.cause_evidence(i);
        assert!(want.is_some(), "cause {i} has evidence");
        assert_eq!(a.evidence_span(), want, "cause {i}");
        // Focusing the evidence keeps showing the cause's.
        key(&mut a, KeyCode::Char('3'));
        assert_eq!(a.evidence_span(), want, "cause {i} in the evidence pane");
        key(&mut a, KeyCode::Char('4'));
        key(&mut a, KeyCode::Char('j'));
    }
}

/// A review with the stream cursor on the first call that brought evidence of `kind`.
fn at_evidence(kind: inquest::model::EvidenceKind, want: impl Fn(&str) -> bool) -> App {
    let mut a = app(&events(), false);
    let st = a.state.clone().unwrap();
    let ev = st
        .evidence
        .values()
        .filter(|e| e.evidence.kind == kind && want(&e.evidence.summary))
        .min_by_key(|e| e.span)
        .expect("evidence of that kind");
    let branch = ev.branch.unwrap();
    a.tree_sel = a
        .tree_rows()
        .iter()
        .position(|(i, _)| st.branches[*i].span == branch)
        .unwrap();
    let lines = a.stream_lines();
    let call = ev.tool_call.unwrap();
    a.stream.line = lines.iter().position(|l| l.target.span == call).unwrap();
    a.stream_follow = false;
    a.focus = Focus::Evidence;
    a.evidence_source = Focus::Stream;
    a
}

#[test]
fn log_lines_read_as_time_level_message_then_labels() {
    use inquest::model::EvidenceKind;
    both("evidence_logs", || {
        at_evidence(EvidenceKind::LogLines, |s| s.contains("lines in"))
    });
    let mut a = at_evidence(EvidenceKind::LogLines, |s| s.contains("lines in"));
    let s = screen(&mut a, 100, 30);
    assert!(s.contains(" ERROR "), "{s}");
    // r shows the raw body; w wraps; l scrolls sideways.
    key(&mut a, KeyCode::Char('r'));
    assert!(
        screen(&mut a, 100, 30).contains("Z "),
        "raw lines keep their RFC 3339 time"
    );
    key(&mut a, KeyCode::Char('r'));
    key(&mut a, KeyCode::Char('l'));
    assert_eq!(a.evidence_hscroll, 8);
    key(&mut a, KeyCode::Char('w'));
    assert!(a.evidence_wrap && a.evidence_hscroll == 0);
}

#[test]
fn kubernetes_lists_read_as_kubectl_tables() {
    use inquest::model::EvidenceKind;
    both("evidence_pods", || {
        at_evidence(EvidenceKind::KubernetesObject, |s| s.starts_with("PodList"))
    });
    both("evidence_events", || {
        at_evidence(EvidenceKind::KubernetesObject, |s| s.starts_with("EventList"))
    });
    let mut a = at_evidence(EvidenceKind::KubernetesObject, |s| s.starts_with("PodList"));
    let s = screen(&mut a, 160, 48);
    assert!(
        s.contains("NAME") && s.contains("READY") && s.contains("RESTARTS"),
        "{s}"
    );
}

#[test]
fn a_trace_reads_as_a_span_waterfall() {
    use inquest::model::EvidenceKind;
    both("evidence_trace", || {
        at_evidence(EvidenceKind::Trace, |s| s.contains("spans"))
    });
}

#[test]
fn a_rating_then_a_comment_is_one_thread_and_a_range_may_cross_nodes() {
    let all = events();
    let mut a = app(&all, false);
    key(&mut a, KeyCode::Char('2'));
    key(&mut a, KeyCode::Char('g'));
    key(&mut a, KeyCode::Char('g'));
    let fx = key(&mut a, KeyCode::Char('+'));
    let Some(Request::Feedback(rating)) = fx.first().cloned() else {
        panic!("+ rates at once: {fx:?}");
    };
    assert_eq!(rating.id.len(), 16);
    assert_eq!(rating.parent, None);
    a.feedback_saved(rating.clone());
    assert!(screen(&mut a, 120, 30).contains("add a comment? (c)"));
    key(&mut a, KeyCode::Char('c'));
    typed(&mut a, "the first step was the right one");
    let fx = key(&mut a, KeyCode::Enter);
    let Some(Request::Feedback(comment)) = fx.first().cloned() else {
        panic!("the comment is sent: {fx:?}");
    };
    assert_eq!(
        comment.parent.as_deref(),
        Some(rating.id.as_str()),
        "the comment refines the rating"
    );
    assert_eq!(comment.span_id, rating.span_id);
    // A selection across a tool call's boundary keeps every line and the spans it covers.
    key(&mut a, KeyCode::Char('v'));
    for _ in 0..3 {
        key(&mut a, KeyCode::Char('j'));
    }
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("4 lines selected"), "the selection shows its size: {s}");
    key(&mut a, KeyCode::Char('c'));
    typed(&mut a, "from here to there");
    let fx = key(&mut a, KeyCode::Enter);
    let Some(Request::Feedback(range)) = fx.first().cloned() else {
        panic!("the range comment is sent: {fx:?}");
    };
    let h = range.highlight.expect("a highlight");
    assert_eq!(h.quote.lines().count(), 4, "{h:?}");
    assert_eq!(h.end_line - h.start_line, 3, "{h:?}");
    assert!(range.spans.len() > 1, "it crosses nodes: {:?}", range.spans);
    assert_eq!(range.span_id, range.spans[0]);
}

#[test]
fn the_feedback_thread_in_the_detail_view() {
    both("feedback_thread", || {
        let mut a = app(&events(), false);
        key(&mut a, KeyCode::Char('4'));
        let Some(Request::Feedback(mut grade)) = key(&mut a, KeyCode::Char('m')).first().cloned() else {
            panic!("m grades");
        };
        grade.id = "00000000000000a1".into();
        grade.at = inquest::model::Timestamp::from_secs(1_772_362_000);
        a.rated = None;
        a.feedback_saved(grade.clone());
        let mut reply = grade.clone();
        reply.id = "00000000000000a2".into();
        reply.grade = None;
        reply.parent = Some(grade.id.clone());
        reply.comment = Some("right service, but the pool, not a deploy".into());
        a.feedback_saved(reply);
        key(&mut a, KeyCode::Enter);
        key(&mut a, KeyCode::Char('G'));
        a
    });
}

#[test]
fn causes_that_guidance_moved_are_marked_and_strong_evidence_is_called_out() {
    let guided = events_learned(vec!["orders-db is innocent, look at checkout".into()]);
    both("causes_guided", || {
        let mut a = app(&guided, false);
        key(&mut a, KeyCode::Char('4'));
        a
    });
    let mut a = app(&guided, false);
    let s = screen(&mut a, 200, 40);
    assert!(
        s.contains("↓ guidance (evidence 0.7") && s.contains("evidence disagrees"),
        "{s}"
    );
    assert!(s.contains("↑ guidance"), "{s}");
    key(&mut a, KeyCode::Char('4'));
    let i = a.root_causes().iter().position(|r| r.service == "orders-db").unwrap();
    for _ in 0..i {
        key(&mut a, KeyCode::Char('j'));
    }
    key(&mut a, KeyCode::Enter);
    let s = screen(&mut a, 120, 40);
    assert!(
        s.contains("guidance lowered it") && s.contains("evidence disagrees"),
        "{s}"
    );
}

fn review(all: &[Event]) -> App {
    let mut a = App::new(Keymap::builtin("default").unwrap(), "oncall".into(), false);
    a.load_replay(all.to_vec());
    a
}

#[test]
fn a_review_replays_event_by_event_and_call_by_call() {
    let all = events();
    both("replay", || {
        let mut a = review(&all);
        key(&mut a, KeyCode::Home);
        for _ in 0..40 {
            key(&mut a, KeyCode::Char('{'));
        }
        a
    });
    let mut a = review(&all);
    let n = all.len();
    assert_eq!(a.replay.as_ref().unwrap().at, n, "a review opens at the end");
    key(&mut a, KeyCode::Char('['));
    assert_eq!(a.replay.as_ref().unwrap().at, n - 1);
    key(&mut a, KeyCode::Char(']'));
    assert_eq!(a.replay.as_ref().unwrap().at, n);
    key(&mut a, KeyCode::Char('{'));
    let at = a.replay.as_ref().unwrap().at;
    assert!(
        matches!(all[at - 1].kind, EventKind::ToolCallStarted { .. }),
        "{{ stops at a tool call"
    );
    let calls_then = a.state.as_ref().unwrap().tool_calls;
    assert!(calls_then < a.replay.as_ref().unwrap().events.len() as u32);
    assert!(screen(&mut a, 100, 30).contains(&format!("replay {at}/{n}")));
    // Space plays from the beginning of what is left, then 4x, 16x, pause.
    key(&mut a, KeyCode::Char(' '));
    assert_eq!(a.replay.as_ref().unwrap().speed(), 1);
    for want in [4, 16, 0, 1] {
        key(&mut a, KeyCode::Char(' '));
        assert_eq!(a.replay.as_ref().unwrap().speed(), want);
    }
    assert!(a.replay_tick(Duration::from_secs(60)));
    assert!(a.replay.as_ref().unwrap().at > at);
    // A live investigation has no replay.
    let mut live = app(&running(&all, 3), true);
    key(&mut live, KeyCode::Char('['));
    assert!(live.replay.is_none());
}

#[test]
fn the_causes_pane_says_which_sources_could_not_be_read() {
    let mut all = events();
    let mut a = app(&all, false);
    assert!(!screen(&mut a, 120, 40).contains("could not read"));
    let Some(EventKind::InvestigationFinished { sources, .. }) = all.last_mut().map(|e| &mut e.kind) else {
        panic!("the run finishes");
    };
    let mut unread = inquest::model::SourcesRead::default();
    for (source, cause) in [
        ("traces", "HTTP 500"),
        ("kubernetes", "no kubernetes source is configured"),
    ] {
        unread.record(source, false, cause);
    }
    unread.record("prometheus", true, "");
    *sources = unread;
    let mut a = app(&all, false);
    let s = screen(&mut a, 120, 40);
    let warn = s
        .find("could not read: kubernetes, traces")
        .unwrap_or_else(|| panic!("{s}"));
    let first = s.find("1. ").unwrap_or_else(|| panic!("{s}"));
    assert!(warn < first, "the warning heads the causes it qualifies:\n{s}");
}

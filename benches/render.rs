//! One full frame of a large investigation: 64 branches, 20,000 events, at
//! 200x50. Target: 2 ms median.

use criterion::{Criterion, criterion_group, criterion_main};
use inquest::model::{
    Alert, Budget, CallStatus, EVENT_VERSION, Event, EventKind, Evidence, EvidenceKind, FaultKind, Hypothesis, SpanId,
    Timestamp, TraceId,
};
use inquest::tui::app::{App, Focus};
use inquest::tui::keymap::Keymap;
use inquest::tui::theme::Theme;
use inquest::tui::views::View;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// A synthetic investigation: `branches` branches, about `total` events.
fn investigation(branches: usize, total: usize) -> Vec<Event> {
    let trace = TraceId::random();
    let root = SpanId::random();
    let mut seq = 0;
    let mut at = Timestamp::from_secs(1_700_000_000);
    let mut out = Vec::new();
    let mut push = |span: SpanId, parent: Option<SpanId>, kind: EventKind, out: &mut Vec<Event>| {
        seq += 1;
        at = at + 1_000_000;
        out.push(Event {
            v: EVENT_VERSION,
            trace_id: trace,
            span_id: span,
            parent_span_id: parent,
            seq,
            at,
            kind,
        });
    };
    let alert = Alert {
        source: "bench".into(),
        name: "CheckoutLatencyHigh".into(),
        labels: [("service".to_string(), "checkout".to_string())].into_iter().collect(),
        annotations: Default::default(),
        severity: "page".into(),
        starts_at: Timestamp::from_secs(1_700_000_000),
        fingerprint: "f".into(),
    };
    push(
        root,
        None,
        EventKind::InvestigationStarted {
            alert: Box::new(alert),
            bundle_id: "0123456789ab".into(),
            reasoner: "builtin".into(),
            budget: Budget::default(),
            strategies: vec![],
            source: "bench".into(),
            now: Timestamp::from_secs(1_700_000_120),
        },
        &mut out,
    );
    let spans: Vec<SpanId> = (0..branches).map(|_| SpanId::random()).collect();
    for (i, b) in spans.iter().enumerate() {
        push(
            *b,
            Some(root),
            EventKind::BranchStarted {
                strategy: format!("strategy-{i}"),
                title: format!("Branch {i}"),
                parent_branch: None,
                guidance: None,
                allotment: None,
            },
            &mut out,
        );
    }
    let body: String = (0..60)
        .map(|i| format!("2026-03-01T10:{:02}:00Z checkout checkout-7d9f | ERROR could not acquire a connection to orders-db from the pool: timeout after 5000ms (attempt {i})\n", i % 60))
        .collect();
    let mut n = 0;
    while out.len() < total {
        let b = spans[n % branches];
        n += 1;
        match n % 5 {
            0 => push(
                SpanId::random(),
                Some(b),
                EventKind::ThoughtDelta {
                    text: format!(
                        "Looking at the onset of step {n}: errors rose from 0.1% to 9.6% on checkout → orders-db."
                    ),
                },
                &mut out,
            ),
            1 | 2 => {
                let call = SpanId::random();
                let ev = SpanId::random();
                push(
                    call,
                    Some(b),
                    EventKind::ToolCallStarted {
                        tool: "loki_query_range".into(),
                        args: serde_json::json!({"query": "{service=\"checkout\"} |= \"error\"", "limit": 500}),
                    },
                    &mut out,
                );
                push(
                    ev,
                    Some(call),
                    EventKind::EvidenceAdded {
                        evidence: Evidence {
                            kind: EvidenceKind::LogLines,
                            summary: "60 lines in 1 stream".into(),
                            syntax: "log".into(),
                            body: body.clone(),
                        },
                    },
                    &mut out,
                );
                push(
                    call,
                    Some(b),
                    EventKind::ToolCallFinished {
                        tool: "loki_query_range".into(),
                        status: CallStatus::Ok,
                        duration_ms: 120,
                        summary: "60 lines in 1 stream".into(),
                        evidence_span_id: Some(ev),
                        error: None,
                    },
                    &mut out,
                );
            }
            3 => push(
                SpanId::random(),
                Some(b),
                EventKind::HypothesisProposed {
                    hypothesis: Hypothesis {
                        service: format!("svc-{}", n % 17),
                        kind: FaultKind::ConnectionPoolExhaustion,
                        statement: "connections at 100% of max_connections".into(),
                        confidence: 0.5 + (n % 40) as f64 / 100.0,
                        evidence: vec![],
                        kind_confidence: 1.0,
                    },
                },
                &mut out,
            ),
            _ => push(
                root,
                None,
                EventKind::BudgetUsed {
                    tool_calls: n as u32,
                    tokens: 0,
                    elapsed_ms: n as u64,
                    branch_tool_calls: 1,
                    branch_tokens: 0,
                    cost_microusd: 0,
                    estimated_tokens: 0,
                },
                &mut out,
            ),
        }
    }
    out
}

fn render(c: &mut Criterion) {
    let events = investigation(64, 20_000);
    let mut app = App::new(Keymap::builtin("default").unwrap(), "bench".into(), true);
    for e in &events {
        app.on_event(e);
    }
    app.tree_sel = 40;
    app.focus = Focus::Stream;
    let mut view = View::new(Theme::builtin("default").unwrap());
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    // The first frame highlights the evidence; later frames reuse it, as in the cockpit.
    terminal.draw(|f| view.draw(f, &mut app)).unwrap();
    c.bench_function("frame 200x50, 64 branches, 20k events", |b| {
        b.iter(|| {
            app.tick += 1;
            terminal.draw(|f| view.draw(f, &mut app)).unwrap();
        })
    });
    // The detail view of the top cause, over the same investigation.
    app.focus = Focus::Causes;
    app.on_key(&crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Enter,
        crossterm::event::KeyModifiers::NONE,
    ));
    c.bench_function("frame 200x50, 64 branches, 20k events, detail view open", |b| {
        b.iter(|| {
            app.tick += 1;
            terminal.draw(|f| view.draw(f, &mut app)).unwrap();
        })
    });
}

criterion_group!(benches, render);
criterion_main!(benches);

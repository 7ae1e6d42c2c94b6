//! Event fan-out of the investigations API: one investigation of 10,000
//! events followed by 20 SSE clients over loopback, against the real server.
//! Two cases: the events all held before the clients connect (a late joiner's
//! replay: the server's fan-out throughput), and the events published live at
//! 5 a millisecond while the clients follow. Criterion reports client-events/s
//! (10,000 × 20 per iteration). At the end it prints the server's CPU time per
//! run (its own runtime's threads, not the clients' or the publisher's), the
//! p50/p99 lag from an event's publication to its arrival at a client (live
//! case), and how many events clients missed by being cut off as too slow.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use inquest::config::{Serve, Settings, SimulatorSource};
use inquest::intake::{Hub, Intake};
use inquest::model::{EVENT_VERSION, Event, EventKind, InvestigationStatus, SpanId, Timestamp, TraceId};

const EVENTS: u64 = 10_000;
const CLIENTS: usize = 20;
/// Events published per millisecond: a busy investigation, far above a real one's rate.
const PER_MS: u64 = 5;
const SERVER_THREAD: &str = "fanout-server";

fn event(trace: TraceId, root: SpanId, seq: u64) -> Event {
    let kind = if seq == EVENTS {
        EventKind::InvestigationFinished {
            status: InvestigationStatus::Done,
            root_causes: Vec::new(),
            tool_calls: 0,
            tokens: 0,
            elapsed_ms: 0,
            sources: Default::default(),
        }
    } else {
        EventKind::ThoughtDelta {
            text: format!("checking the pool saturation of checkout-db, step {seq}"),
        }
    };
    Event {
        v: EVENT_VERSION,
        trace_id: trace,
        span_id: root,
        parent_span_id: None,
        seq,
        at: Timestamp::now(),
        kind,
    }
}

/// CPU time (user + system) of this process's threads named `name`, in seconds.
fn cpu_of_threads(name: &str) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(name) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        total += f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    }
    total as f64 / tick
}

/// Follows the trace; the arrival time of each seq.
fn follow(port: u16, trace: TraceId, ready: std::sync::mpsc::Sender<()>) -> Vec<(u64, Instant)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET /v1/investigations/{trace}/events HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut got = Vec::with_capacity(EVENTS as usize);
    let mut ready = Some(ready);
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        if let Some(id) = line.strip_prefix("id: ") {
            got.push((id.trim().parse().unwrap(), Instant::now()));
        } else if line.starts_with("event: presence") {
            if let Some(tx) = ready.take() {
                let _ = tx.send(());
            }
        } else if line.starts_with("event: end") {
            break;
        }
        line.clear();
    }
    got
}

/// What one run measured.
#[derive(Default)]
struct Tally {
    runs: u32,
    cpu: f64,
    lags: Vec<Duration>,
    short: usize,
}

impl Tally {
    fn print(&mut self, what: &str) {
        self.lags.sort();
        let l = &self.lags;
        let pct = |p: f64| {
            l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        println!(
            "{what}: {} runs of {EVENTS} events to {CLIENTS} clients; server CPU {:.3} s per run; \
             lag p50 {:?}, p99 {:?}, max {:?}; {} events not delivered (clients cut off as too slow)",
            self.runs,
            self.cpu / f64::from(self.runs.max(1)),
            pct(0.50),
            pct(0.99),
            l.last().copied().unwrap_or_default(),
            self.short
        );
    }
}

/// One investigation of `EVENTS` events followed by `CLIENTS` clients: all
/// held before they connect (`paced` false), or published as they follow,
/// `PER_MS` a millisecond. The time from the first client connecting or the
/// first event (paced) to the last client's `end`.
fn run(hub: &Hub, port: u16, paced: bool, tally: &mut Tally) -> Duration {
    let trace = TraceId::random();
    let root = SpanId::random();
    let live = hub.open(trace);
    let mut sent = Vec::with_capacity(EVENTS as usize);
    let publish = |seq: u64, sent: &mut Vec<Instant>| {
        sent.push(Instant::now());
        live.publish(&event(trace, root, seq));
    };
    if !paced {
        for seq in 1..=EVENTS {
            publish(seq, &mut sent);
        }
    }
    let cpu0 = cpu_of_threads(SERVER_THREAD);
    let t0 = Instant::now();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let tx = ready_tx.clone();
            std::thread::spawn(move || follow(port, trace, tx))
        })
        .collect();
    for _ in 0..CLIENTS {
        ready.recv().unwrap();
    }
    let t0 = if paced {
        let t0 = Instant::now();
        for seq in 1..=EVENTS {
            publish(seq, &mut sent);
            if seq % PER_MS == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        t0
    } else {
        t0
    };
    let all: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let took = t0.elapsed();
    tally.cpu += cpu_of_threads(SERVER_THREAD) - cpu0;
    tally.runs += 1;
    hub.close(trace, InvestigationStatus::Done);
    for got in all {
        tally.short += EVENTS as usize - got.len();
        if paced {
            for (seq, at) in got {
                tally.lags.push(at.saturating_duration_since(sent[(seq - 1) as usize]));
            }
        }
    }
    took
}

fn fanout(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("inquest-bench-fanout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = Settings {
        sources: inquest::config::Sources {
            simulator: Some(SimulatorSource {
                scenario: "checkout-db-pool".into(),
            }),
            ..Default::default()
        },
        serve: Serve {
            drain: Some("0s".into()),
            ..Serve::default()
        },
        ..Settings::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREAD)
        .enable_all()
        .build()
        .unwrap();
    let work = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = Intake::new(settings, dir.join("inquest.db"), "bench".into(), work.handle().clone()).unwrap();
    let hub = server.hub();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = rt.spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));

    let (mut held, mut paced) = (Tally::default(), Tally::default());
    let mut g = c.benchmark_group("api");
    g.throughput(Throughput::Elements(EVENTS * CLIENTS as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(25));
    g.bench_function("fan-out/10k held events to 20 SSE clients", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run(&hub, port, false, &mut held)).sum())
    });
    g.bench_function("fan-out/10k live events (5 per ms) to 20 SSE clients", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run(&hub, port, true, &mut paced)).sum())
    });
    g.finish();
    held.print("held");
    paced.print("live");
    let _ = stop.send(());
    let _ = rt.block_on(served);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, fanout);
criterion_main!(benches);

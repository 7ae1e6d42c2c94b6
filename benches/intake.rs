//! Sustained intake: Alertmanager webhook requests of 100 new alerts each,
//! posted over loopback to a server whose 2 workers investigate meanwhile
//! (the simulator, one strategy). Criterion reports requests/s; multiply by
//! 100, or read its "elements/s", for alerts/s. At the end the growth of the
//! process's RSS per queued alert is printed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use inquest::config::{Serve, Settings, SimulatorSource};
use inquest::intake::Intake;

const PER_REQUEST: usize = 100;

fn payload(from: usize) -> String {
    let alerts: Vec<String> = (from..from + PER_REQUEST)
        .map(|i| {
            format!(
                r#"{{"status":"firing","labels":{{"alertname":"Bench{i}","service":"checkout","severity":"page"}},"annotations":{{"summary":"p99 above 2s"}},"startsAt":"2026-03-01T10:48:00Z","fingerprint":"bench-{i:08}"}}"#
            )
        })
        .collect();
    format!(r#"{{"version":"4","status":"firing","alerts":[{}]}}"#, alerts.join(","))
}

fn post(port: u16, body: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:")?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn intake(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("inquest-bench-intake-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = Settings {
        sources: inquest::config::Sources {
            simulator: Some(SimulatorSource {
                scenario: "checkout-db-pool".into(),
            }),
            ..Default::default()
        },
        serve: Serve {
            workers: Some(2),
            max_queue: Some(usize::MAX),
            drain: Some("0s".into()),
            strategies: vec!["logs-first".into()],
            ..Serve::default()
        },
        ..Settings::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let work = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = Intake::new(settings, dir.join("inquest.db"), "bench".into(), work.handle().clone()).unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = rt.spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));

    let next = AtomicUsize::new(0);
    let before = rss_kb();
    let mut g = c.benchmark_group("intake");
    g.throughput(Throughput::Elements(PER_REQUEST as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function("alertmanager/100 alerts per request, 2 workers", |b| {
        b.iter(|| {
            let body = payload(next.fetch_add(PER_REQUEST, Ordering::Relaxed));
            assert_eq!(post(port, &body), 200);
        })
    });
    g.finish();
    let queued = next.load(Ordering::Relaxed);
    let grown = rss_kb().saturating_sub(before);
    println!(
        "intake: {queued} alerts accepted; RSS grew {grown} KB, {:.0} bytes per accepted alert",
        grown as f64 * 1024.0 / queued.max(1) as f64
    );
    let _ = stop.send(());
    let _ = rt.block_on(served);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, intake);
criterion_main!(benches);

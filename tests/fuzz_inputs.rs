//! Hostile files, deterministically: the shipped scenarios, alerts, recorded
//! telemetry, key maps, themes and config.toml, mutated by a seeded generator
//! (bytes flipped, cut, duplicated; numbers made huge, negative or NaN; names
//! given control characters). Every parser must answer Ok or Err: no panic,
//! no hang (a watchdog fails the test when one input takes over 10 s). A few
//! mutated scenarios go through the binary too, which must exit 2 with the
//! file and line. Bounded to about a minute in a debug build.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inquest::sources::sim::{Simulator, recorded, scenario};

/// xorshift64*: the same seed, the same mutations, on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const HOSTILE: &[&str] = &[
    "1.7e308",
    "-1",
    "0",
    "nan",
    "inf",
    "-inf",
    "1e999",
    "18446744073709551616",
    "\"365d\"",
    "\"0s\"",
    "\"1ms\"",
    "\"\\u001b[2J\"",
    "\"\\u202e\"",
    "\"http://x/\"",
    "\"\"",
    "[]",
    "{}",
    "\"a\\u0000b\"",
    "true",
];

/// One mutation of `text`.
fn mutate(text: &str, r: &mut Rng) -> String {
    let mut s = text.to_string();
    for _ in 0..1 + r.below(3) {
        let len = s.len();
        let at = floor(&s, r.below(len + 1));
        match r.below(8) {
            // A value swapped for a hostile one.
            0 | 1 => {
                if let Some(eq) = s[at..].find("= ").map(|i| at + i + 2) {
                    let end = s[eq..].find('\n').map(|i| eq + i).unwrap_or(s.len());
                    s.replace_range(eq..end, HOSTILE[r.below(HOSTILE.len())]);
                }
            }
            // A number made extreme.
            2 => {
                if let Some(d) = s[at..].find(|c: char| c.is_ascii_digit()).map(|i| at + i) {
                    let end = s[d..]
                        .find(|c: char| !c.is_ascii_digit())
                        .map(|i| d + i)
                        .unwrap_or(s.len());
                    s.replace_range(d..end, ["99999999999999999999", "1e308", "4294967296", "0"][r.below(4)]);
                }
            }
            // Cut short.
            3 => s.truncate(at),
            // A line duplicated many times.
            4 => {
                let start = s[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
                let end = s[at..].find('\n').map(|i| at + i + 1).unwrap_or(s.len());
                let line = s[start..end].to_string();
                s.insert_str(start, &line.repeat(1 + r.below(50)));
            }
            // A byte changed (kept valid UTF-8).
            5 => {
                let c = [b'{', b'}', b'[', b']', b'"', b'=', b'\n', b'\\', b'\x1b', b' ', b'#'][r.below(11)] as char;
                if at < s.len() {
                    let next = ceil(&s, at + 1);
                    s.replace_range(at..next, &c.to_string());
                }
            }
            // Deleted span.
            6 => {
                let end = ceil(&s, (at + r.below(40)).min(s.len()));
                s.replace_range(at..end, "");
            }
            // Control and bidi characters inside.
            _ => s.insert_str(
                at,
                ["\u{1b}]52;c;x\u{7}", "\u{202e}", "\u{9b}2J", "\0", "\r"][r.below(5)],
            ),
        }
    }
    s
}

fn floor(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Runs `f` on each input on a worker thread; fails on a panic or on an input
/// that takes longer than `limit`.
fn guarded(what: &str, inputs: Vec<String>, limit: Duration, f: fn(&str)) {
    let done = Arc::new(AtomicU64::new(0));
    let current = Arc::new(Mutex::new(String::new()));
    let (d, c) = (done.clone(), current.clone());
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            for input in inputs {
                *c.lock().unwrap() = input.clone();
                if std::panic::catch_unwind(|| f(&input)).is_err() {
                    return Err(input);
                }
                d.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        })
        .unwrap();
    let mut last = (0, Instant::now());
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        let n = done.load(Ordering::SeqCst);
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > limit {
            let input = current.lock().unwrap().clone();
            let path = std::env::temp_dir().join(format!("inquest-fuzz-hang-{what}.txt"));
            std::fs::write(&path, &input).unwrap();
            panic!("{what}: an input hangs (over {limit:?}); saved to {}", path.display());
        }
    }
    if let Err(input) = worker.join().unwrap() {
        let path = std::env::temp_dir().join(format!("inquest-fuzz-panic-{what}.txt"));
        std::fs::write(&path, &input).unwrap();
        panic!("{what}: an input panics; saved to {}", path.display());
    }
}

fn variants(seeds: &[&str], n: usize, seed: u64) -> Vec<String> {
    let mut r = Rng(seed);
    (0..n).map(|i| mutate(seeds[i % seeds.len()], &mut r)).collect()
}

#[test]
fn mutated_scenarios_parse_or_fail_and_the_simulator_stays_bounded() {
    let seeds: Vec<&str> = inquest::sources::sim::BUILTIN.iter().map(|(_, t)| *t).collect();
    guarded(
        "scenario",
        variants(&seeds, 6000, 0x5eed_0001),
        Duration::from_secs(10),
        |t| {
            let _ = scenario::parse(t, "fuzz.toml", None);
        },
    );
    // Those that still parse are simulated: bounded in time, never a panic.
    let valid: Vec<String> = variants(&seeds, 400, 0x5eed_0002)
        .into_iter()
        .filter(|t| scenario::parse(t, "fuzz.toml", None).is_ok())
        .take(40)
        .collect();
    guarded("simulation", valid, Duration::from_secs(20), |t| {
        if let Ok(sc) = scenario::parse(t, "fuzz.toml", None) {
            let _ = Simulator::new(sc);
        }
    });
}

#[test]
fn mutated_alerts_keymaps_themes_and_config_parse_or_fail() {
    let alerts = [
        r#"{"labels": {"alertname": "CheckoutLatencyHigh", "service": "checkout", "severity": "page"}, "annotations": {"summary": "p99 above 2s", "runbook": "https://runbooks/x"}, "startsAt": "2026-03-01T10:48:00Z", "fingerprint": "f00d"}"#,
        r#"{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "A", "service": "b"}, "annotations": {}, "startsAt": "2026-03-01T10:48:00Z"}]}"#,
    ];
    guarded(
        "alert",
        variants(&alerts, 2000, 0x5eed_0003),
        Duration::from_secs(10),
        |t| {
            let _ = inquest::model::Alert::from_json(t, "fuzz");
        },
    );
    let keymaps = [
        include_str!("../keymaps/default.toml"),
        include_str!("../keymaps/emacs.toml"),
    ];
    guarded(
        "keymap",
        variants(&keymaps, 1500, 0x5eed_0004),
        Duration::from_secs(10),
        |t| {
            let _ = inquest::tui::keymap::Keymap::parse(t, "fuzz.toml");
        },
    );
    let themes = [
        include_str!("../themes/default.toml"),
        include_str!("../themes/dusk.toml"),
        include_str!("../themes/light.toml"),
        include_str!("../themes/mono.toml"),
    ];
    guarded(
        "theme",
        variants(&themes, 1500, 0x5eed_0005),
        Duration::from_secs(10),
        |t| {
            let _ = inquest::tui::theme::Theme::parse(t, "fuzz.toml");
        },
    );
    let config = [r#"[ui]
keymap = "emacs"
theme = "dusk"

[sources.simulator]
scenario = "checkout-db-pool"

[sources.prometheus]
url = "http://prometheus.monitoring:9090"
timeout = "10s"

[llm]
provider = "openai"
model = "gpt-4.1"
max_turns = 12
max_tool_chars = 12000

[redact]
extra = [{ id = "acme", regex = 'acme_[a-z0-9]{8}', keywords = ["acme_"] }]
allow = ['demo:demo@']
emails = false
"#];
    guarded(
        "config",
        variants(&config, 1500, 0x5eed_0006),
        Duration::from_secs(10),
        |t| {
            if let Ok(s) = toml::from_str::<inquest::config::Settings>(t) {
                let _ = inquest::tools::redact::Rules::from_settings(&s.redact);
            }
        },
    );
}

#[test]
fn mutated_recorded_telemetry_parses_or_fails() {
    let metrics = "# TYPE up gauge\nup{service=\"checkout\",pod=\"checkout-7d9f-x2k4p\"} 1 1772359200\nup{service=\"checkout\"} 0 1772359215\nhttp_requests_total{service=\"a\",code=\"500\"} 12.5 1772359230\n# EOF\n";
    let mut inputs = variants(&[metrics], 3000, 0x5eed_0007);
    inputs.extend(
        [
            "up{ 1 2",
            "up{a=\"}\"} 1 2",
            "{} 1 2",
            "up 1",
            "up{a=\"b\" 1 2",
            "up{=} 1 2\n# EOF",
        ]
        .map(String::from),
    );
    guarded("openmetrics", inputs, Duration::from_secs(10), |t| {
        let _ = recorded::parse_openmetrics(Path::new("fuzz.om"), t);
    });
    let dir = std::env::temp_dir().join(format!("inquest-fuzz-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let logs = "{\"ts\": \"2026-03-01T10:41:00Z\", \"service\": \"orders-db\", \"pod\": \"orders-db-0\", \"level\": \"error\", \"message\": \"too many connections\"}\n";
    let spans = "{\"trace_id\": \"0af7651916cd43dd8448eb211c80319c\", \"span_id\": \"b7ad6b7169203331\", \"service\": \"checkout\", \"name\": \"GET /\", \"start\": \"2026-03-01T10:41:00Z\", \"duration_ms\": 12.5, \"error\": false}\n";
    let k8s = r#"{"pods": [{"metadata": {"name": "a-0", "namespace": "shop"}, "status": {"phase": "Running"}}], "events": [], "deployments": [], "replicasets": []}"#;
    let mut r = Rng(0x5eed_0008);
    let files: Vec<String> = (0..600)
        .map(|i| {
            let seed = [logs, spans, k8s][i % 3];
            let p = dir.join(format!("{i}.{}", ["logs", "spans", "k8s"][i % 3]));
            std::fs::write(&p, mutate(seed, &mut r)).unwrap();
            p.display().to_string()
        })
        .collect();
    guarded("recorded files", files, Duration::from_secs(10), |p| {
        let path = Path::new(p);
        let _ = match path.extension().and_then(|e| e.to_str()) {
            Some("logs") => recorded::load_logs(path).map(|_| ()),
            Some("spans") => recorded::load_spans(path).map(|_| ()),
            _ => recorded::load_kubernetes(path).map(|_| ()),
        };
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The binary on hostile scenario files: exit 2, the file and a line, no raw control.
#[test]
fn the_binary_refuses_hostile_scenarios_with_exit_2_and_a_line() {
    let base = include_str!("../scenarios/checkout-db-pool.toml");
    let hostile = [
        base.replacen("rps = 200", "rps = 1.7e308", 1),
        base.replacen("name = \"orders-db\"", "name = \"orders-db\\u001b[2J\"", 1),
        base.replacen("name = \"payments\"", "name = \"http://evil/\"", 1),
        base.replacen("window = \"60m\"", "window = \"365d\"", 1)
            .replacen("step = \"15s\"", "step = \"1d\"", 1),
        base.replacen("replicas = 3", "replicas = 100000", 1),
        base.replacen("severity = 0.8", "severity = nan", 1),
        base.replacen(
            "rps = 200\nnamespace = \"shop\"",
            "rps = 200\nnamespace = \"shop\\u202e\"",
            1,
        ),
    ];
    let dir = std::env::temp_dir().join(format!("inquest-fuzz-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, text) in hostile.iter().enumerate() {
        assert_ne!(text, base, "case {i} changed nothing");
        let path = dir.join(format!("hostile-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_inquest"))
            .args(["run", "--scenario", path.to_str().unwrap()])
            .env("INQUEST_DATA_DIR", dir.join("data"))
            .env("INQUEST_CONFIG_HOME", dir.join("config"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("case {i} hangs");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {stderr}");
        let prefix = format!("{}:", path.display());
        assert!(stderr.contains(&prefix), "case {i} names no file: {stderr}");
        let line: String = stderr[stderr.find(&prefix).unwrap() + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        assert!(
            line.parse::<usize>().is_ok_and(|l| l > 0),
            "case {i} names no line: {stderr}"
        );
        assert!(
            !stderr
                .chars()
                .any(|c| c == '\u{1b}' || c == '\u{202e}' || c == '\u{9b}'),
            "case {i}: raw control in {stderr:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

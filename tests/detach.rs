//! Leaving a standalone cockpit never silently stops its investigation: `q`
//! asks whether to stop it or keep it running, and a terminal that hangs up
//! (an SSH drop) leaves it running headless until it is done and stored.
//! The real binary in tmux, checked from `inquest list --json`.

mod common;

use std::time::{Duration, Instant};

use common::tmux::{Tmux, alive};
use serde_json::Value;

/// The newest investigation's row once it is no longer running.
fn finished(t: &Tmux) -> Value {
    let t0 = Instant::now();
    loop {
        let (_, out, _) = t.run(&["list", "--json"], &[]);
        let rows: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        if let Some(r) = rows.as_array().and_then(|r| r.first())
            && r["status"] != "running"
        {
            return r.clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the investigation never ended: {rows}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn q_then_keep_running_leaves_a_process_that_finishes_and_stores_the_run() {
    let Some(t) = Tmux::prepare("keep") else { return };
    t.start("a", "demo --pace 250ms", &[], 100, 30);
    t.wait_for("a", "the branch tree", |s| s.contains("Branches"));
    let pid = t.pid("a");
    t.keys("a", &["q"]);
    let s = t.wait_for("a", "the quit question", |s| {
        s.contains("Stop it, or keep it running in the background?")
    });
    assert!(s.contains("k keep running"), "{s}");
    t.keys("a", &["k"]);
    // The cockpit is gone, the terminal restored, and the process says what it does.
    let s = t.wait_for("a", "the note that it keeps running", |s| {
        s.contains("keeps running in this process")
    });
    assert!(s.contains("inquest open "), "{s}");
    assert!(alive(pid), "the process ended with the cockpit");
    let row = finished(&t);
    assert_eq!(row["status"], "done", "kept running, it must finish on its own: {row}");
    let s = t.wait_for("a", "the last word", |s| {
        s.contains(" done · review it with: inquest open ")
    });
    assert!(!s.contains("stopped"), "{s}");
}

#[test]
fn a_hang_up_mid_run_lets_the_investigation_finish_and_be_stored() {
    let Some(t) = Tmux::prepare("hup") else { return };
    t.start("a", "demo --pace 250ms", &[], 100, 30);
    t.wait_for("a", "the branch tree", |s| {
        s.contains("Branches") && s.contains("calls")
    });
    let pid = t.pid("a");
    let killed = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(pid), "SIGHUP ended the process; screen:\n{}", t.screen("a"));
    let (_, out, _) = t.run(&["list", "--json"], &[]);
    assert!(out.contains("\"running\""), "stopped at once on SIGHUP: {out}");
    let row = finished(&t);
    assert_eq!(row["status"], "done", "{row}");
    let t0 = Instant::now();
    while alive(pid) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the process outlived its investigation"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn closing_the_terminal_mid_run_lets_the_investigation_finish_and_be_stored() {
    let Some(t) = Tmux::prepare("close") else { return };
    t.start("a", "demo --pace 250ms", &[], 100, 30);
    t.wait_for("a", "the branch tree", |s| {
        s.contains("Branches") && s.contains("calls")
    });
    let pid = t.pid("a");
    // The terminal itself goes away, as when an SSH connection drops.
    t.close("a");
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(pid), "the process ended with its terminal");
    let row = finished(&t);
    assert_eq!(row["status"], "done", "{row}");
}

//! The real binary in a real terminal: a tmux session with its own data and
//! config directories, keys in, the screen out. Skips loudly without tmux
//! (and fails where INQUEST_REQUIRE_TMUX says it must run).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_inquest");

pub struct Tmux {
    pub session: String,
    pub dir: PathBuf,
}

impl Tmux {
    /// A session named for the test; `None` (the test skipped, loudly) where tmux is missing and not required.
    pub fn prepare(tag: &str) -> Option<Tmux> {
        let have = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !have {
            assert!(
                std::env::var_os("INQUEST_REQUIRE_TMUX").is_none(),
                "tmux is required for this test"
            );
            eprintln!("skipped: tmux is not installed (.ci/run installs it)");
            return None;
        }
        let name = format!("inquest-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).unwrap();
        Some(Tmux { session: name, dir })
    }

    /// Starts `inquest ARGS` with `env` in a `width`x`height` window `window` of the session.
    pub fn start(&self, window: &str, args: &str, env: &[(&str, &str)], width: u16, height: u16) {
        let extra: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        // A shell stays after the process ends, so its last words and exit code can be read.
        let command = format!(
            "env INQUEST_DATA_DIR={} INQUEST_CONFIG_HOME={} USER=tester TERM=xterm-256color {extra}{} {args}; \
             echo \"[exited $?]\"; sleep 600",
            self.dir.display(),
            self.dir.join("config").display(),
            BIN
        );
        let (w, h) = (width.to_string(), height.to_string());
        let target = format!("{}-{window}", self.session);
        // Tests start sessions at once; the first ones race to start the tmux
        // server, and a loser's new-session fails: try again until the session is there.
        for _ in 0..10 {
            self.cmd(&["new-session", "-d", "-s", &target, "-x", &w, "-y", &h, &command]);
            let there = Command::new("tmux")
                .args(["has-session", "-t", &target])
                .status()
                .is_ok_and(|s| s.success());
            if there {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("tmux could not start session {target}");
    }

    pub fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).to_string()
    }
    pub fn keys(&self, window: &str, keys: &[&str]) {
        for k in keys {
            self.cmd(&["send-keys", "-t", &format!("{}-{window}", self.session), k]);
            std::thread::sleep(Duration::from_millis(120));
        }
    }
    pub fn text(&self, window: &str, s: &str) {
        self.cmd(&["send-keys", "-t", &format!("{}-{window}", self.session), "-l", s]);
        std::thread::sleep(Duration::from_millis(150));
    }
    pub fn screen(&self, window: &str) -> String {
        self.cmd(&["capture-pane", "-p", "-t", &format!("{}-{window}", self.session)])
    }
    /// The pid of inquest in `window`.
    pub fn pid(&self, window: &str) -> u32 {
        let target = format!("{}-{window}", self.session);
        let out = self.cmd(&["display-message", "-p", "-t", &target, "#{pane_pid}"]);
        // Below the pane's shell, however many shells deep.
        let mut todo: Vec<u32> = vec![out.trim().parse().expect("a pane pid")];
        while let Some(p) = todo.pop() {
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            if cmdline.starts_with(BIN.as_bytes()) {
                return p;
            }
            let children = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
            todo.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
        panic!("inquest does not run in {window}");
    }
    /// Ends `window`'s session: its terminal goes away, as with a dropped SSH connection.
    pub fn close(&self, window: &str) {
        self.cmd(&["kill-session", "-t", &format!("{}-{window}", self.session)]);
    }
    pub fn wait_for(&self, window: &str, what: &str, f: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen(window);
            if f(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    /// `inquest ARGS` run to its end on the session's directories: (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .args(args)
            .env("INQUEST_DATA_DIR", &self.dir)
            .env("INQUEST_CONFIG_HOME", self.dir.join("config"))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let sessions = self.cmd(&["list-sessions", "-F", "#{session_name}"]);
        for s in sessions.lines().filter(|s| s.starts_with(&self.session)) {
            let _ = Command::new("tmux").args(["kill-session", "-t", s]).output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether process `pid` is alive.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
        .unwrap_or(false)
}

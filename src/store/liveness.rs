//! Whether the process that ran an investigation is still alive, so a row left
//! `running` by a crash or `kill -9` can be shown as interrupted.
//!
//! A pid alone is not enough (pids are reused), so each row also records the
//! process start time from `/proc/<pid>/stat` (field 22, in clock ticks since
//! boot): the same pid with another start time is another process.

use std::path::Path;

use crate::model::Timestamp;

/// Where `/proc` lives have no process table to look at, a running row whose
/// last event is older than this is taken as interrupted.
pub const STALE_AFTER_NANOS: i64 = 15 * 60 * 1_000_000_000;

const PROC: &str = "/proc";

/// This process's start token, or 0 where it cannot be read.
pub fn own_start_token() -> u64 {
    start_token(Path::new(PROC), std::process::id()).unwrap_or(0)
}

/// Field 22 (starttime) of `<proc>/<pid>/stat`.
pub fn start_token(proc_root: &Path, pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    parse_start_token(&stat)
}

/// The command name (field 2) is in parentheses and may hold spaces and `)`, so
/// fields are counted from the last `)`: what follows starts at field 3.
fn parse_start_token(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Whether a row recorded as running by (`pid`, `pid_start`) is still being run.
/// `last_event` is consulted only where `proc_root` has no process table.
pub fn still_running(
    proc_root: &Path,
    pid: i64,
    pid_start: i64,
    last_event: impl FnOnce() -> Option<Timestamp>,
    now: Timestamp,
) -> bool {
    if proc_root.join("self").join("stat").exists() || proc_root.join("1").exists() {
        let Ok(pid) = u32::try_from(pid) else {
            return false;
        };
        match start_token(proc_root, pid) {
            None => false,
            // The start time could not be read when the row was written: the
            // pid existing is the best evidence there is.
            Some(_) if pid_start == 0 => true,
            Some(token) => token as i64 == pid_start,
        }
    } else {
        match last_event() {
            Some(at) => now.0.saturating_sub(at.0) <= STALE_AFTER_NANOS,
            None => false,
        }
    }
}

/// [`still_running`] against the real `/proc`.
pub fn still_running_here(pid: i64, pid_start: i64, last_event: impl FnOnce() -> Option<Timestamp>) -> bool {
    still_running(Path::new(PROC), pid, pid_start, last_event, Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_token_is_field_22_even_with_odd_command_names() {
        let stat = "4242 (we ird) (x)) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2";
        assert_eq!(parse_start_token(stat), Some(987654));
        assert_eq!(parse_start_token("garbage"), None);
    }

    #[test]
    fn without_proc_a_quiet_row_goes_stale() {
        let nowhere = std::env::temp_dir().join(format!("inquest-no-proc-{}", std::process::id()));
        let now = Timestamp::from_secs(10_000);
        let recent = || Some(Timestamp::from_secs(10_000 - 60));
        let old = || Some(Timestamp::from_secs(10_000 - 16 * 60));
        assert!(still_running(&nowhere, 1, 1, recent, now));
        assert!(!still_running(&nowhere, 1, 1, old, now));
        assert!(!still_running(&nowhere, 1, 1, || None, now));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = std::process::id() as i64;
        let token = own_start_token() as i64;
        assert!(token > 0);
        assert!(still_running_here(me, token, || None));
        assert!(!still_running_here(me, token + 1, || None));
        assert!(!still_running_here(i32::MAX as i64, token, || None));
    }
}

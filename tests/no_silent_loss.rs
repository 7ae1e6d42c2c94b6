//! An investigation that was not saved is never reported as saved: a store
//! that cannot be written makes `run` exit 1 naming the store and the cause,
//! and a damaged or empty database file is reported as such and left alone.

use std::path::Path;
use std::process::Command;

fn run(data: &Path, args: &[&str]) -> (String, String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_inquest"))
        .args(args)
        .env("INQUEST_DATA_DIR", data)
        .env("INQUEST_CONFIG_HOME", data.join("no-config"))
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("inquest-loss-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_damaged_database_is_named_left_alone_and_the_run_fails() {
    let dir = temp("damaged");
    let db = dir.join(inquest::store::DB_FILE);
    std::fs::write(&db, b"this is not a database, it was half written").unwrap();
    let (out, err, code) = run(&dir, &["run", "--scenario", "checkout-db-pool"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&db.display().to_string()) && err.contains("damaged"),
        "{err}"
    );
    assert!(err.contains("was not saved"), "{err}");
    assert!(!out.contains("Report: inquest report"), "{out}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        b"this is not a database, it was half written"
    );
    let (_, err, code) = run(&dir, &["list"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("damaged"), "{err}");
}

#[test]
fn an_empty_database_file_is_not_taken_for_a_new_store() {
    let dir = temp("empty");
    let db = dir.join(inquest::store::DB_FILE);
    std::fs::write(&db, b"").unwrap();
    // Older than a store being created right now.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (_, err, code) = run(&dir, &["list"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("empty") && err.contains(&db.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
}

#[test]
fn a_data_directory_that_cannot_be_made_fails_the_run_and_names_it() {
    let dir = temp("nodir");
    std::fs::write(dir.join("file"), b"").unwrap();
    let data = dir.join("file").join("data");
    let (out, err, code) = run(&data, &["run", "--scenario", "checkout-db-pool", "--json"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&data.display().to_string()) && err.contains("was not saved"),
        "{err}"
    );
    // The events still went to stdout: the work is not lost, only not stored.
    assert!(out.lines().count() > 10);
}

//! WAL size and who pins it, against real SQLite files, a real python3
//! reader holding a read transaction and a real python3 writer growing the
//! WAL: the WARNING names the reader; with kill_holders the reader is
//! stopped, the WAL truncated, and every committed row is still there.

// Shared with tests/locks.rs; this file uses only part of it.
#[allow(dead_code)]
#[path = "common/locks.rs"]
mod helpers;

use std::path::Path;
use std::time::Duration;

use healthmon::checks::locks::LocksCheck;
use healthmon::config::DatabaseSettings;
use healthmon::model::{Finding, Severity, Status};

use helpers::*;

/// Seeds `t` with one committed row in WAL mode (automatic checkpoints
/// off), prints "seeded", waits for the file argv[2], then commits
/// argv[3] rows of 1 KiB in batches of 100, prints "grown N" (N = rows in
/// `t` now) and idles with the database open.
const GROWER: &str = r#"
import os, sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
con.execute("INSERT INTO t(v) VALUES ('seed')")
print("seeded", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
for batch in range(int(sys.argv[3]) // 100):
    con.execute("BEGIN")
    con.executemany("INSERT INTO t(v) VALUES (?)", [("y" * 1024,)] * 100)
    con.execute("COMMIT")
print("grown %d" % con.execute("SELECT count(*) FROM t").fetchone()[0], flush=True)
time.sleep(600)
"#;

/// Opens a read transaction on argv[1] and keeps it open; prints "reading".
const READER: &str = r#"
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN")
con.execute("SELECT count(*) FROM t").fetchone()
print("reading", flush=True)
time.sleep(600)
"#;

/// A database whose WAL a python3 writer grew to about 2 MiB while a
/// python3 reader, started after the first commit, keeps a read
/// transaction open: (dir, db, writer, reader, committed rows).
fn pinned_wal() -> (tempfile::TempDir, std::path::PathBuf, Py, Py, i64) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let go = dir.path().join("grow");
    let writer = Py::spawn(GROWER, &[db.to_str().unwrap(), go.to_str().unwrap(), "2000"]);
    writer.expect_line("seeded");
    let reader = Py::spawn(READER, &[db.to_str().unwrap()]);
    reader.expect_line("reading");
    std::fs::write(&go, b"").unwrap();
    let rows = writer.expect_line("grown ")["grown ".len()..].parse().unwrap();
    assert!(len(&sidecar(&db, "-wal")) > 2 << 20, "the writer must have grown the WAL past 2 MiB");
    (dir, db, writer, reader, rows)
}

fn wal_settings(db: &Path, kill_holders: bool) -> DatabaseSettings {
    DatabaseSettings { wal_max_size: Some(1 << 20), ..settings(db, Duration::ZERO, kill_holders) }
}

fn wal_finding(findings: &[Finding], db: &Path) -> Finding {
    finding(findings, db, "wal_size").clone()
}

/// A WAL above wal_max_size pinned by an open read transaction is a WARNING naming the reader's pid; nothing is stopped without kill_holders.
#[test]
fn pinned_wal_warning_names_the_reader() {
    let (_dir, db, mut writer, mut reader, _) = pinned_wal();

    let wal = wal_finding(&run(&LocksCheck::new(vec![wal_settings(&db, false)]), false), &db);

    let problem = wal.problem.as_ref().expect("a problem");
    assert_eq!(problem.severity, Severity::Warning);
    assert!(problem.message.contains(&format!("{} (python3", reader.pid())), "{}", problem.message);
    assert!(
        !problem.message.contains(&format!("{} (python3", writer.pid())),
        "the writer pins nothing: {}",
        problem.message
    );
    assert_eq!(wal.value, Some(len(&sidecar(&db, "-wal")) as i64), "the value column carries the WAL's bytes");
    assert!(wal.action.is_none());
    assert!(reader.alive() && writer.alive());
}

/// With kill_holders the pinning reader is stopped, a TRUNCATE checkpoint empties the WAL, and every committed row is in the database.
#[test]
fn stale_reader_is_stopped_and_the_wal_truncated_without_losing_rows() {
    let (_dir, db, mut writer, mut reader, rows) = pinned_wal();

    let wal = wal_finding(&run(&LocksCheck::new(vec![wal_settings(&db, true)]), false), &db);

    assert_eq!(wal.status, Status::Recovered, "{wal:?}");
    assert!(wal.problem.is_none(), "a folded WAL resolves its alert");
    let action = wal.action.as_ref().expect("an action");
    assert!(action.taken.starts_with(&format!("stopped reader {} (python3)", reader.pid())), "{}", action.taken);
    assert!(action.taken.contains("checkpointed") && action.taken.contains("(TRUNCATE)"), "{}", action.taken);
    assert!(!reader.alive(), "the reader must be gone");
    assert!(writer.alive(), "the writer, which pins nothing, is left alone");
    assert_eq!(len(&sidecar(&db, "-wal")), 0, "the WAL shrinks to nothing");
    assert_eq!(wal.value, Some(0));
    let conn = open(&db);
    let count: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(count, rows, "every committed row is still there");
    assert_eq!(integrity(&conn), "ok");
}

/// Dry run names the reader it would stop and changes nothing.
#[test]
fn dry_run_only_says_what_it_would_do() {
    let (_dir, db, _writer, mut reader, _) = pinned_wal();
    let before = len(&sidecar(&db, "-wal"));

    let wal = wal_finding(&run(&LocksCheck::new(vec![wal_settings(&db, true)]), true), &db);

    let action = wal.action.as_ref().expect("a proposed action");
    assert_eq!(action.taken, format!("would stop reader {} (python3), then checkpoint (TRUNCATE)", reader.pid()));
    assert!(wal.problem.is_some());
    assert!(reader.alive());
    assert_eq!(len(&sidecar(&db, "-wal")), before);
}

/// A WAL under wal_max_size, or with no limit set, is only measured: bytes in the value column, frames in the details.
#[test]
fn small_wal_is_only_measured() {
    let (_dir, db, _writer, _reader, _) = pinned_wal();
    let unlimited = settings(&db, Duration::ZERO, true);

    let wal = wal_finding(&run(&LocksCheck::new(vec![unlimited]), false), &db);

    assert_eq!(wal.status, Status::Healthy);
    assert!(wal.problem.is_none() && wal.action.is_none());
    assert!(wal.details.starts_with("WAL ") && wal.details.contains(" frames"), "{}", wal.details);
    assert!(wal.value.unwrap() > 2 << 20);
}

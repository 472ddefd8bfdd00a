//! The SQLite lock check against real databases and real python3 writers,
//! holders and readers: committed rows survive, only lock holders are
//! stopped, live clients see no errors, dry run changes nothing.

#[path = "common/locks.rs"]
mod helpers;

use std::time::{Duration, Instant};

use healthmon::checks::holders::{verify_holder, write_holders, DbFiles};
use healthmon::checks::locks::{LocksCheck, LocksMemory};
use healthmon::model::{ActionKind, Severity, Status};
use healthmon::process::{self, ProcessInfo, ProcessState, StopError};

use helpers::*;

const NOW: Duration = Duration::ZERO;

/// A killed WAL writer's 10,000 committed rows end up in the database file; the -wal is emptied, never lost.
#[test]
fn leftover_wal_is_checkpointed_without_losing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let mut writer = Py::spawn(WAL_WRITER, &[db.to_str().unwrap()]);
    writer.expect_line("committed");
    writer.crash();
    assert!(len(&sidecar(&db, "-wal")) > 1_000_000, "the writer must leave its rows in the -wal");

    let findings = run(&LocksCheck::new(vec![settings(&db, Duration::from_secs(30), false)]), false);

    let wal = finding(&findings, &db, "wal_recovery");
    assert_eq!(wal.status, Status::Recovered, "{wal:?}");
    let action = wal.action.as_ref().expect("an action");
    assert_eq!(action.kind, ActionKind::Other, "a WAL recovery is not a cleared lock");
    assert!(action.taken.starts_with("checkpointed ") && action.taken.ends_with(" frames from -wal"), "{action:?}");
    assert_eq!(finding(&findings, &db, "db_integrity").status, Status::Healthy);
    // Before opening it ourselves (which would replay a -wal): the rows must be in the main file.
    assert_eq!(len(&sidecar(&db, "-wal")), 0, "-wal must be empty or gone");
    let conn = open(&db);
    let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 10_000);
    assert_eq!(integrity(&conn), "ok");
}

/// A killed writer's spilled, uncommitted changes are rolled back from its hot journal; committed rows stay.
#[test]
fn hot_journal_is_rolled_back_to_the_committed_state() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let mut writer = Py::spawn(SPILLER, &[db.to_str().unwrap()]);
    writer.expect_line("spilled");
    writer.crash();
    let journal = sidecar(&db, "-journal");
    assert!(len(&journal) > 0, "the writer must leave a hot journal");
    let raw = std::fs::read(&db).unwrap();
    assert!(raw.windows(11).any(|w| w == b"uncommitted"), "uncommitted pages must have spilled into the file");

    let findings = run(&LocksCheck::new(vec![settings(&db, Duration::from_secs(30), false)]), false);

    let rolled = finding(&findings, &db, "journal_recovery");
    assert_eq!(rolled.status, Status::Recovered, "{rolled:?}");
    assert!(rolled.action.as_ref().unwrap().taken.starts_with("rolled back hot journal"));
    assert!(len(&journal) == 0, "the journal is consumed by SQLite's rollback");
    let conn = open(&db);
    let committed: i64 = conn.query_row("SELECT count(*) FROM t WHERE v LIKE 'committed%'", [], |r| r.get(0)).unwrap();
    assert_eq!(committed, 10_000);
    assert_eq!(integrity(&conn), "ok");
}

/// A quick_check failure after recovery is a CRITICAL db_integrity alert, and later runs change nothing (holder kept)
/// until a reload, which ends the freeze.
#[test]
fn failed_quick_check_is_critical_and_freezes_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let mut writer = Py::spawn(LATE_WAL_WRITER, &[db.to_str().unwrap()]);
    writer.expect_line("committed");
    writer.crash();
    assert!(len(&sidecar(&db, "-wal")) > 0, "the writer must leave a -wal");
    // Page 3, the table's first leaf, is not in the -wal: garbage it.
    let mut raw = std::fs::read(&db).unwrap();
    raw[2 * 4096..3 * 4096].fill(0x55);
    std::fs::write(&db, raw).unwrap();
    let memory = LocksMemory::default();
    let check = LocksCheck::remembering(vec![settings(&db, NOW, true)], memory.clone());

    let first = run(&check, false);

    assert_eq!(finding(&first, &db, "wal_recovery").status, Status::Recovered);
    let integrity = finding(&first, &db, "db_integrity");
    assert_eq!(integrity.problem.as_ref().map(|p| p.severity), Some(Severity::Critical), "{integrity:?}");

    let mut holder = Py::spawn(HOLDER, &[db.to_str().unwrap(), "WAL"]);
    holder.expect_line("locked");
    let second = run(&check, false);

    let lock = finding(&second, &db, "db_lock");
    assert_eq!((lock.status, lock.action.as_ref()), (Status::Unhealthy, None), "{lock:?}");
    assert!(holder.alive(), "a database that failed quick_check is only observed");
    assert_eq!(finding(&second, &db, "db_integrity").problem.as_ref().map(|p| p.severity), Some(Severity::Critical));

    let reloaded = LocksCheck::remembering(vec![settings(&db, NOW, true)], memory);
    let third = run(&reloaded, false);
    assert_eq!(finding(&third, &db, "db_lock").status, Status::Recovered, "after a reload the stale holder is handled");
    assert!(!holder.alive());
}

/// A reload (a check built on the same memory) keeps since when a lock has been held: the holder is stale one
/// locked_after after it was first seen, where a check starting afresh would begin counting again.
#[test]
fn reload_keeps_the_stale_clock() {
    let (_dir, db, mut holder) = held_db("WAL");
    let locked_after = Duration::from_secs(2);
    let memory = LocksMemory::default();
    let first = run(&LocksCheck::remembering(vec![settings(&db, locked_after, true)], memory.clone()), false);
    assert_eq!(finding(&first, &db, "db_lock").status, Status::Healthy, "not stale yet");

    std::thread::sleep(locked_after + Duration::from_millis(50));
    let afresh = run(&LocksCheck::new(vec![settings(&db, locked_after, true)]), false);
    assert_eq!(finding(&afresh, &db, "db_lock").status, Status::Healthy, "a check without memory starts counting");
    let reloaded = run(&LocksCheck::remembering(vec![settings(&db, locked_after, true)], memory), false);

    assert_eq!(finding(&reloaded, &db, "db_lock").status, Status::Recovered);
    assert!(!holder.alive(), "the stale holder is stopped right after the reload");
}

/// A BEGIN EXCLUSIVE holder is named (pid + command) in a WARNING and left alone with kill_holders = false.
#[test]
fn stale_holder_is_named_and_left_alone_without_kill_holders() {
    let (_dir, db, mut holder) = held_db("DELETE");

    let findings = run(&LocksCheck::new(vec![settings(&db, NOW, false)]), false);

    let lock = finding(&findings, &db, "db_lock");
    assert_eq!(lock.status, Status::Unhealthy);
    let problem = lock.problem.as_ref().expect("an alert");
    assert_eq!(problem.severity, Severity::Warning);
    assert!(problem.message.contains(&format!("{} (python3", holder.pid())), "{}", problem.message);
    assert!(lock.action.is_none());
    assert!(holder.alive(), "kill_holders = false must not touch the holder");
}

/// With kill_holders = true a holder is stopped only once locked_after has passed, and the database is writable again.
#[test]
fn stale_holder_is_stopped_after_locked_after() {
    let (_dir, db, mut holder) = held_db("WAL");
    // Generous: the first run must end well inside it even on a loaded machine.
    let locked_after = Duration::from_secs(2);
    let check = LocksCheck::new(vec![settings(&db, locked_after, true)]);

    let first = run(&check, false);
    let lock = finding(&first, &db, "db_lock");
    assert_eq!(lock.status, Status::Healthy, "not stale yet: {lock:?}");
    assert!(lock.details.starts_with("busy: write-locked"), "{}", lock.details);
    assert!(holder.alive(), "a lock younger than locked_after is left alone");

    // The clock started inside the first run: a full locked_after from now crosses it.
    std::thread::sleep(locked_after + Duration::from_millis(50));
    let second = run(&check, false);
    let lock = finding(&second, &db, "db_lock");
    assert_eq!(lock.status, Status::Recovered, "{lock:?}");
    assert!(lock.problem.is_none(), "a cleared lock resolves its alert");
    let action = lock.action.as_ref().unwrap();
    assert_eq!(action.kind, ActionKind::LockCleared);
    assert_eq!(action.taken, format!("stopped holder {} (python3)", holder.pid()));
    assert!(!holder.alive(), "the holder must be gone");
    let conn = open(&db);
    conn.execute("INSERT INTO t(v) VALUES ('after')", []).expect("writable after the holder is stopped");
    assert_eq!(integrity(&conn), "ok");
}

/// A holder suspended with SIGSTOP is reported as stopped and still stopped by SIGTERM (plus SIGCONT).
#[test]
fn suspended_holder_is_stopped() {
    let (_dir, db, mut holder) = held_db("DELETE");
    let pid = nix::unistd::Pid::from_raw(holder.pid());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ProcessInfo::read(holder.pid()).map(|p| p.state) != Some(ProcessState::Stopped) {
        assert!(Instant::now() < deadline, "holder never showed as stopped");
        std::thread::sleep(Duration::from_millis(10));
    }

    let findings = run(&LocksCheck::new(vec![settings(&db, NOW, true)]), false);

    let lock = finding(&findings, &db, "db_lock");
    assert_eq!(lock.status, Status::Recovered, "{lock:?}");
    assert!(lock.details.contains(&format!("{} (python3, stopped,", holder.pid())), "{}", lock.details);
    assert!(!holder.alive());
}

/// Processes with the database open but no write lock (a plain fd, a WAL reader) get no signal at all.
#[test]
fn non_holders_are_never_signalled() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    create_db(&db, "WAL");
    let path = db.to_str().unwrap();
    let fd_log = dir.path().join("fd.signals");
    let reader_log = dir.path().join("reader.signals");
    let mut opener = Py::spawn(BYSTANDER, &[path, fd_log.to_str().unwrap(), "fd"]);
    let mut reader = Py::spawn(BYSTANDER, &[path, reader_log.to_str().unwrap(), "reader"]);
    opener.expect_line("ready");
    reader.expect_line("ready");
    let mut holder = Py::spawn(HOLDER, &[path, "WAL"]);
    holder.expect_line("locked");

    let findings = run(&LocksCheck::new(vec![settings(&db, NOW, true)]), false);

    assert_eq!(finding(&findings, &db, "db_lock").status, Status::Recovered);
    assert!(!holder.alive(), "the holder is stopped");
    for (who, log) in [(&mut opener, &fd_log), (&mut reader, &reader_log)] {
        assert!(who.alive(), "a non-holder must stay alive");
        assert_eq!(signals_logged(who, log), Vec::<String>::new(), "a non-holder received signals");
    }
}

/// The re-check before every signal accepts a lock holder and refuses a process that only has the file open.
#[test]
fn stop_helper_refuses_a_process_without_a_lock() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    create_db(&db, "DELETE");
    let log = dir.path().join("fd.signals");
    let mut opener = Py::spawn(BYSTANDER, &[db.to_str().unwrap(), log.to_str().unwrap(), "fd"]);
    opener.expect_line("ready");
    let holder = Py::spawn(HOLDER, &[db.to_str().unwrap(), "DELETE"]);
    holder.expect_line("locked");
    let files = DbFiles::identify(&db).unwrap();

    assert_eq!(verify_holder(holder.pid(), &files), Ok(()));
    let refused = process::stop(opener.pid(), Duration::from_millis(100), &|pid| verify_holder(pid, &files));

    assert!(matches!(refused, Err(StopError::Refused { .. })), "{refused:?}");
    assert!(opener.alive());
    assert_eq!(signals_logged(&opener, &log), Vec::<String>::new(), "not even SIGTERM");
}

/// A holder that keeps its lock is found by the scan and by the re-check every time while other processes lock and unlock.
#[test]
fn holder_is_never_missed_while_other_locks_churn() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    create_db(&db, "DELETE");
    let holder = Py::spawn(HOLDER, &[db.to_str().unwrap(), "DELETE"]);
    holder.expect_line("locked");
    // Started after the holder: their newer locks are listed before its own.
    let churners: Vec<Py> =
        (0..cpus_to_churn()).map(|cpu| Py::spawn(CHURNER, &[dir.path().to_str().unwrap(), &cpu.to_string()])).collect();
    for churner in &churners {
        churner.expect_line("churning");
    }
    let files = DbFiles::identify(&db).unwrap();

    let missed = (0..10_000).filter(|_| verify_holder(holder.pid(), &files).is_err()).count();
    let scans = (0..50).map(|_| write_holders(&files).expect("scan /proc")).collect::<Vec<_>>();

    assert_eq!(missed, 0, "the re-check missed the holder {missed} times out of 10,000");
    let expected = [holder.pid()].into();
    assert!(scans.iter().all(|pids| *pids == expected), "the scan missed the holder: {scans:?}");
}

/// Live readers and writers (Python's default busy timeout) see no errors while the check runs again and again.
#[test]
fn live_clients_see_no_errors_from_repeated_checks() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    create_db(&db, "WAL");
    let stop = dir.path().join("stop");
    let (path, stop_path) = (db.to_str().unwrap(), stop.to_str().unwrap());
    let writer = Py::spawn(WORKER, &[path, stop_path, "write"]);
    let reader = Py::spawn(WORKER, &[path, stop_path, "read"]);
    writer.expect_line("ready");
    reader.expect_line("ready");
    let check = LocksCheck::new(vec![settings(&db, Duration::from_secs(30), true)]);

    // At least 50 runs, and on until both clients are working alongside.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut runs, mut writing, mut reading) = (0, false, false);
    while runs < 50 || !(writing && reading) {
        assert!(Instant::now() < deadline, "clients never got going (writer {writing}, reader {reading})");
        for f in run(&check, false) {
            assert!(f.problem.is_none() && f.action.is_none(), "the check must only observe: {f:?}");
        }
        runs += 1;
        writing |= writer.has_printed("working");
        reading |= reader.has_printed("working");
    }
    std::fs::write(&stop, b"").unwrap();

    for (role, worker) in [("writer", &writer), ("reader", &reader)] {
        let result = worker.expect_line("errors=");
        let mut fields = result.split(' ').map(|kv| kv.split('=').nth(1).unwrap().parse::<u64>().unwrap());
        let (errors, ops) = (fields.next().unwrap(), fields.next().unwrap());
        assert_eq!(errors, 0, "{role} saw sqlite errors");
        assert!(ops > 0, "{role} made no progress");
    }
}

/// Dry run stops no holder and leaves a leftover -wal and the database byte-for-byte as they were.
#[test]
fn dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = dir.path().join("crashed.db");
    let mut writer = Py::spawn(WAL_WRITER, &[crashed.to_str().unwrap()]);
    writer.expect_line("committed");
    writer.crash();
    // A plain reader of the file makes the check probe the crashed database
    // too: the probe must not checkpoint the -wal when it closes.
    let fd_log = dir.path().join("fd.signals");
    let opener = Py::spawn(BYSTANDER, &[crashed.to_str().unwrap(), fd_log.to_str().unwrap(), "fd"]);
    opener.expect_line("ready");
    let locked = dir.path().join("locked.db");
    create_db(&locked, "DELETE");
    let mut holder = Py::spawn(HOLDER, &[locked.to_str().unwrap(), "DELETE"]);
    holder.expect_line("locked");
    let files = ["", "-wal"].map(|s| sidecar(&crashed, s));
    let before = files.each_ref().map(|f| std::fs::read(f).unwrap());
    let check = LocksCheck::new(vec![settings(&crashed, NOW, true), settings(&locked, NOW, true)]);

    let findings = run(&check, true);
    run(&check, true);

    let would_stop = format!("would stop holder {} (python3)", holder.pid());
    let lock = finding(&findings, &locked, "db_lock");
    assert_eq!(lock.action.as_ref().map(|a| a.taken.as_str()), Some(would_stop.as_str()));
    assert_eq!(lock.status, Status::Unhealthy);
    assert!(holder.alive(), "dry run must not stop the holder");
    assert_eq!(finding(&findings, &crashed, "db_lock").status, Status::Healthy);
    for (file, old) in files.iter().zip(before) {
        assert!(std::fs::read(file).unwrap() == old, "dry run changed {}", file.display());
    }
}

/// Dry run reports the checkpoint it would make of a -wal nobody has open, and touches none of the files.
#[test]
fn dry_run_only_reports_a_pending_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crashed.db");
    let mut writer = Py::spawn(WAL_WRITER, &[db.to_str().unwrap()]);
    writer.expect_line("committed");
    writer.crash();
    let files = ["", "-wal", "-shm"].map(|s| sidecar(&db, s));
    let before = files.each_ref().map(|f| std::fs::read(f).unwrap());

    let findings = run(&LocksCheck::new(vec![settings(&db, NOW, true)]), true);

    let wal = finding(&findings, &db, "wal_recovery");
    assert!(wal.action.as_ref().unwrap().taken.starts_with("would checkpoint ~"), "{wal:?}");
    for (file, old) in files.iter().zip(before) {
        assert!(std::fs::read(file).unwrap() == old, "dry run changed {}", file.display());
    }
}

/// A configured database that does not exist is an error finding, and the check never creates it.
#[test]
fn missing_database_is_reported_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("absent.db");

    let findings = run(&LocksCheck::new(vec![settings(&db, NOW, true)]), false);

    let lock = finding(&findings, &db, "db_lock");
    assert_eq!(lock.status, Status::Error);
    assert_eq!(lock.problem.as_ref().map(|p| p.severity), Some(Severity::Warning));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing may be created");
}

//! A check hung in the kernel (a FUSE filesystem that never answers, as a
//! `disk.paths` entry): `--once` and a daemon's stop stay bounded, later
//! cycles never start a second run of the hung check, and its findings are
//! recorded once the filesystem lets go. Needs root and /dev/fuse.

mod common {
    pub mod dbus;
    pub mod fuse;
}

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::dbus::{TestBus, TestDaemon, TIMEOUT};
use common::fuse::{has_exited, HungFuse};
use nix::sys::signal::Signal;

/// A config whose disk check watches `hung`; a check gets one second.
fn config(hung: &Path, interval: &str) -> String {
    format!(
        "[monitor]\ncheck_interval = \"{interval}\"\ncheck_timeout = \"1s\"\n\n[disk]\npaths = [\"{}\"]\n",
        hung.display()
    )
}

/// `details` of the `check_run` rows of the disk check, oldest first.
fn check_run_rows(db: &Path) -> Vec<String> {
    let Ok(conn) = rusqlite::Connection::open(db) else { return Vec::new() };
    let Ok(mut stmt) = conn.prepare(
        "SELECT details FROM health_metrics WHERE component = 'disk' AND metric_type = 'check_run' ORDER BY id",
    ) else {
        return Vec::new();
    };
    stmt.query_map([], |row| row.get(0)).map(|rows| rows.flatten().collect()).unwrap_or_default()
}

/// Waits (bounded) until the disk check's rows satisfy `done`.
fn wait_rows(db: &Path, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let rows = check_run_rows(db);
        if done(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "{what} within {TIMEOUT:?}; check_run rows: {rows:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (bounded) until `pid` has exited; panics naming `what`.
fn wait_exited(pid: u32, what: &str) {
    let deadline = Instant::now() + TIMEOUT;
    while !has_exited(pid) {
        assert!(Instant::now() < deadline, "{what} did not exit within {TIMEOUT:?} with a hung disk check");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `healthmon --once` exits, reporting the disk check as timed out and still running.
#[test]
fn once_exits_with_a_check_hung_in_the_kernel() {
    let mut fuse = HungFuse::mount();
    let state = tempfile::tempdir().unwrap();
    let cfg = state.path().join("healthmon.toml");
    std::fs::write(&cfg, config(&fuse.path(), "60s")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_healthmon"))
        .args(["--once", "--json", "--config"])
        .arg(&cfg)
        .arg("--database")
        .arg(state.path().join("health.db"))
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_exited(child.id(), "healthmon --once");
    fuse.release();
    let status = child.wait().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(status.code(), Some(1), "a timed-out check is a WARNING: {out}");
    assert!(out.contains("disk check timed out after 1s; still running"), "{out}");
}

/// A daemon with a hung disk check reports it still running on later
/// cycles (no second run), keeps pinging the watchdog, and stops on SIGTERM.
#[test]
fn hung_check_is_not_started_again_and_stop_is_bounded() {
    let mut fuse = HungFuse::mount();
    let bus = TestBus::session();
    let mut daemon =
        TestDaemon::start_with_config(&bus, &[("WATCHDOG_USEC", "2000000")], &config(&fuse.path(), "500ms"));
    let rows = wait_rows(&daemon.db, "two cycles reporting the run still going", |rows| {
        rows.iter().filter(|d| d.contains("still running since")).count() >= 2
    });
    assert!(rows[0].contains("timed out after 1s"), "{rows:#?}");
    assert!(daemon.notify.wait_for(TIMEOUT, |m| m == "WATCHDOG=1\n").is_some(), "pings go on");

    daemon.signal(Signal::SIGTERM);
    wait_exited(daemon.pid(), "the daemon");
    fuse.release();
    assert!(daemon.wait_exit().success(), "stderr:\n{}", daemon.stderr());
}

/// Once the hung filesystem lets go, the abandoned run's findings are recorded.
#[test]
fn late_findings_are_recorded_when_the_hung_run_returns() {
    let mut fuse = HungFuse::mount();
    let bus = TestBus::session();
    let daemon = TestDaemon::start_with_config(&bus, &[], &config(&fuse.path(), "1h"));
    wait_rows(&daemon.db, "the first cycle's timeout", |rows| rows.iter().any(|d| d.contains("timed out")));

    fuse.release();
    wait_rows(&daemon.db, "the late run's row", |rows| {
        rows.iter().any(|d| d.contains("returned") && d.contains("late"))
    });
    let conn = rusqlite::Connection::open(&daemon.db).unwrap();
    let component = format!("disk:{}", fuse.path().display());
    let status: String = conn
        .query_row(
            "SELECT status FROM health_metrics WHERE component = ?1 ORDER BY id DESC LIMIT 1",
            [&component],
            |r| r.get(0),
        )
        .expect("the late run's finding for the hung path");
    assert_eq!(status, "error", "statvfs on the aborted mount fails");
}

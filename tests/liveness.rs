//! Nothing the loop does on purpose stops the watchdog pings: a reload
//! that removes slow workers (they ignore SIGTERM, so each takes its whole
//! stop_timeout) stops them in the background, and a journal socket nobody
//! reads, a webhook that never answers or never accepts, and a Prometheus
//! textfile on a filesystem that never answers cost the loop nothing.

mod common {
    pub mod dbus;
    pub mod fuse;
    pub mod http;
}

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::dbus::{TestBus, TestDaemon, TIMEOUT};
use common::fuse::{has_exited, HungFuse};
use common::http::{FullBacklogServer, HangServer};
use nix::sys::signal::Signal;

/// Pids whose command line contains `marker`.
fn pids(marker: &str) -> Vec<String> {
    let out = Command::new("pgrep").args(["-f", marker]).output().expect("pgrep (procps)");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// The daemon's config: `slow` workers that ignore SIGTERM, stop_timeout 4s.
fn config(marker: &str, slow: usize) -> String {
    let mut text = String::from("[monitor]\ncheck_interval = \"1h\"\n\n[disk]\npaths = [\"/\"]\n");
    for i in 0..slow {
        text.push_str(&format!(
            "\n[workers.slow{i}]\ncommand = [\"/bin/sh\", \"-c\", \"trap '' TERM; while :; do sleep 0.2; done\", \"{marker}-{i}\"]\nstop_timeout = \"4s\"\n"
        ));
    }
    text
}

/// Four SIGTERM-ignoring workers removed by a reload: a WATCHDOG=1 arrives
/// while they are still stopping, and they are gone after their stop_timeout.
#[test]
fn reload_stopping_slow_workers_keeps_pinging_the_watchdog() {
    let bus = TestBus::session();
    let marker = format!("healthmon-slow-{}", std::process::id());
    let mut daemon = TestDaemon::start_with_config(&bus, &[("WATCHDOG_USEC", "2000000")], &config(&marker, 4));
    let deadline = Instant::now() + TIMEOUT;
    while pids(&marker).len() < 4 {
        assert!(Instant::now() < deadline, "4 workers did not start: {:?}", pids(&marker));
        std::thread::sleep(Duration::from_millis(50));
    }

    std::fs::write(&daemon.config, config(&marker, 0)).unwrap();
    daemon.signal(Signal::SIGHUP);
    assert!(daemon.notify.wait_for(TIMEOUT, |m| m.contains("RELOADING=1")).is_some(), "RELOADING=1");
    assert!(daemon.notify.wait_for(TIMEOUT, |m| m == "WATCHDOG=1\n").is_some(), "a ping after the reload began");
    assert_eq!(pids(&marker).len(), 4, "the ping came while the workers were still stopping");

    let deadline = Instant::now() + TIMEOUT;
    while !pids(&marker).is_empty() {
        assert!(Instant::now() < deadline, "workers still alive after their stop_timeout: {:?}", pids(&marker));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(daemon.running());
}

/// Watches the daemon for `window`: no gap between two WATCHDOG=1 reaches
/// WATCHDOG_USEC (1 s), and cycles go on (the disk check keeps writing
/// rows). `what` names the stall in the failure message.
fn pings_and_cycles_go_on(daemon: &mut TestDaemon, window: Duration, what: &str) {
    let rows_before = disk_rows(&daemon.db);
    let mut last = Instant::now();
    let mut widest = Duration::ZERO;
    let end = last + window;
    while Instant::now() < end {
        if daemon.notify.wait_for(Duration::from_millis(1500), |m| m == "WATCHDOG=1\n").is_none() {
            panic!("no WATCHDOG=1 for 1.5 s with {what}; stderr:\n{}", daemon.stderr());
        }
        let gap = last.elapsed();
        assert!(gap < Duration::from_secs(1), "{gap:?} between pings with {what}, past WATCHDOG_USEC");
        widest = widest.max(gap);
        last = Instant::now();
    }
    let rows_after = disk_rows(&daemon.db);
    println!("{what}: widest gap between pings {widest:?}, {} disk rows in {window:?}", rows_after - rows_before);
    assert!(rows_after >= rows_before + 3, "cycles stalled with {what}: disk rows {rows_before} -> {rows_after}");
    assert!(daemon.running(), "the daemon died with {what}; stderr:\n{}", daemon.stderr());
}

/// Rows the disk check has written (one or more per cycle).
fn disk_rows(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the state database");
    conn.query_row("SELECT COUNT(*) FROM health_metrics WHERE component = 'disk:/'", [], |r| r.get(0))
        .expect("count disk rows")
}

/// 200 ms cycles with `/` over its warning threshold (an open WARNING
/// alert), and `extra` appended.
fn busy_config(extra: &str) -> String {
    format!(
        "[monitor]\ncheck_interval = \"200ms\"\n\n[disk]\npaths = [\"/\"]\nwarning_percent = 1\ncritical_percent = 99.9\n\n{extra}"
    )
}

/// A busy daemon (WATCHDOG_USEC 1 s) posting its open WARNING to the
/// webhook at `url`, with a reminder every second.
fn notifying(bus: &TestBus, url: &str) -> TestDaemon {
    let notify = format!("[notify]\nwebhook = \"{url}\"\nreminder_interval = \"1s\"\n");
    TestDaemon::start_with_config(bus, &[("WATCHDOG_USEC", "1000000")], &busy_config(&notify))
}

/// Waits (bounded) until `ready` holds, naming `what` on failure.
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !ready() {
        assert!(Instant::now() < deadline, "{what} within {TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A journal socket nobody reads (its queue full) does not stop the
/// pings: no gap between two WATCHDOG=1 reaches WATCHDOG_USEC (1 s) while
/// every 200 ms cycle journals a disk WARNING.
#[test]
fn a_journal_nobody_reads_does_not_stop_the_pings() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&journal).unwrap();
    let filler = std::os::unix::net::UnixDatagram::unbound().unwrap();
    filler.set_nonblocking(true).unwrap();
    while filler.send_to(b"MESSAGE=filler\n", &journal).is_ok() {}
    let bus = TestBus::session();
    let env = [("WATCHDOG_USEC", "1000000"), ("HEALTHMON_JOURNAL_SOCKET", journal.to_str().unwrap())];
    let mut daemon = TestDaemon::start_with_config(&bus, &env, &busy_config(""));

    pings_and_cycles_go_on(&mut daemon, Duration::from_secs(4), "a full journal");

    assert!(daemon.stderr().contains("disk_usage"), "the entries went to stderr instead");
    drop(socket);
}

/// A webhook that accepts the connection, reads the request and never
/// answers (each attempt waits out the 10 s timeout, reminders pile up
/// every second) does not stop the pings or the cycles.
#[test]
fn a_webhook_that_never_answers_does_not_stop_the_pings() {
    let hook = HangServer::start();
    let bus = TestBus::session();
    let mut daemon = notifying(&bus, &hook.url());
    wait_until("the webhook got a request", || hook.requests() >= 1);

    pings_and_cycles_go_on(&mut daemon, Duration::from_secs(4), "a webhook that never answers");

    assert_eq!(hook.requests(), 1, "one delivery at a time, still waiting for the first answer");
}

/// A webhook whose listener never accepts (its queue full: the connection
/// hangs in SYN_SENT) does not stop the pings or the cycles.
#[test]
fn a_webhook_that_never_accepts_does_not_stop_the_pings() {
    let hook = FullBacklogServer::start();
    let bus = TestBus::session();
    let mut daemon = notifying(&bus, &hook.url());
    wait_until("healthmon hanging in connect to the webhook", || hook.has_hanging_client());

    pings_and_cycles_go_on(&mut daemon, Duration::from_secs(4), "a webhook that never accepts");

    assert!(hook.has_hanging_client(), "the connection was still hanging");
}

/// A Prometheus textfile on a filesystem that never answers: the export
/// hangs on its own thread, later exports are skipped with a warning, and
/// the pings and cycles go on; a stop still ends the daemon.
#[test]
fn an_export_to_a_hung_filesystem_does_not_stop_the_pings() {
    let fuse = HungFuse::mount();
    let bus = TestBus::session();
    let prometheus = format!("[prometheus]\ntextfile = \"{}/healthmon.prom\"\n", fuse.path().display());
    let mut daemon = TestDaemon::start_with_config(&bus, &[("WATCHDOG_USEC", "1000000")], &busy_config(&prometheus));
    // Bound after the daemon so a failing assertion drops it first: the
    // daemon's thread blocked in the filesystem could not exit otherwise,
    // and the test would hang in the daemon's drop instead of failing.
    let mut fuse = fuse;
    wait_until("an export skipped because the previous one hangs", || {
        daemon.stderr().contains("the previous export is still stuck")
    });

    pings_and_cycles_go_on(&mut daemon, Duration::from_secs(4), "an export to a hung filesystem");

    daemon.signal(Signal::SIGTERM);
    wait_until("the daemon exiting with the export hung", || has_exited(daemon.pid()));
    fuse.release();
    assert!(daemon.wait_exit().success(), "stderr:\n{}", daemon.stderr());
}

//! Nothing the loop does on purpose stops the watchdog pings: a reload
//! that removes slow workers (they ignore SIGTERM, so each takes its whole
//! stop_timeout) stops them in the background, and a journal socket nobody
//! reads costs the loop nothing.

mod common {
    pub mod dbus;
}

use std::process::Command;
use std::time::{Duration, Instant};

use common::dbus::{TestBus, TestDaemon, TIMEOUT};
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
    let config = "[monitor]\ncheck_interval = \"200ms\"\n\n[disk]\npaths = [\"/\"]\nwarning_percent = 1\ncritical_percent = 99.9\n";
    let env = [("WATCHDOG_USEC", "1000000"), ("HEALTHMON_JOURNAL_SOCKET", journal.to_str().unwrap())];
    let mut daemon = TestDaemon::start_with_config(&bus, &env, config);
    let mut last = Instant::now();
    let end = last + Duration::from_secs(4);
    while Instant::now() < end {
        if daemon.notify.wait_for(Duration::from_millis(1500), |m| m == "WATCHDOG=1\n").is_none() {
            panic!("no WATCHDOG=1 for 1.5 s while the journal is full; stderr:\n{}", daemon.stderr());
        }
        let gap = last.elapsed();
        assert!(gap < Duration::from_secs(1), "{gap:?} between pings, past WATCHDOG_USEC");
        last = Instant::now();
    }
    assert!(daemon.stderr().contains("disk_usage"), "the entries went to stderr instead");
    drop(socket);
}

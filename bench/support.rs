//! Shared by the Rust benchmarks in bench/: the release `healthmon` beside
//! the example, a private bus, waiting for its sd_notify lines, and
//! percentiles of timed calls.

#![allow(dead_code)] // each benchmark uses its own share of these

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "../tests/common/bus_daemon.rs"]
mod bus_daemon;

/// A private bus on `address` with the tests' session policy.
pub fn start_bus(address: &str) -> KillOnDrop {
    KillOnDrop(bus_daemon::start_dbus_daemon(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dbus-session.conf"),
        address,
    ))
}

/// The release `healthmon` on the private bus at `address`, with its
/// database at `db`, sd_notify to `notify`, and `args` added.
pub fn spawn_daemon(address: &str, notify: &Path, db: &Path, args: &[&std::ffi::OsStr]) -> KillOnDrop {
    KillOnDrop(
        Command::new(sibling_binary("healthmon"))
            .args(["--bus", "session", "--database"])
            .arg(db)
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", address)
            .env("NOTIFY_SOCKET", notify)
            .stderr(Stdio::null())
            .spawn()
            .expect("start healthmon"),
    )
}

/// Receives sd_notify datagrams until one contains `needle`.
pub fn wait_for(notify: &UnixDatagram, needle: &str) {
    let mut buf = [0u8; 4096];
    loop {
        let n = notify.recv(&mut buf).unwrap_or_else(|_| panic!("no {needle} from healthmon"));
        if String::from_utf8_lossy(&buf[..n]).contains(needle) {
            return;
        }
    }
}

/// VmRSS of `pid` as /proc prints it (e.g. "5632 kB").
pub fn rss(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status.lines().find(|l| l.starts_with("VmRSS:")).map_or("?".into(), |l| l["VmRSS:".len()..].trim().to_string())
}

/// `target/release/healthmon` for `target/release/examples/NAME`.
pub fn sibling_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(path.is_file(), "build {} first (cargo build --release)", path.display());
    path
}

/// The `p`-quantile (0..=1) of `times`, which must be sorted.
pub fn quantile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A child process killed and reaped when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

//! A private dbus-daemon, shared by the D-Bus tests and the status
//! benchmark (which cannot include `dbus.rs`: that needs the test-only
//! `CARGO_BIN_EXE_*`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `dbus-daemon` with the policy `config` listening on `address`,
/// and returns once it listens (it prints its address then).
pub fn start_dbus_daemon(config: &Path, address: &str) -> Child {
    let mut child = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .arg(format!("--address={address}"))
        .args(["--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start dbus-daemon (Debian: apt-get install dbus)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read address");
    assert!(line.starts_with("unix:"), "dbus-daemon did not start with {}: {line:?}", config.display());
    child
}

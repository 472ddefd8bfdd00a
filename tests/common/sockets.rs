//! Test helpers for the systemd protocols: a real datagram socket bound in
//! a temp dir that the code under test sends to, and re-running this test
//! binary as a child process for code that reads the process environment.

use std::ffi::OsStr;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// Set in a child's environment; child bodies do nothing without it.
pub const CHILD_ENV: &str = "HEALTHMON_TEST_CHILD";

/// How long a test waits for a datagram before failing.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound datagram socket standing in for journald or PID 1.
pub struct Receiver {
    pub path: PathBuf,
    socket: UnixDatagram,
    dir: tempfile::TempDir,
}

impl Receiver {
    pub fn bind() -> Receiver {
        let dir = tempfile::tempdir().expect("create temp dir");
        let path = dir.path().join("sock");
        let socket = UnixDatagram::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        socket.set_read_timeout(Some(RECV_TIMEOUT)).expect("set read timeout");
        Receiver { path, socket, dir }
    }

    /// The next datagram; panics if none arrives in time.
    pub fn recv(&self) -> Vec<u8> {
        recv_from(&self.socket, &self.path.display().to_string())
    }

    /// Closes the socket and removes its file, as when the receiving daemon
    /// is gone; hands back the path and its (still existing) directory.
    pub fn vanish(self) -> (PathBuf, tempfile::TempDir) {
        drop(self.socket);
        std::fs::remove_file(&self.path).expect("remove socket file");
        (self.path, self.dir)
    }
}

/// The next datagram on `socket`; panics naming `what` if none arrives in time.
pub fn recv_from(socket: &UnixDatagram, what: &str) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 20];
    let len = socket.recv(&mut buf).unwrap_or_else(|e| panic!("no datagram on {what} within {RECV_TIMEOUT:?}: {e}"));
    buf.truncate(len);
    buf
}

/// Runs the test named `child` of this test binary in a fresh process with
/// `CHILD_ENV` set, `env` added and `remove` removed; panics unless it ran
/// exactly that one test and it succeeded, and returns its output.
///
/// Child bodies are `#[ignore]`d, so a plain test run lists them as ignored
/// instead of counting an empty body as passed; the parent runs them with
/// `--ignored`.
pub fn run_child(child: &str, env: &[(&str, &OsStr)], remove: &[&str]) -> Output {
    let exe = std::env::current_exe().expect("current test executable");
    let mut command = Command::new(exe);
    command.args(["--exact", child, "--ignored", "--nocapture", "--test-threads=1"]).env(CHILD_ENV, "1");
    for name in remove {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("spawn child test process");
    assert!(
        output.status.success(),
        "child {child} failed: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // A renamed or misspelt child would match no test and "succeed".
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("test result: ok. 1 passed"), "child {child} did not run exactly once:\n{stdout}");
    output
}

/// True inside a child started by [`run_child`].
pub fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

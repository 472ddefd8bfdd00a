//! Helpers for the D-Bus tests: a private dbus-daemon per test (config in
//! tests/), the real `healthmon` binary on it with its own config,
//! database and notify socket, and the real `healthctl`/`busctl`.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};

#[path = "bus_daemon.rs"]
mod bus_daemon;
use bus_daemon::start_dbus_daemon;
use nix::unistd::Pid;
use tempfile::TempDir;

/// How long anything in these tests may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Panics with a clear message when a tool the tests need is missing.
pub fn require_tool(name: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false);
    assert!(found, "`{name}` is required by this test but is not installed (Debian: apt-get install dbus systemd libglib2.0-bin util-linux)");
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test must run as root (it switches to uid 65534 for the unprivileged caller)"
    );
}

/// A private message bus: `dbus-daemon` with a config from tests/.
pub struct TestBus {
    child: Child,
    _dir: TempDir,
    pub address: String,
    /// `session` or `system`: the `--bus` value and which address variable.
    pub kind: &'static str,
}

impl TestBus {
    /// Anyone may own and call anything.
    pub fn session() -> TestBus {
        TestBus::start("dbus-session.conf", "session")
    }

    /// System-bus rules plus the policy shipped in dist/dbus/.
    pub fn system() -> TestBus {
        TestBus::start("dbus-system.conf", "system")
    }

    fn start(config: &str, kind: &'static str) -> TestBus {
        require_tool("dbus-daemon");
        let dir = tempfile::Builder::new().prefix("healthmon-bus").tempdir().expect("tempdir");
        // Unprivileged callers (uid 65534) must reach the socket.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let address = format!("unix:path={}/bus", dir.path().display());
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(config);
        let child = start_dbus_daemon(&config, &address);
        TestBus { child, _dir: dir, address, kind }
    }

    pub fn address_var(&self) -> &'static str {
        match self.kind {
            "system" => "DBUS_SYSTEM_BUS_ADDRESS",
            _ => "DBUS_SESSION_BUS_ADDRESS",
        }
    }

    /// A command that talks to this bus (address variable set, no colour).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env(self.address_var(), &self.address).env_remove("HEALTHMON_BUS").env("NO_COLOR", "1");
        cmd
    }

    /// `healthctl --bus KIND ARGS...`.
    pub fn healthctl(&self, args: &[&str]) -> Output {
        self.healthctl_cmd(args).output().expect("run healthctl")
    }

    pub fn healthctl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_healthctl"));
        cmd.args(["--bus", self.kind]).args(args);
        cmd
    }

    /// `busctl --address=... ARGS...`.
    pub fn busctl(&self, args: &[&str]) -> Output {
        require_tool("busctl");
        self.command("busctl").arg(format!("--address={}", self.address)).args(args).output().expect("run busctl")
    }

    /// `busctl call` on the healthmon object, JSON output.
    pub fn call(&self, method: &str, signature_and_args: &[&str]) -> Output {
        let mut args = vec![
            "--json=short",
            "call",
            "org.healthmon.Monitor1",
            "/org/healthmon/Monitor1",
            "org.healthmon.Monitor1",
            method,
        ];
        args.extend_from_slice(signature_and_args);
        self.busctl(&args)
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` as uid/gid 65534 (nobody) with no supplementary groups.
pub fn as_nobody(cmd: &Command) -> Command {
    require_tool("setpriv");
    let mut wrapped = Command::new("setpriv");
    wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(cmd.get_program()).args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// A NOTIFY_SOCKET the daemon sends its sd_notify datagrams to.
pub struct NotifySocket {
    socket: UnixDatagram,
    pub path: PathBuf,
    /// Every datagram received so far, in order.
    pub seen: Vec<String>,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        socket.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        NotifySocket { socket, path, seen: Vec::new() }
    }

    /// Receives until a datagram satisfies `done` (returned) or `timeout`.
    pub fn wait_for(&mut self, timeout: Duration, done: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(msg.clone());
                if done(&msg) {
                    return Some(msg);
                }
            }
        }
        None
    }

    /// Everything that arrives within `window`.
    pub fn collect(&mut self, window: Duration) -> Vec<String> {
        let before = self.seen.len();
        let _ = self.wait_for(window, |_| false);
        self.seen[before..].to_vec()
    }
}

/// The daemon's test config. The disk thresholds make `/` a WARNING on
/// any real host (and the placeholder disk check fails, also a WARNING),
/// so the state after the first cycle is `degraded`.
pub const TEST_CONFIG: &str = r#"[monitor]
check_interval = "1h"

[disk]
paths = ["/"]
warning_percent = 1
critical_percent = 99.9
"#;

/// The real `healthmon` on a test bus, with its own config, database and
/// notify socket; killed on drop.
pub struct TestDaemon {
    child: Child,
    pub dir: TempDir,
    pub db: PathBuf,
    pub config: PathBuf,
    pub notify: NotifySocket,
}

impl TestDaemon {
    pub fn start(bus: &TestBus) -> TestDaemon {
        TestDaemon::start_with(bus, &[])
    }

    /// Starts with extra environment and waits for READY=1 and then for
    /// the end of the first cycle (the STATUS= line that names it).
    pub fn start_with(bus: &TestBus, env: &[(&str, &str)]) -> TestDaemon {
        TestDaemon::start_configured(bus, env, "")
    }

    /// Like `start_with`, with `extra` TOML appended to the test config.
    pub fn start_configured(bus: &TestBus, env: &[(&str, &str)], extra: &str) -> TestDaemon {
        TestDaemon::start_on(bus, env, extra, None)
    }

    /// Like `start_configured`, with the database at `db` (default: in the
    /// daemon's own temp dir).
    pub fn start_on(bus: &TestBus, env: &[(&str, &str)], extra: &str, db: Option<&Path>) -> TestDaemon {
        TestDaemon::wait_ready(TestDaemon::spawn_full(bus, env, &format!("{TEST_CONFIG}\n{extra}"), db))
    }

    /// Like `start_with`, with `config` as the whole config file.
    pub fn start_with_config(bus: &TestBus, env: &[(&str, &str)], config: &str) -> TestDaemon {
        TestDaemon::wait_ready(TestDaemon::spawn_full(bus, env, config, None))
    }

    /// Like `start_with_config`, with the database at `db`.
    pub fn start_with_config_on(bus: &TestBus, config: &str, db: &Path) -> TestDaemon {
        TestDaemon::wait_ready(TestDaemon::spawn_full(bus, &[], config, Some(db)))
    }

    /// Waits for READY=1 and the end of the first cycle.
    fn wait_ready(mut daemon: TestDaemon) -> TestDaemon {
        if daemon.notify.wait_for(TIMEOUT, |m| m.lines().any(|l| l == "READY=1")).is_none() {
            panic!("healthmon did not send READY=1 within {TIMEOUT:?}; stderr:\n{}", daemon.stderr());
        }
        if daemon.notify.wait_for(TIMEOUT, |m| m.starts_with("STATUS=") && m.contains("last check")).is_none() {
            panic!("healthmon finished no cycle within {TIMEOUT:?}; stderr:\n{}", daemon.stderr());
        }
        daemon
    }

    /// Starts without waiting for anything.
    pub fn spawn(bus: &TestBus, env: &[(&str, &str)]) -> TestDaemon {
        TestDaemon::spawn_configured(bus, env, "")
    }

    fn spawn_configured(bus: &TestBus, env: &[(&str, &str)], extra: &str) -> TestDaemon {
        TestDaemon::spawn_full(bus, env, &format!("{TEST_CONFIG}\n{extra}"), None)
    }

    /// Starts healthmon on `config_text` as its whole config file, with the
    /// database at `db` (default: in the daemon's own temp dir).
    fn spawn_full(bus: &TestBus, env: &[(&str, &str)], config_text: &str, db: Option<&Path>) -> TestDaemon {
        let dir = tempfile::Builder::new().prefix("healthmon-daemon").tempdir().expect("tempdir");
        let db = db.map_or_else(|| dir.path().join("state").join("health.db"), Path::to_path_buf);
        let config = dir.path().join("healthmon.toml");
        std::fs::write(&config, config_text).expect("write config");
        let notify = NotifySocket::bind(dir.path());
        let child = launch(bus, dir.path(), &config, &db, &notify.path, env);
        TestDaemon { child, dir, db, config, notify }
    }

    /// Stops healthmon gracefully (SIGTERM) and starts a new one on the same
    /// config, database and notify socket, as `systemctl restart` would;
    /// returns after the new one's first cycle.
    pub fn restart(&mut self, bus: &TestBus) {
        self.signal(Signal::SIGTERM);
        assert!(self.wait_exit().success(), "a SIGTERM stop is clean; stderr:\n{}", self.stderr());
        self.child = launch(bus, self.dir.path(), &self.config, &self.db, &self.notify.path, &[]);
        if self.notify.wait_for(TIMEOUT, |m| m.lines().any(|l| l == "READY=1")).is_none() {
            panic!("the restarted healthmon did not send READY=1 within {TIMEOUT:?}; stderr:\n{}", self.stderr());
        }
        if self.notify.wait_for(TIMEOUT, |m| m.starts_with("STATUS=") && m.contains("last check")).is_none() {
            panic!("the restarted healthmon finished no cycle within {TIMEOUT:?}; stderr:\n{}", self.stderr());
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).expect("signal healthmon");
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// Waits for the process to exit; panics after `TIMEOUT`.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait healthmon") {
                return status;
            }
            assert!(Instant::now() < deadline, "healthmon did not exit within {TIMEOUT:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("wait healthmon").is_none()
    }
}

/// Runs `healthmon` on `bus` with this config, database and notify socket;
/// stderr is appended to `dir/stderr`.
fn launch(bus: &TestBus, dir: &Path, config: &Path, db: &Path, notify: &Path, env: &[(&str, &str)]) -> Child {
    let stderr = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("stderr")).expect("stderr file");
    let mut cmd = bus.command(env!("CARGO_BIN_EXE_healthmon"));
    cmd.args(["--bus", bus.kind])
        .arg("--config")
        .arg(config)
        .arg("--database")
        .arg(db)
        .env("NOTIFY_SOCKET", notify)
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("HEALTHMON_TEST_HOOKS")
        .stdout(Stdio::null())
        .stderr(stderr);
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.spawn().expect("start healthmon")
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// stdout of a command as text, asserting it succeeded.
pub fn ok_stdout(out: &Output) -> String {
    assert!(out.status.success(), "command failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `busctl --json=short` output parsed.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok_stdout(out)).expect("busctl printed JSON")
}

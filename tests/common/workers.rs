//! Helpers for the worker supervision tests: settings, worker scripts,
//! waiting on events and state, processes that are not our children.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use healthmon::config::{CommandWorker, WorkerKind, WorkerSettings};
use healthmon::model::Finding;
use tokio::sync::mpsc;

/// The python interpreter the worker tests run.
pub const PY: &str = "/usr/bin/python3";

/// Runs a test body under a hard time limit.
pub async fn bounded<F: std::future::Future<Output = ()>>(limit: Duration, body: F) {
    tokio::time::timeout(limit, body).await.expect("test timed out");
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("hm-workers-").tempdir().expect("tempdir")
}

/// A string no other process on the machine carries in its command line.
pub fn marker(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("hm-{tag}-{}-{nanos}", std::process::id())
}

/// A command worker with test-friendly timings: no restart delay, quick
/// verification, short stop grace.
pub fn command_worker(name: &str, command: Vec<String>) -> WorkerSettings {
    WorkerSettings {
        name: name.to_string(),
        kind: WorkerKind::Command(CommandWorker {
            command,
            working_dir: None,
            environment: BTreeMap::new(),
            user: None,
            match_cmdline: None,
        }),
        critical: true,
        restart_delay: Duration::ZERO,
        verify_after: Duration::from_millis(100),
        max_restarts: 5,
        restart_window: Duration::from_secs(600),
        health_command: None,
        health_timeout: Duration::from_secs(2),
        health_failures: 2,
        stop_timeout: Duration::from_secs(2),
        watchdog: None,
        notify_ready: false,
        // No startup window: a probe failure counts at once in tests.
        start_timeout: Duration::ZERO,
        health_interval: Duration::from_secs(1),
        probes: Default::default(),
        limits: Default::default(),
        pool: None,
        depends_on: Vec::new(),
    }
}

pub fn unit_worker(name: &str, unit: &str) -> WorkerSettings {
    let mut w = command_worker(name, vec!["/bin/true".into()]);
    w.kind = WorkerKind::Unit(unit.to_string());
    w
}

/// The command part of a command worker, for editing.
pub fn spec(w: &mut WorkerSettings) -> &mut CommandWorker {
    match &mut w.kind {
        WorkerKind::Command(c) => c,
        WorkerKind::Unit(_) => panic!("not a command worker"),
    }
}

/// Writes an executable /bin/sh script.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
    path
}

/// Non-empty lines of a file (none if it does not exist yet).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter(|l| !l.is_empty()).map(String::from).collect()
}

/// Polls `cond` every 2 ms until it holds; panics naming `what` after `within`.
pub async fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The receiving end of the supervisor's event channel, with everything seen so far.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Vec<Finding>>,
    pub seen: Vec<Finding>,
}

impl Events {
    pub fn channel() -> (mpsc::UnboundedSender<Vec<Finding>>, Events) {
        let (tx, rx) = mpsc::unbounded_channel();
        (tx, Events { rx, seen: Vec::new() })
    }

    /// Waits for an event finding matching `pred` (already seen ones count).
    pub async fn wait_for(&mut self, what: &str, within: Duration, pred: impl Fn(&Finding) -> bool) -> Finding {
        if let Some(f) = self.seen.iter().find(|f| pred(f)) {
            return f.clone();
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let batch = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out after {within:?} waiting for {what}; seen: {:#?}", self.seen))
                .expect("event channel closed");
            let hit = batch.iter().find(|f| pred(f)).cloned();
            self.seen.extend(batch);
            if let Some(f) = hit {
                return f;
            }
        }
    }

    /// Takes whatever arrived without waiting.
    pub fn drain(&mut self) {
        while let Ok(batch) = self.rx.try_recv() {
            self.seen.extend(batch);
        }
    }
}

/// Starts `argv` so that it is NOT our child (a shell starts it in the
/// background and exits; it is reparented away from us). Returns its pid.
pub fn spawn_orphan(argv: &[&str]) -> i32 {
    let quoted: Vec<String> = argv.iter().map(|a| format!("'{a}'")).collect();
    let line = format!("{} </dev/null >/dev/null 2>&1 & echo $!", quoted.join(" "));
    let out = std::process::Command::new("/bin/sh").arg("-c").arg(line).output().expect("run /bin/sh");
    let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("pid from sh");
    assert_ne!(ppid(pid), Some(std::process::id() as i32), "orphan {pid} must not be our child");
    pid
}

/// (state, ppid) of `pid` from /proc, `None` when it is gone.
pub fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

pub fn ppid(pid: i32) -> Option<i32> {
    stat(pid).map(|(_, ppid)| ppid)
}

/// Is `pid` a zombie child of this test process?
pub fn is_our_zombie(pid: i32) -> bool {
    stat(pid) == Some(('Z', std::process::id() as i32))
}

/// Is `pid` gone or a zombie (exited)?
pub fn exited(pid: i32) -> bool {
    matches!(stat(pid), None | Some(('Z', _)))
}

pub fn kill(pid: i32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).expect("kill");
}

/// Fails loudly (never skips) when not root.
pub fn require_root(why: &str) {
    assert!(nix::unistd::geteuid().is_root(), "this test needs root: {why}");
}

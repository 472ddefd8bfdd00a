//! Test fixtures for the sessions check: a real tmux server on a private
//! socket (killed on drop) and a real SQLite task database. Shared by
//! several test binaries, each using part of it.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use healthmon::checks::sessions::SessionsCheck;
use healthmon::checks::{Check, CheckContext};
use healthmon::config::SessionSettings;
use healthmon::model::Finding;
use rusqlite::types::Value;
use rusqlite::Connection;
use tempfile::TempDir;

/// Panics with a clear message when tmux is not installed.
pub fn require_tmux() {
    let ok = Command::new("tmux").arg("-V").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "these tests need tmux installed (apt-get install tmux)");
}

/// A tmux server on its own socket inside a temporary directory.
pub struct TmuxServer {
    pub dir: TempDir,
    pub socket: PathBuf,
    /// Run the server (and its panes) as this uid/gid instead of root.
    owner: Option<u32>,
    /// Numbers the markers of `ctrl_c_count`.
    probes: AtomicUsize,
}

impl TmuxServer {
    /// A server run by root at `DIR/sock` (started by the first session).
    pub fn new() -> TmuxServer {
        require_tmux();
        let dir = TempDir::new().expect("tempdir");
        let socket = dir.path().join("sock");
        TmuxServer { dir, socket, owner: None, probes: AtomicUsize::new(0) }
    }

    /// A server run by `uid` at `DIR/tmux-UID/default`, laid out like a
    /// user's default server under /tmp (directory 0700, owned by the user).
    pub fn owned_by(uid: u32) -> TmuxServer {
        require_tmux();
        let ok = Command::new("setpriv").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
        assert!(ok, "this test needs setpriv (util-linux)");
        let dir = TempDir::new().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod tempdir");
        let sockdir = dir.path().join(format!("tmux-{uid}"));
        fs::create_dir(&sockdir).expect("mkdir tmux-UID");
        nix::unistd::chown(&sockdir, Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(uid)))
            .expect("chown tmux-UID");
        fs::set_permissions(&sockdir, fs::Permissions::from_mode(0o700)).expect("chmod tmux-UID");
        TmuxServer { socket: sockdir.join("default"), dir, owner: Some(uid), probes: AtomicUsize::new(0) }
    }

    /// A directory the pane programs may write markers into.
    pub fn marker_dir(&self) -> PathBuf {
        let dir = self.dir.path().join("markers");
        if !dir.exists() {
            fs::create_dir(&dir).expect("mkdir markers");
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod markers");
        }
        dir
    }

    fn tmux(&self) -> Command {
        let mut cmd = match self.owner {
            Some(uid) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}")).arg(format!("--regid={uid}")).arg("--clear-groups").arg("tmux");
                c
            }
            None => Command::new("tmux"),
        };
        cmd.arg("-S").arg(&self.socket).arg("-f").arg("/dev/null");
        // Without SHELL, tmux falls back to the owner's login shell, which
        // for a system account like nobody is nologin: the pane would exit
        // at once and take the server with it.
        cmd.env("SHELL", "/bin/sh");
        cmd
    }

    /// Runs tmux with `args` and returns its stdout; panics on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.tmux().args(args).output().expect("run tmux");
        assert!(out.status.success(), "tmux {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a detached session running `shell` and returns its `$N` id.
    pub fn new_session(&self, name: &str, shell: &str) -> String {
        let id =
            self.run(&["new-session", "-d", "-P", "-F", "#{session_id}", "-x", "80", "-y", "24", "-s", name, shell]);
        id.trim().to_owned()
    }

    /// A session whose program prints nothing and appends `INT` to
    /// `marker` on each SIGINT. Returns the session id.
    pub fn idle_session(&self, name: &str, marker: &Path) -> String {
        let shell = format!("trap 'echo INT >> {}' INT; while :; do sleep 0.2; done", marker.display());
        self.new_session(name, &shell)
    }

    /// A session whose program prints every 100 ms (and marks SIGINTs too).
    pub fn busy_session(&self, name: &str, marker: &Path) -> String {
        let shell = format!("trap 'echo INT >> {}' INT; while :; do echo tick; sleep 0.1; done", marker.display());
        self.new_session(name, &shell)
    }

    /// How many Ctrl+C the session's pane has received so far. The terminal
    /// echoes each as `^C`; a marker typed after them is echoed after them,
    /// so once the marker shows, every earlier Ctrl+C shows too.
    pub fn ctrl_c_count(&self, id: &str) -> usize {
        let probe = format!("probe{}", self.probes.fetch_add(1, Ordering::Relaxed));
        self.run(&["send-keys", "-t", id, "-l", &probe]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.run(&["capture-pane", "-p", "-J", "-t", id]);
            if screen.contains(&probe) {
                return screen.matches("^C").count();
            }
            assert!(Instant::now() < deadline, "pane {id} never echoed {probe}: {screen:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether a session with this id still exists.
    pub fn has_session(&self, id: &str) -> bool {
        self.tmux().args(["has-session", "-t", id]).output().map(|o| o.status.success()).unwrap_or(false)
    }
}

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

/// A task database like the assigner's: tasks(id, session_name, status,
/// error, attempts) and queue(task_id). Columns without a type keep INTEGER and TEXT
/// ids as given.
pub struct TaskDb {
    pub path: PathBuf,
}

impl TaskDb {
    pub fn create(dir: &Path) -> TaskDb {
        let path = dir.join("tasks.db");
        let conn = Connection::open(&path).expect("create task db");
        conn.execute_batch(
            "CREATE TABLE tasks (id PRIMARY KEY, session_name TEXT, status TEXT NOT NULL, error TEXT,
                                 attempts INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE queue (task_id);",
        )
        .expect("schema");
        TaskDb { path }
    }

    pub fn conn(&self) -> Connection {
        Connection::open(&self.path).expect("open task db")
    }

    pub fn add(&self, id: impl Into<Value>, session: &str, status: &str) {
        self.conn()
            .execute("INSERT INTO tasks (id, session_name, status) VALUES (?1, ?2, ?3)", (id.into(), session, status))
            .expect("insert task");
    }

    /// (status, error) of the task with this exact id (type included).
    pub fn task(&self, id: impl Into<Value>) -> (String, Option<String>) {
        self.conn()
            .query_row("SELECT status, error FROM tasks WHERE id = ?1", [id.into()], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("task row")
    }

    /// How many times the task was failed by an `on_stuck` that counts.
    pub fn attempts(&self, id: impl Into<Value>) -> i64 {
        self.conn().query_row("SELECT attempts FROM tasks WHERE id = ?1", [id.into()], |r| r.get(0)).expect("task row")
    }

    pub fn set_status(&self, id: impl Into<Value>, status: &str) {
        self.conn().execute("UPDATE tasks SET status = ?1 WHERE id = ?2", (status, id.into())).expect("set status");
    }

    /// The queue's task ids with their storage types.
    pub fn queue(&self) -> Vec<Value> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT task_id FROM queue ORDER BY rowid").expect("prepare");
        let rows = stmt.query_map([], |r| r.get::<_, Value>(0)).expect("query");
        rows.map(|r| r.expect("row")).collect()
    }
}

/// The contract's example settings against this server and database.
pub fn settings(server: &TmuxServer, db_path: &Path, stuck_after: Duration) -> SessionSettings {
    SessionSettings {
        tmux_socket: Some(server.socket.clone()),
        stuck_after,
        task_database: db_path.to_owned(),
        in_progress_query: "SELECT id, session_name FROM tasks WHERE status = 'in_progress'".into(),
        on_stuck: vec!["UPDATE tasks SET status = 'failed', error = :reason WHERE id = :task_id".into()],
        requeue: vec!["INSERT INTO queue (task_id) VALUES (:task_id)".into()],
    }
}

pub const LIVE: CheckContext = CheckContext { dry_run: false };
pub const DRY: CheckContext = CheckContext { dry_run: true };

/// Runs the check every 100 ms until `done` holds for a run's findings
/// (returned), or panics after `limit`.
pub fn run_until(
    check: &SessionsCheck,
    ctx: &CheckContext,
    limit: Duration,
    mut done: impl FnMut(&[Finding]) -> bool,
) -> Vec<Finding> {
    let deadline = Instant::now() + limit;
    loop {
        let findings = check.run(ctx).expect("check run");
        if done(&findings) {
            return findings;
        }
        assert!(Instant::now() < deadline, "condition not reached within {limit:?}; last findings: {findings:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The finding for this component; panics if absent.
pub fn finding<'a>(findings: &'a [Finding], component: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.component == component)
        .unwrap_or_else(|| panic!("no finding for {component} in {findings:#?}"))
}

/// Whether the run reported an action for this component.
pub fn acted_on(findings: &[Finding], component: &str) -> bool {
    findings.iter().any(|f| f.component == component && f.action.is_some())
}

/// Waits until `path` has at least `lines` lines and returns its content;
/// panics after `limit`.
pub fn wait_for_lines(path: &Path, lines: usize, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= lines {
            return text;
        }
        assert!(Instant::now() < deadline, "{} did not reach {lines} lines within {limit:?}: {text:?}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until a thread of process `pid` (the one with id `thread`, or
/// any) is asleep in SQLite's busy handler on `db`: the process has more
/// than `others` descriptors open on `db` (it opened it) and the thread
/// sleeps in nanosleep, the busy handler's only way of waiting. Panics
/// after `limit`.
pub fn wait_for_lock_wait(pid: u32, thread: Option<u32>, db: &Path, others: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let open = open_count(pid, db);
        let threads = thread.map_or_else(|| threads_of(pid), |tid| vec![tid]);
        let sleeping = threads.iter().any(|tid| {
            fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan")).is_ok_and(|w| w == "hrtimer_nanosleep")
        });
        if open > others && sleeping {
            return;
        }
        assert!(Instant::now() < deadline, "pid {pid} never waited for the lock on {} ({open} open)", db.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The thread ids of process `pid`.
fn threads_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// How many descriptors of process `pid` are open on `path`.
fn open_count(pid: u32, path: &Path) -> usize {
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
    entries.filter_map(|e| fs::read_link(e.ok()?.path()).ok()).filter(|target| *target == path).count()
}

//! Helpers for tests/locks.rs: python3 + sqlite3 as the foreign writer,
//! holder, reader and opener; the check under test; finding look-ups.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use healthmon::checks::locks::LocksCheck;
use healthmon::checks::{Check, CheckContext};
use healthmon::config::DatabaseSettings;
use healthmon::model::Finding;

/// How long any child gets to report readiness.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Panics unless python3 with its sqlite3 module is installed.
pub fn require_python() {
    let ok = Command::new("python3").args(["-c", "import sqlite3"]).status().is_ok_and(|s| s.success());
    assert!(ok, "tests/locks.rs needs python3 with the sqlite3 module (Debian: apt-get install -y python3)");
}

/// A python3 child, killed and reaped when dropped.
pub struct Py {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Py {
    /// Runs `script` with `args`; its stdout lines are collected.
    pub fn spawn(script: &str, args: &[&str]) -> Py {
        require_python();
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn python3");
        let stdout: ChildStdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Py { child, lines }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for a stdout line starting with `prefix`, returning it.
    pub fn expect_line(&self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(READY_TIMEOUT) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => continue,
                Err(e) => panic!("python child {} never printed {prefix:?}: {e}", self.pid()),
            }
        }
    }

    /// Whether a line starting with `prefix` has been printed by now
    /// (lines before it are consumed; never waits).
    pub fn has_printed(&self, prefix: &str) -> bool {
        self.lines.try_iter().any(|line| line.starts_with(prefix))
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// SIGKILL and reap: a crash that leaves its files behind.
    pub fn crash(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Commits 10,000 rows (100 transactions) in WAL mode with automatic
/// checkpoints off, prints "committed" and waits to be killed.
pub const WAL_WRITER: &str = r#"
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, payload TEXT)")
for batch in range(100):
    con.execute("BEGIN")
    con.executemany("INSERT INTO t(payload) VALUES (?)", [("x" * 100,)] * 100)
    con.execute("COMMIT")
print("committed", flush=True)
time.sleep(600)
"#;

/// Takes `BEGIN EXCLUSIVE` (argv[2] = journal mode), writes a row it never
/// commits, prints "locked" and sleeps.
pub const HOLDER: &str = r#"
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=" + sys.argv[2])
con.execute("BEGIN EXCLUSIVE")
con.execute("INSERT INTO t(v) VALUES ('uncommitted')")
print("locked", flush=True)
time.sleep(600)
"#;

/// Appends every catchable signal it gets to argv[2] (read it with
/// [`signals_logged`]); argv[3] says how it uses the database: "fd" (a plain
/// open file) or "reader" (an open WAL read transaction). Prints "ready".
pub const BYSTANDER: &str = r#"
import signal, sqlite3, sys, time
log = open(sys.argv[2], "a")
def record(sig, frame):
    log.write("%d\n" % sig)
    log.flush()
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
          signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT, signal.SIGWINCH):
    signal.signal(s, record)
if sys.argv[3] == "fd":
    keep = open(sys.argv[1], "rb")
else:
    keep = sqlite3.connect(sys.argv[1], isolation_level=None)
    keep.execute("BEGIN")
    keep.execute("SELECT count(*) FROM t").fetchone()
print("ready", flush=True)
while True:
    time.sleep(1)
"#;

/// Loops writes (argv[3] = "write") or reads until argv[2] exists, with
/// Python's default 5 s busy timeout, counting every sqlite3 error; prints
/// "ready" first, "working" after its first successful operation and
/// "errors=N ops=M" last.
pub const WORKER: &str = r#"
import os, sqlite3, sys
db, stop, role = sys.argv[1], sys.argv[2], sys.argv[3]
con = sqlite3.connect(db, isolation_level=None)
errors = ops = 0
print("ready", flush=True)
while not os.path.exists(stop):
    try:
        if role == "write":
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO t(v) VALUES ('w')")
            con.execute("COMMIT")
        else:
            con.execute("SELECT count(*) FROM t").fetchone()
        ops += 1
        if ops == 1:
            print("working", flush=True)
    except sqlite3.Error as e:
        errors += 1
        print("sqlite error: %s" % e, file=sys.stderr, flush=True)
        if con.in_transaction:
            con.execute("ROLLBACK")
print("errors=%d ops=%d" % (errors, ops), flush=True)
"#;

/// Fills `t` with 10,000 committed rows in rollback-journal mode, then
/// starts a transaction rewriting them all with a 5-page cache, so SQLite
/// must spill uncommitted pages into the database file; prints "spilled".
pub const SPILLER: &str = r#"
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=DELETE")
con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
con.execute("BEGIN")
con.executemany("INSERT INTO t(v) VALUES (?)", [("committed" + "." * 100,)] * 10000)
con.execute("COMMIT")
con.execute("PRAGMA cache_size=5")
con.execute("BEGIN")
con.execute("UPDATE t SET v = 'uncommitted' || substr(v, 10)")
print("spilled", flush=True)
time.sleep(600)
"#;

/// 10,000 rows checkpointed into the database file, then one more row
/// committed to the -wal only; prints "committed" and waits to be killed.
pub const LATE_WAL_WRITER: &str = r#"
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA wal_autocheckpoint=0")
con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
con.execute("BEGIN")
con.executemany("INSERT INTO t(v) VALUES (?)", [("x" * 100,)] * 10000)
con.execute("COMMIT")
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
con.execute("INSERT INTO t(v) VALUES ('late')")
print("committed", flush=True)
time.sleep(600)
"#;

/// Takes and drops POSIX write locks on 16 files in argv[1] in a tight
/// loop, pinned to the argv[2]-th CPU it may run on: lines come and go in
/// that CPU's part of /proc/locks all the time. Prints "churning".
pub const CHURNER: &str = r#"
import fcntl, os, sys, time
cpus = sorted(os.sched_getaffinity(0))
os.sched_setaffinity(0, {cpus[int(sys.argv[2]) % len(cpus)]})
files = [open(os.path.join(sys.argv[1], "churn%s-%d" % (sys.argv[2], i)), "w") for i in range(16)]
print("churning", flush=True)
while True:
    for f in files:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    for f in files:
        fcntl.lockf(f, fcntl.LOCK_UN)
    # A breath per round: ~1,000 rounds a second still churn every CPU's
    # lock list, without a busy loop per CPU starving the tests beside it.
    time.sleep(0.001)
"#;

/// One CHURNER per CPU (up to 8): a lock joins the list of the CPU it was
/// taken on, so the holder's own list then has newer lines ahead of it.
pub fn cpus_to_churn() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(8))
}

/// The signals a BYSTANDER has logged, once it has caught up. A signal sent
/// to it before this call is already pending or handled, and CPython runs
/// pending handlers in signal-number order, so the SIGWINCH (28) sent here
/// is logged after any of them and marks the end.
pub fn signals_logged(bystander: &Py, log: &Path) -> Vec<String> {
    kill(Pid::from_raw(bystander.pid()), Signal::SIGWINCH).expect("send SIGWINCH to the bystander");
    let marker = (Signal::SIGWINCH as i32).to_string();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.last() == Some(&marker) {
            lines.pop();
            return lines;
        }
        assert!(Instant::now() < deadline, "bystander {} never logged SIGWINCH: {text:?}", bystander.pid());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Creates a database with table `t(id, v)` in the given journal mode.
pub fn create_db(path: &Path, journal_mode: &str) {
    let conn = rusqlite::Connection::open(path).expect("create test database");
    let mode: String =
        conn.query_row(&format!("PRAGMA journal_mode={journal_mode}"), [], |r| r.get(0)).expect("journal_mode");
    assert_eq!(mode, journal_mode.to_lowercase());
    conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('committed');")
        .expect("create table");
}

/// A new database in `journal_mode` (in a temporary directory, kept
/// alive by the returned guard) whose write lock a holder process has
/// taken: (dir, database path, holder).
pub fn held_db(journal_mode: &str) -> (tempfile::TempDir, PathBuf, Py) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    create_db(&db, journal_mode);
    let holder = Py::spawn(HOLDER, &[db.to_str().unwrap(), journal_mode]);
    holder.expect_line("locked");
    (dir, db, holder)
}

pub fn settings(path: &Path, locked_after: Duration, kill_holders: bool) -> DatabaseSettings {
    DatabaseSettings { path: path.to_path_buf(), locked_after, kill_holders, wal_max_size: None }
}

pub fn run(check: &LocksCheck, dry_run: bool) -> Vec<Finding> {
    check.run(&CheckContext { dry_run }).expect("locks check run")
}

/// The one finding for (database, metric); panics with all findings if absent.
pub fn finding<'a>(findings: &'a [Finding], db: &Path, metric: &str) -> &'a Finding {
    let component = format!("sqlite:{}", db.display());
    findings
        .iter()
        .find(|f| f.component == component && f.metric_type == metric)
        .unwrap_or_else(|| panic!("no {metric} finding for {component} in {findings:#?}"))
}

pub fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Size of a file, 0 when absent.
pub fn len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Opens the database the way a new client would, with no busy wait.
pub fn open(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).expect("open");
    conn.busy_timeout(Duration::ZERO).expect("busy_timeout");
    conn
}

pub fn integrity(conn: &rusqlite::Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check")
}

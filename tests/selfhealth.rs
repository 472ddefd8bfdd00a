//! The monitor's own health, end to end with the real daemon on a private
//! bus: a damaged state database is moved aside (kept byte for byte) while
//! the workers run; an unwritable one (full tmpfs, ext4 gone read-only, a
//! write lock held elsewhere) stops nothing and is caught up later; the
//! config alert resolves at a restart; list replies are capped for an
//! unprivileged caller.

#[path = "common/dbus.rs"]
mod common;
#[path = "common/fs.rs"]
mod fs;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{as_nobody, json, ok_stdout, require_root, require_tool, TestBus, TestDaemon, TIMEOUT};
use fs::Tmpfs;
use nix::sys::signal::Signal;
use serde_json::Value;

/// A command worker that just stays up.
const WORKER: &str = r#"
[workers.sleeper]
command = ["/bin/sleep", "3600"]
verify_after = "100ms"
"#;

fn status(bus: &TestBus) -> Value {
    serde_json::from_slice(&bus.healthctl(&["status", "--json"]).stdout).expect("status JSON")
}

fn alerts(bus: &TestBus, all: bool) -> Vec<Value> {
    let args: &[&str] = if all { &["alerts", "--all", "--json"] } else { &["alerts", "--json"] };
    let doc: Value = serde_json::from_str(&ok_stdout(&bus.healthctl(args))).expect("alerts JSON");
    doc.as_array().expect("array").clone()
}

/// Polls `cond` until it holds; panics naming `what` after `TIMEOUT`.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The worker's pid once it runs, checked against /proc.
fn running_worker_pid(bus: &TestBus) -> u64 {
    let mut pid = 0;
    wait_until("the worker to run", || {
        let doc: Value = serde_json::from_slice(&bus.healthctl(&["workers", "--json"]).stdout).unwrap_or_default();
        pid = doc.as_array().and_then(|w| w.first()).and_then(|w| w["pid"].as_u64()).unwrap_or(0);
        pid != 0
    });
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "worker pid {pid} exists");
    pid
}

/// Files next to `db` whose names start with `health.db.corrupt-`.
fn kept_files(db: &Path) -> Vec<PathBuf> {
    let mut kept: Vec<PathBuf> = std::fs::read_dir(db.parent().expect("dir"))
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("health.db.corrupt-")))
        .collect();
    kept.sort();
    kept
}

/// A real state database with `rows` metric rows, checkpointed into the main file.
fn real_database(db: &Path, rows: usize) {
    drop(healthmon::store::Store::open(db).expect("create"));
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..rows {
        conn.execute(
            "INSERT INTO health_metrics (timestamp, component, metric_type, status, details)
             VALUES (datetime('now'), 'disk:/', 'disk_usage', 'healthy', ?1)",
            [format!("row {i} {}", "x".repeat(200))],
        )
        .unwrap();
    }
    conn.execute_batch("COMMIT; PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
}

/// Starts the daemon (with a worker) on a database prepared by `prepare`,
/// and checks the contract: it runs, the worker runs, the old file is kept
/// byte for byte and named by a CRITICAL `state` alert.
fn damaged_database_is_moved_aside(prepare: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("health.db");
    prepare(&db);
    let original = std::fs::read(&db).expect("read prepared file");

    let bus = TestBus::session();
    let mut daemon = TestDaemon::start_on(&bus, &[], WORKER, Some(&db));
    assert!(daemon.running());
    running_worker_pid(&bus);

    let kept = kept_files(&db);
    assert_eq!(kept.len(), 1, "one kept file: {kept:?}");
    assert_eq!(std::fs::read(&kept[0]).expect("kept file"), original, "kept byte for byte");
    let stamp = kept[0].file_name().unwrap().to_str().unwrap().trim_start_matches("health.db.corrupt-").to_string();
    assert!(stamp.len() == 16 && stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T', "UTC stamp: {stamp}");
    healthmon::store::Store::open(&db).expect("a fresh database in its place").verify().expect("sound");

    let open = alerts(&bus, false);
    let alert = open.iter().find(|a| a["component"] == "state").unwrap_or_else(|| panic!("state alert: {open:?}"));
    assert_eq!(alert["severity"], "CRITICAL");
    let message = alert["message"].as_str().expect("message");
    assert!(message.contains(&kept[0].display().to_string()), "names the kept file: {message}");
    assert!(message.contains("desired running again") && message.contains("silence"), "{message}");
    assert_eq!(status(&bus)["state"], "critical");
}

/// 64 KiB of garbage: moved aside, workers run, CRITICAL alert names it.
#[test]
fn garbage_database_is_moved_aside_and_workers_run() {
    damaged_database_is_moved_aside(|db| {
        let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        std::fs::write(db, garbage).expect("write garbage");
    });
}

/// A real database cut in half: quick_check finds it, it is moved aside.
#[test]
fn truncated_database_is_moved_aside_and_workers_run() {
    damaged_database_is_moved_aside(|db| {
        real_database(db, 2_000);
        let len = std::fs::metadata(db).expect("size").len();
        std::fs::OpenOptions::new().write(true).open(db).expect("open").set_len(len / 2).expect("truncate");
    });
}

/// A database from a newer healthmon: moved aside untouched, not migrated.
#[test]
fn too_new_database_is_moved_aside_and_workers_run() {
    damaged_database_is_moved_aside(|db| {
        real_database(db, 10);
        let conn = rusqlite::Connection::open(db).expect("open");
        conn.execute_batch("PRAGMA user_version = 99; PRAGMA journal_mode = DELETE;").expect("bump version");
    });
}

/// `--once` beside a damaged database moves nothing: it says so, exits 1.
#[test]
fn once_leaves_a_damaged_database_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("health.db");
    std::fs::write(&db, vec![0x5a; 64 * 1024]).expect("garbage");
    let config = dir.path().join("healthmon.toml");
    std::fs::write(&config, common::TEST_CONFIG).expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_healthmon"))
        .arg("--once")
        .arg("--config")
        .arg(&config)
        .arg("--database")
        .arg(&db)
        .output()
        .expect("run --once");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&db.display().to_string()) && err.contains("leaves it alone"), "{err}");
    assert_eq!(std::fs::read(&db).expect("still there"), vec![0x5a; 64 * 1024]);
    assert!(kept_files(&db).is_empty());
}

/// No database can be made at all (its directory cannot exist): the daemon
/// still supervises, on an in-memory database, with State critical and the
/// problem in Status().
#[test]
fn no_database_at_all_still_supervises() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "a file where the state directory should be").expect("write");
    let db = blocker.join("health.db");
    let bus = TestBus::session();
    let _daemon = TestDaemon::start_on(&bus, &[], WORKER, Some(&db));
    running_worker_pid(&bus);
    let doc = status(&bus);
    assert_eq!(doc["state"], "critical");
    assert!(doc["state_problem"].as_str().expect("state_problem").contains("in-memory"), "{doc}");
    let text = ok_or_plugin_stdout(&bus);
    assert!(text.contains("State db:"), "{text}");
    assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "a file where the state directory should be");
}

/// `healthctl status` text (its exit code is the plugin state, not success).
fn ok_or_plugin_stdout(bus: &TestBus) -> String {
    String::from_utf8_lossy(&bus.healthctl(&["status"]).stdout).into_owned()
}

/// A journald stand-in: every datagram the daemon sends, as text.
struct JournalCatcher {
    path: PathBuf,
    seen: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl JournalCatcher {
    fn bind() -> JournalCatcher {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.sock");
        let socket = UnixDatagram::bind(&path).expect("bind journal socket");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            while let Ok(n) = socket.recv(&mut buf) {
                sink.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        JournalCatcher { path, seen, _dir: dir }
    }

    /// Waits for an alert entry of `event` on `component`.
    fn wait_alert(&self, event: &str, component: &str) {
        let fields = [format!("HEALTHMON_ALERT_EVENT={event}\n"), format!("HEALTHMON_COMPONENT={component}\n")];
        wait_until(&format!("journal entry: alert {event} on {component}"), || {
            self.seen.lock().unwrap().iter().any(|d| fields.iter().all(|f| d.contains(f.as_str())))
        });
    }
}

/// Starts the daemon on `db` with the journal caught, and resolves the
/// first cycle's disk alert by hand, so the next cycle raises it anew.
fn daemon_with_fresh_disk_alert(bus: &TestBus, db: &Path, journal: &JournalCatcher) -> (TestDaemon, i64) {
    let socket = journal.path.to_str().expect("utf-8").to_string();
    let daemon = TestDaemon::start_on(bus, &[("HEALTHMON_JOURNAL_SOCKET", &socket)], "", Some(db));
    let disk = alerts(bus, false).into_iter().find(|a| a["component"] == "disk:/").expect("disk alert");
    let id = disk["id"].as_i64().expect("id");
    ok_stdout(&bus.healthctl(&["resolve", &id.to_string()]));
    (daemon, id)
}

/// While writes fail: the raise is journaled, State is degraded and
/// Status says why.
fn assert_held(bus: &TestBus, journal: &JournalCatcher) {
    let _ = bus.healthctl(&["run-once"]);
    journal.wait_alert("raised", "disk:/");
    journal.wait_alert("raised", "state");
    let doc = status(bus);
    assert_eq!(doc["state"], "degraded", "{doc}");
    let problem = doc["state_problem"].as_str().expect("state_problem");
    assert!(problem.contains("cannot write the state database"), "{problem}");
}

/// Once writable: the held alerts are in the database, the state alert
/// is resolved, Status is clear. `lost_before` when the filesystem lost
/// the writes of just before it failed (an aborted ext4 journal): the
/// resolve by hand is gone, so the held raise merges into the old alert.
fn assert_caught_up(bus: &TestBus, db: &Path, old_disk_id: i64, lost_before: bool) {
    let _ = bus.healthctl(&["run-once"]);
    assert_eq!(status(bus)["state_problem"], "");
    let conn = rusqlite::Connection::open(db).expect("open db");
    let newer_than = if lost_before { 0 } else { old_disk_id };
    let disk: i64 = conn
        .query_row(
            "SELECT count(*) FROM health_alerts WHERE component = 'disk:/' AND resolved = 0 AND id > ?1",
            [newer_than],
            |r| r.get(0),
        )
        .expect("query");
    assert_eq!(disk, 1, "the disk alert raised while held is written, once");
    let (state, resolved): (i64, i64) = conn
        .query_row(
            "SELECT count(*), COALESCE(SUM(resolved), 0) FROM health_alerts WHERE component = 'state'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("query");
    assert_eq!((state, resolved), (1, 1), "the state alert was written and resolved");
    let held_rows: i64 = conn
        .query_row("SELECT count(*) FROM health_metrics WHERE component = 'state' AND status = 'error'", [], |r| {
            r.get(0)
        })
        .expect("query");
    assert!(held_rows >= 1, "metric rows from the outage are written");
}

/// health.db on a tmpfs that fills up: alerting goes on from memory and
/// is written once space is freed.
#[test]
fn full_disk_holds_alerts_and_writes_them_later() {
    let tmpfs = Tmpfs::mount("4M");
    let db = tmpfs.path().join("health.db");
    let journal = JournalCatcher::bind();
    let bus = TestBus::session();
    let (mut daemon, old_disk_id) = daemon_with_fresh_disk_alert(&bus, &db, &journal);

    let filler = tmpfs.path().join("filler");
    let out = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", filler.display()))
        .args(["bs=64k"])
        .output()
        .expect("dd");
    assert!(!out.status.success(), "dd stops at a full disk");
    assert_held(&bus, &journal);
    running_or_panic(&mut daemon);

    std::fs::remove_file(&filler).expect("free space");
    assert_caught_up(&bus, &db, old_disk_id, false);
}

fn running_or_panic(daemon: &mut TestDaemon) {
    assert!(daemon.running(), "healthmon keeps running; stderr:\n{}", daemon.stderr());
}

/// An ext4 filesystem, on a loop device, that errors=remount-ro turns
/// read-only while the database is open (a tmpfs cannot be remounted
/// read-only while a file on it is open for writing: EBUSY).
struct Ext4 {
    image: PathBuf,
    mount: tempfile::TempDir,
    /// Loop devices attached, each detached on drop.
    devices: Mutex<Vec<String>>,
    _dir: tempfile::TempDir,
}

impl Ext4 {
    fn make() -> Ext4 {
        require_root();
        for tool in ["mkfs.ext4", "losetup", "mount", "umount"] {
            require_tool(tool);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let image = dir.path().join("fs.img");
        std::fs::File::create(&image).expect("image").set_len(16 << 20).expect("size");
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image));
        let ext4 =
            Ext4 { image, mount: tempfile::tempdir().expect("mount point"), devices: Mutex::default(), _dir: dir };
        ext4.attach();
        ext4
    }

    /// Mounts the image through a loop device of its own: `mount -o loop`
    /// would reuse the device of the broken mount, still read-only.
    fn attach(&self) {
        let out = Command::new("losetup").args(["--find", "--show"]).arg(&self.image).output().expect("losetup");
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        let device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        run(Command::new("mount").args(["-o", "errors=remount-ro", &device]).arg(self.mount.path()));
        self.devices.lock().unwrap().push(device);
    }

    /// What ext4 does on a metadata error: the mount goes read-only at once.
    fn fail(&self) {
        let mounts = std::fs::read_to_string("/proc/self/mounts").expect("mounts");
        let target = format!(" {} ", self.mount.path().display());
        let device = mounts.lines().find(|l| l.contains(&target)).and_then(|l| l.split(' ').next()).expect("our mount");
        let name = Path::new(device).file_name().expect("device name").to_string_lossy().into_owned();
        std::fs::write(format!("/sys/fs/ext4/{name}/trigger_fs_error"), "healthmon test").expect("trigger ext4 error");
    }

    /// What an administrator does after: detach the broken mount, mount the filesystem again.
    fn remount(&self) {
        run(Command::new("umount").arg("-l").arg(self.mount.path()));
        self.attach();
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.mount.path()).status();
        for device in self.devices.lock().unwrap().iter() {
            // Busy until the daemon lets go of its files: then detached by the kernel.
            let _ = Command::new("losetup").args(["-d", device]).status();
        }
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// health.db on a filesystem that goes read-only while running: alerting
/// goes on from memory and is written once it is mounted again.
#[test]
fn read_only_filesystem_holds_alerts_and_writes_them_later() {
    let ext4 = Ext4::make();
    let db = ext4.mount.path().join("health.db");
    let journal = JournalCatcher::bind();
    let bus = TestBus::session();
    let (mut daemon, old_disk_id) = daemon_with_fresh_disk_alert(&bus, &db, &journal);

    ext4.fail();
    assert_held(&bus, &journal);
    running_or_panic(&mut daemon);

    ext4.remount();
    assert_caught_up(&bus, &db, old_disk_id, true);
}

/// Under the system-bus policy, uid 65534 asking ListMetrics for 2^32-1
/// rows gets at most 1,000.
#[test]
fn huge_list_metrics_limit_is_capped_for_nobody() {
    require_root();
    let bus = TestBus::system();
    let daemon = TestDaemon::start(&bus);
    let conn = rusqlite::Connection::open(&daemon.db).expect("open db");
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)
         INSERT INTO health_metrics (timestamp, component, metric_type, status) SELECT datetime('now'), 'bulk', 'test', 'healthy' FROM n;",
    )
    .expect("insert rows");
    let mut call = bus.command("busctl");
    call.arg(format!("--address={}", bus.address)).args([
        "--json=short",
        "call",
        "org.healthmon.Monitor1",
        "/org/healthmon/Monitor1",
        "org.healthmon.Monitor1",
        "ListMetrics",
        "su",
        "",
        "4294967295",
    ]);
    let reply = json(&as_nobody(&call).output().expect("busctl as nobody"));
    let rows = reply["data"][0].as_array().expect("rows").len();
    assert_eq!(rows, 1_000, "capped at 1,000 of over 1,500 rows");
    let alerts = json(&bus.call("ListAlerts", &["bu", "false", "4294967295"]));
    assert!(alerts["data"][0].as_array().expect("rows").len() <= 1_000);
}

/// The "configuration reload failed" alert left open by one run resolves
/// when healthmon restarts with a valid configuration.
#[test]
fn config_alert_resolves_at_a_restart_with_a_valid_config() {
    let bus = TestBus::session();
    let mut first = TestDaemon::start(&bus);
    std::fs::write(&first.config, "[monitor]\ncheck_interval = \"soon\"\n").expect("break config");
    assert_eq!(bus.healthctl(&["reload"]).status.code(), Some(1));
    assert!(alerts(&bus, false).iter().any(|a| a["component"] == "config"), "config alert open");
    first.signal(Signal::SIGTERM);
    assert!(first.wait_exit().success());

    let db = first.db.clone();
    let _second = TestDaemon::start_on(&bus, &[], "", Some(&db));
    let all = alerts(&bus, true);
    let config = all.iter().find(|a| a["component"] == "config").expect("config alert kept");
    assert_eq!(config["resolved"], true, "{config}");
    assert!(alerts(&bus, false).iter().all(|a| a["component"] != "config"));
}

/// Another process holding the write lock past the busy timeout (a
/// `sqlite3` shell left in a transaction): alerting goes on from memory
/// and is written once the lock is released.
#[test]
fn write_lock_held_elsewhere_holds_alerts_and_writes_them_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("health.db");
    let journal = JournalCatcher::bind();
    let bus = TestBus::session();
    let (mut daemon, old_disk_id) = daemon_with_fresh_disk_alert(&bus, &db, &journal);

    let holder = rusqlite::Connection::open(&db).expect("open db");
    holder.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    assert_held(&bus, &journal);
    running_or_panic(&mut daemon);

    holder.execute_batch("COMMIT").expect("release the write lock");
    assert_caught_up(&bus, &db, old_disk_id, false);
}

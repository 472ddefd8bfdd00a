//! The leak test: the real `healthmon` on a private bus runs up to 3,000 check
//! cycles at a 10 ms interval while a fork-mode worker crashes and is
//! restarted over and over, a steady worker is probed, the Prometheus
//! textfile is rewritten every cycle and a client calls Status and the List
//! methods in a loop. After a warm-up, the daemon's open file descriptors
//! (/proc/PID/fd) must stay exactly as many and its resident memory
//! (VmRSS) must grow less than 1 MiB. A leak of one descriptor per
//! restart, per cycle or per D-Bus call shows at once.
//!
//! It measures a leak, not a speed: the run is capped at
//! [`MEASURE_BUDGET`] so it costs about a minute of CI, and only asks that
//! the machine managed [`MIN_MEASURED_CYCLES`] cycles and
//! [`MIN_MEASURED_RESTARTS`] restarts in that time (a loaded 2-core
//! machine runs 200 to 350).

#[path = "common/dbus.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{TestBus, TestDaemon};
use healthmon::dbus::MonitorProxy;

/// Cycles before the first sample: long enough for SQLite's page cache,
/// the allocator's arenas and the blocking thread pool to reach their size.
const WARM_UP_CYCLES: u64 = 200;
/// Where the measured run ends, if the budget allows.
const TOTAL_CYCLES: u64 = 3_000;
/// The measured run stops here even short of `TOTAL_CYCLES` (a loaded CI
/// machine runs fewer cycles per second); the minimums below still apply.
const MEASURE_BUDGET: Duration = Duration::from_secs(40);
/// Fewer measured cycles or crash restarts than this prove too little.
const MIN_MEASURED_CYCLES: u64 = 150;
const MIN_MEASURED_RESTARTS: u64 = 50;
/// The warm-up must finish within this, or the machine is too loaded.
const WARM_UP_LIMIT: Duration = Duration::from_secs(60);
/// Allowed growth of VmRSS over the measured run.
const RSS_SLACK_KIB: u64 = 1024;
/// How long one sample watches the daemon: the minimum over this window is
/// taken, so descriptors a cycle opens for a moment (the history's
/// read-only connection, the textfile being written) do not count.
const SAMPLE_WINDOW: Duration = Duration::from_secs(3);

/// The daemon under load, as the leak test configures it.
fn soak_config(dir: &Path) -> String {
    format!(
        r#"[monitor]
check_interval = "10ms"

[disk]
paths = ["/"]
warning_percent = 1
critical_percent = 99.9
# The forecast reads every sample in its window each cycle: at 10 ms a
# cycle, a short window keeps that read as long as at 60 s with the default.
predict_window = "10s"

[prometheus]
textfile = "{textfile}"

# Crashes after a line of output, at once restarted, for ever: the budget
# window is shorter than the time between restarts' first and last.
[workers.crasher]
command = ["/bin/sh", "-c", "echo crash $$; sleep 0.1; exit 3"]
restart_delay = "0s"
verify_after = "0s"
max_restarts = 1000000
restart_window = "1s"
critical = false

# Runs and is probed.
[workers.steady]
command = ["/bin/sleep", "1000"]
health_command = ["/bin/true"]
"#,
        textfile = dir.join("healthmon.prom").display()
    )
}

/// The workers of [`soak_config`].
const WORKERS: [&str; 2] = ["crasher", "steady"];

/// Rows put in the state database before the daemon starts: more pages
/// than SQLite's page cache (2,000 KiB a connection) holds. The daemon's
/// writer reads them all at start (its integrity check) and the reader
/// reads [`FILLER`]'s, spread over the whole file, in the warm-up: both
/// caches are full before the first sample, so a cache growing with the
/// database is not taken for a leak.
const PREFILLED_ROWS: i64 = 20_000;
const FILLER: &str = "filler";

/// A state database in the daemon's schema with [`PREFILLED_ROWS`] rows
/// from the last day (within the retention, so none is pruned).
fn prefilled_database(dir: &Path) -> PathBuf {
    let db = dir.join("health.db");
    drop(healthmon::store::Store::open(&db).expect("create the schema as the daemon does"));
    let mut conn = rusqlite::Connection::open(&db).expect("open");
    let tx = conn.transaction().expect("transaction");
    for i in 0..PREFILLED_ROWS {
        let component = if i % 20 == 0 { FILLER } else { "other" };
        tx.execute(
            "INSERT INTO health_metrics (timestamp, component, metric_type, status, details)
             VALUES (datetime('now', ?1), ?2, 'worker_status', 'healthy', ?3)",
            rusqlite::params![format!("-{} seconds", PREFILLED_ROWS - i), component, "x".repeat(200)],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
    db
}

/// What one sample saw: the fewest open descriptors and the smallest RSS.
#[derive(Debug, Clone, Copy)]
struct Sample {
    fds: usize,
    rss_kib: u64,
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read /proc/PID/fd").count()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse().ok()).expect("VmRSS in kB")
}

/// What `/proc/PID/fd` points at, by kind, for a failure message.
fn fd_kinds(pid: u32) -> String {
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read /proc/PID/fd").flatten() {
        let target = std::fs::read_link(entry.path()).map(|t| t.display().to_string()).unwrap_or_default();
        let kind = target.split(':').next().unwrap_or("").to_string();
        *kinds.entry(kind).or_default() += 1;
    }
    format!("{kinds:?}")
}

/// Watches the daemon for [`SAMPLE_WINDOW`] with its workers stopped (an
/// administrator's StopWorker), so no worker's pipe or probe is open, while
/// the cycles and D-Bus calls go on; then starts the workers again.
async fn sample(pid: u32, proxy: &MonitorProxy<'_>) -> Sample {
    for name in WORKERS {
        proxy.stop_worker(name).await.expect("StopWorker");
    }
    let mut seen = Sample { fds: usize::MAX, rss_kib: u64::MAX };
    let end = Instant::now() + SAMPLE_WINDOW;
    while Instant::now() < end {
        seen.fds = seen.fds.min(open_fds(pid));
        seen.rss_kib = seen.rss_kib.min(rss_kib(pid));
        proxy.status().await.expect("Status");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for name in WORKERS {
        proxy.start_worker(name).await.expect("StartWorker");
    }
    seen
}

/// Cycles run and crash restarts so far.
async fn progress(proxy: &MonitorProxy<'_>) -> (u64, u64) {
    let status = proxy.status().await.expect("Status");
    let workers = proxy.list_workers().await.expect("ListWorkers");
    let crasher = workers.iter().find(|w| w.name == "crasher").expect("crasher listed");
    (status.checks_run, crasher.restarts)
}

/// One round of client load: every read method once.
async fn client_round(proxy: &MonitorProxy<'_>) {
    proxy.list_metrics("", 100).await.expect("ListMetrics");
    proxy.list_alerts(false, 100).await.expect("ListAlerts");
    proxy.get_worker("crasher").await.expect("GetWorker");
}

/// Drives the load until `until` cycles or `deadline`; returns the progress.
async fn run_until(proxy: &MonitorProxy<'_>, until: u64, deadline: Instant) -> (u64, u64) {
    loop {
        client_round(proxy).await;
        let now = progress(proxy).await;
        if now.0 >= until || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// After a warm-up, ~2,400 cycles and hundreds of worker crashes leave the
/// daemon with exactly as many open descriptors and under 1 MiB more RSS.
#[tokio::test]
async fn thousands_of_cycles_and_crashes_leak_no_fd_and_no_memory() {
    let bus = TestBus::session();
    let scratch = tempfile::tempdir().expect("tempdir");
    let db = prefilled_database(scratch.path());
    let daemon = TestDaemon::start_with_config_on(&bus, &soak_config(scratch.path()), &db);
    let pid = daemon.pid();
    let conn = zbus::connection::Builder::address(bus.address.as_str()).build().await.expect("connect");
    let proxy = MonitorProxy::new(&conn).await.expect("proxy");

    let spread = proxy.list_metrics(FILLER, 1000).await.expect("ListMetrics");
    assert_eq!(spread.len(), 1000, "the reader read rows from all over the file");
    let warm = run_until(&proxy, WARM_UP_CYCLES, Instant::now() + WARM_UP_LIMIT).await;
    assert!(warm.0 >= WARM_UP_CYCLES, "only {} cycles within {WARM_UP_LIMIT:?} of warm-up", warm.0);
    let before = sample(pid, &proxy).await;
    let fds_before = fd_kinds(pid);
    let start = progress(&proxy).await;

    let end = run_until(&proxy, TOTAL_CYCLES, Instant::now() + MEASURE_BUDGET).await;
    let after = sample(pid, &proxy).await;
    let (cycles, restarts) = (end.0 - start.0, end.1 - start.1);
    eprintln!("soak: {cycles} cycles and {restarts} crash restarts measured; before {before:?}, after {after:?}");

    assert!(cycles >= MIN_MEASURED_CYCLES, "only {cycles} cycles measured; the test proves too little");
    assert!(restarts >= MIN_MEASURED_RESTARTS, "only {restarts} crash restarts measured; stderr:\n{}", daemon.stderr());
    assert_eq!(
        after.fds,
        before.fds,
        "open descriptors changed over {cycles} cycles and {restarts} restarts: before {fds_before}, after {}",
        fd_kinds(pid)
    );
    let growth = after.rss_kib.saturating_sub(before.rss_kib);
    assert!(
        growth < RSS_SLACK_KIB,
        "VmRSS grew {growth} KiB ({} -> {} KiB) over {cycles} cycles and {restarts} restarts",
        before.rss_kib,
        after.rss_kib
    );
}

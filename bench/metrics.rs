//! Benchmark: a state database with 1,000,000 `health_metrics` rows (30
//! days of a host with 20 workers, 2 disks and a database, one row per
//! component every ~61 s), in the schema the daemon creates. Prints the
//! database's size, `ListMetrics` round trips through the real daemon on a
//! private bus (median of several calls, all components and one), and the
//! daemon's own retention prune (`Store::prune`, run after every cycle):
//! with nothing to delete, with one day of rows to delete and with all of
//! them (the retention lowered below every row).
//!
//! `bench/metrics.sh [ROWS] [RUNS]` (builds in release; needs dbus-daemon).

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use healthmon::dbus::MonitorProxy;
use healthmon::store::Store;
use rusqlite::{params, Connection};

#[path = "support.rs"]
mod support;
use support::{ms, quantile, spawn_daemon, start_bus, wait_for};

/// The retention the rows span (the default `monitor.retention`).
const RETENTION: Duration = Duration::from_secs(30 * 86_400);
const DAY: i64 = 86_400;
/// ListMetrics calls per figure.
const CALLS: usize = 21;

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: i64 = args.next().map_or(1_000_000, |s| s.parse().expect("ROWS"));
    let runs: usize = args.next().map_or(3, |s| s.parse().expect("RUNS"));
    let work = tempfile::Builder::new().prefix("healthmon-metrics-bench").tempdir_in("/var/tmp").expect("tempdir");
    let db = work.path().join("health.db");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64;

    drop(Store::open(&db).expect("create the schema as the daemon does"));
    let took = Instant::now();
    fill(&db, rows, now);
    println!("filled {rows} rows in {:.1} s", took.elapsed().as_secs_f64());
    println!("database size: {:.1} MiB ({:.0} bytes a row)", mib(&db), size(&db) as f64 / rows as f64);

    list_metrics(&db);
    prune(&db, work.path(), runs, now);
}

/// Components as a host with 20 workers, 2 disks and one database has them.
fn components() -> Vec<(String, &'static str)> {
    let mut all: Vec<(String, &'static str)> = (1..=20).map(|i| (format!("worker_{i:02}"), "worker_status")).collect();
    all.push(("disk:/".into(), "disk_usage"));
    all.push(("disk:/var".into(), "disk_usage"));
    all.push(("sqlite:/var/lib/architect/architect.db".into(), "sqlite_lock"));
    all
}

/// `rows` rows, oldest first, evenly spread over the retention up to `now`
/// (1 in 50 unhealthy, with an action); the same INSERT as the daemon's.
fn fill(db: &Path, rows: i64, now: i64) {
    let mut conn = Connection::open(db).expect("open");
    let tx = conn.transaction().expect("transaction");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO health_metrics (timestamp, component, metric_type, status, action_taken, details, value)
                 VALUES (datetime(?1, 'unixepoch'), ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .expect("prepare");
        let components = components();
        let span = RETENTION.as_secs() as i64 - 60;
        for i in 0..rows {
            let at = now - span + span * i / rows;
            let (component, metric) = &components[i as usize % components.len()];
            let bad = i % 50 == 0;
            let (status, action) = if bad {
                ("recovered", Some("restarted (exit 1), restart 1 of 5 in 10 min"))
            } else {
                ("healthy", None)
            };
            let details = format!("pid {}, up {} s; restarts 0 of 5 in 10 min", 1000 + i % 30_000, i % 86_400);
            let value = (*metric == "disk_usage").then_some(40_000_000_000 + i);
            insert.execute(params![at, component, metric, status, action, details, value]).expect("insert");
        }
    }
    tx.commit().expect("commit");
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").expect("checkpoint");
}

/// ListMetrics through the real daemon: the first call, then the median
/// and worst of [`CALLS`] more, for every component and for one.
fn list_metrics(db: &Path) {
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("unix:path={}/bus", dir.path().display());
    let _bus = start_bus(&address);
    let config = dir.path().join("healthmon.toml");
    std::fs::write(&config, "[monitor]\ncheck_interval = \"1h\"\n").expect("config");
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
    notify.set_read_timeout(Some(Duration::from_secs(120))).expect("timeout");
    let _daemon = spawn_daemon(&address, &notify_path, db, &["--config".as_ref(), config.as_os_str()]);
    wait_for(&notify, "last check");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let conn = zbus::connection::Builder::address(address.as_str()).build().await.expect("connect");
        let proxy = MonitorProxy::new(&conn).await.expect("proxy");
        for (what, component, limit) in [
            ("all components, limit 100", "", 100),
            ("one component, limit 100", "worker_07", 100),
            ("all, limit 1000", "", 1000),
        ] {
            let mut times = Vec::with_capacity(CALLS + 1);
            for _ in 0..=CALLS {
                let t = Instant::now();
                let rows = proxy.list_metrics(component, limit).await.expect("ListMetrics");
                times.push(t.elapsed());
                assert_eq!(rows.len(), limit as usize, "ListMetrics returned too few rows");
            }
            let first = times.remove(0);
            times.sort();
            println!(
                "ListMetrics({what}): first {:.2} ms, median {:.2} ms, max {:.2} ms ({CALLS} calls)",
                ms(first),
                ms(quantile(&times, 0.5)),
                ms(times[times.len() - 1])
            );
        }
    });
}

/// The daemon's retention prune on copies of the filled database.
fn prune(db: &Path, work: &Path, runs: usize, now: i64) {
    let cases = [
        ("nothing to delete (every cycle)", now - RETENTION.as_secs() as i64 - DAY),
        ("one day of rows to delete", now - RETENTION.as_secs() as i64 + DAY),
        ("every row to delete", now + 60),
    ];
    for (what, before) in cases {
        let mut times = Vec::with_capacity(runs);
        let mut deleted = 0;
        let mut after = 0.0;
        for run in 0..runs {
            let copy = work.join(format!("prune-{run}.db"));
            std::fs::copy(db, &copy).expect("copy the database");
            let mut store = Store::open(&copy).expect("open the copy");
            let t = Instant::now();
            deleted = store.prune(UNIX_EPOCH + Duration::from_secs(before as u64)).expect("prune");
            times.push(t.elapsed());
            drop(store);
            after = mib(&copy);
            let _ = std::fs::remove_file(&copy);
        }
        times.sort();
        println!(
            "prune, {what}: {deleted} rows, median {:.1} ms of {runs} (file {after:.1} MiB after; SQLite reuses freed pages)",
            ms(quantile(&times, 0.5))
        );
    }
}

/// The database with its -wal, in bytes.
fn size(db: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    len(db) + len(&db.with_extension("db-wal"))
}

fn mib(db: &Path) -> f64 {
    size(db) as f64 / (1024.0 * 1024.0)
}

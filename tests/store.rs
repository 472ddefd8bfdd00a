//! The SQLite store against real database files in temporary directories:
//! the contract's queries, migrations (empty, legacy, too new), the alert
//! lifecycle, the one-open-alert index, retention and dry-run recording.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use healthmon::model::{ActionKind, Finding, Severity, Status};
use healthmon::store::{Store, StoreError, SCHEMA_VERSION};
use rusqlite::Connection;
use tempfile::TempDir;

/// 2023-11-14 22:13:20 UTC.
const T0: u64 = 1_700_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("health.db")
}

fn open_store(dir: &TempDir) -> Store {
    Store::open(&db_path(dir)).expect("open store")
}

/// A second, plain connection: what a person with sqlite3 or the dashboard sees.
fn raw(path: &Path) -> Connection {
    Connection::open(path).expect("open raw connection")
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).expect(sql)
}

fn user_version(conn: &Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |row| row.get(0)).expect("user_version")
}

fn worker_down(severity: Severity) -> Finding {
    Finding::problem(
        "assigner_worker",
        "worker",
        Status::Unhealthy,
        severity,
        "assigner_worker is not running",
        "pid 0",
    )
}

fn worker_up() -> Finding {
    Finding::healthy("assigner_worker", "worker", "pid 42")
}

/// The old Python monitor's tables with the contract's columns, as a legacy
/// database has them (user_version 0).
const LEGACY_SCHEMA: &str = "
CREATE TABLE health_metrics (id INTEGER PRIMARY KEY, timestamp TEXT NOT NULL, component TEXT NOT NULL,
    metric_type TEXT NOT NULL, status TEXT NOT NULL, action_taken TEXT, details TEXT);
CREATE TABLE health_alerts (id INTEGER PRIMARY KEY, timestamp TEXT NOT NULL, severity TEXT NOT NULL,
    component TEXT NOT NULL, message TEXT NOT NULL, resolved INTEGER NOT NULL DEFAULT 0);
";

/// A legacy database with metrics and alerts: three unresolved duplicates
/// for assigner_worker (ids 1-3), one resolved (4), one open for disk (5).
fn legacy_database(path: &Path) {
    let conn = raw(path);
    conn.execute_batch(LEGACY_SCHEMA).expect("legacy schema");
    conn.execute_batch(
        "INSERT INTO health_metrics (timestamp, component, metric_type, status, action_taken, details) VALUES
            ('2024-01-01 10:00:00', 'assigner_worker', 'worker', 'unhealthy', 'restarted', 'pid 1'),
            ('2024-01-01T10:01:00.123456', 'assigner_worker', 'worker', 'recovered', NULL, NULL),
            ('2024-01-01 10:02:00', 'disk', 'disk_usage', 'healthy', NULL, '40%');
         INSERT INTO health_alerts (timestamp, severity, component, message, resolved) VALUES
            ('2024-01-01 10:00:00', 'CRITICAL', 'assigner_worker', 'down', 0),
            ('2024-01-01 10:01:00', 'CRITICAL', 'assigner_worker', 'down', 0),
            ('2024-01-01 10:02:00', 'CRITICAL', 'assigner_worker', 'down', 0),
            ('2024-01-01 09:00:00', 'WARNING', 'assigner_worker', 'slow', 1),
            ('2024-01-01 10:03:00', 'WARNING', 'disk', 'disk 90% full', 0);",
    )
    .expect("legacy rows");
}

/// Opening a path in a missing directory creates the directory (0755), the file and the schema.
#[test]
fn open_creates_directory_and_schema() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("state/healthmon/health.db");
    Store::open(&path).expect("open");
    let mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);
    let conn = raw(&path);
    assert_eq!(user_version(&conn), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 3);
    let tables = count(
        &conn,
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('health_metrics', 'health_alerts')",
    );
    assert_eq!(tables, 2);
}

/// The database is in WAL mode after open.
#[test]
fn journal_mode_is_wal() {
    let dir = TempDir::new().unwrap();
    let _store = open_store(&dir);
    let mode: String = raw(&db_path(&dir)).query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

/// Reopening an up-to-date database keeps its rows and version.
#[test]
fn reopen_keeps_rows() {
    let dir = TempDir::new().unwrap();
    open_store(&dir).record(&[worker_down(Severity::Critical)], at(T0), true).unwrap();
    let store = open_store(&dir);
    assert_eq!(store.list_metrics(None, 0).unwrap().len(), 1);
    assert_eq!(store.unresolved().unwrap().len(), 1);
}

/// The contract's metrics query, verbatim, returns the recorded rows newest first.
#[test]
fn contract_metrics_query_returns_recorded_rows() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    store
        .record(&[worker_down(Severity::Critical).with_action(ActionKind::WorkerRestarted, "restarted")], at(T0), true)
        .unwrap();
    store.record(&[worker_up()], at(T0 + 60), true).unwrap();

    let conn = raw(&db_path(&dir));
    let mut stmt = conn
        .prepare("SELECT timestamp, component, metric_type, status, action_taken FROM health_metrics ORDER BY timestamp DESC LIMIT 20;")
        .unwrap();
    let rows: Vec<(String, String, String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("2023-11-14 22:14:20".into(), "assigner_worker".into(), "worker".into(), "healthy".into(), None),
            (
                "2023-11-14 22:13:20".into(),
                "assigner_worker".into(),
                "worker".into(),
                "unhealthy".into(),
                Some("restarted".into())
            ),
        ]
    );
}

/// The contract's alerts query, verbatim, returns the open alerts and not the resolved one.
#[test]
fn contract_alerts_query_returns_open_alerts() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let disk = Finding::problem("disk:/", "disk_usage", Status::Unhealthy, Severity::Warning, "/ is 90% full", "90%");
    store.record(&[worker_down(Severity::Critical)], at(T0), true).unwrap();
    store.record(&[disk], at(T0 + 60), true).unwrap();
    store.record(&[Finding::healthy("tmux:s1", "stuck_session", "")], at(T0 + 90), true).unwrap();
    store
        .record(
            &[Finding::problem("tmux:s1", "stuck_session", Status::Unhealthy, Severity::Info, "stuck", "")],
            at(T0 + 100),
            true,
        )
        .unwrap();
    store.record(&[Finding::healthy("tmux:s1", "stuck_session", "")], at(T0 + 110), true).unwrap();

    let conn = raw(&db_path(&dir));
    let mut stmt = conn
        .prepare("SELECT timestamp, severity, component, message FROM health_alerts WHERE resolved = 0 ORDER BY timestamp DESC;")
        .unwrap();
    let rows: Vec<(String, String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("2023-11-14 22:14:20".into(), "WARNING".into(), "disk:/".into(), "/ is 90% full".into()),
            (
                "2023-11-14 22:13:20".into(),
                "CRITICAL".into(),
                "assigner_worker".into(),
                "assigner_worker is not running".into()
            ),
        ]
    );
}

/// Timestamps written from the injected clock compare correctly with `datetime('now','-1 hour')`.
#[test]
fn timestamps_compare_with_sqlite_datetime() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let now = SystemTime::now();
    store.record(&[Finding::healthy("old", "m", "")], now - Duration::from_secs(2 * 3600), true).unwrap();
    store.record(&[Finding::healthy("new", "m", "")], now - Duration::from_secs(60), true).unwrap();
    let conn = raw(&db_path(&dir));
    let recent: String = conn
        .query_row(
            "SELECT group_concat(component) FROM health_metrics WHERE timestamp > datetime('now','-1 hour')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recent, "new");
}

/// A database file that exists but is empty is migrated to the current schema.
#[test]
fn empty_file_is_migrated() {
    let dir = TempDir::new().unwrap();
    std::fs::write(db_path(&dir), b"").unwrap();
    let mut store = open_store(&dir);
    store.record(&[worker_up()], at(T0), true).unwrap();
    assert_eq!(user_version(&raw(&db_path(&dir))), SCHEMA_VERSION);
}

/// A legacy Python-monitor database is adopted: rows kept, timestamps normalised, migrated to the current schema.
#[test]
fn legacy_database_is_migrated_with_rows() {
    let dir = TempDir::new().unwrap();
    legacy_database(&db_path(&dir));
    let store = open_store(&dir);
    let conn = raw(&db_path(&dir));
    assert_eq!(user_version(&conn), SCHEMA_VERSION);
    let timestamps: String = conn
        .query_row("SELECT group_concat(timestamp, '|') FROM health_metrics ORDER BY id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(timestamps, "2024-01-01 10:00:00|2024-01-01 10:01:00|2024-01-01 10:02:00");
    assert_eq!(count(&conn, "SELECT count(*) FROM health_alerts"), 5);
    let metrics = store.list_metrics(Some("assigner_worker"), 0).unwrap();
    assert_eq!(metrics.iter().map(|m| m.status.as_str()).collect::<Vec<_>>(), ["recovered", "unhealthy"]);
    assert_eq!(metrics[1].action_taken, "restarted");
}

/// Legacy duplicate open alerts collapse to the newest per component; other rows are untouched.
#[test]
fn legacy_duplicate_alerts_collapse_to_newest() {
    let dir = TempDir::new().unwrap();
    legacy_database(&db_path(&dir));
    let store = open_store(&dir);
    let open: Vec<(i64, String, String)> =
        store.unresolved().unwrap().into_iter().map(|a| (a.id, a.component, a.kind)).collect();
    assert_eq!(open, vec![(5, "disk".into(), "legacy".into()), (3, "assigner_worker".into(), "legacy".into())]);
    let conn = raw(&db_path(&dir));
    assert_eq!(count(&conn, "SELECT count FROM health_alerts WHERE id = 3"), 3);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM health_alerts WHERE id IN (1, 2) AND resolved = 1 AND resolved_at IS NOT NULL"
        ),
        2
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM health_alerts WHERE id = 4 AND resolved = 1 AND resolved_at IS NULL"),
        1
    );
}

/// A migrated legacy alert resolves when its component is reported healthy, and only that one.
#[test]
fn legacy_alert_resolves_when_component_healthy() {
    let dir = TempDir::new().unwrap();
    legacy_database(&db_path(&dir));
    let mut store = open_store(&dir);
    let recorded = store.record(&[worker_up()], at(T0), true).unwrap();
    assert_eq!(recorded.resolved.iter().map(|a| a.id).collect::<Vec<_>>(), [3]);
    assert_eq!(store.unresolved().unwrap().iter().map(|a| a.id).collect::<Vec<_>>(), [5]);
}

/// A failing migration step rolls back whole: user_version and columns stay as before.
#[test]
fn failed_migration_rolls_back() {
    let dir = TempDir::new().unwrap();
    let path = db_path(&dir);
    // A legacy table that already has `resolved_at`: v2's fourth ALTER fails.
    raw(&path)
        .execute_batch(
            "CREATE TABLE health_alerts (id INTEGER PRIMARY KEY, timestamp TEXT NOT NULL, severity TEXT NOT NULL,
                 component TEXT NOT NULL, message TEXT NOT NULL, resolved INTEGER NOT NULL DEFAULT 0, resolved_at TEXT);
             INSERT INTO health_alerts (timestamp, severity, component, message) VALUES ('2024-01-01T10:00:00', 'WARNING', 'x', 'm');",
        )
        .unwrap();
    let err = Store::open(&path).err().expect("migration must fail");
    assert!(matches!(err, StoreError::Migrate { version: 2, .. }), "{err}");
    let conn = raw(&path);
    assert_eq!(user_version(&conn), 1, "v1 committed, v2 rolled back");
    assert_eq!(count(&conn, "SELECT count(*) FROM pragma_table_info('health_alerts') WHERE name = 'kind'"), 0);
    assert_eq!(count(&conn, "SELECT count(*) FROM health_alerts WHERE timestamp = '2024-01-01T10:00:00'"), 1);
}

/// Writes a database from a "newer healthmon" (user_version 99) in `journal_mode`.
fn future_database(path: &Path, journal_mode: &str) {
    let conn = raw(path);
    conn.pragma_update(None, "journal_mode", journal_mode).unwrap();
    conn.execute_batch("CREATE TABLE future (x); INSERT INTO future VALUES (1); PRAGMA user_version = 99;").unwrap();
}

/// Opens a too-new database and asserts the refusal and that no byte of it (or its directory) changed.
fn assert_refused_untouched(dir: &TempDir) {
    let path = db_path(dir);
    let listing = || {
        let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        names
    };
    let (before, files_before) = (std::fs::read(&path).unwrap(), listing());
    let err = Store::open(&path).err().expect("must refuse");
    assert!(matches!(err, StoreError::TooNew { found: 99, supported, .. } if supported == SCHEMA_VERSION), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "database file changed");
    assert_eq!(listing(), files_before, "files appeared or vanished next to the database");
}

/// A newer rollback-journal database is refused before WAL is set: byte-identical.
#[test]
fn newer_schema_is_refused_untouched() {
    let dir = TempDir::new().unwrap();
    future_database(&db_path(&dir), "DELETE");
    assert_refused_untouched(&dir);
}

/// A newer WAL-mode database is refused too (the read-only probe copes with WAL): byte-identical.
#[test]
fn newer_wal_schema_is_refused_untouched() {
    let dir = TempDir::new().unwrap();
    future_database(&db_path(&dir), "WAL");
    assert_refused_untouched(&dir);
}

/// A newer version left in the WAL by a crashed writer is refused, and the WAL is not checkpointed into the file.
#[test]
fn newer_version_still_in_wal_is_refused() {
    let live = TempDir::new().unwrap();
    let writer = raw(&db_path(&live));
    writer.pragma_update(None, "journal_mode", "WAL").unwrap();
    writer.execute_batch("PRAGMA wal_autocheckpoint = 0; CREATE TABLE future (x); PRAGMA user_version = 99;").unwrap();
    // A copy of the files while the writer still has them open is what a crash leaves.
    let crashed = TempDir::new().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let name = format!("health.db{suffix}");
        std::fs::copy(live.path().join(&name), crashed.path().join(&name)).expect(&name);
    }
    drop(writer);
    let path = db_path(&crashed);
    let before = std::fs::read(&path).unwrap();
    assert_eq!(&before[60..64], &[0, 0, 0, 0], "the version must still be only in the WAL for this test");
    let err = Store::open(&path).err().expect("must refuse");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "database file changed");
}

/// A file that is not a database is an open error naming the path, and is left alone.
#[test]
fn garbage_file_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = db_path(&dir);
    let garbage = vec![0x5a_u8; 4096];
    std::fs::write(&path, &garbage).unwrap();
    let err = Store::open(&path).err().expect("must refuse");
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

/// An ongoing problem across several record() calls is one alert row, counted and updated.
#[test]
fn ongoing_problem_is_one_alert() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let first = store.record(&[worker_down(Severity::Critical)], at(T0), true).unwrap();
    let second = store.record(&[worker_down(Severity::Critical)], at(T0 + 60), true).unwrap();
    let third = store.record(&[worker_down(Severity::Critical)], at(T0 + 120), true).unwrap();
    assert_eq!(first.raised.len(), 1);
    assert_eq!((second.raised.len(), third.raised.len()), (0, 0));
    let conn = raw(&db_path(&dir));
    assert_eq!(count(&conn, "SELECT count(*) FROM health_alerts"), 1);
    let (count_col, last_seen): (i64, String) =
        conn.query_row("SELECT count, last_seen FROM health_alerts", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((count_col, last_seen.as_str()), (3, "2023-11-14 22:15:20"));
    assert_eq!(first.raised[0].raised_at, T0 as i64);
}

/// A healthy finding resolves the open alert and stamps resolved_at.
#[test]
fn healthy_finding_resolves_alert() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let raised = store.record(&[worker_down(Severity::Critical)], at(T0), true).unwrap().raised;
    let recorded = store.record(&[worker_up()], at(T0 + 60), true).unwrap();
    assert_eq!(recorded.resolved.len(), 1);
    assert_eq!((recorded.resolved[0].id, recorded.resolved[0].resolved), (raised[0].id, true));
    let resolved_at: String =
        raw(&db_path(&dir)).query_row("SELECT resolved_at FROM health_alerts", [], |r| r.get(0)).unwrap();
    assert_eq!(resolved_at, "2023-11-14 22:14:20");
    assert!(store.unresolved().unwrap().is_empty());
}

/// A problem that returns after being resolved opens a new alert row.
#[test]
fn returning_problem_opens_new_alert() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let first = store.record(&[worker_down(Severity::Critical)], at(T0), true).unwrap().raised;
    store.record(&[worker_up()], at(T0 + 60), true).unwrap();
    let again = store.record(&[worker_down(Severity::Critical)], at(T0 + 120), true).unwrap().raised;
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].id, first[0].id);
    let all = store.list_alerts(false, 0).unwrap();
    assert_eq!(all.iter().map(|a| (a.id, a.resolved)).collect::<Vec<_>>(), [(again[0].id, false), (first[0].id, true)]);
}

/// A higher severity is reported as an escalation and stored; a lower one is stored silently.
#[test]
fn severity_changes_update_the_alert() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    store.record(&[worker_down(Severity::Warning)], at(T0), true).unwrap();
    let up = store.record(&[worker_down(Severity::Critical)], at(T0 + 60), true).unwrap();
    assert_eq!(up.escalated.iter().map(|a| a.severity).collect::<Vec<_>>(), [Severity::Critical]);
    assert_eq!(store.unresolved().unwrap()[0].severity, Severity::Critical);
    let down = store.record(&[worker_down(Severity::Warning)], at(T0 + 120), true).unwrap();
    assert_eq!(down, Default::default());
    assert_eq!(store.unresolved().unwrap()[0].severity, Severity::Warning);
}

/// The partial unique index rejects a second open alert for a pair but allows resolved ones.
#[test]
fn unique_index_allows_one_open_alert_per_pair() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    store.record(&[worker_down(Severity::Critical)], at(T0), true).unwrap();
    let conn = raw(&db_path(&dir));
    let insert = "INSERT INTO health_alerts (timestamp, severity, component, kind, message, resolved)
                  VALUES ('2024-01-01 00:00:00', 'CRITICAL', 'assigner_worker', 'worker', 'dup', ?1)";
    let err = conn.execute(insert, [0]).expect_err("second open alert must be rejected");
    assert_eq!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::ConstraintViolation), "{err}");
    for _ in 0..2 {
        conn.execute(insert, [1]).expect("resolved duplicates are fine");
    }
    assert_eq!(count(&conn, "SELECT count(*) FROM health_alerts WHERE resolved = 0"), 1);
}

/// Pruning deletes exactly the metric rows older than the cut-off and never alerts.
#[test]
fn prune_deletes_only_old_metrics() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let day = 86_400;
    store.record(&[worker_down(Severity::Critical)], at(T0 - 10 * day), true).unwrap();
    store.record(&[Finding::healthy("a", "m", "old")], at(T0 - 3 * day), true).unwrap();
    store.record(&[Finding::healthy("b", "m", "at cut-off")], at(T0 - 2 * day), true).unwrap();
    store.record(&[Finding::healthy("c", "m", "new")], at(T0), true).unwrap();
    assert_eq!(store.prune(at(T0 - 2 * day)).unwrap(), 2);
    let left: Vec<String> = store.list_metrics(None, 0).unwrap().into_iter().map(|m| m.component).collect();
    assert_eq!(left, ["c", "b"]);
    assert_eq!(store.unresolved().unwrap().len(), 1, "the 10-day-old open alert stays");
}

/// With alerts = false metrics are written but no alert is raised, updated or resolved.
#[test]
fn record_without_alerts_touches_no_alert() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    store.record(&[worker_down(Severity::Warning)], at(T0), true).unwrap();
    let disk = Finding::problem("disk:/", "disk_usage", Status::Unhealthy, Severity::Critical, "full", "");
    let recorded = store.record(&[worker_down(Severity::Critical), disk], at(T0 + 60), false).unwrap();
    let resolved = store.record(&[worker_up()], at(T0 + 120), false).unwrap();
    assert_eq!((recorded, resolved), (Default::default(), Default::default()));
    assert_eq!(store.list_metrics(None, 0).unwrap().len(), 4);
    let conn = raw(&db_path(&dir));
    let row: (i64, String, i64, i64) = conn
        .query_row("SELECT count(*), max(severity), max(count), max(resolved) FROM health_alerts", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!(row, (1, "WARNING".into(), 1, 0));
}

/// resolve_alert closes only the given open alert, once.
#[test]
fn resolve_alert_by_id() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let disk = Finding::problem("disk:/", "disk_usage", Status::Unhealthy, Severity::Warning, "full", "");
    let raised = store.record(&[worker_down(Severity::Critical), disk], at(T0), true).unwrap().raised;
    let row = store.resolve_alert(raised[0].id, at(T0 + 5)).unwrap().expect("was open");
    assert_eq!((row.id, row.resolved, row.component.as_str()), (raised[0].id, true, "assigner_worker"));
    assert_eq!(store.resolve_alert(raised[0].id, at(T0 + 6)).unwrap(), None, "already resolved");
    assert_eq!(store.resolve_alert(9999, at(T0 + 6)).unwrap(), None, "no such id");
    assert_eq!(store.unresolved().unwrap().iter().map(|a| a.id).collect::<Vec<_>>(), [raised[1].id]);
}

/// list_metrics filters by component, returns newest first and caps limit 0 at 100.
#[test]
fn list_metrics_filters_orders_and_limits() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let batch: Vec<Finding> = (0..150).map(|i| Finding::healthy("disk:/", "disk_usage", format!("{i}"))).collect();
    store.record(&batch, at(T0), true).unwrap();
    store.record(&[Finding::healthy("w1", "worker", "later")], at(T0 + 1), true).unwrap();
    assert_eq!(store.list_metrics(None, 0).unwrap().len(), 100);
    assert_eq!(store.list_metrics(Some(""), 0).unwrap()[0].component, "w1", "\"\" means all, newest first");
    let disk = store.list_metrics(Some("disk:/"), 3).unwrap();
    assert_eq!(disk.iter().map(|m| m.details.as_str()).collect::<Vec<_>>(), ["149", "148", "147"]);
    assert_eq!(disk[0].unix_time, T0 as i64);
    assert!(store.list_metrics(Some("nope"), 0).unwrap().is_empty());
}

/// list_alerts is newest first, honours limit and the unresolved filter.
#[test]
fn list_alerts_orders_and_filters() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    for (i, name) in ["w1", "w2", "w3"].iter().enumerate() {
        let f = Finding::problem(*name, "worker", Status::Unhealthy, Severity::Warning, "down", "");
        store.record(&[f], at(T0 + i as u64), true).unwrap();
    }
    store.record(&[Finding::healthy("w3", "worker", "")], at(T0 + 10), true).unwrap();
    let names = |rows: Vec<healthmon::store::AlertRow>| rows.into_iter().map(|a| a.component).collect::<Vec<_>>();
    assert_eq!(names(store.list_alerts(false, 0).unwrap()), ["w3", "w2", "w1"]);
    assert_eq!(names(store.list_alerts(true, 0).unwrap()), ["w2", "w1"]);
    assert_eq!(names(store.list_alerts(false, 1).unwrap()), ["w3"]);
}

/// A write lock held briefly by another connection (e.g. sqlite3) makes record() wait, not fail.
#[test]
fn record_waits_for_another_writer() {
    let dir = TempDir::new().unwrap();
    let mut store = open_store(&dir);
    let other = raw(&db_path(&dir));
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    let started = std::time::Instant::now();
    store.record(&[worker_up()], at(T0), true).expect("record must wait for the lock, not fail");
    assert!(started.elapsed() >= Duration::from_millis(200), "record did not wait: {:?}", started.elapsed());
    holder.join().unwrap();
    assert_eq!(store.list_metrics(None, 0).unwrap().len(), 1);
}

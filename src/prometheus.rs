//! The node_exporter textfile-collector export: a `.prom` file rewritten
//! atomically (temp file in the same directory, fsync, rename) after every
//! cycle, so the collector never reads half a file.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::task::JoinHandle;

use crate::checks::disk;
use crate::config::Settings;
use crate::engine::{Counters, Engine};
use crate::model::{HostState, Severity};

/// Everything the export shows, gathered by the caller after a cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub state: HostState,
    pub workers_healthy: u32,
    pub workers_total: u32,
    /// (path, used percent) per configured disk path.
    pub disk_used_percent: Vec<(String, f64)>,
    /// Unresolved alerts per severity (all three severities present).
    pub unresolved: Vec<(Severity, u32)>,
    pub counters: Counters,
    /// Unix time of the last finished cycle.
    pub last_check: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("failed to write {path}: {source}")]
pub struct ExportError {
    path: PathBuf,
    source: std::io::Error,
}

/// The exposition text (format 0.0.4).
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    gauge(&mut out, "healthmon_state", "Host state: 0 healthy, 1 degraded, 2 critical.", &[(String::new(), s.state.exit_code() as f64)]);
    gauge(&mut out, "healthmon_workers_healthy", "Workers currently healthy.", &[(String::new(), s.workers_healthy as f64)]);
    gauge(&mut out, "healthmon_workers_configured", "Workers configured.", &[(String::new(), s.workers_total as f64)]);
    let disk: Vec<(String, f64)> =
        s.disk_used_percent.iter().map(|(path, pct)| (format!("{{path=\"{}\"}}", escape(path)), *pct)).collect();
    gauge(&mut out, "healthmon_disk_used_percent", "Used space of each checked filesystem, in percent.", &disk);
    let alerts: Vec<(String, f64)> =
        s.unresolved.iter().map(|(sev, n)| (format!("{{severity=\"{}\"}}", sev.as_str()), *n as f64)).collect();
    gauge(&mut out, "healthmon_alerts_unresolved", "Unresolved alerts by severity.", &alerts);
    gauge(&mut out, "healthmon_last_check_timestamp_seconds", "Unix time of the last finished check cycle.", &[(String::new(), s.last_check as f64)]);
    let c = &s.counters;
    counter(&mut out, "healthmon_checks_run_total", "Check cycles run since start.", c.checks_run);
    counter(&mut out, "healthmon_workers_restarted_total", "Worker restarts since start.", c.workers_restarted);
    counter(&mut out, "healthmon_sessions_cleared_total", "Stuck tmux sessions cleared since start.", c.sessions_cleared);
    counter(&mut out, "healthmon_locks_cleared_total", "Stale SQLite locks cleared since start.", c.locks_cleared);
    counter(&mut out, "healthmon_disk_cleanups_total", "Disk cleanups that freed space since start.", c.disk_cleanups);
    counter(&mut out, "healthmon_alerts_total", "Alerts raised since start.", c.alerts_sent);
    out
}

fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Writes `text` to `path` atomically: a temp file in the same directory
/// (so the rename stays on one filesystem), fsync, rename, mode 0644.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ExportError> {
    let err = |source| ExportError { path: path.to_path_buf(), source };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // A leading dot keeps node_exporter (which reads *.prom) off the temp file.
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Set while an export runs: a statvfs or write stuck on a hung filesystem
/// (a dead mount among `disk.paths` or under the textfile's directory)
/// holds one export, and later ones are skipped instead of piling up.
static EXPORT_IN_FLIGHT: AtomicBool = AtomicBool::new(false);

/// Starts writing the export in the background after a cycle, if
/// `[prometheus]` is configured, and returns its task (the daemon does not
/// wait for it; `--once` waits a bounded time). `workers` is (healthy,
/// total). A failure is logged, never fatal: the export is a view, not part
/// of the cycle. None when off, or while an earlier export is still stuck.
pub fn export(settings: &Settings, engine: &Engine, state: HostState, workers: (u32, u32)) -> Option<JoinHandle<()>> {
    let prom = settings.prometheus.as_ref()?;
    if EXPORT_IN_FLIGHT.swap(true, Ordering::AcqRel) {
        log::warn!("prometheus export: the previous export is still stuck (a hung filesystem?); skipping this one");
        return None;
    }
    let paths = settings.disk.paths.clone();
    let store = engine.store().clone();
    let (counters, last_check) = (engine.counters().clone(), engine.last_check().map(unix_seconds).unwrap_or(0));
    let path = prom.textfile.clone();
    Some(tokio::spawn(async move {
        let disk_used_percent = tokio::task::spawn_blocking(move || {
            paths.iter().filter_map(|p| disk::used_percent(p).map(|pct| (p.display().to_string(), pct))).collect()
        })
        .await
        .unwrap_or_default();
        let unresolved = store.call(|s| s.unresolved()).await.unwrap_or_default();
        let count = |sev: Severity| unresolved.iter().filter(|a| a.severity == sev).count() as u32;
        let snapshot = Snapshot {
            state,
            workers_healthy: workers.0,
            workers_total: workers.1,
            disk_used_percent,
            unresolved: [Severity::Critical, Severity::Warning, Severity::Info].into_iter().map(|s| (s, count(s))).collect(),
            counters,
            last_check,
        };
        let text = render(&snapshot);
        match tokio::task::spawn_blocking(move || write_atomic(&path, &text)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => log::warn!("prometheus export: {err}"),
            Err(err) => log::warn!("prometheus export task failed: {err}"),
        }
        EXPORT_IN_FLIGHT.store(false, Ordering::Release);
    }))
}

fn unix_seconds(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

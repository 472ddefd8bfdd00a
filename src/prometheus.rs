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
use crate::checks::disk_trend::FORECAST;
use crate::config::Settings;
use crate::engine::{Counters, Engine};
use crate::model::{HostState, Severity};
use crate::store::StoreHandle;

/// Everything the export shows, gathered by the caller after a cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub state: HostState,
    pub workers_healthy: u32,
    pub workers_total: u32,
    /// (worker, state) per worker, e.g. `stopped` for one an administrator stopped.
    pub worker_states: Vec<(String, String)>,
    /// Workers whose restart budget ran out (state `given-up`).
    pub workers_given_up: u32,
    /// (path, used percent) per configured disk path.
    pub disk_used_percent: Vec<(String, f64)>,
    /// (path, seconds until full at the current trend) per disk path whose
    /// usage is growing; a path with no forecast is left out.
    pub disk_full_in_seconds: Vec<(String, f64)>,
    /// Unresolved alerts per severity (all three severities present).
    pub unresolved: Vec<(Severity, u32)>,
    pub counters: Counters,
    /// Unix time of the last finished cycle.
    pub last_check: i64,
    /// Per running worker: (name, resident memory bytes, CPU µs).
    pub worker_usage: Vec<(String, u64, u64)>,
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
    gauge(
        &mut out,
        "healthmon_state",
        "Host state: 0 healthy, 1 degraded, 2 critical.",
        &[(String::new(), s.state.exit_code() as f64)],
    );
    gauge(
        &mut out,
        "healthmon_workers_healthy",
        "Workers currently healthy.",
        &[(String::new(), s.workers_healthy as f64)],
    );
    gauge(&mut out, "healthmon_workers_configured", "Workers configured.", &[(String::new(), s.workers_total as f64)]);
    let states: Vec<(String, f64)> = s
        .worker_states
        .iter()
        .map(|(name, state)| (format!("{{worker=\"{}\",state=\"{}\"}}", escape(name), escape(state)), 1.0))
        .collect();
    gauge(
        &mut out,
        "healthmon_worker_state",
        "Each worker's state as a label (1 per worker); `stopped` = stopped by an administrator.",
        &states,
    );
    gauge(
        &mut out,
        "healthmon_workers_given_up",
        "Workers whose restart budget ran out.",
        &[(String::new(), s.workers_given_up as f64)],
    );
    let disk: Vec<(String, f64)> =
        s.disk_used_percent.iter().map(|(path, pct)| (format!("{{path=\"{}\"}}", escape(path)), *pct)).collect();
    gauge(&mut out, "healthmon_disk_used_percent", "Used space of each checked filesystem, in percent.", &disk);
    disk_forecast(&mut out, &s.disk_full_in_seconds);
    let alerts: Vec<(String, f64)> =
        s.unresolved.iter().map(|(sev, n)| (format!("{{severity=\"{}\"}}", sev.as_str()), *n as f64)).collect();
    gauge(&mut out, "healthmon_alerts_unresolved", "Unresolved alerts by severity.", &alerts);
    gauge(
        &mut out,
        "healthmon_last_check_timestamp_seconds",
        "Unix time of the last finished check cycle.",
        &[(String::new(), s.last_check as f64)],
    );
    let memory: Vec<(String, f64)> =
        s.worker_usage.iter().map(|(w, bytes, _)| (format!("{{worker=\"{}\"}}", escape(w)), *bytes as f64)).collect();
    gauge(&mut out, "healthmon_worker_memory_bytes", "Resident memory of each worker's processes.", &memory);
    let _ = writeln!(
        out,
        "# HELP healthmon_worker_cpu_seconds_total CPU time used by each worker's processes.\n\
         # TYPE healthmon_worker_cpu_seconds_total counter"
    );
    for (w, _, usec) in &s.worker_usage {
        let _ = writeln!(out, "healthmon_worker_cpu_seconds_total{{worker=\"{}\"}} {}", escape(w), *usec as f64 / 1e6);
    }
    let c = &s.counters;
    counter(&mut out, "healthmon_checks_run_total", "Check cycles run since start.", c.checks_run);
    counter(&mut out, "healthmon_workers_restarted_total", "Worker restarts since start.", c.workers_restarted);
    counter(
        &mut out,
        "healthmon_sessions_cleared_total",
        "Stuck tmux sessions cleared since start.",
        c.sessions_cleared,
    );
    counter(&mut out, "healthmon_locks_cleared_total", "Stale SQLite locks cleared since start.", c.locks_cleared);
    counter(&mut out, "healthmon_disk_cleanups_total", "Disk cleanups that freed space since start.", c.disk_cleanups);
    counter(&mut out, "healthmon_alerts_total", "Alerts raised since start.", c.alerts_sent);
    out
}

/// `healthmon_disk_full_in_seconds`, kept in its own function (the forecast's part of the export).
fn disk_forecast(out: &mut String, full_in: &[(String, f64)]) {
    let samples: Vec<(String, f64)> =
        full_in.iter().map(|(path, secs)| (format!("{{path=\"{}\"}}", escape(path)), *secs)).collect();
    let help = "Seconds until the filesystem is full at the trend over predict_window (only while it grows).";
    gauge(out, "healthmon_disk_full_in_seconds", help, &samples);
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

/// How the workers stand after a cycle, for the export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerCounts {
    pub healthy: u32,
    pub total: u32,
    pub given_up: u32,
    /// Per running worker: name, memory bytes, CPU µs.
    pub usage: Vec<(String, u64, u64)>,
}

/// Set while an export runs: a statvfs or write stuck on a hung filesystem
/// (a dead mount among `disk.paths` or under the textfile's directory)
/// holds one export, and later ones are skipped instead of piling up.
static EXPORT_IN_FLIGHT: AtomicBool = AtomicBool::new(false);

/// Starts writing the export in the background after a cycle, if
/// `[prometheus]` is configured, and returns its task (the daemon does not
/// wait for it; `--once` waits a bounded time). `worker_states` is (worker,
/// state) where known. A failure is logged, never fatal: the export is a
/// view, not part of the cycle. None when off, or while an earlier export
/// is still stuck.
pub fn export(
    settings: &Settings,
    engine: &Engine,
    state: HostState,
    workers: WorkerCounts,
    worker_states: Vec<(String, String)>,
) -> Option<JoinHandle<()>> {
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
        let disk_full_in_seconds = full_in_seconds(&paths, &store).await;
        let disk_used_percent = tokio::task::spawn_blocking(move || {
            paths.iter().filter_map(|p| disk::used_percent(p).map(|pct| (p.display().to_string(), pct))).collect()
        })
        .await
        .unwrap_or_default();
        let unresolved = store.call(|s| s.unresolved()).await.unwrap_or_default();
        let count = |sev: Severity| unresolved.iter().filter(|a| a.severity == sev).count() as u32;
        let snapshot = Snapshot {
            state,
            workers_healthy: workers.healthy,
            workers_total: workers.total,
            workers_given_up: workers.given_up,
            worker_usage: workers.usage,
            worker_states,
            disk_used_percent,
            disk_full_in_seconds,
            unresolved: [Severity::Critical, Severity::Warning, Severity::Info]
                .into_iter()
                .map(|s| (s, count(s)))
                .collect(),
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

/// The latest forecast of each disk path, from the `disk_forecast` rows' values.
async fn full_in_seconds(paths: &[PathBuf], store: &StoreHandle) -> Vec<(String, f64)> {
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let components: Vec<String> = paths.iter().map(|p| format!("disk:{p}")).collect();
    let latest = store.call(move |s| s.latest_values(&components, FORECAST)).await;
    let latest = latest.unwrap_or_else(|err| {
        log::warn!("prometheus export: cannot read the disk forecasts: {err}");
        Vec::new()
    });
    paths.into_iter().zip(latest).filter_map(|(path, (_, secs))| Some((path, secs? as f64))).collect()
}

fn unix_seconds(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// Reads a label value back the way Prometheus' text parser does.
    fn unescape(escaped: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = escaped.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next()? {
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'n' => out.push('\n'),
                    _ => return None,
                },
                '"' | '\n' => return None,
                c => out.push(c),
            }
        }
        Some(out)
    }

    proptest! {
        /// Any label value survives escaping: no raw quote or newline ends
        /// the label early, and the parser reads back the original.
        #[test]
        fn escaped_label_reads_back(value in any::<String>()) {
            prop_assert_eq!(unescape(&escape(&value)), Some(value));
        }
    }
}

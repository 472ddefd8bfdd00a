//! The textfile export: valid for promtool, written atomically.

use std::process::Command;

use healthmon::engine::Counters;
use healthmon::model::{HostState, Severity};
use healthmon::prometheus::{render, write_atomic, Snapshot};

fn snapshot(checks_run: u64) -> Snapshot {
    Snapshot {
        state: HostState::Degraded,
        workers_healthy: 2,
        workers_total: 3,
        disk_used_percent: vec![("/".into(), 42.5), ("/srv/with \"quote\"".into(), 96.0)],
        unresolved: vec![(Severity::Critical, 1), (Severity::Warning, 2), (Severity::Info, 0)],
        counters: Counters { checks_run, workers_restarted: 4, sessions_cleared: 1, locks_cleared: 0, disk_cleanups: 2, alerts_sent: 5 },
        last_check: 1_700_000_000,
        worker_usage: vec![("api".into(), 52_428_800, 1_500_000)],
    }
}

fn promtool_check(path: &std::path::Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(path).unwrap())
        .output()
        .expect("promtool is missing: install the Debian package `prometheus` (scripts/test-deps does)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// promtool accepts the rendered file without complaints, labels escaped.
#[test]
fn promtool_accepts_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("healthmon.prom");
    write_atomic(&path, &render(&snapshot(3))).unwrap();
    let (ok, output) = promtool_check(&path);
    assert!(ok && output.trim().is_empty(), "promtool complained:\n{output}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("healthmon_checks_run_total 3\n"));
    assert!(text.contains("healthmon_disk_used_percent{path=\"/srv/with \\\"quote\\\"\"} 96\n"));
    assert!(text.contains("healthmon_alerts_unresolved{severity=\"CRITICAL\"} 1\n"));
    assert!(text.contains("healthmon_state 1\n"));
    assert!(text.contains("healthmon_worker_memory_bytes{worker=\"api\"} 52428800\n"), "{text}");
    assert!(text.contains("healthmon_worker_cpu_seconds_total{worker=\"api\"} 1.5\n"), "{text}");
}

/// The write replaces the file by rename and leaves no temp file behind.
#[test]
fn write_is_atomic_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("healthmon.prom");
    std::fs::write(&path, "old").unwrap();
    let ino_before = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
    write_atomic(&path, &render(&snapshot(1))).unwrap();
    let ino_after = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
    assert_ne!(ino_before, ino_after, "the file must be replaced by rename, not rewritten in place");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("healthmon.prom")]);
}

/// A missing directory is an error naming the path, not a panic.
#[test]
fn missing_directory_is_a_clear_error() {
    let err = write_atomic(std::path::Path::new("/nonexistent-dir/x.prom"), "x").unwrap_err();
    assert!(err.to_string().contains("/nonexistent-dir/x.prom"), "{err}");
}

/// After real engine cycles the exported counters grow, and the file
/// stays valid for promtool.
#[tokio::test]
async fn counters_grow_across_cycles() {
    use healthmon::config::{embedded_defaults, PrometheusSettings};
    use healthmon::engine::Engine;
    use healthmon::journal::Journal;
    use healthmon::store::{Store, StoreHandle};

    let dir = tempfile::tempdir().unwrap();
    let textfile = dir.path().join("healthmon.prom");
    let mut settings = embedded_defaults();
    settings.monitor.database = dir.path().join("health.db");
    settings.disk.paths = vec![dir.path().to_path_buf()];
    settings.prometheus = Some(PrometheusSettings { textfile: textfile.clone() });
    let store = StoreHandle::new(Store::open(&settings.monitor.database).unwrap());
    let mut engine = Engine::new(&settings, store, std::sync::Arc::new(Journal::stderr()), false);

    let mut seen = Vec::new();
    for _ in 0..2 {
        let summary = engine.run_cycle(Vec::new()).await;
        healthmon::prometheus::export(&settings, &engine, summary.state, (0, 0), Vec::new()).await;
        let (ok, output) = promtool_check(&textfile);
        assert!(ok && output.trim().is_empty(), "promtool complained:\n{output}");
        let text = std::fs::read_to_string(&textfile).unwrap();
        let line = text.lines().find(|l| l.starts_with("healthmon_checks_run_total ")).unwrap().to_string();
        assert!(text.contains(&format!("healthmon_disk_used_percent{{path=\"{}\"}}", dir.path().display())), "{text}");
        seen.push(line);
    }
    assert_eq!(seen, vec!["healthmon_checks_run_total 1", "healthmon_checks_run_total 2"]);
}

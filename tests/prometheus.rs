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
        worker_states: vec![("w1".into(), "running".into()), ("w2".into(), "stopped".into())],
        workers_given_up: 1,
        disk_used_percent: vec![("/".into(), 42.5), ("/srv/with \"quote\"".into(), 96.0)],
        disk_full_in_seconds: vec![("/".into(), 25_200.0)],
        unresolved: vec![(Severity::Critical, 1), (Severity::Warning, 2), (Severity::Info, 0)],
        counters: Counters {
            checks_run,
            workers_restarted: 4,
            sessions_cleared: 1,
            locks_cleared: 0,
            disk_cleanups: 2,
            alerts_sent: 5,
        },
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
    assert!(text.contains("healthmon_worker_state{worker=\"w2\",state=\"stopped\"} 1\n"), "{text}");
    assert!(text.contains("healthmon_disk_used_percent{path=\"/srv/with \\\"quote\\\"\"} 96\n"));
    assert!(text.contains("healthmon_alerts_unresolved{severity=\"CRITICAL\"} 1\n"));
    assert!(text.contains("healthmon_state 1\n"));
    assert!(text.contains("healthmon_disk_full_in_seconds{path=\"/\"} 25200\n"), "{text}");
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
        let export = healthmon::prometheus::export(&settings, &engine, summary.state, Default::default(), Vec::new());
        export.expect("the export starts").await.expect("the export task ends");
        let (ok, output) = promtool_check(&textfile);
        assert!(ok && output.trim().is_empty(), "promtool complained:\n{output}");
        let text = std::fs::read_to_string(&textfile).unwrap();
        let line = text.lines().find(|l| l.starts_with("healthmon_checks_run_total ")).unwrap().to_string();
        assert!(text.contains(&format!("healthmon_disk_used_percent{{path=\"{}\"}}", dir.path().display())), "{text}");
        seen.push(line);
    }
    assert_eq!(seen, vec!["healthmon_checks_run_total 1", "healthmon_checks_run_total 2"]);
}

/// The shipped alerting rules pass `promtool check rules`.
#[test]
fn shipped_rules_pass_promtool() {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/prometheus/healthmon.rules.yml");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool is missing: install the Debian package `prometheus` (scripts/test-deps does)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("SUCCESS: 6 rules found"), "{text}");
}

/// Every `healthmon_*` name in `text`.
fn healthmon_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("healthmon_") {
        let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// The metric names a real `healthmon --once` writes to its textfile.
fn exported_names() -> std::collections::BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let textfile = dir.path().join("healthmon.prom");
    let config = dir.path().join("healthmon.toml");
    let text = format!(
        "[monitor]\ndatabase = \"{}\"\n[disk]\npaths = [\"{}\"]\n[prometheus]\ntextfile = \"{}\"\n",
        dir.path().join("health.db").display(),
        dir.path().display(),
        textfile.display()
    );
    std::fs::write(&config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_healthmon")).args(["--once", "--config"]).arg(&config).output().unwrap();
    assert!(out.status.code().is_some(), "{out:?}");
    let written = std::fs::read_to_string(&textfile).expect("the daemon wrote its textfile");
    written
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(String::from)
        .collect()
}

/// The shipped dashboard is valid JSON whose queries name only metrics a
/// real textfile written by healthmon has; the rules likewise, but for the
/// disk forecast, which only a configured `predict_horizon` writes.
#[test]
fn dashboard_and_rules_name_only_exported_metrics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("dist/grafana/healthmon.json")).unwrap())
            .expect("dashboard is valid JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let exported = exported_names();
    assert!(exported.contains("healthmon_workers_given_up"), "{exported:?}");
    let used = healthmon_names(&exprs.join("\n"));
    assert!(used.len() >= 10, "{used:?}");
    let unknown: Vec<_> = used.difference(&exported).collect();
    assert!(unknown.is_empty(), "the dashboard names metrics the export does not write: {unknown:?}");

    let rules = std::fs::read_to_string(root.join("dist/prometheus/healthmon.rules.yml")).unwrap();
    let in_rules = healthmon_names(&rules);
    let unknown: Vec<_> =
        in_rules.difference(&exported).filter(|n| n.as_str() != "healthmon_disk_full_in_seconds").collect();
    assert!(unknown.is_empty(), "the rules name metrics the export does not write: {unknown:?}");
}

/// Every `expr` string anywhere in the dashboard (panel targets, templating).
fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "query" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

//! Golden outputs of every human view (status, workers, alerts, metrics,
//! the `--once` report, run-once) on fixed data, at 80 and 200 columns,
//! plain (as with NO_COLOR), times in UTC. The goldens live in
//! tests/golden/; `UPDATE_GOLDEN=1 cargo test --test views` rewrites them
//! (then read the diff). Every line fits the width, except the plugin
//! line, whose perfdata monitoring tools read whole.

use std::path::PathBuf;
use std::time::Duration;

use healthmon::client::{self, WorkerRow};
use healthmon::dbus::{AlertEntry, CycleDict, MetricEntry, StatusDict, WorkerEntry};
use healthmon::engine::{Counters, CycleSummary, Section};
use healthmon::model::{ActionKind, Finding, HostState, Severity, Status};
use healthmon::report;
use healthmon::table::View;

/// "Now" in every golden: 2026-12-03 10:30:00 UTC.
const NOW: i64 = 1_796_293_800;
const WIDTHS: [usize; 2] = [80, 200];

fn status() -> StatusDict {
    StatusDict {
        version: "0.2.0".into(),
        state: "critical".into(),
        uptime_sec: 2 * 86_400 + 3 * 3600 + 120,
        checks_run: 3123,
        last_check: NOW - 12,
        workers_total: 3,
        workers_healthy: 1,
        workers_restarted: 4,
        sessions_cleared: 1,
        locks_cleared: 0,
        disk_cleanups: 2,
        alerts_sent: 9,
        unresolved_alerts: 2,
        dry_run: false,
        state_problem: String::new(),
        disk_forecast: None,
    }
}

fn workers() -> Vec<WorkerEntry> {
    let w = |name: &str, state: &str, pid: u32, restarts: u64| WorkerEntry {
        name: name.into(),
        state: state.into(),
        pid,
        restarts,
        detail: String::new(),
    };
    vec![
        w("assigner_worker", "running", 4211, 2),
        w("ghost", "given-up", 0, 5),
        w("task_worker_with_a_rather_long_name", "restarting", 0, 1),
    ]
}

fn alerts() -> Vec<AlertEntry> {
    vec![
        AlertEntry {
            id: 42,
            time: NOW - 185,
            severity: "CRITICAL".into(),
            component: "ghost".into(),
            message: "gave up after 5 restarts in 10 min (last: cannot start /opt/ghost/bin/ghostd: \
                      No such file or directory)"
                .into(),
            resolved: false,
        },
        AlertEntry {
            id: 7,
            time: NOW - 2 * 86_400,
            severity: "WARNING".into(),
            component: "disk:/".into(),
            message: "/ is 91.3% full (warning at 85%)".into(),
            resolved: false,
        },
    ]
}

fn metrics() -> Vec<MetricEntry> {
    let m = |ago: i64, component: &str, metric: &str, status: &str, action: &str, details: &str| MetricEntry {
        time: NOW - ago,
        component: component.into(),
        metric_type: metric.into(),
        status: status.into(),
        action_taken: action.into(),
        details: details.into(),
    };
    vec![
        m(12, "disk:/", "disk_usage", "unhealthy", "", "used 91.3% (1.7 GiB free of 20 GiB)"),
        m(
            12,
            "disk:/",
            "disk_cleanup",
            "recovered",
            "deleted 1 file (12 KiB) from /var/log/architect",
            "deleted 1 file (12 KiB) from /var/log/architect",
        ),
        m(75, "ghost", "worker_status", "unhealthy", "", "state given-up, cannot start"),
    ]
}

fn summary() -> CycleSummary {
    let disk = Finding::problem(
        "disk:/",
        "disk_usage",
        Status::Unhealthy,
        Severity::Warning,
        "/ is 91.3% full (warning at 85%)",
        "used 91.3%",
    );
    let cleanup = Finding::healthy("disk:/", "disk_cleanup", "deleted 1 file (12 KiB) from /var/log/architect")
        .with_action(ActionKind::DiskCleanup, "deleted 1 file (12 KiB) from /var/log/architect");
    let session = Finding::healthy("tmux:worker-1", "stuck_session", "id $1, idle 3 min 5 s, no task in progress");
    CycleSummary {
        state: HostState::Critical,
        duration: Duration::from_millis(37),
        workers_restarted: 0,
        sessions_cleared: 0,
        locks_cleared: 0,
        disk_cleanups: 1,
        actions: vec!["disk:/: deleted 1 file (12 KiB) from /var/log/architect".into()],
        sections: vec![
            Section { check: "disk".into(), findings: vec![disk, cleanup] },
            Section { check: "sessions".into(), findings: vec![session] },
        ],
        raised: Vec::new(),
        resolved: Vec::new(),
        held: Vec::new(),
    }
}

fn golden_path(name: &str, width: usize) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.{width}.txt"))
}

/// Compares `text` with its golden (or writes it with UPDATE_GOLDEN=1)
/// and checks that every line but the plugin line fits `width`.
fn check(name: &str, width: usize, text: &str) {
    for line in text.lines().filter(|l| !l.starts_with("HEALTHMON ")) {
        assert!(line.chars().count() <= width, "{name} at {width}: {} columns: {line:?}", line.chars().count());
    }
    let path = golden_path(name, width);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(text, golden, "{name} at {width} differs from {}", path.display());
}

/// `healthctl status`: the plugin line, aligned facts, the tables.
#[test]
fn status_golden() {
    let disks = [("disk:/".to_string(), 91.3), ("disk:/var".to_string(), 40.0)];
    for width in WIDTHS {
        let text = client::status_text(&status(), &workers(), &alerts(), &disks, &View::fixed(width, NOW));
        check("status", width, &text);
    }
    let first = client::status_text(&status(), &workers(), &alerts(), &disks, &View::fixed(80, NOW));
    assert_eq!(
        first.lines().next().unwrap(),
        "HEALTHMON CRITICAL - 2 open alerts (ghost, disk:/), 1/3 workers healthy | workers=3;;;0 \
         workers_healthy=1;;;0;3 alerts_critical=1;;;0 alerts_warning=1;;;0 'disk:/'=91.3%;;;0;100 \
         'disk:/var'=40.0%;;;0;100"
    );
}

/// `healthctl workers`: "-" for what the daemon does not report; a
/// GetWorker-filled row shows uptime, memory and last exit.
#[test]
fn workers_golden() {
    for width in WIDTHS {
        check("workers", width, &client::workers_text(&workers(), &View::fixed(width, NOW)));
    }
    let mut row = WorkerRow::from(&workers()[0]);
    row.since = Some(NOW - 185);
    row.memory_bytes = Some(12 * 1024 * 1024);
    row.last_exit = Some("exit code 1".into());
    let text = client::workers_table(&[row], &View::fixed(80, NOW)).render(&View::fixed(80, NOW), 0);
    assert_eq!(
        text.lines().nth(1).unwrap(),
        "assigner_worker  running  4211  3 min 5 s  2         12 MiB  exit code 1"
    );
}

/// `healthctl alerts`, and `--all --full` with a resolved one.
#[test]
fn alerts_golden() {
    for width in WIDTHS {
        check("alerts", width, &client::alerts_text(&alerts(), &View::fixed(width, NOW)));
    }
    let mut all = alerts();
    all[1].resolved = true;
    let mut view = View::fixed(80, NOW);
    view.full = true;
    let text = client::alerts_text(&all, &view);
    assert!(text.contains("No such file or directory)"), "--full cuts nothing: {text}");
    check("alerts-all-full", 200, &text);
}

/// `healthctl metrics`, with its header.
#[test]
fn metrics_golden() {
    for width in WIDTHS {
        check("metrics", width, &client::metrics_text(&metrics(), &View::fixed(width, NOW)));
    }
}

/// `healthmon --once`: every finding names its component, the open
/// alerts behind the state are listed.
#[test]
fn once_report_golden() {
    let counters = Counters { checks_run: 1, disk_cleanups: 1, alerts_sent: 1, ..Counters::default() };
    for width in WIDTHS {
        let text = report::render_text(&summary(), &counters, 1, false, &alerts(), &View::fixed(width, NOW));
        check("once", width, &text);
    }
}

/// `healthctl run-once`: findings and actions of that cycle, open alerts.
#[test]
fn run_once_golden() {
    let cycle = CycleDict::from(&summary());
    assert_eq!(cycle.findings.as_ref().map(Vec::len), Some(3));
    for width in WIDTHS {
        check("run-once", width, &client::cycle_text(&cycle, &alerts(), &View::fixed(width, NOW)));
    }
    let empty = CycleDict { findings: None, ..cycle };
    let text = client::cycle_text(&empty, &[], &View::fixed(80, NOW));
    assert!(text.contains("Findings: 0") && text.contains("Open alerts (they make the state critical): 0"), "{text}");
}

//! The check cycle: failing and hanging checks are recorded and never
//! abort the cycle; alerts are raised once per ongoing problem and
//! resolved when the check passes again; counters follow actions.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use healthmon::checks::{disk::DiskCheck, Check, CheckContext, CheckError};
use healthmon::config::{embedded_defaults, Settings};
use healthmon::engine::{Engine, Section, ENDED};
use healthmon::journal::Journal;
use healthmon::model::{Finding, HostState, Severity, Status};
use healthmon::store::{Store, StoreHandle};

/// A test check whose behaviour the test switches: 0 fine, 1 error, 2 hang, 3 panic.
struct SwitchableCheck {
    mode: Arc<AtomicU8>,
}

impl Check for SwitchableCheck {
    fn name(&self) -> &'static str {
        "switchable"
    }

    fn run(&self, _ctx: &CheckContext) -> Result<Vec<Finding>, CheckError> {
        match self.mode.load(Ordering::SeqCst) {
            0 => Ok(vec![Finding::healthy("switchable", "probe", "fine")]),
            1 => Err("probe database unreachable".into()),
            2 => {
                // Hung until the test switches it to another mode.
                while self.mode.load(Ordering::SeqCst) == 2 {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(Vec::new())
            }
            _ => panic!("check bug"),
        }
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    settings: Settings,
    mode: Arc<AtomicU8>,
    engine: Engine,
}

/// A generous check_timeout: only the hang test wants one to pass (a
/// panic's backtrace alone can take long on a loaded machine).
fn fixture(warning_percent: f64) -> Fixture {
    fixture_with_timeout(warning_percent, Duration::from_secs(60))
}

fn fixture_with_timeout(warning_percent: f64, check_timeout: Duration) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = embedded_defaults();
    settings.monitor.database = dir.path().join("health.db");
    settings.monitor.check_timeout = check_timeout;
    settings.disk.paths = vec![dir.path().to_path_buf()];
    settings.disk.warning_percent = warning_percent;
    settings.disk.critical_percent = 100.0;
    let mode = Arc::new(AtomicU8::new(0));
    let checks: Vec<Arc<dyn Check>> =
        vec![Arc::new(SwitchableCheck { mode: mode.clone() }), Arc::new(DiskCheck::new(settings.disk.clone()))];
    let store = StoreHandle::new(Store::open(&settings.monitor.database).unwrap());
    let engine = Engine::with_checks(&settings, checks, store, Arc::new(Journal::stderr()), false);
    Fixture { _dir: dir, settings, mode, engine }
}

impl Fixture {
    async fn open_alerts(&self) -> Vec<(String, String, Severity)> {
        let rows = self.engine.store().call(|s| s.unresolved()).await.unwrap();
        rows.into_iter().map(|a| (a.component, a.kind, a.severity)).collect()
    }

    async fn metric_statuses(&self, component: &'static str) -> Vec<String> {
        let rows = self.engine.store().call(move |s| s.list_metrics(Some(component), 0)).await.unwrap();
        rows.into_iter().map(|m| format!("{} {}", m.metric_type, m.status)).collect()
    }
}

/// A check that errors is recorded as `error` with a WARNING alert, the
/// other checks still run, and the alert resolves once it works again.
#[tokio::test]
async fn failing_check_is_recorded_and_resolves() {
    let mut f = fixture(99.9);
    f.mode.store(1, Ordering::SeqCst);
    let summary = f.engine.run_cycle(Vec::new()).await;
    assert_eq!(summary.state, HostState::Degraded);
    assert!(summary.sections.iter().any(|s| s.check == "disk" && !s.findings.is_empty()), "disk check still ran");
    assert_eq!(f.metric_statuses("switchable").await, vec!["check_run error"]);
    assert_eq!(f.open_alerts().await, vec![("switchable".into(), "check_run".into(), Severity::Warning)]);

    f.mode.store(0, Ordering::SeqCst);
    let summary = f.engine.run_cycle(Vec::new()).await;
    assert_eq!(summary.alerts_resolved(), 1);
    assert!(f.open_alerts().await.is_empty());
    assert_eq!(summary.state, HostState::Healthy);
}

/// A hanging check is cut off at check_timeout and the cycle finishes.
#[tokio::test]
async fn hanging_check_times_out_without_stalling_the_cycle() {
    let mut f = fixture_with_timeout(99.9, Duration::from_millis(500));
    f.mode.store(2, Ordering::SeqCst);
    // The check stays hung until released below: the cycle can only have
    // finished by cutting it off.
    let summary = f.engine.run_cycle(Vec::new()).await;
    let finding = summary.sections.iter().flat_map(|s| &s.findings).find(|x| x.component == "switchable").unwrap();
    assert_eq!(finding.status, Status::Error);
    assert!(finding.details.contains("timed out"), "{}", finding.details);
    assert!(summary.sections.iter().any(|s| s.check == "disk" && !s.findings.is_empty()), "the disk check still ran");
    f.mode.store(0, Ordering::SeqCst);
}

/// A panicking check is recorded as an error and the engine goes on.
#[tokio::test]
async fn panicking_check_is_recorded_as_error() {
    let mut f = fixture(99.9);
    f.mode.store(3, Ordering::SeqCst);
    let summary = f.engine.run_cycle(Vec::new()).await;
    let finding = summary.sections.iter().flat_map(|s| &s.findings).find(|x| x.component == "switchable").unwrap();
    assert_eq!(finding.status, Status::Error);
    assert!(finding.details.contains("crashed"), "{}", finding.details);
    assert_eq!(f.engine.counters().checks_run, 1);
}

/// A problem that persists over three cycles is one alert, counted once.
#[tokio::test]
async fn ongoing_problem_raises_one_alert() {
    let mut f = fixture(0.001);
    for _ in 0..3 {
        f.engine.run_cycle(Vec::new()).await;
    }
    let component = format!("disk:{}", f.settings.disk.paths[0].display());
    assert_eq!(f.open_alerts().await, vec![(component, "disk_usage".into(), Severity::Warning)]);
    assert_eq!(f.engine.counters().alerts_sent, 1);
    assert_eq!(f.engine.counters().checks_run, 3);
}

/// In dry run no alert is written, but the state reflects what was found.
#[tokio::test]
async fn dry_run_writes_no_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = embedded_defaults();
    settings.monitor.database = dir.path().join("health.db");
    settings.disk.paths = vec![dir.path().to_path_buf()];
    settings.disk.warning_percent = 0.001;
    let store = StoreHandle::new(Store::open(&settings.monitor.database).unwrap());
    let mut engine = Engine::new(&settings, store, Arc::new(Journal::stderr()), true);
    let summary = engine.run_cycle(Vec::new()).await;
    assert_eq!(summary.state, HostState::Degraded);
    assert!(engine.store().call(|s| s.list_alerts(false, 0)).await.unwrap().is_empty());
    assert_eq!(engine.counters().alerts_sent, 0);
}

fn disk_component(path: &std::path::Path) -> String {
    format!("disk:{}", path.display())
}

/// A reload that drops a disk path resolves that path's alert (the path
/// is no longer watched); the kept path's alert stays open.
#[tokio::test]
async fn alert_of_removed_disk_path_resolves() {
    let mut f = fixture(0.001);
    let other = tempfile::tempdir().unwrap();
    f.settings.disk.paths.push(other.path().to_path_buf());
    f.engine.reconfigure(&f.settings, false);
    f.engine.run_cycle(Vec::new()).await;
    assert_eq!(f.open_alerts().await.len(), 2);

    f.settings.disk.paths.pop();
    f.engine.reconfigure(&f.settings, false);
    let summary = f.engine.run_cycle(Vec::new()).await;

    let kept = disk_component(&f.settings.disk.paths[0]);
    assert_eq!(f.open_alerts().await, vec![(kept, "disk_usage".into(), Severity::Warning)]);
    let removed = disk_component(other.path());
    assert_eq!(summary.resolved.iter().map(|a| a.component.as_str()).collect::<Vec<_>>(), [removed.as_str()]);
    let rows = f.engine.store().call(move |s| s.list_metrics(Some(&removed), 1)).await.unwrap();
    assert_eq!((rows[0].status.as_str(), rows[0].details.as_str()), ("healthy", ENDED));
}

/// While a part of the cycle reports an error (here a disk path that
/// cannot be read) its view is incomplete: nothing is resolved because it
/// is missing from the report.
#[tokio::test]
async fn incomplete_view_resolves_nothing_by_absence() {
    let mut f = fixture(0.001);
    f.engine.run_cycle(Vec::new()).await;
    let watched = disk_component(&f.settings.disk.paths[0]);

    f.settings.disk.paths = vec!["/nonexistent/healthmon-test".into()];
    f.engine.reconfigure(&f.settings, false);
    f.engine.run_cycle(Vec::new()).await;

    let open: Vec<String> = f.open_alerts().await.into_iter().map(|(c, _, _)| c).collect();
    assert!(open.contains(&watched), "{open:?}");
}

/// The alerts of a worker no longer in the configuration (no longer in
/// the supervisor's section, or no section at all) resolve; a worker
/// still reported keeps its alert.
#[tokio::test]
async fn alert_of_removed_worker_resolves() {
    let mut f = fixture(99.9);
    let down = |name: &str| {
        Finding::problem(name, "worker_status", Status::Unhealthy, Severity::Critical, format!("{name} is down"), "")
    };
    let workers = |findings| vec![Section { check: "workers".into(), findings }];
    f.engine.run_cycle(workers(vec![down("gone"), down("kept")])).await;
    assert_eq!(f.open_alerts().await.len(), 2);

    f.engine.run_cycle(workers(vec![down("kept")])).await;
    assert_eq!(f.open_alerts().await, vec![("kept".into(), "worker_status".into(), Severity::Critical)]);

    f.engine.run_cycle(Vec::new()).await;
    assert!(f.open_alerts().await.is_empty());
}

/// The `check_run` alert of a check that a reload removed resolves: that
/// check will never run again to resolve it.
#[tokio::test]
async fn check_run_alert_of_removed_check_resolves() {
    let mut f = fixture(99.9);
    f.mode.store(1, Ordering::SeqCst);
    f.engine.run_cycle(Vec::new()).await;
    assert!(f.open_alerts().await.iter().any(|(c, k, _)| c == "switchable" && k == "check_run"));

    f.engine.reconfigure(&f.settings, false);
    let summary = f.engine.run_cycle(Vec::new()).await;
    assert_eq!(summary.resolved.iter().map(|a| a.component.as_str()).collect::<Vec<_>>(), ["switchable"]);
    assert!(f.open_alerts().await.iter().all(|(c, _, _)| c != "switchable"));
    let rows = f.engine.store().call(|s| s.list_metrics(Some("switchable"), 1)).await.unwrap();
    assert_eq!((rows[0].status.as_str(), rows[0].details.as_str()), ("healthy", ENDED));
}

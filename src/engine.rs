//! One check cycle: run every check on the blocking pool under a timeout,
//! record the findings (metric rows, alert decisions) in one store call,
//! write journal entries, and keep the counters behind `Status()`.
//! The engine knows nothing of D-Bus: `healthmon --once` drives it alone.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::checks::{self, Check, CheckContext};
use crate::config::Settings;
use crate::flap::Damper;
use crate::inflight::{InFlight, LateReceiver, LateRun};
use crate::journal::{self, Journal};
use crate::model::{ActionKind, Finding, HostState, Status};
use crate::store::{AlertRow, Recorded, StoreHandle};

pub use crate::model::ENDED;

pub use crate::inflight::CHECK_RUN_METRIC;

/// Totals since the daemon started; the `Status()` counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub checks_run: u64,
    pub workers_restarted: u64,
    pub sessions_cleared: u64,
    pub locks_cleared: u64,
    pub disk_cleanups: u64,
    pub alerts_sent: u64,
}

/// What one group of checks found, for the report (`🔍 Checking disk...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub check: String,
    pub findings: Vec<Finding>,
}

/// What one cycle (or one recorded event) found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleSummary {
    pub state: HostState,
    pub duration: Duration,
    pub workers_restarted: u64,
    pub sessions_cleared: u64,
    pub locks_cleared: u64,
    pub disk_cleanups: u64,
    /// One human-readable line per action taken (or, in dry run, proposed).
    pub actions: Vec<String>,
    pub sections: Vec<Section>,
    /// Alerts opened or escalated by this cycle, and the INFO records of
    /// repairs (resolved already).
    pub raised: Vec<AlertRow>,
    pub resolved: Vec<AlertRow>,
    /// Ids among `raised` and `resolved` that a silence keeps from people
    /// (see [`crate::silences`]): recorded, journaled, signalled, not notified.
    pub held: Vec<i64>,
}

impl CycleSummary {
    pub fn alerts_raised(&self) -> u64 {
        self.raised.len() as u64
    }

    pub fn alerts_resolved(&self) -> u64 {
        self.resolved.len() as u64
    }

    /// The raised and resolved alerts that people are told about.
    pub fn to_notify(&self) -> (Vec<AlertRow>, Vec<AlertRow>) {
        let told = |alerts: &[AlertRow]| alerts.iter().filter(|a| !self.held.contains(&a.id)).cloned().collect();
        (told(&self.raised), told(&self.resolved))
    }
}

pub struct Engine {
    checks: Vec<Arc<dyn Check>>,
    /// What the checks remember between cycles, handed on at a reload.
    memory: checks::Memory,
    /// Runs still in flight; kept across reloads, so a hung run of a check
    /// blocks the rebuilt check of the same name too.
    inflight: InFlight,
    store: StoreHandle,
    journal: Arc<Journal>,
    dry_run: bool,
    check_timeout: Duration,
    retention: Duration,
    counters: Counters,
    last_check: Option<SystemTime>,
    /// Flap damping's memory; out only while a store call holds it.
    damper: Option<Damper>,
    /// Whether an alert whose component this engine does not report ends
    /// (see [`resolve_ended`]): true for the daemon, whose configuration is
    /// the one in force.
    resolves_unwatched: bool,
}

impl Engine {
    pub fn new(settings: &Settings, store: StoreHandle, journal: Arc<Journal>, dry_run: bool) -> Engine {
        let mut engine = Engine::with_checks(settings, Vec::new(), store, journal, dry_run);
        engine.checks = checks::build(settings, &engine.memory);
        engine
    }

    /// An engine running exactly `checks` (tests use it to add checks that
    /// fail or hang on purpose).
    pub fn with_checks(
        settings: &Settings,
        checks: Vec<Arc<dyn Check>>,
        store: StoreHandle,
        journal: Arc<Journal>,
        dry_run: bool,
    ) -> Engine {
        Engine {
            checks,
            memory: checks::Memory::default(),
            inflight: InFlight::default(),
            store,
            journal,
            dry_run: dry_run || settings.monitor.dry_run,
            check_timeout: settings.monitor.check_timeout,
            retention: settings.monitor.retention,
            counters: Counters::default(),
            last_check: None,
            damper: Some(Damper::new(settings.alerts)),
            resolves_unwatched: true,
        }
    }

    /// Swaps in checks built from new (already validated) settings. Counters
    /// and what the checks remember (e.g. lock timers) survive a reload.
    pub fn reconfigure(&mut self, settings: &Settings, dry_run: bool) {
        self.checks = checks::build(settings, &self.memory);
        self.dry_run = dry_run || settings.monitor.dry_run;
        self.check_timeout = settings.monitor.check_timeout;
        self.retention = settings.monitor.retention;
        if let Some(damper) = &mut self.damper {
            damper.reconfigure(settings.alerts);
        }
    }

    /// An engine that never resolves an alert only because it does not
    /// watch that component: `healthmon --once` shares the database with a
    /// daemon that may run another configuration.
    pub fn resolving_only_what_it_sees(mut self) -> Engine {
        self.resolves_unwatched = false;
        self
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn last_check(&self) -> Option<SystemTime> {
        self.last_check
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Where runs that returned after their timeout report, once.
    pub fn take_late_runs(&mut self) -> Option<LateReceiver> {
        self.inflight.take_late()
    }

    /// Records the findings of a run that returned after its cycle gave up on it.
    pub async fn record_late(&mut self, late: LateRun) -> CycleSummary {
        self.record_event(late.check, late.findings).await
    }

    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    /// Runs every check, plus `extra` sections gathered elsewhere (the
    /// worker supervisor), and records the lot.
    pub async fn run_cycle(&mut self, extra: Vec<Section>) -> CycleSummary {
        let started = Instant::now();
        let mut sections = extra;
        for check in self.checks.clone() {
            let findings = self.run_check(check.clone()).await;
            sections.push(Section { check: check.name().to_string(), findings });
        }
        let failed_checks: Vec<String> = sections
            .iter()
            .flat_map(|s| &s.findings)
            .filter(|f| f.metric_type == CHECK_RUN_METRIC)
            .map(|f| f.component.clone())
            .collect();
        let open = self.open_alerts().await;
        let recovered_checks = self.recovered_checks(&failed_checks, &open);
        if let Some(section) = sections.last_mut() {
            section.findings.extend(recovered_checks);
        }
        if self.resolves_unwatched && !self.dry_run {
            resolve_ended(&mut sections, &open);
        }

        let mut summary = self.record(sections).await;
        self.counters.checks_run += 1;
        self.last_check = Some(SystemTime::now());
        if !self.dry_run {
            self.prune().await;
        }
        summary.duration = started.elapsed();
        summary
    }

    /// Records findings that arrive between cycles (a worker crashed and
    /// was restarted): metric rows, alerts, journal entries and counters.
    pub async fn record_event(&mut self, check: &str, findings: Vec<Finding>) -> CycleSummary {
        self.record(vec![Section { check: check.to_string(), findings }]).await
    }

    /// Raises a standalone alert through the normal path, e.g. an invalid
    /// reload (`component` "config").
    pub async fn report(&mut self, finding: Finding) -> CycleSummary {
        let check = finding.component.clone();
        self.record_event(&check, vec![finding]).await
    }

    /// The worst severity among the unresolved alerts no silence covers.
    pub async fn state(&self) -> HostState {
        let unresolved = self.store.call(|s| s.counted_unresolved(SystemTime::now())).await;
        match unresolved {
            Ok(rows) => HostState::from_worst(rows.iter().map(|a| a.severity).max()),
            Err(err) => {
                log::error!("cannot read unresolved alerts: {err}");
                HostState::Critical
            }
        }
    }

    async fn run_check(&self, check: Arc<dyn Check>) -> Vec<Finding> {
        let ctx = CheckContext { dry_run: self.dry_run };
        self.inflight.run(check, ctx, self.check_timeout).await
    }

    /// The open alerts, or none when the store cannot be read (then no
    /// alert is resolved by absence this cycle).
    async fn open_alerts(&self) -> Vec<AlertRow> {
        self.store.call(|s| s.unresolved()).await.unwrap_or_default()
    }

    /// Healthy `check_run` findings for checks that ran fine now but have
    /// an open failure alert, so that alert resolves; and, where this
    /// engine's configuration is the one in force, for checks a reload
    /// removed, which will never run again.
    fn recovered_checks(&self, failed: &[String], open: &[AlertRow]) -> Vec<Finding> {
        let names: Vec<&'static str> = self.checks.iter().map(|c| c.name()).collect();
        open.iter()
            .filter(|a| a.kind == CHECK_RUN_METRIC && !failed.contains(&a.component))
            .filter_map(|a| {
                let details = if names.contains(&a.component.as_str()) {
                    "check ran normally again"
                } else if self.resolves_unwatched && !self.dry_run {
                    ENDED
                } else {
                    return None;
                };
                Some(Finding::healthy(a.component.clone(), CHECK_RUN_METRIC, details))
            })
            .collect()
    }

    async fn record(&mut self, sections: Vec<Section>) -> CycleSummary {
        let findings: Vec<Finding> = sections.iter().flat_map(|s| s.findings.clone()).collect();
        let to_store = findings.clone();
        let damper = if self.dry_run { None } else { self.damper.take() };
        let (recorded, damper) = self
            .store
            .call(move |s| match damper {
                Some(mut damper) => (s.record_damped(&to_store, SystemTime::now(), &mut damper), Some(damper)),
                None => (s.record(&to_store, SystemTime::now(), false), None),
            })
            .await;
        if damper.is_some() {
            self.damper = damper;
        }
        let recorded = recorded.unwrap_or_else(|err| {
            log::error!("cannot record check results: {err}");
            Recorded::default()
        });

        for finding in &findings {
            if let Some(entry) = journal::finding_entry(finding) {
                self.journal.send(&entry);
            }
        }
        for alert in &recorded.raised {
            self.journal.send(&journal::alert_raised_entry(alert, false));
        }
        for alert in &recorded.escalated {
            self.journal.send(&journal::alert_raised_entry(alert, true));
        }
        for alert in &recorded.resolved {
            self.journal.send(&journal::alert_resolved_entry(alert));
        }
        for alert in &recorded.auto_recovered {
            self.journal.send(&journal::alert_recovered_entry(alert));
        }

        let mut summary = summarize(sections, recorded);
        summary.state = if self.dry_run { worst_problem(&findings) } else { self.state().await };
        if !self.dry_run {
            self.count(&summary);
        }
        summary
    }

    fn count(&mut self, summary: &CycleSummary) {
        let c = &mut self.counters;
        c.workers_restarted += summary.workers_restarted;
        c.sessions_cleared += summary.sessions_cleared;
        c.locks_cleared += summary.locks_cleared;
        c.disk_cleanups += summary.disk_cleanups;
        c.alerts_sent += summary.alerts_raised();
    }

    async fn prune(&self) {
        let Some(before) = SystemTime::now().checked_sub(self.retention) else { return };
        if let Err(err) = self.store.call(move |s| s.prune(before)).await {
            log::warn!("cannot prune old metrics: {err}");
        }
    }
}

/// Adds a healthy finding, in the section of the part that watches it
/// ([`checks::watcher_of`]), for each open alert whose component that part
/// did not report this cycle: the component ended or was removed from the
/// configuration. A part whose view was incomplete (it failed as a whole,
/// or reported an error, e.g. an unreadable task database hides every
/// session) resolves nothing by absence; a part no longer configured
/// reports nothing, so all of its alerts end.
fn resolve_ended(sections: &mut Vec<Section>, open: &[AlertRow]) {
    let ended: Vec<(&'static str, &AlertRow)> = open
        .iter()
        .filter_map(|alert| checks::watcher_of(&alert.kind).map(|watcher| (watcher, alert)))
        .filter(|(watcher, alert)| match sections.iter().find(|s| s.check == *watcher) {
            None => true,
            Some(section) => {
                let incomplete = section.findings.iter().any(|f| f.status == Status::Error);
                !incomplete && !section.findings.iter().any(|f| f.component == alert.component)
            }
        })
        .collect();
    for (watcher, alert) in ended {
        let finding = Finding::healthy(alert.component.clone(), alert.kind.clone(), ENDED);
        match sections.iter_mut().find(|s| s.check == watcher) {
            Some(section) => section.findings.push(finding),
            None => sections.push(Section { check: watcher.to_string(), findings: vec![finding] }),
        }
    }
}

fn worst_problem(findings: &[Finding]) -> HostState {
    HostState::from_worst(findings.iter().filter_map(|f| f.problem.as_ref()).map(|p| p.severity).max())
}

/// Counts actions by kind and lists them; alerts come from what the store did.
fn summarize(sections: Vec<Section>, recorded: Recorded) -> CycleSummary {
    let mut summary = CycleSummary {
        state: HostState::Healthy,
        duration: Duration::ZERO,
        workers_restarted: 0,
        sessions_cleared: 0,
        locks_cleared: 0,
        disk_cleanups: 0,
        actions: Vec::new(),
        sections: Vec::new(),
        // An auto-recovered record is raised (already resolved): it is
        // signalled and notified as a new alert, with its resolved flag.
        raised: recorded.raised.into_iter().chain(recorded.escalated).chain(recorded.auto_recovered).collect(),
        resolved: recorded.resolved,
        held: recorded.held,
    };
    for finding in sections.iter().flat_map(|s| &s.findings) {
        let Some(action) = &finding.action else { continue };
        summary.actions.push(format!("{}: {}", finding.component, action.taken));
        match action.kind {
            ActionKind::WorkerRestarted => summary.workers_restarted += 1,
            ActionKind::SessionCleared => summary.sessions_cleared += 1,
            ActionKind::LockCleared => summary.locks_cleared += 1,
            ActionKind::DiskCleanup => summary.disk_cleanups += 1,
            ActionKind::Other => {}
        }
    }
    summary.sections = sections;
    summary
}

//! The wire types of `org.healthmon.Monitor1`: the `a{sv}` dictionaries
//! (Status, the cycle summary) and the row structs of the list methods,
//! with the conversions from the engine's and store's own types.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zbus::{DeserializeDict, SerializeDict, Type};

use crate::engine::CycleSummary;
use crate::model::Finding;
use crate::silences::Silence;
use crate::store::{AlertRow, MetricRow, DESIRED_RUNNING, DESIRED_STOPPED};
use crate::workers::WorkerInfo;

/// `Status()` → `a{sv}`; keys and value types fixed by the contract
/// (`dry_run` and `state_problem` are additions).
#[derive(Debug, Clone, PartialEq, Eq, SerializeDict, DeserializeDict, Type)]
#[zbus(signature = "a{sv}")]
pub struct StatusDict {
    pub version: String,
    pub state: String,
    pub uptime_sec: u64,
    pub checks_run: u64,
    /// Unix time of the last finished cycle, 0 = none yet.
    pub last_check: i64,
    pub workers_total: u32,
    pub workers_healthy: u32,
    pub workers_restarted: u64,
    pub sessions_cleared: u64,
    pub locks_cleared: u64,
    pub disk_cleanups: u64,
    pub alerts_sent: u64,
    pub unresolved_alerts: u32,
    pub dry_run: bool,
    /// What is wrong with the state database (in memory only, writes
    /// failing); empty when nothing is.
    pub state_problem: String,
    /// One line per disk path from the last cycle's forecast, e.g.
    /// `/: / full in about 7 h (growing 2.1 GiB/h)` (an addition; absent
    /// from a daemon that has none).
    pub disk_forecast: Option<Vec<String>>,
}

/// A cycle's summary: `RunOnce()`'s reply and `CheckCompleted`'s argument.
#[derive(Debug, Clone, PartialEq, Eq, SerializeDict, DeserializeDict, Type)]
#[zbus(signature = "a{sv}")]
pub struct CycleDict {
    pub state: String,
    pub duration_ms: u64,
    pub workers_restarted: u64,
    pub sessions_cleared: u64,
    pub locks_cleared: u64,
    pub disk_cleanups: u64,
    pub alerts_raised: u64,
    pub alerts_resolved: u64,
    /// One human-readable line per action taken.
    pub actions: Vec<String>,
    /// Every finding of the cycle (an addition: absent from a 0.1 daemon).
    pub findings: Option<Vec<FindingEntry>>,
}

/// One finding of a cycle: `(sssssss)` check, component, metric_type,
/// status, severity (`""` = no problem), message (the problem's, else
/// the details), action (`""` = none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct FindingEntry {
    pub check: String,
    pub component: String,
    pub metric_type: String,
    pub status: String,
    pub severity: String,
    pub message: String,
    pub action: String,
}

impl FindingEntry {
    pub fn new(check: &str, f: &Finding) -> FindingEntry {
        FindingEntry {
            check: check.to_string(),
            component: f.component.clone(),
            metric_type: f.metric_type.clone(),
            status: f.status.as_str().to_string(),
            severity: f.problem.as_ref().map_or_else(String::new, |p| p.severity.as_str().to_string()),
            message: f.problem.as_ref().map_or_else(|| f.details.clone(), |p| p.message.clone()),
            action: f.action.as_ref().map_or_else(String::new, |a| a.taken.clone()),
        }
    }

    /// Every finding of a summary, in report order.
    pub fn all(summary: &CycleSummary) -> Vec<FindingEntry> {
        summary.sections.iter().flat_map(|s| s.findings.iter().map(|f| FindingEntry::new(&s.check, f))).collect()
    }
}

impl From<&CycleSummary> for CycleDict {
    fn from(s: &CycleSummary) -> CycleDict {
        CycleDict {
            state: s.state.as_str().to_string(),
            duration_ms: u64::try_from(s.duration.as_millis()).unwrap_or(u64::MAX),
            workers_restarted: s.workers_restarted,
            sessions_cleared: s.sessions_cleared,
            locks_cleared: s.locks_cleared,
            disk_cleanups: s.disk_cleanups,
            alerts_raised: s.alerts_raised(),
            alerts_resolved: s.alerts_resolved(),
            actions: s.actions.clone(),
            findings: Some(FindingEntry::all(s)),
        }
    }
}

/// One `ListAlerts` row: `(xxsssb)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct AlertEntry {
    pub id: i64,
    /// Unix time the alert was raised.
    pub time: i64,
    pub severity: String,
    pub component: String,
    pub message: String,
    pub resolved: bool,
}

impl From<AlertRow> for AlertEntry {
    fn from(a: AlertRow) -> AlertEntry {
        AlertEntry {
            id: a.id,
            time: a.raised_at,
            severity: a.severity.as_str().to_string(),
            component: a.component,
            message: a.message,
            resolved: a.resolved,
        }
    }
}

/// One `ListMetrics` row: `(xsssss)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct MetricEntry {
    pub time: i64,
    pub component: String,
    pub metric_type: String,
    pub status: String,
    pub action_taken: String,
    pub details: String,
}

impl From<MetricRow> for MetricEntry {
    fn from(m: MetricRow) -> MetricEntry {
        MetricEntry {
            time: m.unix_time,
            component: m.component,
            metric_type: m.metric_type,
            status: m.status,
            action_taken: m.action_taken,
            details: m.details,
        }
    }
}

/// One `ListWorkers` row: `(ssuts)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct WorkerEntry {
    pub name: String,
    pub state: String,
    /// 0 = no process.
    pub pid: u32,
    pub restarts: u64,
    pub detail: String,
}

impl From<&WorkerInfo> for WorkerEntry {
    fn from(w: &WorkerInfo) -> WorkerEntry {
        WorkerEntry {
            name: w.name.clone(),
            state: w.state.clone(),
            pid: w.pid,
            restarts: w.restarts,
            detail: w.detail.clone(),
        }
    }
}

/// `GetWorker()` → `a{sv}`; keys fixed by the contract (`detail` is an
/// addition). Memory, CPU and tasks are 0 where not known.
#[derive(Debug, Clone, PartialEq, Eq, SerializeDict, DeserializeDict, Type)]
#[zbus(signature = "a{sv}")]
pub struct WorkerDict {
    pub name: String,
    pub state: String,
    pub pid: u32,
    pub restarts: u64,
    /// Unix time the current state began.
    pub since: i64,
    pub last_exit: String,
    /// `running` or `stopped` (by an administrator).
    pub desired: String,
    /// The systemd unit running it, `""` when none.
    pub unit: String,
    pub memory_bytes: u64,
    pub cpu_usec: u64,
    pub tasks: u32,
    pub detail: String,
    /// `command` or `unit`.
    pub kind: String,
    /// The worker's last sd_notify `STATUS=` text (`""` when none), an addition.
    pub status: String,
}

impl From<&WorkerInfo> for WorkerDict {
    fn from(w: &WorkerInfo) -> WorkerDict {
        WorkerDict {
            name: w.name.clone(),
            state: w.state.clone(),
            pid: w.pid,
            restarts: w.restarts,
            since: w.since,
            last_exit: w.last_exit.clone(),
            desired: if w.held { DESIRED_STOPPED } else { DESIRED_RUNNING }.to_string(),
            unit: w.unit.clone(),
            memory_bytes: 0,
            cpu_usec: 0,
            tasks: 0,
            detail: w.detail.clone(),
            kind: w.kind.to_string(),
            status: w.status.clone(),
        }
    }
}

/// One `ListSilences` row: `(xsxs)` id, component pattern, until (unix
/// time), reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SilenceEntry {
    pub id: i64,
    pub component: String,
    pub until: i64,
    pub reason: String,
}

impl From<Silence> for SilenceEntry {
    fn from(s: Silence) -> SilenceEntry {
        SilenceEntry { id: s.id, component: s.component, until: s.until, reason: s.reason }
    }
}

/// Seconds since the epoch, 0 for "never" (the contract's `last_check`).
pub fn unix_time(t: Option<SystemTime>) -> i64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

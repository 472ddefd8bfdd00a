//! What `healthctl` prints as JSON (documents with stable keys) and the
//! text of `run-once`; the tables are in `views`, `status` in `status`.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::dbus::{AlertEntry, CycleDict, MetricEntry, StatusDict, WorkerEntry};
use crate::table::{Table, View};

use super::views::alerts_table;

/// `healthctl run-once`: the state and what makes it (the open alerts),
/// then what this cycle did, each action under its component.
pub fn cycle_text(c: &CycleDict, open: &[AlertEntry], view: &View) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "HEALTHMON {} - cycle done in {} ms: {}, {}",
        super::status::plugin_state(&c.state),
        c.duration_ms,
        crate::human::count(c.alerts_raised, "alert raised", "alerts raised"),
        crate::human::count(c.alerts_resolved, "resolved", "resolved"),
    );
    crate::report::write_findings(&mut out, &c.findings.clone().unwrap_or_default(), view);
    write_actions(&mut out, &c.actions, view);
    let _ = writeln!(out);
    let _ = writeln!(out, "Open alerts (they make the state {}): {}", c.state, open.len());
    if !open.is_empty() {
        out.push_str(&alerts_table(open, view).render(view, 2));
    }
    out
}

/// The cycle's actions, `component: what was done`, as a table.
fn write_actions(out: &mut String, actions: &[String], view: &View) {
    let _ = writeln!(out);
    if actions.is_empty() {
        let _ = writeln!(out, "Actions: none");
        return;
    }
    let _ = writeln!(out, "Actions: {}", actions.len());
    let mut table = Table::new(&["COMPONENT", "ACTION"]);
    for action in actions {
        let (component, taken) = action.split_once(": ").unwrap_or(("-", action));
        table.row(vec![component.to_string(), taken.to_string()]);
    }
    out.push_str(&table.render(view, 2));
}

/// `healthctl status --json`: every Status() key at top level, plus
/// `workers` and `alerts` (the unresolved ones).
pub fn status_json(s: &StatusDict, workers: &[WorkerEntry], alerts: &[AlertEntry]) -> Value {
    json!({
        "version": s.version,
        "state": s.state,
        "uptime_sec": s.uptime_sec,
        "checks_run": s.checks_run,
        "last_check": s.last_check,
        "workers_total": s.workers_total,
        "workers_healthy": s.workers_healthy,
        "workers_restarted": s.workers_restarted,
        "sessions_cleared": s.sessions_cleared,
        "locks_cleared": s.locks_cleared,
        "disk_cleanups": s.disk_cleanups,
        "alerts_sent": s.alerts_sent,
        "unresolved_alerts": s.unresolved_alerts,
        "dry_run": s.dry_run,
        "state_problem": s.state_problem,
        "disk_forecast": s.disk_forecast.clone().unwrap_or_default(),
        "workers": workers_json(workers),
        "alerts": alerts_json(alerts),
    })
}

/// `healthctl run-once --json`: the cycle summary's keys.
pub fn cycle_json(c: &CycleDict) -> Value {
    json!({
        "state": c.state,
        "duration_ms": c.duration_ms,
        "workers_restarted": c.workers_restarted,
        "sessions_cleared": c.sessions_cleared,
        "locks_cleared": c.locks_cleared,
        "disk_cleanups": c.disk_cleanups,
        "alerts_raised": c.alerts_raised,
        "alerts_resolved": c.alerts_resolved,
        "actions": c.actions,
        "findings": c.findings,
    })
}

pub fn alerts_json(alerts: &[AlertEntry]) -> Value {
    Value::Array(
        alerts
            .iter()
            .map(|a| {
                json!({
                    "id": a.id,
                    "time": a.time,
                    "severity": a.severity,
                    "component": a.component,
                    "message": a.message,
                    "resolved": a.resolved,
                })
            })
            .collect(),
    )
}

pub fn metrics_json(rows: &[MetricEntry]) -> Value {
    Value::Array(
        rows.iter()
            .map(|m| {
                json!({
                    "time": m.time,
                    "component": m.component,
                    "metric_type": m.metric_type,
                    "status": m.status,
                    "action_taken": m.action_taken,
                    "details": m.details,
                })
            })
            .collect(),
    )
}

pub fn workers_json(workers: &[WorkerEntry]) -> Value {
    Value::Array(
        workers
            .iter()
            .map(|w| {
                json!({
                    "name": w.name,
                    "state": w.state,
                    "pid": w.pid,
                    "restarts": w.restarts,
                    "detail": w.detail,
                })
            })
            .collect(),
    )
}

//! The tables of `healthctl workers`, `alerts` and `metrics` (also the
//! sections of `status` and `run-once`): what the daemon does not report
//! yet shows as "-".

use crate::dbus::{AlertEntry, MetricEntry, WorkerEntry};
use crate::human;
use crate::table::{Table, View};

/// One worker as the table shows it. `ListWorkers` gives the first
/// fields; `since`, `memory_bytes` and `last_exit` come from
/// `GetWorker` where the daemon offers it (`None` shows "-").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    pub name: String,
    pub state: String,
    pub pid: u32,
    pub restarts: u64,
    pub since: Option<i64>,
    pub memory_bytes: Option<u64>,
    pub last_exit: Option<String>,
}

impl From<&WorkerEntry> for WorkerRow {
    fn from(w: &WorkerEntry) -> WorkerRow {
        WorkerRow {
            name: w.name.clone(),
            state: w.state.clone(),
            pid: w.pid,
            restarts: w.restarts,
            since: None,
            memory_bytes: None,
            last_exit: None,
        }
    }
}

const NONE: &str = "-";

fn or_none<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| NONE.to_string(), show)
}

/// NAME STATE PID UPTIME RESTARTS MEMORY LAST-EXIT.
pub fn workers_table(workers: &[WorkerRow], view: &View) -> Table {
    let mut table = Table::new(&["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "MEMORY", "LAST-EXIT"]);
    for w in workers {
        let running = w.pid != 0;
        table.row(vec![
            w.name.clone(),
            w.state.clone(),
            if running { w.pid.to_string() } else { NONE.to_string() },
            or_none(w.since.filter(|_| running), |since| human::secs(view.now.saturating_sub(since).max(0) as u64)),
            w.restarts.to_string(),
            or_none(w.memory_bytes, human::size),
            or_none(w.last_exit.clone().filter(|e| !e.is_empty()), |e| e),
        ]);
    }
    table
}

/// `healthctl workers`.
pub fn workers_text(workers: &[WorkerEntry], view: &View) -> String {
    if workers.is_empty() {
        return "No workers configured\n".to_string();
    }
    let rows: Vec<WorkerRow> = workers.iter().map(WorkerRow::from).collect();
    workers_table(&rows, view).render(view, 0)
}

/// ID SEVERITY COMPONENT AGE COUNT MESSAGE; with `--full` also the time
/// it was raised; a STATE column when resolved alerts are listed too.
pub fn alerts_table(alerts: &[AlertEntry], view: &View) -> Table {
    let resolved = alerts.iter().any(|a| a.resolved);
    let mut header = vec!["ID", "SEVERITY"];
    if resolved {
        header.push("STATE");
    }
    header.extend(["COMPONENT", "AGE", "COUNT"]);
    let time = time_header(view);
    if view.full {
        header.push(&time);
    }
    header.push("MESSAGE");
    let mut table = Table::new(&header);
    for a in alerts {
        let mut row = vec![a.id.to_string(), a.severity.clone()];
        if resolved {
            row.push(if a.resolved { "resolved" } else { "open" }.to_string());
        }
        row.extend([a.component.clone(), human::secs(view.now.saturating_sub(a.time).max(0) as u64), NONE.to_string()]);
        if view.full {
            row.push(view.clock.time(a.time));
        }
        row.push(a.message.clone());
        table.row(row);
    }
    table
}

/// `healthctl alerts`.
pub fn alerts_text(alerts: &[AlertEntry], view: &View) -> String {
    if alerts.is_empty() {
        return "No alerts\n".to_string();
    }
    alerts_table(alerts, view).render(view, 0)
}

/// `TIME` in the local zone, `TIME (UTC)` with `--utc`.
fn time_header(view: &View) -> String {
    match view.clock {
        human::Clock::Utc => "TIME (UTC)".to_string(),
        human::Clock::Local(_) => "TIME".to_string(),
    }
}

/// `healthctl metrics`: TIME COMPONENT METRIC STATUS ACTION DETAILS.
pub fn metrics_text(rows: &[MetricEntry], view: &View) -> String {
    if rows.is_empty() {
        return "No metrics\n".to_string();
    }
    let time = time_header(view);
    let mut table = Table::new(&[&time, "COMPONENT", "METRIC", "STATUS", "ACTION", "DETAILS"]).keep(0);
    for m in rows {
        let action = if m.action_taken.is_empty() { NONE.to_string() } else { m.action_taken.clone() };
        table.row(vec![
            view.clock.time(m.time),
            m.component.clone(),
            m.metric_type.clone(),
            m.status.clone(),
            action,
            m.details.clone(),
        ]);
    }
    table.render(view, 0)
}

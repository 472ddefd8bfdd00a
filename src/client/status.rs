//! `healthctl status` for people and for monitoring plugins: the first
//! line is `HEALTHMON OK|WARNING|CRITICAL|UNKNOWN - summary | perfdata`
//! (the Nagios plugin form), then aligned facts, each said once, in 80
//! columns; then the workers and alerts tables.

use std::fmt::Write as _;

use crate::dbus::{AlertEntry, MetricEntry, StatusDict, WorkerEntry};
use crate::human;
use crate::report;
use crate::table::View;

use super::views::{alerts_table, workers_table, WorkerRow};

/// The metric type whose `details` begin with `used N.N%`.
const DISK_METRIC: &str = "disk_usage";

/// The plugin state word of a host state; an unknown state is UNKNOWN.
pub fn plugin_state(state: &str) -> &'static str {
    match state {
        "healthy" => "OK",
        "degraded" => "WARNING",
        "critical" => "CRITICAL",
        _ => "UNKNOWN",
    }
}

/// The one line printed when the daemon cannot be asked, e.g.
/// `HEALTHMON UNKNOWN - not running on the system bus (systemctl status healthmon)`.
pub fn unknown_line(reason: &str) -> String {
    format!("HEALTHMON UNKNOWN - {reason}")
}

/// The first line: state, what makes it, and perfdata.
pub fn plugin_line(s: &StatusDict, alerts: &[AlertEntry], disks: &[(String, f64)]) -> String {
    let mut summary = match alerts.len() {
        0 => "no open alerts".to_string(),
        n => {
            let mut names: Vec<&str> = alerts.iter().map(|a| a.component.as_str()).collect();
            names.dedup();
            let shown = names.iter().take(3).copied().collect::<Vec<_>>().join(", ");
            let more = if names.len() > 3 { ", …" } else { "" };
            format!("{} ({shown}{more})", human::count(n as u64, "open alert", "open alerts"))
        }
    };
    if s.workers_total > 0 {
        let _ = write!(summary, ", {}/{} workers healthy", s.workers_healthy, s.workers_total);
    }
    let severity = |name: &str| alerts.iter().filter(|a| a.severity == name).count();
    let mut perf = format!(
        "workers={};;;0 workers_healthy={};;;0;{} alerts_critical={};;;0 alerts_warning={};;;0",
        s.workers_total,
        s.workers_healthy,
        s.workers_total,
        severity("CRITICAL"),
        severity("WARNING")
    );
    for (component, percent) in disks {
        let _ = write!(perf, " '{}'={percent:.1}%;;;0;100", component.replace('\'', "\""));
    }
    format!("HEALTHMON {} - {summary} | {perf}", plugin_state(&s.state))
}

/// The newest `disk_usage` percent of each disk component, read from the
/// metric rows (newest first).
pub fn disk_usage(rows: &[MetricEntry]) -> Vec<(String, f64)> {
    let mut disks: Vec<(String, f64)> = Vec::new();
    for m in rows.iter().filter(|m| m.metric_type == DISK_METRIC) {
        let percent =
            m.details.strip_prefix("used ").and_then(|rest| rest.split_once('%')).and_then(|(n, _)| n.parse().ok());
        if let (Some(percent), false) = (percent, disks.iter().any(|(c, _)| *c == m.component)) {
            disks.push((m.component.clone(), percent));
        }
    }
    disks.sort_by(|a, b| a.0.cmp(&b.0));
    disks
}

/// The whole `healthctl status` text.
pub fn status_text(
    s: &StatusDict,
    workers: &[WorkerEntry],
    alerts: &[AlertEntry],
    disks: &[(String, f64)],
    view: &View,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", plugin_line(s, alerts, disks));
    let mode = if s.dry_run { ", dry run: nothing is changed" } else { "" };
    let _ = writeln!(out, "{:<12}{} ({}){mode}", "State:", view.style.paint_state(&s.state), s.version);
    let _ = writeln!(out, "{:<12}{}", "Up:", human::secs(s.uptime_sec));
    let last = if s.last_check <= 0 {
        "none yet".to_string()
    } else {
        format!("{} ({})", human::ago(s.last_check, view.now), view.clock.time_with_zone(s.last_check))
    };
    let _ = writeln!(out, "{:<12}{last}", "Last check:");
    if !s.state_problem.is_empty() {
        let _ = writeln!(out, "{:<12}{}", "State db:", s.state_problem);
    }
    // The disk forecast, for the paths it has something to say about
    // ("no forecast yet" is the quiet default and the JSON carries it).
    for line in s.disk_forecast.iter().flatten().filter(|l| !l.contains("no forecast yet")) {
        let _ = writeln!(out, "{:<12}{line}", "Forecast:");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Session Stats:");
    report::write_stats(
        &mut out,
        &crate::engine::Counters {
            checks_run: s.checks_run,
            workers_restarted: s.workers_restarted,
            sessions_cleared: s.sessions_cleared,
            locks_cleared: s.locks_cleared,
            disk_cleanups: s.disk_cleanups,
            alerts_sent: s.alerts_sent,
        },
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Workers: {}/{} healthy", s.workers_healthy, s.workers_total);
    if !workers.is_empty() {
        let rows: Vec<WorkerRow> = workers.iter().map(WorkerRow::from).collect();
        out.push_str(&workers_table(&rows, view).render(view, 2));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Unresolved alerts: {}", s.unresolved_alerts);
    if !alerts.is_empty() {
        out.push_str(&alerts_table(alerts, view).render(view, 2));
    }
    out
}

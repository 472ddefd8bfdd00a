//! What `healthctl` prints: text in the spirit of the old monitor's
//! "Session Stats" block (emoji and colour only on a terminal without
//! NO_COLOR, plain tags otherwise), and JSON documents with stable keys.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::dbus::{AlertEntry, CycleDict, MetricEntry, StatusDict, WorkerEntry};
use crate::engine::Counters;
use crate::report::{self, Style};

const RULE: &str = "======================================================================";

fn state_word(state: &str, style: Style) -> String {
    let colour = match state {
        "healthy" => "32",
        "degraded" => "33",
        _ => "31",
    };
    match style {
        Style::Fancy => format!("\x1b[1;{colour}m{state}\x1b[0m"),
        Style::Plain => state.to_string(),
    }
}

fn severity_mark(severity: &str, style: Style) -> &'static str {
    match (style, severity) {
        (Style::Fancy, "CRITICAL") => "🚨",
        (Style::Fancy, "WARNING") => "⚠️ ",
        (Style::Fancy, _) => "ℹ️ ",
        (Style::Plain, "CRITICAL") => "[CRIT]",
        (Style::Plain, "WARNING") => "[WARN]",
        (Style::Plain, _) => "[INFO]",
    }
}

/// Running is fine; starting, restarting and stopping are on their way
/// (not yet a failure); anything else is down.
fn worker_mark(worker: &WorkerEntry, style: Style) -> &'static str {
    let transient = matches!(worker.state.as_str(), "starting" | "restarting" | "stopping");
    match (style, worker.state == "running", transient) {
        (Style::Fancy, true, _) => "✅",
        (Style::Fancy, false, true) => "⏳",
        (Style::Fancy, false, false) => "❌",
        (Style::Plain, true, _) => "[OK]",
        (Style::Plain, false, true) => "[WAIT]",
        (Style::Plain, false, false) => "[DOWN]",
    }
}

fn heading(text: &str, icon: &str, style: Style) -> String {
    match style {
        Style::Fancy => format!("{icon} {text}"),
        Style::Plain => text.to_string(),
    }
}

/// `healthctl status`: state, the stats block, workers, unresolved alerts.
pub fn status_text(s: &StatusDict, workers: &[WorkerEntry], alerts: &[AlertEntry], style: Style) -> String {
    let mut out = String::new();
    let dry_run = if s.dry_run { " (dry run: nothing is changed)" } else { "" };
    let _ = writeln!(out, "healthmon {}: {}{dry_run}", s.version, state_word(&s.state, style));
    let _ = writeln!(out, "   Up: {}", duration(s.uptime_sec));
    let _ = writeln!(out, "   Last check: {}", last_check(s.last_check, SystemTime::now()));
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", heading("Session Stats:", "📊", style));
    let counters = Counters {
        checks_run: s.checks_run,
        workers_restarted: s.workers_restarted,
        sessions_cleared: s.sessions_cleared,
        locks_cleared: s.locks_cleared,
        disk_cleanups: s.disk_cleanups,
        alerts_sent: s.alerts_sent,
    };
    report::write_stats(&mut out, &counters);
    out.push_str(&forecast_lines(s, style));
    let _ = writeln!(out);
    let title = format!("Workers: {}/{} healthy", s.workers_healthy, s.workers_total);
    let _ = writeln!(out, "{}", heading(&title, "🔧", style));
    out.push_str(&worker_lines(workers, style));
    let _ = writeln!(out);
    let title = format!("Unresolved alerts: {}", s.unresolved_alerts);
    let _ = writeln!(out, "{}", heading(&title, "🔔", style));
    out.push_str(&alert_lines(alerts, style));
    out
}

/// The disk forecast under the stats: `💽 Disk forecast:` and one line per path.
fn forecast_lines(s: &StatusDict, style: Style) -> String {
    let Some(lines) = s.disk_forecast.as_ref().filter(|l| !l.is_empty()) else { return String::new() };
    let mut out = format!("\n{}\n", heading("Disk forecast:", "💽", style));
    for line in lines {
        let _ = writeln!(out, "   {line}");
    }
    out
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
        "disk_forecast": s.disk_forecast.clone().unwrap_or_default(),
        "workers": workers_json(workers),
        "alerts": alerts_json(alerts),
    })
}

/// `healthctl run-once`.
pub fn cycle_text(c: &CycleDict, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{RULE}");
    let _ = writeln!(out, "Health check: {} ({} ms)", state_word(&c.state, style), c.duration_ms);
    let _ = writeln!(out, "{RULE}");
    let _ = writeln!(out, "   Alerts raised: {}", c.alerts_raised);
    let _ = writeln!(out, "   Alerts resolved: {}", c.alerts_resolved);
    let _ = writeln!(out, "   Workers restarted: {}", c.workers_restarted);
    let _ = writeln!(out, "   Sessions cleared: {}", c.sessions_cleared);
    let _ = writeln!(out, "   Locks cleared: {}", c.locks_cleared);
    let _ = writeln!(out, "   Disk cleanups: {}", c.disk_cleanups);
    if c.actions.is_empty() {
        let _ = writeln!(out, "   No action taken");
    } else {
        let _ = writeln!(out, "   Actions:");
        for action in &c.actions {
            let _ = writeln!(out, "      -> {action}");
        }
    }
    out
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
    })
}

pub fn alerts_text(alerts: &[AlertEntry], style: Style) -> String {
    if alerts.is_empty() {
        return "No alerts\n".to_string();
    }
    alert_lines(alerts, style)
}

fn alert_lines(alerts: &[AlertEntry], style: Style) -> String {
    let mut out = String::new();
    if alerts.is_empty() {
        let _ = writeln!(out, "   none");
    }
    for a in alerts {
        let resolved = if a.resolved { " (resolved)" } else { "" };
        let _ = writeln!(
            out,
            "   {} #{} {} {} {}: {}{resolved}",
            severity_mark(&a.severity, style),
            a.id,
            format_utc(a.time),
            a.severity,
            a.component,
            a.message
        );
    }
    out
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

pub fn metrics_text(rows: &[MetricEntry]) -> String {
    if rows.is_empty() {
        return "No metrics\n".to_string();
    }
    let mut out = String::new();
    for m in rows {
        let action = if m.action_taken.is_empty() { "-" } else { &m.action_taken };
        let _ = writeln!(
            out,
            "{}  {}  {}  {}  {}  {}",
            format_utc(m.time),
            m.component,
            m.metric_type,
            m.status,
            action,
            m.details
        );
    }
    out
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

pub fn workers_text(workers: &[WorkerEntry], style: Style) -> String {
    if workers.is_empty() {
        return "No workers configured\n".to_string();
    }
    worker_lines(workers, style)
}

fn worker_lines(workers: &[WorkerEntry], style: Style) -> String {
    let mut out = String::new();
    if workers.is_empty() {
        let _ = writeln!(out, "   none configured");
    }
    for w in workers {
        let pid = if w.pid == 0 { "-".to_string() } else { w.pid.to_string() };
        let detail = if w.detail.is_empty() { String::new() } else { format!("  {}", w.detail) };
        let _ = writeln!(
            out,
            "   {} {}: {} (pid {pid}, {} restarts){detail}",
            worker_mark(w, style),
            w.name,
            w.state,
            w.restarts
        );
    }
    out
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

fn last_check(unix: i64, now: SystemTime) -> String {
    if unix <= 0 {
        return "none yet".to_string();
    }
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let ago = now.saturating_sub(unix).max(0) as u64;
    format!("{} ({} ago)", format_utc(unix), duration(ago))
}

/// `1h 02m`, `3m 05s`, `12s`, `2d 03h`.
fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s:02}s"),
        (0, _, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h:02}h"),
    }
}

/// Unix time as UTC `YYYY-MM-DD HH:MM:SS`, the form the database uses.
pub fn format_utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix times render as the database's UTC timestamps.
    #[test]
    fn utc_matches_sqlite_form() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20");
    }

    /// Durations read like a person would write them.
    #[test]
    fn durations_are_short() {
        assert_eq!(duration(12), "12s");
        assert_eq!(duration(185), "3m 05s");
        assert_eq!(duration(3720), "1h 02m");
        assert_eq!(duration(183_600), "2d 03h");
    }
}

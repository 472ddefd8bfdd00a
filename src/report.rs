//! The human and JSON renderings of a cycle, shared by `healthmon --once`
//! and `healthctl run-once`: a plugin-style first line, the findings
//! table, the open alerts that make the state, the "Session Stats" block.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::dbus::{AlertEntry, FindingEntry};
use crate::engine::{Counters, CycleSummary};
use crate::model::{Finding, HostState};
use crate::table::{Table, View};

/// Colour for a terminal, or plain text for a pipe, a file or NO_COLOR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Fancy,
    Plain,
}

impl Style {
    /// Fancy only on a terminal and never with NO_COLOR set.
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if std::io::stdout().is_terminal() && !no_color {
            Style::Fancy
        } else {
            Style::Plain
        }
    }

    /// A host state word, in colour on a terminal (green, yellow, red).
    pub fn paint_state(self, state: &str) -> String {
        let colour = match state {
            "healthy" => "32",
            "degraded" => "33",
            _ => "31",
        };
        match self {
            Style::Fancy => format!("\x1b[1;{colour}m{state}\x1b[0m"),
            Style::Plain => state.to_string(),
        }
    }
}

/// The result tag of a finding: CRIT/WARN for an open problem, else what
/// its status says.
fn result_tag(f: &FindingEntry) -> &'static str {
    match (f.severity.as_str(), f.status.as_str()) {
        ("CRITICAL", _) => "CRIT",
        ("WARNING", _) => "WARN",
        ("INFO", _) => "INFO",
        (_, "recovered") => "FIXED",
        (_, "error") => "ERROR",
        (_, "unhealthy") => "DOWN",
        _ => "OK",
    }
}

/// The text report of one `healthmon --once` cycle, `number` being the
/// cycle count: what was found (every line names its component), what was
/// done, the open alerts that make the state, and the totals.
pub fn render_text(
    summary: &CycleSummary,
    counters: &Counters,
    number: u64,
    dry_run: bool,
    open: &[AlertEntry],
    view: &View,
) -> String {
    let mut out = String::new();
    let suffix = if dry_run { " (dry run: nothing changed)" } else { "" };
    let state = HostState::as_str(summary.state);
    let plugin = crate::client::plugin_state(state);
    let _ = writeln!(
        out,
        "HEALTHMON {plugin} - health check #{number} done in {} ms{suffix}",
        summary.duration.as_millis()
    );
    write_findings(&mut out, &FindingEntry::all(summary), view);
    let _ = writeln!(out);
    let _ = writeln!(out, "Open alerts (they make the state {state}): {}", open.len());
    if !open.is_empty() {
        out.push_str(&crate::client::alerts_table(open, view).render(view, 2));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Session Stats:");
    write_stats(&mut out, counters);
    out
}

/// The findings of a cycle as a table, each with its component and,
/// where one was taken, the action after an arrow.
pub fn write_findings(out: &mut String, findings: &[FindingEntry], view: &View) {
    let _ = writeln!(out);
    let _ = writeln!(out, "Findings: {}", findings.len());
    if findings.is_empty() {
        return;
    }
    let mut table = Table::new(&["RESULT", "CHECK", "COMPONENT", "MESSAGE"]);
    for f in findings {
        let message = match f.action.as_str() {
            "" => f.message.clone(),
            action if f.message.contains(action) => f.message.clone(),
            action => format!("{} -> {action}", f.message),
        };
        table.row(vec![result_tag(f).to_string(), f.check.clone(), f.component.clone(), message]);
    }
    out.push_str(&table.render(view, 2));
}

/// The counter lines of the old monitor's "Session Stats" block, aligned.
pub fn write_stats(out: &mut String, c: &Counters) {
    for (label, value) in [
        ("Checks run:", c.checks_run),
        ("Workers restarted:", c.workers_restarted),
        ("Sessions cleared:", c.sessions_cleared),
        ("Locks cleared:", c.locks_cleared),
        ("Disk cleanups:", c.disk_cleanups),
        ("Alerts sent:", c.alerts_sent),
    ] {
        let _ = writeln!(out, "  {label:<20}{value}");
    }
}

/// The cycle summary as one JSON document with stable keys (the D-Bus
/// summary keys plus the findings).
pub fn render_json(summary: &CycleSummary, counters: &Counters, dry_run: bool) -> Value {
    json!({
        "state": summary.state.as_str(),
        "dry_run": dry_run,
        "duration_ms": summary.duration.as_millis() as u64,
        "workers_restarted": summary.workers_restarted,
        "sessions_cleared": summary.sessions_cleared,
        "locks_cleared": summary.locks_cleared,
        "disk_cleanups": summary.disk_cleanups,
        "alerts_raised": summary.alerts_raised(),
        "alerts_resolved": summary.alerts_resolved(),
        "actions": summary.actions,
        "findings": summary.sections.iter().flat_map(|s| s.findings.iter().map(move |f| finding_json(&s.check, f))).collect::<Vec<_>>(),
        "totals": {
            "checks_run": counters.checks_run,
            "workers_restarted": counters.workers_restarted,
            "sessions_cleared": counters.sessions_cleared,
            "locks_cleared": counters.locks_cleared,
            "disk_cleanups": counters.disk_cleanups,
            "alerts_sent": counters.alerts_sent,
        },
    })
}

fn finding_json(check: &str, f: &Finding) -> Value {
    json!({
        "check": check,
        "component": f.component,
        "metric_type": f.metric_type,
        "status": f.status.as_str(),
        "action_taken": f.action.as_ref().map(|a| a.taken.clone()),
        "details": f.details,
        "severity": f.problem.as_ref().map(|p| p.severity.as_str()),
        "message": f.problem.as_ref().map(|p| p.message.clone()),
    })
}

//! The human and JSON renderings of a cycle, shared by `healthmon --once`
//! and `healthctl run-once`: a section per check, then the old monitor's
//! "Session Stats" block.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::engine::{Counters, CycleSummary, Section};
use crate::model::{Finding, Severity, Status};

const RULE: &str = "======================================================================";

/// Markers for a terminal (emoji, as the old monitor printed) or for a
/// pipe/file/NO_COLOR (plain ASCII tags that grep well).
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

    fn mark(self, finding: &Finding) -> &'static str {
        let severity = finding.problem.as_ref().map(|p| p.severity);
        match (self, finding.status, severity) {
            (Style::Fancy, _, Some(Severity::Critical)) => "🚨",
            (Style::Fancy, _, Some(Severity::Warning)) => "⚠️ ",
            (Style::Fancy, Status::Recovered, _) => "✅",
            (Style::Fancy, Status::Error, _) => "❌",
            (Style::Fancy, _, _) => "✅",
            (Style::Plain, _, Some(Severity::Critical)) => "[CRIT]",
            (Style::Plain, _, Some(Severity::Warning)) => "[WARN]",
            (Style::Plain, Status::Recovered, _) => "[FIXED]",
            (Style::Plain, Status::Error, _) => "[ERROR]",
            (Style::Plain, _, _) => "[OK]",
        }
    }

    fn heading(self, check: &str) -> String {
        match self {
            Style::Fancy => format!("🔍 Checking {check}..."),
            Style::Plain => format!("Checking {check}..."),
        }
    }

    fn stats(self) -> &'static str {
        match self {
            Style::Fancy => "📊 Session Stats:",
            Style::Plain => "Session Stats:",
        }
    }
}

/// The text report of one cycle, `number` being the cycle count.
pub fn render_text(summary: &CycleSummary, counters: &Counters, number: u64, dry_run: bool, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{RULE}");
    let suffix = if dry_run { " (dry run: nothing changed)" } else { "" };
    let _ = writeln!(out, "Health Check #{number}{suffix}");
    let _ = writeln!(out, "{RULE}");
    for section in &summary.sections {
        render_section(&mut out, section, style);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", style.stats());
    write_stats(&mut out, counters);
    let _ = writeln!(out, "   State: {} ({} ms)", summary.state.as_str(), summary.duration.as_millis());
    let _ = writeln!(out, "{RULE}");
    out
}

/// The counter lines of the old monitor's "Session Stats" block.
pub fn write_stats(out: &mut String, c: &Counters) {
    let _ = writeln!(out, "   Checks run: {}", c.checks_run);
    let _ = writeln!(out, "   Workers restarted: {}", c.workers_restarted);
    let _ = writeln!(out, "   Sessions cleared: {}", c.sessions_cleared);
    let _ = writeln!(out, "   Locks cleared: {}", c.locks_cleared);
    let _ = writeln!(out, "   Disk cleanups: {}", c.disk_cleanups);
    let _ = writeln!(out, "   Alerts sent: {}", c.alerts_sent);
}

fn render_section(out: &mut String, section: &Section, style: Style) {
    let _ = writeln!(out, "{}", style.heading(&section.check));
    if section.findings.is_empty() {
        let _ = writeln!(out, "   nothing to check");
    }
    for finding in &section.findings {
        let text = match &finding.problem {
            Some(problem) => problem.message.clone(),
            None => format!("{} {}: {}", finding.component, finding.metric_type, finding.details),
        };
        let _ = writeln!(out, "   {} {}", style.mark(finding), text);
        if let Some(action) = &finding.action {
            let _ = writeln!(out, "      -> {}", action.taken);
        }
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

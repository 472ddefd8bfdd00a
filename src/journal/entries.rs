//! Builds the journal entries the engine sends: one per check result that
//! is not plain healthy, and one per alert raised, escalated or resolved.
//! Pure functions, so the priorities the contract fixes are unit-tested.

use super::{priority, Entry};
use crate::model::{Finding, Severity, Status};
use crate::store::AlertRow;

/// The priority the contract gives a severity.
fn severity_priority(severity: Severity) -> u8 {
    match severity {
        Severity::Critical => priority::CRIT,
        Severity::Warning => priority::WARNING,
        Severity::Info => priority::INFO,
    }
}

/// The entry for one finding; None for a plain healthy finding with no
/// action (those only become metric rows).
pub fn finding_entry(f: &Finding) -> Option<Entry> {
    let priority = finding_priority(f)?;
    let mut entry = Entry::new(priority, finding_message(f))
        .field("HEALTHMON_COMPONENT", &f.component)
        .field("HEALTHMON_METRIC", &f.metric_type)
        .field("HEALTHMON_STATUS", f.status.as_str());
    if let Some(action) = &f.action {
        entry = entry.field("HEALTHMON_ACTION", &action.taken);
    }
    if let Some(problem) = &f.problem {
        entry = entry.field("HEALTHMON_SEVERITY", problem.severity.as_str());
    }
    if !f.details.is_empty() {
        entry = entry.field("HEALTHMON_DETAILS", &f.details);
    }
    Some(entry)
}

/// A problem by its severity; else an action (a recovery, or a dry-run
/// "would ...") is a notice; else error/unhealthy without a problem is a
/// warning and a bare `recovered` a notice; plain healthy is no entry.
fn finding_priority(f: &Finding) -> Option<u8> {
    if let Some(problem) = &f.problem {
        return Some(severity_priority(problem.severity));
    }
    if f.action.is_some() {
        return Some(priority::NOTICE);
    }
    match f.status {
        Status::Error | Status::Unhealthy => Some(priority::WARNING),
        Status::Recovered => Some(priority::NOTICE),
        Status::Healthy => None,
    }
}

/// `disk:/ disk_usage unhealthy: / is 96.1% full (action: deleted 12 files)`:
/// the problem's message, else the details, after component, metric, status.
fn finding_message(f: &Finding) -> String {
    let mut message = format!("{} {} {}", f.component, f.metric_type, f.status);
    let text = f.problem.as_ref().map_or(f.details.as_str(), |p| p.message.as_str());
    if !text.is_empty() {
        message.push_str(": ");
        message.push_str(text);
    }
    if let Some(action) = &f.action {
        message.push_str(&format!(" (action: {})", action.taken));
    }
    message
}

/// An alert opened (or, with `escalated`, whose severity went up), at the
/// priority of its severity.
pub fn alert_raised_entry(a: &AlertRow, escalated: bool) -> Entry {
    let (event, what) = if escalated {
        ("escalated", format!("escalated to {}", a.severity))
    } else {
        ("raised", format!("raised ({})", a.severity))
    };
    let message = format!("alert #{} {what} for {} {}: {}", a.id, a.component, a.kind, a.message);
    alert_fields(Entry::new(severity_priority(a.severity), message), a, event)
}

/// An alert closed, at INFO.
pub fn alert_resolved_entry(a: &AlertRow) -> Entry {
    let message =
        format!("alert #{} resolved for {} {} (was {}: {})", a.id, a.component, a.kind, a.severity, a.message);
    alert_fields(Entry::new(priority::INFO, message), a, "resolved")
}

/// The alert's status as `HEALTHMON_STATUS` gives it (the metric
/// vocabulary, so `journalctl HEALTHMON_STATUS=unhealthy` finds raises):
/// `unhealthy` while open, `recovered` once resolved.
fn alert_status(a: &AlertRow) -> Status {
    if a.resolved {
        Status::Recovered
    } else {
        Status::Unhealthy
    }
}

/// An INFO record of a problem found and repaired in one cycle, at INFO.
pub fn alert_recovered_entry(a: &AlertRow) -> Entry {
    let message = format!("alert #{} (INFO) for {} {}: {}", a.id, a.component, a.kind, a.message);
    alert_fields(Entry::new(priority::INFO, message), a, "auto-recovered")
}

fn alert_fields(entry: Entry, a: &AlertRow, event: &str) -> Entry {
    entry
        .field("HEALTHMON_COMPONENT", &a.component)
        .field("HEALTHMON_METRIC", &a.kind)
        .field("HEALTHMON_STATUS", alert_status(a).as_str())
        .field("HEALTHMON_SEVERITY", a.severity.as_str())
        .field("HEALTHMON_ALERT_ID", a.id.to_string())
        .field("HEALTHMON_ALERT_EVENT", event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ActionKind;

    fn disk_full(severity: Severity) -> Finding {
        Finding::problem("disk:/", "disk_usage", Status::Unhealthy, severity, "/ is 96.1% full", "96.1%")
    }

    fn alert(severity: Severity) -> AlertRow {
        AlertRow {
            id: 7,
            raised_at: 1_700_000_000,
            severity,
            component: "disk:/".into(),
            kind: "disk_usage".into(),
            message: "/ is 96.1% full".into(),
            resolved: false,
            silenced: false,
        }
    }

    /// Plain healthy findings make no entry.
    #[test]
    fn healthy_without_action_is_silent() {
        assert_eq!(finding_entry(&Finding::healthy("disk:/", "disk_usage", "40%")), None);
    }

    /// Problems map CRITICAL 2, WARNING 4, INFO 6.
    #[test]
    fn problem_priority_follows_severity() {
        let priority = |s| finding_entry(&disk_full(s)).map(|e| e.priority);
        assert_eq!(priority(Severity::Critical), Some(2));
        assert_eq!(priority(Severity::Warning), Some(4));
        assert_eq!(priority(Severity::Info), Some(6));
    }

    /// An action without a problem (a recovery) is a notice, with HEALTHMON_ACTION and no severity.
    #[test]
    fn recovery_is_notice() {
        let f = Finding { status: Status::Recovered, ..Finding::healthy("assigner_worker", "worker_alive", "pid 42") }
            .with_action(ActionKind::WorkerRestarted, "restarted");
        let e = finding_entry(&f).expect("entry");
        assert_eq!(e.priority, 5);
        assert_eq!(e.get("HEALTHMON_ACTION"), Some("restarted"));
        assert_eq!(e.get("HEALTHMON_SEVERITY"), None);
        assert_eq!(e.message, "assigner_worker worker_alive recovered: pid 42 (action: restarted)");
    }

    /// Error and unhealthy results without a problem are warnings.
    #[test]
    fn error_without_problem_is_warning() {
        for status in [Status::Error, Status::Unhealthy] {
            let f = Finding { status, ..Finding::healthy("sqlite:/x.db", "db_lock", "probe failed") };
            assert_eq!(finding_entry(&f).map(|e| e.priority), Some(4), "{status}");
        }
    }

    /// The message reads like the contract's example line, action included.
    #[test]
    fn finding_message_shape() {
        let f = disk_full(Severity::Critical).with_action(ActionKind::DiskCleanup, "deleted 12 files");
        let e = finding_entry(&f).expect("entry");
        assert_eq!(e.to_line(), "CRITICAL disk:/ disk_usage unhealthy: / is 96.1% full (action: deleted 12 files)");
    }

    /// Raised alerts go at their severity's priority, escalations say so, resolutions at INFO.
    #[test]
    fn alert_priorities() {
        assert_eq!(alert_raised_entry(&alert(Severity::Warning), false).priority, 4);
        let escalated = alert_raised_entry(&alert(Severity::Critical), true);
        assert_eq!(escalated.priority, 2);
        assert_eq!(escalated.get("HEALTHMON_ALERT_EVENT"), Some("escalated"));
        assert!(escalated.message.contains("escalated to CRITICAL"), "{}", escalated.message);
        let resolved = alert_resolved_entry(&AlertRow { resolved: true, ..alert(Severity::Critical) });
        assert_eq!(resolved.priority, 6);
        assert_eq!(resolved.get("HEALTHMON_STATUS"), Some("recovered"));
        assert_eq!(escalated.get("HEALTHMON_STATUS"), Some("unhealthy"));
        assert_eq!(resolved.get("HEALTHMON_SEVERITY"), Some("CRITICAL"));
    }
}

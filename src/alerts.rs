//! Alert lifecycle decisions: one open alert per ongoing problem, identified
//! by (component, kind = the finding's metric_type). Pure: it sees the open
//! alerts and a batch of findings and says what to raise, update or resolve;
//! the store applies the decisions in its transaction.
//!
//! A problem found and repaired in the same batch, with no alert of its own
//! (a disk cleaned below its threshold, a stale lock cleared, a WAL
//! checkpointed), becomes one INFO alert recorded already resolved: the
//! seed's INFO is "auto-recovered", and an operator wants to know that a
//! disk hit 97 % overnight even though it healed.

use crate::model::{ActionKind, Finding, Problem, Status};
use crate::store::AlertRow;

/// The kind given to an alert the old Python monitor left open (it had no
/// kinds). No finding carries it, so it resolves by component alone: when a
/// batch reports that component and nothing about it is a problem.
pub const LEGACY_KIND: &str = "legacy";

/// What to do to the alerts table for one (component, kind) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A problem with no open alert: open one.
    Raise { component: String, kind: String, problem: Problem },
    /// The open alert's problem goes on. `alert` is the row as it must
    /// become (severity and message of the latest problem); `escalated`
    /// when its severity went up, so it is notified like a new one.
    Update { alert: AlertRow, escalated: bool },
    /// The problem is gone: `alert` is the row as it must become (resolved).
    Resolve { alert: AlertRow },
    /// Record an INFO alert, already resolved, for a repair in this batch.
    AutoRecovered { component: String, kind: String, message: String },
}

/// Decides what a batch of findings does to the open alerts. Several
/// findings for one pair in a batch count as one: the worst severity wins
/// (the first such finding's message), and any problem among them keeps the
/// alert open. Pairs with neither an open alert nor a problem need nothing.
pub fn decide(open: &[AlertRow], findings: &[Finding]) -> Vec<Decision> {
    let mut decisions: Vec<Decision> =
        batch_pairs(findings).into_iter().filter_map(|pair| decide_pair(open, pair)).collect();
    decisions.extend(resolve_legacy(open, findings));
    decisions.extend(auto_recovered(open, findings));
    decisions
}

/// One record per (component, kind) repaired in this batch: a `recovered`
/// finding with an action and no problem, on a component with no open
/// alert and no problem in the batch (those have an alert of their own).
/// Worker restarts are left out: the worker's own alert covers them.
fn auto_recovered(open: &[AlertRow], findings: &[Finding]) -> Vec<Decision> {
    let mut records: Vec<Decision> = Vec::new();
    for finding in findings.iter().filter(|f| is_repair(f)) {
        let has_alert = open.iter().any(|a| !a.resolved && a.component == finding.component)
            || findings.iter().any(|f| f.component == finding.component && f.problem.is_some());
        let seen = records.iter().any(
            |d| matches!(d, Decision::AutoRecovered { component, kind, .. } if *component == finding.component && *kind == finding.metric_type),
        );
        if !has_alert && !seen {
            records.push(Decision::AutoRecovered {
                component: finding.component.clone(),
                kind: finding.metric_type.clone(),
                message: repair_message(finding),
            });
        }
    }
    records
}

fn is_repair(f: &Finding) -> bool {
    f.status == Status::Recovered
        && f.problem.is_none()
        && f.action.as_ref().is_some_and(|a| a.kind != ActionKind::WorkerRestarted)
}

/// What was seen (the details) and what was done (the action, unless the
/// details already say it).
fn repair_message(f: &Finding) -> String {
    let taken = f.action.as_ref().map_or("", |a| a.taken.as_str());
    let mut message = format!("auto-recovered: {}", f.details);
    if !f.details.contains(taken) {
        message.push_str(&format!(" (action: {taken})"));
    }
    message
}

/// The batch reduced to one entry per (component, kind), in order of first
/// appearance, each with its worst problem if any.
struct Pair<'a> {
    component: &'a str,
    kind: &'a str,
    worst: Option<&'a Problem>,
}

fn batch_pairs(findings: &[Finding]) -> Vec<Pair<'_>> {
    let mut pairs: Vec<Pair<'_>> = Vec::new();
    for finding in findings {
        let existing = pairs.iter_mut().find(|p| p.component == finding.component && p.kind == finding.metric_type);
        match existing {
            Some(pair) => pair.worst = worse(pair.worst, finding.problem.as_ref()),
            None => pairs.push(Pair {
                component: &finding.component,
                kind: &finding.metric_type,
                worst: finding.problem.as_ref(),
            }),
        }
    }
    pairs
}

/// The more severe of two problems; on a tie the one seen first.
fn worse<'a>(seen: Option<&'a Problem>, next: Option<&'a Problem>) -> Option<&'a Problem> {
    match (seen, next) {
        (Some(a), Some(b)) if b.severity > a.severity => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b,
    }
}

fn decide_pair(open: &[AlertRow], pair: Pair<'_>) -> Option<Decision> {
    let current = open.iter().find(|a| !a.resolved && a.component == pair.component && a.kind == pair.kind);
    match (current, pair.worst) {
        (None, None) => None,
        (None, Some(problem)) => Some(Decision::Raise {
            component: pair.component.to_owned(),
            kind: pair.kind.to_owned(),
            problem: problem.clone(),
        }),
        (Some(alert), Some(problem)) => Some(Decision::Update {
            escalated: problem.severity > alert.severity,
            alert: AlertRow { severity: problem.severity, message: problem.message.clone(), ..alert.clone() },
        }),
        (Some(alert), None) => Some(Decision::Resolve { alert: AlertRow { resolved: true, ..alert.clone() } }),
    }
}

/// Legacy alerts whose component this batch reports with no problem at all.
fn resolve_legacy<'a>(open: &'a [AlertRow], findings: &'a [Finding]) -> impl Iterator<Item = Decision> + 'a {
    open.iter()
        .filter(|a| !a.resolved && a.kind == LEGACY_KIND)
        .filter(move |a| {
            let mut reported = findings.iter().filter(|f| f.component == a.component).peekable();
            reported.peek().is_some() && reported.all(|f| f.problem.is_none())
        })
        .map(|a| Decision::Resolve { alert: AlertRow { resolved: true, ..a.clone() } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Severity, Status};

    fn problem(component: &str, kind: &str, severity: Severity, message: &str) -> Finding {
        Finding::problem(component, kind, Status::Unhealthy, severity, message, "")
    }

    fn healthy(component: &str, kind: &str) -> Finding {
        Finding::healthy(component, kind, "")
    }

    fn open_alert(id: i64, component: &str, kind: &str, severity: Severity) -> AlertRow {
        AlertRow {
            id,
            raised_at: 1_700_000_000,
            severity,
            component: component.into(),
            kind: kind.into(),
            message: "old message".into(),
            resolved: false,
            silenced: false,
        }
    }

    /// Applies decisions the way the store does, so a test can run batches in sequence.
    fn apply(open: &mut Vec<AlertRow>, decisions: &[Decision]) {
        for decision in decisions {
            match decision {
                Decision::Raise { component, kind, problem } => {
                    let id = open.len() as i64 + 1;
                    let mut row = open_alert(id, component, kind, problem.severity);
                    row.message = problem.message.clone();
                    open.push(row);
                }
                Decision::Update { alert, .. } | Decision::Resolve { alert } => {
                    let row = open.iter_mut().find(|a| a.id == alert.id).expect("decision for a known alert");
                    *row = alert.clone();
                }
                Decision::AutoRecovered { .. } => {}
            }
        }
    }

    /// A new problem raises exactly one alert.
    #[test]
    fn new_problem_raises() {
        let decisions = decide(&[], &[problem("disk:/", "disk_usage", Severity::Warning, "90% full")]);
        assert_eq!(
            decisions,
            vec![Decision::Raise {
                component: "disk:/".into(),
                kind: "disk_usage".into(),
                problem: Problem { severity: Severity::Warning, message: "90% full".into() },
            }]
        );
    }

    /// The same problem in a second batch updates the alert instead of raising another.
    #[test]
    fn ongoing_problem_raises_once_across_batches() {
        let mut open = Vec::new();
        let batch = [problem("w1", "worker", Severity::Critical, "down")];
        let first = decide(&open, &batch);
        apply(&mut open, &first);
        let second = decide(&open, &batch);
        assert!(matches!(first.as_slice(), [Decision::Raise { .. }]));
        assert!(matches!(second.as_slice(), [Decision::Update { escalated: false, .. }]), "{second:?}");
        assert_eq!(open.len(), 1);
    }

    /// An update carries the latest message; a lower severity is taken silently.
    #[test]
    fn update_takes_latest_message_and_lower_severity_silently() {
        let open = [open_alert(7, "disk:/", "disk_usage", Severity::Critical)];
        let decisions = decide(&open, &[problem("disk:/", "disk_usage", Severity::Warning, "88% full")]);
        let [Decision::Update { alert, escalated }] = decisions.as_slice() else { panic!("{decisions:?}") };
        assert_eq!(
            (alert.id, alert.severity, alert.message.as_str(), *escalated),
            (7, Severity::Warning, "88% full", false)
        );
    }

    /// A higher severity on an open alert is an escalation.
    #[test]
    fn higher_severity_escalates() {
        let open = [open_alert(3, "disk:/", "disk_usage", Severity::Warning)];
        let decisions = decide(&open, &[problem("disk:/", "disk_usage", Severity::Critical, "97% full")]);
        let [Decision::Update { alert, escalated: true }] = decisions.as_slice() else { panic!("{decisions:?}") };
        assert_eq!((alert.id, alert.severity), (3, Severity::Critical));
    }

    /// A healthy finding for the pair resolves its open alert.
    #[test]
    fn healthy_finding_resolves() {
        let open = [open_alert(5, "w1", "worker", Severity::Critical)];
        let decisions = decide(&open, &[healthy("w1", "worker")]);
        let [Decision::Resolve { alert }] = decisions.as_slice() else { panic!("{decisions:?}") };
        assert_eq!((alert.id, alert.resolved), (5, true));
    }

    /// A healthy finding with no open alert changes nothing.
    #[test]
    fn healthy_without_alert_does_nothing() {
        assert_eq!(decide(&[], &[healthy("w1", "worker")]), vec![]);
    }

    /// Findings about other pairs leave an open alert alone.
    #[test]
    fn unreported_pair_stays_open() {
        let open = [open_alert(5, "w1", "worker", Severity::Critical)];
        assert_eq!(decide(&open, &[healthy("w2", "worker")]), vec![]);
    }

    /// One batch with several pairs: each gets its own decision.
    #[test]
    fn mixed_pairs_decided_separately() {
        let open =
            [open_alert(1, "w1", "worker", Severity::Critical), open_alert(2, "w2", "worker", Severity::Warning)];
        let decisions = decide(
            &open,
            &[
                healthy("w1", "worker"),
                problem("w2", "worker", Severity::Warning, "slow"),
                problem("w3", "worker", Severity::Critical, "down"),
            ],
        );
        assert!(matches!(&decisions[0], Decision::Resolve { alert } if alert.id == 1));
        assert!(matches!(&decisions[1], Decision::Update { alert, escalated: false } if alert.id == 2));
        assert!(matches!(&decisions[2], Decision::Raise { component, .. } if component == "w3"));
        assert_eq!(decisions.len(), 3);
    }

    /// The same component with two kinds makes two alerts, resolved independently.
    #[test]
    fn same_component_different_kinds_are_separate() {
        let mut open = Vec::new();
        let raised = decide(
            &open,
            &[
                problem("sqlite:/a.db", "db_lock", Severity::Warning, "locked"),
                problem("sqlite:/a.db", "db_wal", Severity::Warning, "big wal"),
            ],
        );
        assert_eq!(raised.len(), 2);
        apply(&mut open, &raised);
        let decisions = decide(
            &open,
            &[healthy("sqlite:/a.db", "db_lock"), problem("sqlite:/a.db", "db_wal", Severity::Warning, "big wal")],
        );
        assert!(matches!(&decisions[0], Decision::Resolve { alert } if alert.kind == "db_lock"));
        assert!(matches!(&decisions[1], Decision::Update { alert, .. } if alert.kind == "db_wal"));
    }

    /// Several findings for one pair: the worst severity wins and one problem keeps it open.
    #[test]
    fn worst_finding_of_a_pair_wins() {
        let batch = [
            problem("disk:/", "disk_usage", Severity::Warning, "warn"),
            problem("disk:/", "disk_usage", Severity::Critical, "crit"),
            healthy("disk:/", "disk_usage"),
        ];
        let decisions = decide(&[], &batch);
        let [Decision::Raise { problem: worst, .. }] = decisions.as_slice() else { panic!("{decisions:?}") };
        assert_eq!((worst.severity, worst.message.as_str()), (Severity::Critical, "crit"));

        let open = [open_alert(9, "disk:/", "disk_usage", Severity::Critical)];
        let decisions =
            decide(&open, &[healthy("disk:/", "disk_usage"), problem("disk:/", "disk_usage", Severity::Warning, "w")]);
        assert!(matches!(decisions.as_slice(), [Decision::Update { .. }]), "{decisions:?}");
    }

    /// A legacy alert resolves once its component is reported with no problem, not before.
    #[test]
    fn legacy_alert_resolves_by_component() {
        let open = [open_alert(4, "assigner_worker", LEGACY_KIND, Severity::Critical)];
        assert_eq!(decide(&open, &[healthy("other", "worker")]), vec![]);
        let still_bad = decide(
            &open,
            &[healthy("assigner_worker", "x"), problem("assigner_worker", "worker", Severity::Warning, "w")],
        );
        assert!(still_bad.iter().all(|d| !matches!(d, Decision::Resolve { .. })), "{still_bad:?}");
        let decisions = decide(&open, &[healthy("assigner_worker", "worker")]);
        assert!(matches!(decisions.as_slice(), [Decision::Resolve { alert }] if alert.id == 4), "{decisions:?}");
    }

    fn repair(component: &str, kind: &str, details: &str, action: ActionKind, taken: &str) -> Finding {
        Finding { status: Status::Recovered, ..Finding::healthy(component, kind, details) }.with_action(action, taken)
    }

    /// A disk cleaned below its threshold, with no alert of its own, leaves
    /// one resolved INFO record saying what was seen and done.
    #[test]
    fn repair_without_alert_is_recorded_once() {
        let cleaned = repair(
            "disk:/",
            "disk_cleanup",
            "97.0% full before cleanup (critical at 95%); deleted 8 files (3.7 MiB) from /var/log",
            ActionKind::DiskCleanup,
            "deleted 8 files (3.7 MiB) from /var/log",
        );
        let decisions = decide(&[], &[cleaned.clone(), cleaned, healthy("disk:/", "disk_usage")]);
        let [Decision::AutoRecovered { component, kind, message }] = decisions.as_slice() else {
            panic!("{decisions:?}")
        };
        assert_eq!((component.as_str(), kind.as_str()), ("disk:/", "disk_cleanup"));
        assert!(message.starts_with("auto-recovered: 97.0% full") && message.ends_with("from /var/log"), "{message}");
    }

    /// The action is added when the details do not say it already.
    #[test]
    fn repair_message_names_the_action() {
        let wal = repair("sqlite:/a.db", "wal_recovery", "-wal folded in", ActionKind::Other, "checkpointed 3 frames");
        let decisions = decide(&[], &[wal]);
        let [Decision::AutoRecovered { message, .. }] = decisions.as_slice() else { panic!("{decisions:?}") };
        assert_eq!(message, "auto-recovered: -wal folded in (action: checkpointed 3 frames)");
    }

    /// No record when the component has an alert of its own: open, or a
    /// problem in this batch; none for worker restarts or plain actions.
    #[test]
    fn repair_with_an_alert_of_its_own_is_not_recorded() {
        let cleaned = || repair("disk:/", "disk_cleanup", "x", ActionKind::DiskCleanup, "deleted 1 files");
        let open = [open_alert(1, "disk:/", "disk_usage", Severity::Critical)];
        assert!(!decide(&open, &[cleaned()]).iter().any(|d| matches!(d, Decision::AutoRecovered { .. })));
        let still_full = problem("disk:/", "disk_usage", Severity::Critical, "96% full");
        assert!(!decide(&[], &[cleaned(), still_full]).iter().any(|d| matches!(d, Decision::AutoRecovered { .. })));
        let restart = repair("w1", "worker_restart", "pid 4", ActionKind::WorkerRestarted, "restarted");
        assert_eq!(decide(&[], &[restart]), vec![]);
        let housekeeping = healthy("disk:/", "disk_cleanup").with_action(ActionKind::DiskCleanup, "deleted 1 files");
        assert_eq!(decide(&[], &[housekeeping]), vec![]);
    }
}

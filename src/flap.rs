//! Flap damping: a (component, kind) whose alert changes state (a raise or
//! a resolve) more than `flap_threshold` times within `flap_window` is held
//! open as one "flapping (N changes in 30m)" alert, notified once when it
//! starts flapping and once when it settles, i.e. resolves after a quiet
//! `flap_window`. A worker crash-looping under its budget, or a disk
//! hovering at its threshold, then pages once instead of every cycle.
//!
//! Pure: it rewrites the [`Decision`]s of [`crate::alerts::decide`] before
//! the store applies them, on an injected clock (unix seconds). The history
//! is kept in memory by the engine, so a restart of healthmon forgets it: a
//! held alert then resolves at the first healthy check, as any alert would.
//! An alert whose component is no longer watched (ended, or removed from
//! the configuration) resolves at once: it cannot flap any more.

use std::collections::{HashMap, VecDeque};

use crate::alerts::Decision;
use crate::config::{format_duration, AlertSettings};
use crate::model::{Finding, ENDED};

/// How one (component, kind) has been behaving.
#[derive(Debug, Default)]
struct Pair {
    /// When its state changed (raise or resolve, seen or held), oldest first.
    changes: VecDeque<i64>,
    /// Held open as flapping.
    flapping: bool,
    /// Whether the problem is there now (what an undamped alert would show).
    problem: bool,
}

/// The damping state of every pair; one per engine, kept across reloads.
#[derive(Debug)]
pub struct Damper {
    settings: AlertSettings,
    pairs: HashMap<(String, String), Pair>,
}

impl Damper {
    pub fn new(settings: AlertSettings) -> Damper {
        Damper { settings, pairs: HashMap::new() }
    }

    /// New settings from a reload; the history stays.
    pub fn reconfigure(&mut self, settings: AlertSettings) {
        self.settings = settings;
    }

    /// The decisions for `findings` as they must be applied at `now` (unix seconds).
    pub fn damp(&mut self, decisions: Vec<Decision>, findings: &[Finding], now: i64) -> Vec<Decision> {
        self.forget_before(now - self.window());
        decisions
            .into_iter()
            .filter_map(|d| match d {
                Decision::Resolve { alert } if ended(findings, &alert.component, &alert.kind) => {
                    self.pairs.remove(&(alert.component.clone(), alert.kind.clone()));
                    Some(Decision::Resolve { alert })
                }
                d => self.damp_one(d, now),
            })
            .collect()
    }

    fn window(&self) -> i64 {
        i64::try_from(self.settings.flap_window.as_secs()).unwrap_or(i64::MAX)
    }

    fn damp_one(&mut self, decision: Decision, now: i64) -> Option<Decision> {
        let (threshold, window, window_secs) = (self.settings.flap_threshold, self.settings.flap_window, self.window());
        let flapping_text = |n: usize, message: &str| {
            let message = message
                .split_once("): ")
                .filter(|(head, _)| head.starts_with("flapping ("))
                .map_or(message, |(_, m)| m);
            format!("flapping ({n} changes in {}): {message}", format_duration(window))
        };
        match decision {
            Decision::Raise { component, kind, mut problem } => {
                let pair = self.pairs.entry((component.clone(), kind.clone())).or_default();
                pair.changes.push_back(now);
                pair.problem = true;
                if threshold > 0 && pair.changes.len() > threshold as usize {
                    pair.flapping = true;
                }
                if pair.flapping {
                    problem.message = flapping_text(pair.changes.len(), &problem.message);
                }
                Some(Decision::Raise { component, kind, problem })
            }
            Decision::Update { mut alert, escalated } => {
                let pair = self.pairs.entry((alert.component.clone(), alert.kind.clone())).or_default();
                if pair.flapping {
                    pair.returned(now, true);
                    alert.message = flapping_text(pair.changes.len(), &alert.message);
                }
                pair.problem = true;
                Some(Decision::Update { alert, escalated })
            }
            Decision::Resolve { mut alert } => {
                let pair = self.pairs.entry((alert.component.clone(), alert.kind.clone())).or_default();
                if pair.flapping {
                    pair.returned(now, false);
                    let quiet = pair.changes.back().is_none_or(|last| now - last >= window_secs);
                    if !quiet {
                        return None;
                    }
                    pair.flapping = false;
                    pair.changes.clear();
                    return Some(Decision::Resolve { alert });
                }
                pair.changes.push_back(now);
                pair.problem = false;
                if threshold == 0 || pair.changes.len() <= threshold as usize {
                    return Some(Decision::Resolve { alert });
                }
                pair.flapping = true;
                alert.resolved = false;
                alert.message = flapping_text(pair.changes.len(), &alert.message);
                Some(Decision::Update { alert, escalated: true })
            }
            other @ Decision::AutoRecovered { .. } => Some(other),
        }
    }

    /// Drops changes older than `cutoff`, and pairs with nothing to remember.
    fn forget_before(&mut self, cutoff: i64) {
        for pair in self.pairs.values_mut() {
            while pair.changes.front().is_some_and(|t| *t < cutoff) {
                pair.changes.pop_front();
            }
        }
        self.pairs.retain(|_, p| p.flapping || p.problem || !p.changes.is_empty());
    }
}

/// Whether the batch says the pair is no longer watched.
fn ended(findings: &[Finding], component: &str, kind: &str) -> bool {
    findings.iter().any(|f| f.component == component && f.metric_type == kind && f.details == ENDED)
}

impl Pair {
    /// While held open: the problem is there or not; a change when it differs.
    fn returned(&mut self, now: i64, problem: bool) {
        if self.problem != problem {
            self.changes.push_back(now);
        }
        self.problem = problem;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{Problem, Severity};
    use crate::store::AlertRow;

    const WINDOW: i64 = 1800;

    fn damper(threshold: u32) -> Damper {
        Damper::new(AlertSettings { flap_threshold: threshold, flap_window: Duration::from_secs(WINDOW as u64) })
    }

    fn row(resolved: bool) -> AlertRow {
        AlertRow {
            id: 1,
            raised_at: 0,
            severity: Severity::Critical,
            component: "w1".into(),
            kind: "worker_status".into(),
            message: "exited with 1; restarting".into(),
            resolved,
            silenced: false,
        }
    }

    fn raise() -> Decision {
        let problem = Problem { severity: Severity::Critical, message: "exited with 1; restarting".into() };
        Decision::Raise { component: "w1".into(), kind: "worker_status".into(), problem }
    }

    fn resolve() -> Decision {
        Decision::Resolve { alert: row(true) }
    }

    fn update() -> Decision {
        Decision::Update { alert: row(false), escalated: false }
    }

    /// Below the threshold decisions pass unchanged.
    #[test]
    fn steady_alerts_pass_unchanged() {
        let mut d = damper(3);
        assert_eq!(d.damp(vec![raise()], &[], 0), vec![raise()]);
        assert_eq!(d.damp(vec![update()], &[], 60), vec![update()]);
        assert_eq!(d.damp(vec![resolve()], &[], 120), vec![resolve()]);
        assert_eq!(d.damp(vec![raise()], &[], 180), vec![raise()]);
    }

    /// The change past the threshold holds the alert open and notifies once
    /// (an escalated update) saying it is flapping; further changes change
    /// nothing a person is told about.
    #[test]
    fn the_fourth_change_holds_the_alert_open_as_flapping() {
        let mut d = damper(3);
        d.damp(vec![raise()], &[], 0);
        d.damp(vec![resolve()], &[], 10);
        d.damp(vec![raise()], &[], 20);
        let held = d.damp(vec![resolve()], &[], 30);
        let [Decision::Update { alert, escalated: true }] = held.as_slice() else { panic!("{held:?}") };
        assert!(!alert.resolved);
        assert_eq!(alert.message, "flapping (4 changes in 30m): exited with 1; restarting");
        for t in (40..400).step_by(20) {
            let decisions = d.damp(vec![update()], &[], t);
            let [Decision::Update { alert, escalated: false }] = decisions.as_slice() else { panic!("{decisions:?}") };
            assert!(alert.message.starts_with("flapping ("), "{}", alert.message);
            assert_eq!(d.damp(vec![resolve()], &[], t + 10), vec![], "held open at {t}");
        }
    }

    /// A flapping alert resolves (notified once) only after a quiet window,
    /// and then starts afresh.
    #[test]
    fn settles_after_a_quiet_window() {
        let mut d = damper(1);
        d.damp(vec![raise()], &[], 0);
        assert!(matches!(d.damp(vec![resolve()], &[], 10).as_slice(), [Decision::Update { escalated: true, .. }]));
        assert_eq!(d.damp(vec![resolve()], &[], 10 + WINDOW - 1), vec![], "not yet quiet");
        assert_eq!(d.damp(vec![resolve()], &[], 10 + WINDOW), vec![resolve()]);
        assert_eq!(d.damp(vec![raise()], &[], 20 + WINDOW), vec![raise()], "history cleared");
    }

    /// Changes spread wider than the window never add up to flapping.
    #[test]
    fn slow_changes_do_not_flap() {
        let mut d = damper(3);
        for i in 0..10 {
            let t = i * WINDOW;
            assert_eq!(d.damp(vec![raise()], &[], t), vec![raise()]);
            assert_eq!(d.damp(vec![resolve()], &[], t + WINDOW / 2), vec![resolve()]);
        }
    }

    /// flap_threshold = 0 turns damping off.
    #[test]
    fn zero_threshold_is_off() {
        let mut d = damper(0);
        for t in 0..20 {
            assert_eq!(d.damp(vec![raise()], &[], t * 2), vec![raise()]);
            assert_eq!(d.damp(vec![resolve()], &[], t * 2 + 1), vec![resolve()]);
        }
    }

    /// A flapping alert whose component ended resolves at once.
    #[test]
    fn ended_component_resolves_at_once() {
        let mut d = damper(1);
        d.damp(vec![raise()], &[], 0);
        assert!(matches!(d.damp(vec![resolve()], &[], 10).as_slice(), [Decision::Update { .. }]));
        let ended = Finding::healthy("w1", "worker_status", ENDED);
        assert_eq!(d.damp(vec![resolve()], &[ended], 20), vec![resolve()]);
    }
}

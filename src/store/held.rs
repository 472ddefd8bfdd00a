//! What the store keeps in memory while the database cannot be written
//! (disk full, read-only filesystem, another process holding the write
//! lock): the open alerts as they now are, the findings that changed them,
//! and the metric rows not yet written. Alerting goes on from this view;
//! the next successful write replays it in order, so the database ends up
//! as if it had never failed (bar the bounds below).

use std::collections::VecDeque;

use rusqlite::Connection;

use super::{queries, AlertRow, Recorded};
use crate::alerts::{self, Decision};
use crate::model::{Finding, Severity, Status};

/// The component of every alert about the state database.
pub const STATE_COMPONENT: &str = "state";
/// The kind of the alert raised while writes fail.
pub const WRITE_KIND: &str = "state_write";

/// Metric rows kept at most while unwritable; older ones are dropped (and
/// counted), so a long outage cannot grow the daemon without bound.
const MAX_METRICS: usize = 10_000;
/// Alert-changing batches kept at most; the same reasoning.
const MAX_BATCHES: usize = 1_000;

/// One batch of findings that changed the alerts, with its time.
struct Batch {
    at: i64,
    findings: Vec<Finding>,
}

pub struct Held {
    /// Why the last write failed.
    error: String,
    /// The open alerts as alerting now sees them.
    open: Vec<AlertRow>,
    /// Ids for alerts raised in memory; usually the ids SQLite gives them
    /// later, as both count up from the largest id.
    next_id: i64,
    batches: VecDeque<Batch>,
    metrics: VecDeque<(i64, Finding)>,
    dropped: u64,
}

impl Held {
    /// Starts holding from the database's open alerts (read, which usually
    /// still works when writing does not; none when even that fails).
    pub fn start(conn: &Connection, error: String) -> Held {
        let open = queries::list_alerts(conn, true, i64::MAX).unwrap_or_else(|err| {
            log::error!("cannot read the open alerts either ({err}); alerting starts from none");
            Vec::new()
        });
        let max_id: i64 =
            conn.query_row("SELECT COALESCE(MAX(id), 0) FROM health_alerts", [], |r| r.get(0)).unwrap_or(0);
        let next_id = open.iter().map(|a| a.id).max().unwrap_or(0).max(max_id) + 1;
        Held { error, open, next_id, batches: VecDeque::new(), metrics: VecDeque::new(), dropped: 0 }
    }

    /// What `State` and `Status()` say while holding.
    pub fn problem(&self, path: &str) -> String {
        let dropped =
            if self.dropped > 0 { format!(", {} older metric rows dropped", self.dropped) } else { String::new() };
        format!(
            "cannot write the state database {path}: {}; alerts and metrics are held in memory \
             ({} metric rows{dropped}) and written once it is writable again",
            self.error,
            self.metrics.len()
        )
    }

    pub fn set_error(&mut self, error: String) {
        self.error = error;
    }

    /// The open alerts as alerting sees them.
    pub fn open(&self) -> Vec<AlertRow> {
        let mut open = self.open.clone();
        open.sort_by_key(|a| std::cmp::Reverse(a.id));
        open
    }

    /// Decides a batch against the memory view, as the database would,
    /// with the `state` alert saying why it is held.
    pub fn record(&mut self, findings: &[Finding], now: i64, alerts: bool, path: &str) -> Recorded {
        let mut findings = findings.to_vec();
        if alerts {
            findings.push(self.write_problem(path));
        }
        for finding in &findings {
            if self.metrics.len() == MAX_METRICS {
                self.metrics.pop_front();
                self.dropped += 1;
            }
            self.metrics.push_back((now, finding.clone()));
        }
        let mut recorded = Recorded::default();
        if !alerts {
            return recorded;
        }
        let decisions = alerts::decide(&self.open, &findings);
        let changing: Vec<Finding> = findings
            .iter()
            .filter(|f| decisions.iter().any(|d| changes_state(d) && decided_pair(d) == (&f.component, &f.metric_type)))
            .cloned()
            .collect();
        for decision in decisions {
            self.apply(decision, now, &mut recorded);
        }
        if !changing.is_empty() {
            if self.batches.len() == MAX_BATCHES {
                self.batches.pop_front();
            }
            self.batches.push_back(Batch { at: now, findings: changing });
        }
        recorded
    }

    /// Writes everything held, in order, inside the caller's transaction.
    pub fn replay(&self, conn: &Connection, alerts: bool) -> rusqlite::Result<()> {
        for (at, finding) in &self.metrics {
            queries::insert_metric(conn, finding, *at)?;
        }
        if !alerts {
            return Ok(());
        }
        let mut ignored = Recorded::default();
        for batch in &self.batches {
            let open = queries::list_alerts(conn, true, i64::MAX)?;
            for decision in alerts::decide(&open, &batch.findings) {
                queries::apply(conn, decision, batch.at, &mut ignored)?;
            }
        }
        Ok(())
    }

    fn write_problem(&self, path: &str) -> Finding {
        let message = format!(
            "cannot write the state database {path}: {}; checks, recoveries and supervision go on, \
             alerts are held in memory until it is writable again",
            self.error
        );
        Finding::problem(STATE_COMPONENT, WRITE_KIND, Status::Error, Severity::Warning, &message, &self.error)
    }

    fn apply(&mut self, decision: Decision, now: i64, recorded: &mut Recorded) {
        match decision {
            Decision::Raise { component, kind, problem } => {
                let alert = queries::opened(self.next_id, now, component, kind, problem);
                self.next_id += 1;
                self.open.push(alert.clone());
                recorded.raised.push(alert);
            }
            Decision::Update { alert, escalated } => {
                self.open.retain(|a| a.id != alert.id);
                self.open.push(alert.clone());
                if escalated {
                    recorded.escalated.push(alert);
                }
            }
            Decision::Resolve { alert } => {
                self.open.retain(|a| a.id != alert.id);
                recorded.resolved.push(alert);
            }
            // Nothing stays open; the journal already has the repair.
            Decision::AutoRecovered { .. } => {}
        }
    }
}

/// The healthy finding that resolves the `state_write` alert once a write
/// worked again.
pub fn write_recovered() -> Finding {
    Finding::healthy(STATE_COMPONENT, WRITE_KIND, "the state database is writable again")
}

/// Whether a decision opens, closes or escalates an alert; a plain update
/// (the problem goes on) is not kept, so a long outage holds one batch per
/// change, not one per cycle. Its last_seen and count catch up later.
fn changes_state(decision: &Decision) -> bool {
    !matches!(decision, Decision::Update { escalated: false, .. })
}

fn decided_pair(decision: &Decision) -> (&String, &String) {
    match decision {
        Decision::Raise { component, kind, .. } | Decision::AutoRecovered { component, kind, .. } => (component, kind),
        Decision::Update { alert, .. } | Decision::Resolve { alert } => (&alert.component, &alert.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> (Connection, Held) {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        let held = Held::start(&conn, "disk full".into());
        (conn, held)
    }

    fn disk(problem: bool) -> Finding {
        if problem {
            Finding::problem("disk:/", "disk_usage", Status::Unhealthy, Severity::Critical, "full", "")
        } else {
            Finding::healthy("disk:/", "disk_usage", "")
        }
    }

    /// A raise and a later resolve while held are replayed as a raise and
    /// a resolve, with the times they happened; the state alert is open.
    #[test]
    fn replay_writes_what_happened_while_held() {
        let (conn, mut held) = fresh();
        let first = held.record(&[disk(true)], 100, true, "db");
        assert_eq!(first.raised.iter().map(|a| a.component.as_str()).collect::<Vec<_>>(), ["disk:/", "state"]);
        assert!(held.record(&[disk(true)], 160, true, "db").raised.is_empty(), "raised once");
        assert_eq!(held.record(&[disk(false)], 220, true, "db").resolved.len(), 1);
        assert_eq!(held.batches.len(), 2, "plain updates are not kept");

        held.replay(&conn, true).unwrap();
        let all = queries::list_alerts(&conn, false, 10).unwrap();
        let disk_alert = all.iter().find(|a| a.component == "disk:/").unwrap();
        assert!(disk_alert.resolved);
        assert_eq!(disk_alert.raised_at, 100);
        assert!(all.iter().any(|a| a.component == STATE_COMPONENT && !a.resolved));
        let metrics: i64 = conn.query_row("SELECT count(*) FROM health_metrics", [], |r| r.get(0)).unwrap();
        assert_eq!(metrics, 6, "three findings and three state findings");
    }

    /// Memory stays bounded during a long outage.
    #[test]
    fn metrics_held_are_bounded() {
        let (_conn, mut held) = fresh();
        for t in 0..(MAX_METRICS as i64) {
            held.record(&[disk(false)], t, false, "db");
        }
        assert_eq!(held.metrics.len(), MAX_METRICS);
        assert_eq!(held.dropped, 0);
        held.record(&[disk(false)], 0, false, "db");
        assert_eq!((held.metrics.len(), held.dropped), (MAX_METRICS, 1));
    }
}

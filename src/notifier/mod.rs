//! Alert notifications: a webhook (JSON POST, Slack-compatible `text`) and
//! a command (the alert in `HEALTHMON_*` environment variables). Delivery
//! runs on a task of its own so it never blocks or slows the check loop;
//! failures are retried with backoff a bounded number of times and then
//! reported back as an `error` metric. (The word "notify" is systemd's;
//! this module is about people.)

mod deliver;
mod dispatch;
mod payload;
mod ratelimit;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::NotifySettings;
use crate::model::{Finding, Status};
use crate::store::AlertRow;

pub use dispatch::Dispatch;
pub use payload::{Event, EventKind};
use ratelimit::RateLimit;

/// How many notifications may wait for delivery; past that new ones are
/// dropped and counted (the loop must never wait on a slow receiver).
const QUEUE_DEPTH: usize = 256;

/// Where delivery failures go: the daemon records them as metric rows.
pub type FailureSender = mpsc::UnboundedSender<Vec<Finding>>;

/// Retry policy of the webhook: attempts and the first backoff (doubling).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry { attempts: 4, first_backoff: Duration::from_secs(1), timeout: Duration::from_secs(10) }
    }
}

/// A handle the daemon keeps; cheap to clone, never blocks.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Event>,
    settings: NotifySettings,
}

/// The delivery task; await it (bounded) before exiting so queued
/// notifications of a `--once` run go out.
pub struct Delivery {
    task: JoinHandle<()>,
}

impl Notifier {
    /// Starts the delivery task. Must be called inside a tokio runtime.
    pub fn start(settings: NotifySettings, failures: FailureSender, retry: Retry) -> (Notifier, Delivery) {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let task = tokio::spawn(deliver_all(rx, settings.clone(), failures, retry));
        (Notifier { tx, settings }, Delivery { task })
    }

    /// An alert was opened (or escalated).
    pub fn raised(&self, alert: &AlertRow) {
        self.enqueue(alert, EventKind::Raised);
    }

    /// An alert was resolved.
    pub fn resolved(&self, alert: &AlertRow) {
        self.enqueue(alert, EventKind::Resolved);
    }

    /// The reminder interval, when reminders are on.
    pub fn reminder_interval(&self) -> Option<Duration> {
        self.settings.reminder_interval
    }

    /// A reminder for an alert that stays unresolved.
    pub fn remind(&self, alert: &AlertRow) {
        self.enqueue(alert, EventKind::Reminder);
    }

    fn enqueue(&self, alert: &AlertRow, kind: EventKind) {
        if alert.severity < self.settings.min_severity {
            return;
        }
        if self.tx.try_send(Event::new(alert, kind)).is_err() {
            log::warn!("notification queue full or closed; dropped notification for alert {}", alert.id);
        }
    }
}

impl Delivery {
    /// Waits for queued notifications, at most `limit`. All `Notifier`
    /// clones must be dropped first, or this waits the whole limit.
    pub async fn finish(self, limit: Duration) {
        if tokio::time::timeout(limit, self.task).await.is_err() {
            log::warn!("notifications still pending after {}s; giving up on them", limit.as_secs());
        }
    }
}

/// Decides when reminders are due; kept by the daemon loop.
#[derive(Debug, Default)]
pub struct Reminders {
    last_sent: HashMap<i64, Instant>,
}

impl Reminders {
    /// The unresolved alerts due for a reminder now; forgets resolved ones.
    pub fn due<'a>(&mut self, unresolved: &'a [AlertRow], interval: Duration, now: Instant) -> Vec<&'a AlertRow> {
        self.last_sent.retain(|id, _| unresolved.iter().any(|a| a.id == *id));
        let mut due = Vec::new();
        for alert in unresolved {
            let last = *self.last_sent.entry(alert.id).or_insert(now);
            if now.duration_since(last) >= interval {
                self.last_sent.insert(alert.id, now);
                due.push(alert);
            }
        }
        due
    }
}

async fn deliver_all(mut rx: mpsc::Receiver<Event>, settings: NotifySettings, failures: FailureSender, retry: Retry) {
    let mut limit = RateLimit::default();
    while let Some(event) = rx.recv().await {
        let Some(event) = limit.admit(event, Instant::now()) else { continue };
        for failure in deliver::send(&settings, &event, retry).await {
            let finding = Finding { status: Status::Error, ..Finding::healthy("notify", "notify_delivery", failure) };
            let _ = failures.send(vec![finding]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    fn alert(id: i64) -> AlertRow {
        AlertRow {
            id,
            raised_at: 0,
            severity: Severity::Critical,
            component: "c".into(),
            kind: "k".into(),
            message: "m".into(),
            resolved: false,
        }
    }

    /// No reminder right after raising; one per interval while unresolved;
    /// none once the alert is gone, and a returning id starts afresh.
    #[test]
    fn reminders_come_once_per_interval_while_unresolved() {
        let mut reminders = Reminders::default();
        let interval = Duration::from_secs(3600);
        let t0 = Instant::now();
        let open = [alert(1)];
        assert!(reminders.due(&open, interval, t0).is_empty(), "the raise itself was just notified");
        assert!(reminders.due(&open, interval, t0 + interval / 2).is_empty());
        let due: Vec<i64> = reminders.due(&open, interval, t0 + interval).iter().map(|a| a.id).collect();
        assert_eq!(due, vec![1]);
        assert!(reminders.due(&open, interval, t0 + interval + interval / 2).is_empty());
        assert_eq!(reminders.due(&open, interval, t0 + interval * 2).len(), 1);
        assert!(reminders.due(&[], interval, t0 + interval * 3).is_empty());
        assert!(reminders.due(&open, interval, t0 + interval * 3).is_empty(), "forgotten when resolved");
    }
}

//! Alert notifications: a webhook (JSON POST, Slack-compatible `text`), a
//! command (the alert in `HEALTHMON_*` environment variables) and
//! Alertmanager. Each channel has its own queue and task (see `channel`),
//! so one dead receiver never delays another, and none ever blocks or
//! slows the check loop; failures come back as `error` metric rows, with
//! URLs cut to `scheme://host:port` (`redact`). Silenced alerts are not
//! notified. (The word "notify" is systemd's; this module is about people.)

mod alertmanager;
mod channel;
mod deliver;
mod dispatch;
mod payload;
mod ratelimit;
mod redact;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::NotifySettings;
use crate::model::Finding;
use crate::store::AlertRow;

use channel::Channel;
pub use dispatch::Dispatch;
pub use payload::{Event, EventKind};
pub use redact::redact_url;

/// How many notifications may wait for one channel; past that new ones are
/// dropped and logged (the loop must never wait on a slow receiver).
const QUEUE_DEPTH: usize = 256;

/// Where delivery failures go: the daemon records them as metric rows.
pub type FailureSender = mpsc::UnboundedSender<Vec<Finding>>;

/// Retry policy of the webhook: attempts and the first backoff (doubling);
/// `timeout` bounds every single attempt of every HTTP channel.
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

/// What a channel's queue carries.
#[derive(Debug)]
pub enum Message {
    Event(Event),
    /// Every open, notifiable alert, after each cycle: channels that keep
    /// alerts alive elsewhere (Alertmanager) re-post from this set.
    Open(Vec<AlertRow>),
}

/// One channel's queue as the handle sees it.
#[derive(Clone)]
struct Queue {
    name: &'static str,
    tracks_open: bool,
    tx: mpsc::Sender<Message>,
}

/// A handle the daemon keeps; cheap to clone, never blocks.
#[derive(Clone)]
pub struct Notifier {
    queues: Vec<Queue>,
    settings: NotifySettings,
}

/// The channels' tasks; await them (bounded) before exiting so queued
/// notifications of a `--once` run go out.
pub struct Delivery {
    tasks: Vec<JoinHandle<()>>,
}

impl Notifier {
    /// Starts one task per configured channel. Must be called inside a tokio runtime.
    pub fn start(settings: NotifySettings, failures: FailureSender, retry: Retry) -> (Notifier, Delivery) {
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        for channel in Channel::configured(&settings) {
            let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
            queues.push(Queue { name: channel.name(), tracks_open: channel.tracks_open_alerts(), tx });
            tasks.push(tokio::spawn(channel.run(rx, failures.clone(), retry)));
        }
        (Notifier { queues, settings }, Delivery { tasks })
    }

    /// An alert was opened (or escalated), or recorded already resolved
    /// (an auto-recovered INFO record).
    pub fn raised(&self, alert: &AlertRow) {
        let kind = if alert.resolved { EventKind::AutoRecovered } else { EventKind::Raised };
        self.enqueue(alert, kind);
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

    /// Whether a channel keeps the open alerts (wants [`Notifier::open_alerts`]).
    pub fn tracks_open_alerts(&self) -> bool {
        self.queues.iter().any(|q| q.tracks_open)
    }

    /// The currently open alerts, for the channels that re-post them.
    pub fn open_alerts(&self, unresolved: &[AlertRow]) {
        let notifiable: Vec<AlertRow> = unresolved.iter().filter(|a| self.notifiable(a)).cloned().collect();
        for queue in self.queues.iter().filter(|q| q.tracks_open) {
            if queue.tx.try_send(Message::Open(notifiable.clone())).is_err() {
                log::warn!("{} notification queue full or closed; open alerts not passed on", queue.name);
            }
        }
    }

    /// Silenced alerts and those under `min_severity` go to no channel.
    fn notifiable(&self, alert: &AlertRow) -> bool {
        !alert.silenced && alert.severity >= self.settings.min_severity
    }

    fn enqueue(&self, alert: &AlertRow, kind: EventKind) {
        if !self.notifiable(alert) {
            return;
        }
        let event = Event::new(alert, kind);
        for queue in &self.queues {
            if queue.tx.try_send(Message::Event(event.clone())).is_err() {
                log::warn!(
                    "{} notification queue full or closed; dropped notification for alert {}",
                    queue.name,
                    alert.id
                );
            }
        }
    }
}

impl Delivery {
    /// Waits for queued notifications, at most `limit` in all. All
    /// `Notifier` clones must be dropped first, or this waits the whole limit.
    pub async fn finish(self, limit: Duration) {
        let all = futures_join(self.tasks);
        if tokio::time::timeout(limit, all).await.is_err() {
            log::warn!("notifications still pending after {}s; giving up on them", limit.as_secs());
        }
    }
}

/// Awaits every task (they run concurrently already; this only waits).
async fn futures_join(tasks: Vec<JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
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
            silenced: false,
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

//! What the daemon holds: the notifier for the current settings (replaced
//! on a reload that changes `[notify]`), the reminder schedule, and one
//! failure channel that outlives reloads.

use std::time::{Duration, Instant};

use super::{Delivery, FailureSender, Notifier, Reminders, Retry};
use crate::config::NotifySettings;
use crate::store::AlertRow;

/// How long a replaced notifier may finish its queue in the background.
const REPLACED_GRACE: Duration = Duration::from_secs(60);

pub struct Dispatch {
    settings: Option<NotifySettings>,
    current: Option<(Notifier, Delivery)>,
    failures: FailureSender,
    reminders: Reminders,
}

impl Dispatch {
    /// Starts a notifier when `[notify]` is configured. Needs a runtime.
    pub fn new(settings: Option<&NotifySettings>, failures: FailureSender) -> Dispatch {
        let mut dispatch = Dispatch { settings: None, current: None, failures, reminders: Reminders::default() };
        dispatch.reconfigure(settings);
        dispatch
    }

    /// Applies reloaded settings; an unchanged `[notify]` keeps its queue.
    pub fn reconfigure(&mut self, settings: Option<&NotifySettings>) {
        if self.settings.as_ref() == settings {
            return;
        }
        if let Some((notifier, delivery)) = self.current.take() {
            drop(notifier);
            tokio::spawn(delivery.finish(REPLACED_GRACE));
        }
        self.settings = settings.cloned();
        self.current = settings.map(|s| Notifier::start(s.clone(), self.failures.clone(), Retry::default()));
    }

    /// Notifies alerts just raised (or escalated) and resolved.
    pub fn alerts(&self, raised: &[AlertRow], resolved: &[AlertRow]) {
        let Some((notifier, _)) = &self.current else { return };
        raised.iter().for_each(|a| notifier.raised(a));
        resolved.iter().for_each(|a| notifier.resolved(a));
    }

    /// After each cycle: the open alerts go to the channels that re-post
    /// them (Alertmanager), and reminders that are due go out.
    pub fn open_alerts(&mut self, unresolved: &[AlertRow]) {
        let Some((notifier, _)) = &self.current else { return };
        if notifier.tracks_open_alerts() {
            notifier.open_alerts(unresolved);
        }
        let Some(interval) = notifier.reminder_interval() else { return };
        for alert in self.reminders.due(unresolved, interval, Instant::now()) {
            notifier.remind(alert);
        }
    }

    /// Whether [`Dispatch::open_alerts`] needs the unresolved alerts after each cycle.
    pub fn wants_open_alerts(&self) -> bool {
        self.current.as_ref().is_some_and(|(n, _)| n.reminder_interval().is_some() || n.tracks_open_alerts())
    }

    /// Gives queued notifications up to `limit` to go out (at stop).
    pub async fn finish(self, limit: Duration) {
        if let Some((notifier, delivery)) = self.current {
            drop(notifier);
            delivery.finish(limit).await;
        }
    }
}

//! One delivery channel (webhook, command or Alertmanager) with its own
//! queue and task, so a dead webhook (4 attempts, ~47 s per event) never
//! delays the pager command or Alertmanager. Failures come back as
//! `notify_delivery` error findings naming the channel, with URLs redacted.

use std::time::Instant;

use tokio::sync::mpsc;

use super::payload::Event;
use super::ratelimit::RateLimit;
use super::redact::redact_url;
use super::{alertmanager, deliver, FailureSender, Message, Retry};
use crate::config::NotifySettings;
use crate::model::{Finding, Status};

/// Where one channel delivers.
#[derive(Debug, Clone)]
pub enum Channel {
    Webhook(String),
    Command(Vec<String>),
    Alertmanager(String),
}

impl Channel {
    /// The channels `[notify]` configures, in a fixed order.
    pub fn configured(settings: &NotifySettings) -> Vec<Channel> {
        let mut channels = Vec::new();
        channels.extend(settings.webhook.clone().map(Channel::Webhook));
        channels.extend(settings.command.clone().map(Channel::Command));
        channels.extend(settings.alertmanager.clone().map(Channel::Alertmanager));
        channels
    }

    /// Whether it keeps the set of open alerts (and so wants [`Message::Open`]).
    pub fn tracks_open_alerts(&self) -> bool {
        matches!(self, Channel::Alertmanager(_))
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Channel::Webhook(_) => "webhook",
            Channel::Command(_) => "command",
            Channel::Alertmanager(_) => "alertmanager",
        }
    }

    /// The channel as a person reads it in a failure: never a secret.
    fn describe(&self) -> String {
        match self {
            Channel::Webhook(url) => format!("webhook {}", redact_url(url)),
            Channel::Command(argv) => format!("notify command {}", argv[0]),
            Channel::Alertmanager(url) => format!("alertmanager {}", redact_url(url)),
        }
    }

    /// The channel's task: runs until every sender is dropped.
    pub async fn run(self, rx: mpsc::Receiver<Message>, failures: FailureSender, retry: Retry) {
        let report = Report { channel: self.describe(), failures };
        match self {
            Channel::Alertmanager(url) => alertmanager::run(&url, rx, &report, retry).await,
            Channel::Webhook(url) => run_limited(rx, &report, Limited::Webhook(url, retry)).await,
            Channel::Command(argv) => run_limited(rx, &report, Limited::Command(argv)).await,
        }
    }
}

/// The channels that deliver one event at a time through the storm policy.
enum Limited {
    Webhook(String, Retry),
    Command(Vec<String>),
}

impl Limited {
    async fn send(&self, event: &Event) -> Result<(), String> {
        match self {
            Limited::Webhook(url, retry) => deliver::webhook_with_retry(url, event, *retry).await,
            Limited::Command(argv) => deliver::run_command(argv, event).await,
        }
    }
}

async fn run_limited(mut rx: mpsc::Receiver<Message>, report: &Report, target: Limited) {
    let mut limit = RateLimit::default();
    while let Some(message) = rx.recv().await {
        let Message::Event(event) = message else { continue };
        let Some(event) = limit.admit(event, Instant::now()) else { continue };
        if let Err(err) = target.send(&event).await {
            report.failed(&format!("for alert {}", event.alert.id), &err);
        }
    }
}

/// Sends a channel's failures back to the daemon.
pub struct Report {
    channel: String,
    failures: FailureSender,
}

impl Report {
    /// `webhook http://host:443 failed for alert 7: http status: 500 (attempt 4 of 4)`.
    pub fn failed(&self, what: &str, err: &str) {
        let details = format!("{} failed {what}: {err}", self.channel);
        log::warn!("{details}");
        let finding = Finding {
            component: "notify".into(),
            metric_type: "notify_delivery".into(),
            status: Status::Error,
            details,
            action: None,
            problem: None,
            value: None,
        };
        let _ = self.failures.send(vec![finding]);
    }
}

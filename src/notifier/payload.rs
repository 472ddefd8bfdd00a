//! What a notification says: the webhook's JSON body and the command's
//! environment, built from one [`Event`].

use serde_json::{json, Value};

use crate::model::Severity;
use crate::store::AlertRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Raised,
    Resolved,
    Reminder,
    /// A problem found and repaired in one cycle: an INFO alert recorded
    /// already resolved.
    AutoRecovered,
}

impl EventKind {
    /// The `state` field / `HEALTHMON_STATE`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Raised => "raised",
            EventKind::Resolved => "resolved",
            EventKind::Reminder => "reminder",
            EventKind::AutoRecovered => "auto-recovered",
        }
    }
}

/// One notification to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub alert: AlertRow,
    pub host: String,
    /// Notifications the storm policy held back just before this one.
    pub suppressed_before: u64,
}

impl Event {
    pub fn new(alert: &AlertRow, kind: EventKind) -> Event {
        Event { kind, alert: alert.clone(), host: hostname(), suppressed_before: 0 }
    }

    /// The human line: Slack shows `text`; other receivers may too.
    pub fn text(&self) -> String {
        let a = &self.alert;
        let icon = match (self.kind, a.severity) {
            (EventKind::Resolved | EventKind::AutoRecovered, _) => "✅",
            (_, Severity::Critical) => "🚨",
            (_, Severity::Warning) => "⚠️",
            (_, Severity::Info) => "ℹ️",
        };
        let what = match self.kind {
            EventKind::Raised => "",
            EventKind::Resolved => "resolved: ",
            EventKind::Reminder => "still unresolved: ",
            EventKind::AutoRecovered => "auto-recovered: ",
        };
        let mut text = format!("{icon} [{}] {}: {}{} — {}", a.severity, self.host, what, a.component, a.message);
        if self.suppressed_before > 0 {
            text.push_str(&format!(" (+{} notifications suppressed by rate limit)", self.suppressed_before));
        }
        text
    }

    /// The webhook body: Slack-compatible `text` plus structured fields.
    pub fn json(&self) -> Value {
        let a = &self.alert;
        json!({
            "text": self.text(),
            "id": a.id,
            "severity": a.severity.as_str(),
            "component": a.component,
            "kind": a.kind,
            "message": a.message,
            "host": self.host,
            "state": self.kind.as_str(),
            "raised_at": a.raised_at,
            "suppressed": self.suppressed_before,
        })
    }

    /// The command's environment.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let a = &self.alert;
        vec![
            ("HEALTHMON_ALERT_ID", a.id.to_string()),
            ("HEALTHMON_SEVERITY", a.severity.as_str().to_string()),
            ("HEALTHMON_COMPONENT", a.component.clone()),
            ("HEALTHMON_KIND", a.kind.clone()),
            ("HEALTHMON_MESSAGE", a.message.clone()),
            ("HEALTHMON_HOST", self.host.clone()),
            ("HEALTHMON_STATE", self.kind.as_str().to_string()),
            ("HEALTHMON_RAISED_AT", a.raised_at.to_string()),
            ("HEALTHMON_TEXT", self.text()),
        ]
    }
}

/// This host's name, as notifications and Alertmanager's `instance` give it.
pub fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into())
}

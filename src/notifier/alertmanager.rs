//! The Alertmanager channel: alerts POSTed to `/api/v2/alerts` with the
//! labels `alertname`, `component`, `severity` (lower case), `instance`
//! (this host) and `kind`, the message as annotations. Alertmanager forgets
//! an alert that is not re-sent, so every open alert is re-posted every
//! [`REPOST_EVERY`] with an `endsAt` a few minutes ahead (as Prometheus
//! does): if healthmon dies, its alerts expire instead of firing forever.
//! A resolution is posted with `endsAt` = now, and retried on the same
//! timer until Alertmanager has it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::channel::Report;
use super::deliver::post_json;
use super::payload::{hostname, EventKind};
use super::{Message, Retry};
use crate::store::AlertRow;

/// How often open alerts are re-posted ("at least every minute").
const REPOST_EVERY: Duration = Duration::from_secs(30);
/// How far ahead a firing alert's `endsAt` lies: Alertmanager resolves it
/// by itself if no re-post comes by then.
const FIRING_TTL: Duration = Duration::from_secs(300);

/// What the channel knows: the open alerts, and the resolutions not yet
/// accepted by Alertmanager (with the time they ended).
#[derive(Default)]
struct State {
    open: BTreeMap<i64, AlertRow>,
    ending: BTreeMap<i64, (AlertRow, i64)>,
    /// Whether the last post failed: only the first failure of a run of
    /// them becomes a metric row, so a dead Alertmanager is not a flood.
    failing: bool,
}

/// The channel's task: runs until every sender is dropped.
pub async fn run(base: &str, mut rx: mpsc::Receiver<Message>, report: &Report, retry: Retry) {
    let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
    let host = hostname();
    let mut state = State::default();
    let mut tick = tokio::time::interval(REPOST_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let body = tokio::select! {
            message = rx.recv() => match message {
                None => break,
                Some(message) => state.take(message, now()),
            },
            _ = tick.tick() => state.all(now()),
        };
        if body.is_empty() {
            continue;
        }
        let posted =
            post_json(&url, Value::Array(body.iter().map(|a| a.json(&host)).collect()).to_string(), retry.timeout)
                .await;
        state.posted(&body, posted, report);
    }
}

/// One alert as posted: its row, and when it ended (None while firing).
struct Posted {
    alert: AlertRow,
    ended: Option<i64>,
    now: i64,
}

impl Posted {
    /// The `postableAlert` of Alertmanager's v2 API.
    fn json(&self, host: &str) -> Value {
        let a = &self.alert;
        let ends = self.ended.unwrap_or(self.now + FIRING_TTL.as_secs() as i64);
        json!({
            "labels": {
                "alertname": alertname(&a.kind),
                "component": a.component,
                "severity": a.severity.as_str().to_ascii_lowercase(),
                "instance": host,
                "kind": a.kind,
            },
            "annotations": {
                "summary": format!("{}: {}", a.component, a.message),
                "description": a.message,
                "alert_id": a.id.to_string(),
            },
            "startsAt": rfc3339(a.raised_at),
            "endsAt": rfc3339(ends),
        })
    }
}

impl State {
    /// What a message changes, and the alerts to post right away.
    fn take(&mut self, message: Message, now: i64) -> Vec<Posted> {
        match message {
            Message::Event(event) => match event.kind {
                EventKind::Raised | EventKind::Reminder => {
                    self.open.insert(event.alert.id, event.alert.clone());
                    vec![Posted { alert: event.alert, ended: None, now }]
                }
                EventKind::Resolved | EventKind::AutoRecovered => {
                    self.open.remove(&event.alert.id);
                    self.ending.insert(event.alert.id, (event.alert.clone(), now));
                    vec![Posted { alert: event.alert, ended: Some(now), now }]
                }
            },
            Message::Open(alerts) => {
                let new: Vec<Posted> = alerts
                    .iter()
                    .filter(|a| !self.open.contains_key(&a.id))
                    .map(|a| Posted { alert: a.clone(), ended: None, now })
                    .collect();
                self.open = alerts.into_iter().map(|a| (a.id, a)).collect();
                new
            }
        }
    }

    /// Every open alert and every resolution still to deliver.
    fn all(&mut self, now: i64) -> Vec<Posted> {
        // After the TTL Alertmanager has resolved it by itself anyway.
        self.ending.retain(|_, (_, ended)| now - *ended < FIRING_TTL.as_secs() as i64);
        let open = self.open.values().map(|a| Posted { alert: a.clone(), ended: None, now });
        let ending = self.ending.values().map(|(a, ended)| Posted { alert: a.clone(), ended: Some(*ended), now });
        open.chain(ending).collect()
    }

    fn posted(&mut self, body: &[Posted], result: Result<(), String>, report: &Report) {
        match result {
            Ok(()) => {
                self.failing = false;
                for ended in body.iter().filter(|p| p.ended.is_some()) {
                    self.ending.remove(&ended.alert.id);
                }
            }
            Err(err) if !self.failing => {
                self.failing = true;
                report.failed(&format!("to take {} alert(s)", body.len()), &err);
            }
            Err(err) => log::debug!("alertmanager still failing: {err}"),
        }
    }
}

/// `disk_usage` → `HealthmonDiskUsage`, the Prometheus naming habit.
fn alertname(kind: &str) -> String {
    let mut name = String::from("Healthmon");
    for word in kind.split(['_', '-', ':']).filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        name.extend(chars.next().map(|c| c.to_ascii_uppercase()));
        name.push_str(chars.as_str());
    }
    name
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Unix seconds as RFC 3339 UTC (`2026-12-03T10:41:12Z`), by the
/// days-to-civil algorithm (H. Hinnant), to avoid a date crate for one format.
fn rfc3339(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    /// Known instants, leap days and the epoch format as RFC 3339.
    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    /// Labels as the contract names them, severity in lower case.
    #[test]
    fn alert_json_has_contract_labels() {
        let alert = AlertRow {
            id: 3,
            raised_at: 1_700_000_000,
            severity: Severity::Critical,
            component: "disk:/".into(),
            kind: "disk_usage".into(),
            message: "/ is 97% full".into(),
            resolved: false,
            silenced: false,
        };
        let firing = Posted { alert: alert.clone(), ended: None, now: 1_700_000_100 }.json("h1");
        assert_eq!(firing["labels"]["alertname"], "HealthmonDiskUsage");
        assert_eq!(firing["labels"]["severity"], "critical");
        assert_eq!(firing["labels"]["instance"], "h1");
        assert_eq!(firing["labels"]["component"], "disk:/");
        assert_eq!(firing["annotations"]["description"], "/ is 97% full");
        assert_eq!(firing["endsAt"], rfc3339(1_700_000_400), "firing: ends a TTL ahead");
        let ended = Posted { alert, ended: Some(1_700_000_050), now: 1_700_000_100 }.json("h1");
        assert_eq!(ended["endsAt"], rfc3339(1_700_000_050));
    }
}

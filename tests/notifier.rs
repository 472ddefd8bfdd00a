//! Alert notifications against a real HTTP server on 127.0.0.1 and a real
//! notification command.

mod common {
    pub mod http;
}

use std::time::{Duration, Instant};

use common::http::HookServer;
use healthmon::config::NotifySettings;
use healthmon::model::{Severity, Status};
use healthmon::notifier::{Notifier, Retry};
use healthmon::store::AlertRow;
use serde_json::Value;
use tokio::sync::mpsc;

fn alert(id: i64, severity: Severity) -> AlertRow {
    AlertRow {
        id,
        raised_at: 1_700_000_000,
        severity,
        component: "assigner_worker".into(),
        kind: "worker_status".into(),
        message: "assigner_worker is down".into(),
        resolved: false,
        silenced: false,
    }
}

fn settings(webhook: Option<String>, command: Option<Vec<String>>, min: Severity) -> NotifySettings {
    NotifySettings { webhook, command, min_severity: min, reminder_interval: None, alertmanager: None }
}

fn quick_retry(attempts: u32) -> Retry {
    Retry { attempts, first_backoff: Duration::from_millis(50), timeout: Duration::from_secs(2) }
}

/// The webhook receives a raise and a resolve with the Slack `text` field
/// and the structured fields.
#[tokio::test]
async fn webhook_receives_raise_and_resolve() {
    let server = HookServer::start(200);
    let (failures, _rx) = mpsc::unbounded_channel();
    let (notifier, delivery) = Notifier::start(settings(Some(server.url()), None, Severity::Warning), failures, quick_retry(1));
    let mut a = alert(7, Severity::Critical);
    notifier.raised(&a);
    a.resolved = true;
    notifier.resolved(&a);
    drop(notifier);
    delivery.finish(Duration::from_secs(10)).await;

    let raised: Value = serde_json::from_str(&server.next_body(Duration::from_secs(5)).expect("raise")).unwrap();
    assert_eq!(raised["id"], 7);
    assert_eq!(raised["severity"], "CRITICAL");
    assert_eq!(raised["component"], "assigner_worker");
    assert_eq!(raised["message"], "assigner_worker is down");
    assert_eq!(raised["state"], "raised");
    assert!(raised["host"].as_str().is_some_and(|h| !h.is_empty()));
    assert!(raised["text"].as_str().unwrap().contains("assigner_worker is down"));
    let resolved: Value = serde_json::from_str(&server.next_body(Duration::from_secs(5)).expect("resolve")).unwrap();
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(resolved["id"], 7);
}

/// A failing receiver gets exactly the bounded number of attempts, the
/// caller is never delayed, and the failure comes back as an error metric.
#[tokio::test]
async fn failing_webhook_is_retried_boundedly_without_blocking() {
    let server = HookServer::start(500);
    let (failures, mut failed) = mpsc::unbounded_channel();
    let (notifier, delivery) = Notifier::start(settings(Some(server.url()), None, Severity::Info), failures, quick_retry(3));
    let started = Instant::now();
    notifier.raised(&alert(1, Severity::Warning));
    let enqueue_time = started.elapsed();
    assert!(enqueue_time < Duration::from_millis(50), "raising took {enqueue_time:?}");
    drop(notifier);
    delivery.finish(Duration::from_secs(10)).await;

    let attempts = std::iter::from_fn(|| server.next_body(Duration::from_millis(300))).count();
    assert_eq!(attempts, 3);
    let findings = failed.try_recv().expect("a failure finding");
    assert_eq!(findings[0].status, Status::Error);
    assert_eq!(findings[0].metric_type, "notify_delivery");
    assert!(findings[0].details.contains("attempt 3 of 3"), "{}", findings[0].details);
}

/// The command gets the alert in HEALTHMON_* variables.
#[tokio::test]
async fn command_receives_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env.txt");
    let script = format!("env | grep ^HEALTHMON_ | sort > {}", out.display());
    let command = vec!["/bin/sh".to_string(), "-c".to_string(), script];
    let (failures, _rx) = mpsc::unbounded_channel();
    let (notifier, delivery) = Notifier::start(settings(None, Some(command), Severity::Warning), failures, quick_retry(1));
    notifier.raised(&alert(42, Severity::Critical));
    drop(notifier);
    delivery.finish(Duration::from_secs(10)).await;

    let env = std::fs::read_to_string(&out).expect("command ran");
    assert!(env.contains("HEALTHMON_ALERT_ID=42\n"), "{env}");
    assert!(env.contains("HEALTHMON_SEVERITY=CRITICAL\n"));
    assert!(env.contains("HEALTHMON_COMPONENT=assigner_worker\n"));
    assert!(env.contains("HEALTHMON_MESSAGE=assigner_worker is down\n"));
    assert!(env.contains("HEALTHMON_STATE=raised\n"));
    assert!(env.contains("HEALTHMON_HOST="));
}

/// Alerts below min_severity are not sent; those at or above are.
#[tokio::test]
async fn min_severity_filters() {
    let server = HookServer::start(200);
    let (failures, _rx) = mpsc::unbounded_channel();
    let (notifier, delivery) = Notifier::start(settings(Some(server.url()), None, Severity::Critical), failures, quick_retry(1));
    notifier.raised(&alert(1, Severity::Warning));
    notifier.raised(&alert(2, Severity::Info));
    notifier.raised(&alert(3, Severity::Critical));
    drop(notifier);
    delivery.finish(Duration::from_secs(10)).await;

    let bodies: Vec<Value> = std::iter::from_fn(|| server.next_body(Duration::from_millis(300)))
        .map(|b| serde_json::from_str(&b).unwrap())
        .collect();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["id"], 3);
}

//! Alert notifications against a real HTTP server on 127.0.0.1 and a real
//! notification command.

mod common {
    pub mod http;
}

use std::time::{Duration, Instant};

use common::http::{HangServer, HookServer};
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
    let (notifier, delivery) =
        Notifier::start(settings(Some(server.url()), None, Severity::Warning), failures, quick_retry(1));
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
    let (notifier, delivery) =
        Notifier::start(settings(Some(server.url()), None, Severity::Info), failures, quick_retry(3));
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
    let (notifier, delivery) =
        Notifier::start(settings(None, Some(command), Severity::Warning), failures, quick_retry(1));
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
    let (notifier, delivery) =
        Notifier::start(settings(Some(server.url()), None, Severity::Critical), failures, quick_retry(1));
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

/// Against a webhook that hangs (accepts, never answers), the command
/// channel still delivers: its output appears while the webhook's request
/// is still unanswered and no webhook failure has come back yet.
#[tokio::test]
async fn command_delivers_while_webhook_hangs() {
    let hung = HangServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("paged");
    let command =
        vec!["/bin/sh".to_string(), "-c".to_string(), format!("echo $HEALTHMON_ALERT_ID > {}", out.display())];
    let (failures, mut failed) = mpsc::unbounded_channel();
    let retry = Retry { attempts: 4, first_backoff: Duration::from_secs(1), timeout: Duration::from_secs(10) };
    let (notifier, _delivery) =
        Notifier::start(settings(Some(hung.url()), Some(command), Severity::Warning), failures, retry);
    notifier.raised(&alert(5, Severity::Critical));
    notifier.raised(&alert(6, Severity::Critical));

    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&out).map_or(true, |s| s.trim() != "6") {
        assert!(Instant::now() < deadline, "the command did not run both alerts while the webhook hung");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hung.requests(), 1, "the webhook is still on its first, unanswered attempt");
    assert!(failed.try_recv().is_err(), "no webhook attempt has finished yet");
}

/// 50 CRITICAL raises in one burst all reach the webhook: the storm limit
/// never drops them.
#[tokio::test]
async fn fifty_critical_raises_in_a_burst_all_arrive() {
    let server = HookServer::start(200);
    let (failures, _rx) = mpsc::unbounded_channel();
    let (notifier, delivery) =
        Notifier::start(settings(Some(server.url()), None, Severity::Warning), failures, quick_retry(1));
    for id in 1..=50 {
        notifier.raised(&alert(id, Severity::Critical));
    }
    drop(notifier);
    delivery.finish(Duration::from_secs(30)).await;

    let mut ids: Vec<i64> = std::iter::from_fn(|| server.next_body(Duration::from_millis(500)))
        .map(|b| serde_json::from_str::<Value>(&b).unwrap()["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, (1..=50).collect::<Vec<_>>());
}

/// A silenced alert goes to no channel; the next, unsilenced one does.
#[tokio::test]
async fn silenced_alert_is_not_notified() {
    let server = HookServer::start(200);
    let (failures, _rx) = mpsc::unbounded_channel();
    let (notifier, delivery) =
        Notifier::start(settings(Some(server.url()), None, Severity::Warning), failures, quick_retry(1));
    notifier.raised(&AlertRow { silenced: true, ..alert(1, Severity::Critical) });
    notifier.raised(&alert(2, Severity::Critical));
    drop(notifier);
    delivery.finish(Duration::from_secs(10)).await;
    let bodies: Vec<Value> = std::iter::from_fn(|| server.next_body(Duration::from_millis(300)))
        .map(|b| serde_json::from_str(&b).unwrap())
        .collect();
    assert_eq!(bodies.iter().map(|b| b["id"].as_i64().unwrap()).collect::<Vec<_>>(), vec![2]);
}

/// The command gets none of healthmon's own environment beyond PATH and
/// the locale: not NOTIFY_SOCKET, not a secret a unit or shell exported.
#[tokio::test]
async fn command_does_not_inherit_healthmons_environment() {
    // The variable is set in this test process, which stands in for healthmon.
    std::env::set_var("HEALTHMON_TEST_SECRET_ENV", "s3cret");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env.txt");
    let command = vec!["/bin/sh".to_string(), "-c".to_string(), format!("env > {}", out.display())];
    let (failures, _rx) = mpsc::unbounded_channel();
    let (notifier, delivery) =
        Notifier::start(settings(None, Some(command), Severity::Warning), failures, quick_retry(1));
    notifier.raised(&alert(9, Severity::Critical));
    drop(notifier);
    delivery.finish(Duration::from_secs(10)).await;
    let env = std::fs::read_to_string(&out).expect("command ran");
    assert!(env.contains("HEALTHMON_ALERT_ID=9\n"), "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(!env.contains("s3cret"), "{env}");
}

//! Alerts people trust, end to end: the real `healthmon` on a private bus
//! with a real worker that crash-loops, and real HTTP receivers on
//! 127.0.0.1 that fail. Flap damping gives one alert; a webhook token
//! never shows in metrics, alerts, the journal, logs or D-Bus replies.

#[path = "common/dbus.rs"]
mod common;
#[path = "common/http.rs"]
mod http;
#[path = "common/sqlite.rs"]
mod sqlite;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::{as_nobody, TestBus, TestDaemon};
use http::HookServer;
use nix::sys::signal::Signal;
use serde_json::Value;
use sqlite::rows;

/// Bound of every wait in these tests.
const WAIT: Duration = Duration::from_secs(60);

/// Waits (bounded) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every webhook body that arrived, parsed.
fn bodies(hook: &HookServer) -> Vec<Value> {
    std::iter::from_fn(|| hook.next_body(Duration::from_millis(300)))
        .map(|b| serde_json::from_str(&b).unwrap())
        .collect()
}

/// A worker that crashes every 2 s under a budget it never exhausts,
/// with flap_threshold = 1: after many crashes there is exactly one alert,
/// open and saying "flapping", and the webhook heard of it twice (the
/// raise and the start of flapping), not once per crash.
#[test]
fn crash_looping_worker_gives_one_flapping_alert() {
    let hook = HookServer::start(200);
    let extra = format!(
        r#"
[alerts]
flap_threshold = 1
flap_window = "30m"

[notify]
webhook = "{}"

[workers.flappy]
command = ["/bin/sh", "-c", "sleep 2; exit 1"]
restart_delay = "100ms"
verify_after = "500ms"
max_restarts = 1000
restart_window = "1h"
"#,
        hook.url()
    );
    let bus = TestBus::session();
    let daemon = TestDaemon::start_configured(&bus, &[], &extra);
    let restarts = "SELECT count(*) FROM health_metrics WHERE component = 'flappy' AND metric_type = 'worker_restart'";
    wait_until("5 restarts of the crash-looping worker", || rows(&daemon.db, restarts)[0][0] >= "Integer(5)".into());

    let alerts = rows(&daemon.db, "SELECT resolved, message FROM health_alerts WHERE component = 'flappy'");
    assert_eq!(alerts.len(), 1, "one alert for the whole crash loop: {alerts:?}");
    assert_eq!(alerts[0][0], "Integer(0)", "held open: {alerts:?}");
    assert!(alerts[0][1].starts_with("Text(\"flapping ("), "{alerts:?}");
    let heard: Vec<Value> = bodies(&hook).into_iter().filter(|b| b["component"] == "flappy").collect();
    let states: Vec<(&str, bool)> = heard
        .iter()
        .map(|b| (b["state"].as_str().unwrap(), b["message"].as_str().unwrap().starts_with("flapping (")))
        .collect();
    assert_eq!(states, [("raised", false), ("raised", true)], "{heard:#?}");
}

/// A webhook and an Alertmanager whose URLs carry tokens, on a real
/// server that fails every request, plus a reload whose bad URL carries a
/// token: the tokens appear nowhere healthmon writes or answers — not in
/// the database files, not in ListMetrics/ListAlerts/Status (as uid
/// 65534), not in the journal entries, not on stderr.
#[test]
fn url_tokens_never_leave_the_config() {
    const TOKEN: &str = "SECRETTOKEN42";
    let failing = HookServer::start(500);
    let journal_dir = tempfile::tempdir().unwrap();
    let journal_path = journal_dir.path().join("journal.sock");
    let journal = UnixDatagram::bind(&journal_path).unwrap();
    journal.set_nonblocking(true).unwrap();
    let notify = format!(
        "\n[notify]\nwebhook = \"http://user:{TOKEN}@{addr}/services/T0/B0/{TOKEN}?t={TOKEN}\"\n\
         alertmanager = \"http://{addr}/am/{TOKEN}\"\n",
        addr = failing.addr
    );
    // The system bus: its policy lets uid 65534 call the read-only members.
    let bus = TestBus::system();
    let journal_env = journal_path.to_str().unwrap();
    let daemon = TestDaemon::start_configured(&bus, &[("HEALTHMON_JOURNAL_SOCKET", journal_env)], &notify);
    let failures = "SELECT details FROM health_metrics WHERE metric_type = 'notify_delivery'";
    wait_until("both channels' failures recorded", || {
        let details = rows(&daemon.db, failures).concat().join("\n");
        details.contains("webhook http://") && details.contains("alertmanager http://")
    });
    let details = rows(&daemon.db, failures).concat().join("\n");
    assert!(details.contains(&format!("webhook http://{}", failing.addr)), "host:port kept: {details}");

    // A reload with a bad URL carrying the token: its error becomes an alert.
    let config = std::fs::read_to_string(&daemon.config).unwrap();
    std::fs::write(&daemon.config, config.replace("webhook = \"http://", "webhook = \"hxxp://")).unwrap();
    daemon.signal(Signal::SIGHUP);
    wait_until("the config alert", || {
        !rows(&daemon.db, "SELECT id FROM health_alerts WHERE component = 'config'").is_empty()
    });

    let mut seen = Vec::new();
    for file in ["health.db", "health.db-wal"] {
        let bytes = std::fs::read(daemon.db.with_file_name(file)).unwrap_or_default();
        seen.push((file.to_string(), String::from_utf8_lossy(&bytes).into_owned()));
    }
    for args in [&["metrics", "--json", "--limit", "1000"][..], &["alerts", "--all", "--json"], &["status", "--json"]] {
        let out = as_nobody(&bus.healthctl_cmd(args)).output().expect("healthctl as nobody");
        // `status` exits with the state (1 = degraded here); the reply is what counts.
        assert!(matches!(out.status.code(), Some(0..=2)) && !out.stdout.is_empty(), "healthctl {args:?}: {out:?}");
        seen.push((format!("healthctl {args:?}"), String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let mut buf = vec![0u8; 1 << 20];
    let entries: Vec<String> =
        std::iter::from_fn(|| journal.recv(&mut buf).ok().map(|n| String::from_utf8_lossy(&buf[..n]).into_owned()))
            .collect();
    assert!(entries.iter().any(|e| e.contains("notify_delivery")), "the failures were journaled: {entries:?}");
    seen.push(("journal".into(), entries.concat()));
    seen.push(("stderr".into(), daemon.stderr()));
    for (what, text) in &seen {
        assert!(!text.contains(TOKEN), "the token leaked into {what}:\n{text}");
    }
    assert!(seen.iter().any(|(_, t)| t.contains("notify_delivery")), "the greps looked at the failure rows");
}

//! The daemon's outputs besides D-Bus: webhook notifications for the
//! alerts a cycle raises, and the Prometheus textfile after every cycle.
//! Real daemon, private bus, real HTTP server on 127.0.0.1.

mod common {
    pub mod dbus;
    pub mod http;
}

use std::time::{Duration, Instant};

use common::dbus::{TestBus, TestDaemon};
use common::http::HookServer;
use serde_json::Value;

fn prom_value(path: &std::path::Path, metric: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(&format!("{metric} ")).map(str::to_string))
}

/// The first cycle's WARNING alert reaches the webhook, and the textfile
/// counts cycles: 1 after start, 2 after a RunOnce, valid for promtool.
#[test]
fn daemon_notifies_and_exports_after_each_cycle() {
    let hook = HookServer::start(200);
    let bus = TestBus::session();
    let prom_dir = tempfile::tempdir().unwrap();
    let textfile = prom_dir.path().join("healthmon.prom");
    let extra = format!(
        "[notify]\nwebhook = \"{}\"\nmin_severity = \"WARNING\"\n\n[prometheus]\ntextfile = \"{}\"\n",
        hook.url(),
        textfile.display()
    );
    let _daemon = TestDaemon::start_configured(&bus, &[], &extra);

    let body: Value = serde_json::from_str(&hook.next_body(Duration::from_secs(20)).expect("a notification")).unwrap();
    assert_eq!(body["component"], "disk:/");
    assert_eq!(body["severity"], "WARNING");
    assert_eq!(body["state"], "raised");
    let deadline = Instant::now() + Duration::from_secs(10);
    while prom_value(&textfile, "healthmon_checks_run_total").is_none() {
        assert!(Instant::now() < deadline, "no textfile after the first cycle");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(prom_value(&textfile, "healthmon_checks_run_total").as_deref(), Some("1"));

    assert_eq!(bus.healthctl(&["run-once"]).status.code(), Some(1), "run-once exits 1 for the WARNING state");
    // The export runs beside the loop, not awaited (a hung filesystem must
    // not hold it): it may land just after run-once's answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while prom_value(&textfile, "healthmon_checks_run_total").as_deref() != Some("2") {
        assert!(Instant::now() < deadline, "the textfile does not count the RunOnce cycle");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(prom_value(&textfile, "healthmon_state").as_deref(), Some("1"));
    let check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&textfile).unwrap())
        .output()
        .expect("promtool (Debian package prometheus) is needed");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert!(hook.next_body(Duration::from_millis(500)).is_none(), "an ongoing problem is notified once");
}

/// A receiver that always fails does not slow cycles down; after the
/// bounded retries the failure is an `error` metric row.
#[test]
fn failing_webhook_does_not_delay_cycles_and_is_recorded() {
    let hook = HookServer::start(500);
    let bus = TestBus::session();
    let extra = format!("[notify]\nwebhook = \"{}\"\n", hook.url());
    let _daemon = TestDaemon::start_configured(&bus, &[], &extra);

    let out = bus.healthctl(&["run-once"]);
    assert_eq!(out.status.code(), Some(1), "run-once exits 1 for the WARNING state");
    // The four attempts take tens of seconds (backoff); run-once returned
    // before they were made, so the cycle did not wait for delivery.
    let made_during_cycle = std::iter::from_fn(|| hook.next_body(Duration::ZERO)).count();
    assert!(made_during_cycle < 4, "run-once waited for all {made_during_cycle} attempts");

    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let out = bus.healthctl(&["metrics", "--component", "notify", "--json"]);
        let rows: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if let Some(row) = rows.as_array().and_then(|r| r.first()) {
            assert_eq!(row["status"], "error", "{row}");
            assert!(row["details"].as_str().unwrap_or("").contains("attempt 4 of 4"), "{row}");
            break;
        }
        assert!(Instant::now() < deadline, "no notify error metric after retries");
        std::thread::sleep(Duration::from_millis(250));
    }
    let attempts = std::iter::from_fn(|| hook.next_body(Duration::from_millis(200))).count();
    assert_eq!(made_during_cycle + attempts, 4, "bounded retries");
}

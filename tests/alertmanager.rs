//! The Alertmanager channel against the real `prometheus-alertmanager`
//! from Debian (0.25) on a 127.0.0.1 port with a temporary storage dir,
//! read back with the real `amtool`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use healthmon::config::NotifySettings;
use healthmon::model::Severity;
use healthmon::notifier::{Notifier, Retry};
use healthmon::store::AlertRow;
use serde_json::Value;
use tokio::sync::mpsc;

const BIN: &str = "/usr/bin/prometheus-alertmanager";
const WAIT: Duration = Duration::from_secs(20);

/// A private Alertmanager, killed on drop.
struct Alertmanager {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start() -> Alertmanager {
        assert!(
            std::path::Path::new(BIN).exists(),
            "{BIN} is required by this test (Debian: apt-get install prometheus-alertmanager)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n").unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(BIN)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-alertmanager");
        let am = Alertmanager { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
        let deadline = Instant::now() + WAIT;
        while am.query().is_none() {
            assert!(Instant::now() < deadline, "Alertmanager did not answer within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }

    /// `amtool alert query -o json`: the active alerts, or None while it cannot answer.
    fn query(&self) -> Option<Vec<Value>> {
        let out = Command::new("amtool")
            .args([&format!("--alertmanager.url={}", self.url), "alert", "query", "-o", "json"])
            .output()
            .expect("amtool is required by this test (Debian: prometheus-alertmanager)");
        out.status.success().then(|| serde_json::from_slice(&out.stdout).expect("amtool JSON"))
    }

    /// Waits (bounded) until the active alerts satisfy `done`; returns them.
    /// Sleeps on the runtime, so the channel's task runs meanwhile.
    async fn wait_until(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(alerts) = self.query().filter(|a| done(a)) {
                return alerts;
            }
            assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}; amtool shows {:?}", self.query());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alert(id: i64, component: &str) -> AlertRow {
    AlertRow {
        id,
        raised_at: 1_700_000_000,
        severity: Severity::Critical,
        component: component.into(),
        kind: "worker_status".into(),
        message: format!("{component} is down"),
        resolved: false,
        silenced: false,
    }
}

fn notifier(url: &str) -> (Notifier, healthmon::notifier::Delivery) {
    let settings = NotifySettings {
        webhook: None,
        command: None,
        min_severity: Severity::Warning,
        reminder_interval: None,
        alertmanager: Some(url.to_string()),
    };
    let (failures, _rx) = mpsc::unbounded_channel();
    Notifier::start(settings, failures, Retry::default())
}

fn with_component<'a>(alerts: &'a [Value], component: &str) -> Option<&'a Value> {
    alerts.iter().find(|a| a["labels"]["component"] == component)
}

/// A raise shows in `amtool alert query` with the contract's labels and a
/// lower-case severity, and is gone after the resolve; a silenced alert
/// raised before an unsilenced one is never posted.
#[tokio::test]
async fn alert_is_posted_with_labels_and_ended_on_resolve() {
    let am = Alertmanager::start();
    let (notifier, _delivery) = notifier(&am.url);
    notifier.raised(&AlertRow { silenced: true, ..alert(1, "quiet_worker") });
    notifier.raised(&alert(2, "assigner_worker"));

    let shown = am.wait_until("the raise", |a| with_component(a, "assigner_worker").is_some()).await;
    let posted = with_component(&shown, "assigner_worker").unwrap();
    assert_eq!(posted["labels"]["severity"], "critical", "{posted}");
    assert_eq!(posted["labels"]["alertname"], "HealthmonWorkerStatus", "{posted}");
    assert_eq!(posted["labels"]["instance"], healthmon_hostname(), "{posted}");
    assert_eq!(posted["annotations"]["description"], "assigner_worker is down", "{posted}");
    assert!(with_component(&shown, "quiet_worker").is_none(), "a silenced alert was posted: {shown:?}");

    notifier.resolved(&AlertRow { resolved: true, ..alert(2, "assigner_worker") });
    am.wait_until("the resolve", |a| with_component(a, "assigner_worker").is_none()).await;
}

/// The open alerts handed over after a cycle (as after a restart of
/// healthmon) are posted without a raise event.
#[tokio::test]
async fn open_alerts_are_posted_after_a_cycle() {
    let am = Alertmanager::start();
    let (notifier, _delivery) = notifier(&am.url);
    notifier.open_alerts(&[alert(7, "task_worker"), AlertRow { silenced: true, ..alert(8, "muted") }]);
    let shown = am.wait_until("the open alert", |a| with_component(a, "task_worker").is_some()).await;
    assert!(with_component(&shown, "muted").is_none(), "{shown:?}");
}

fn healthmon_hostname() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

//! The journal's native protocol against a real datagram socket: priorities
//! and HEALTHMON_* fields as received, the binary-safe form, truncation, and
//! the stderr fallback when the socket is gone or absent.

#[path = "common/sockets.rs"]
mod sockets;

use std::ffi::OsStr;

use healthmon::journal::{
    alert_raised_entry, alert_resolved_entry, finding_entry, init_logging, Entry, Journal, JournalError,
    MAX_VALUE_BYTES, TRUNCATED_MARK,
};
use healthmon::model::{ActionKind, Finding, Severity, Status};
use healthmon::store::AlertRow;
use sockets::{in_child, run_child, Receiver};

/// A received entry: its fields in order, decoded from either form.
struct Received {
    fields: Vec<(String, Vec<u8>)>,
}

impl Received {
    /// Parses `KEY=value\n` and `KEY\n<u64 LE len>value\n` fields.
    fn parse(mut data: &[u8]) -> Received {
        let mut fields = Vec::new();
        while !data.is_empty() {
            let newline = data.iter().position(|&b| b == b'\n').expect("field ends with a newline");
            let line = &data[..newline];
            if let Some(eq) = line.iter().position(|&b| b == b'=') {
                fields.push((String::from_utf8(line[..eq].to_vec()).unwrap(), line[eq + 1..].to_vec()));
                data = &data[newline + 1..];
            } else {
                let rest = &data[newline + 1..];
                let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
                assert_eq!(rest[8 + len], b'\n', "binary field not followed by a newline");
                fields.push((String::from_utf8(line.to_vec()).unwrap(), rest[8..8 + len].to_vec()));
                data = &rest[8 + len + 1..];
            }
        }
        Received { fields }
    }

    fn get(&self, key: &str) -> Option<String> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| String::from_utf8(v.clone()).unwrap())
    }

    fn priority(&self) -> String {
        self.get("PRIORITY").expect("PRIORITY field")
    }

    /// Every field as `KEY=value` text, in order.
    fn lines(&self) -> Vec<String> {
        self.fields.iter().map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v))).collect()
    }
}

/// Sends `entry` through a journal aimed at a fresh socket and returns what arrived.
fn roundtrip(entry: &Entry) -> Received {
    let receiver = Receiver::bind();
    Journal::to_socket(&receiver.path).send(entry);
    Received::parse(&receiver.recv())
}

fn disk_full(severity: Severity) -> Finding {
    Finding::problem("disk:/", "disk_usage", Status::Unhealthy, severity, "/ is 96.1% full", "96.1% used")
}

fn alert(severity: Severity) -> AlertRow {
    AlertRow {
        id: 42,
        raised_at: 1_700_000_000,
        severity,
        component: "assigner_worker".into(),
        kind: "worker_alive".into(),
        message: "assigner_worker is not running".into(),
        resolved: false,
        silenced: false,
    }
}

/// A CRITICAL finding with an action arrives at PRIORITY=2 with exactly the contract's fields.
#[test]
fn critical_finding_arrives_at_priority_2_with_exact_fields() {
    let finding = disk_full(Severity::Critical).with_action(ActionKind::DiskCleanup, "deleted 12 files");
    let got = roundtrip(&finding_entry(&finding).expect("entry"));
    assert_eq!(
        got.lines(),
        [
            "PRIORITY=2",
            "MESSAGE=disk:/ disk_usage unhealthy: / is 96.1% full (action: deleted 12 files)",
            "SYSLOG_IDENTIFIER=healthmon",
            "HEALTHMON_COMPONENT=disk:/",
            "HEALTHMON_METRIC=disk_usage",
            "HEALTHMON_STATUS=unhealthy",
            "HEALTHMON_ACTION=deleted 12 files",
            "HEALTHMON_SEVERITY=CRITICAL",
            "HEALTHMON_DETAILS=96.1% used",
        ]
    );
}

/// A WARNING finding arrives at PRIORITY=4 with its severity and no action field.
#[test]
fn warning_finding_arrives_at_priority_4() {
    let got = roundtrip(&finding_entry(&disk_full(Severity::Warning)).expect("entry"));
    assert_eq!(got.priority(), "4");
    assert_eq!(got.get("HEALTHMON_SEVERITY").as_deref(), Some("WARNING"));
    assert_eq!(got.get("HEALTHMON_ACTION"), None);
}

/// A recovery (action, no problem) arrives at PRIORITY=5 with its action and no severity.
#[test]
fn recovery_arrives_at_priority_5() {
    let finding =
        Finding { status: Status::Recovered, ..Finding::healthy("assigner_worker", "worker_alive", "pid 4242") }
            .with_action(ActionKind::WorkerRestarted, "restarted");
    let got = roundtrip(&finding_entry(&finding).expect("entry"));
    assert_eq!(got.priority(), "5");
    assert_eq!(got.get("HEALTHMON_COMPONENT").as_deref(), Some("assigner_worker"));
    assert_eq!(got.get("HEALTHMON_STATUS").as_deref(), Some("recovered"));
    assert_eq!(got.get("HEALTHMON_ACTION").as_deref(), Some("restarted"));
    assert_eq!(got.get("HEALTHMON_SEVERITY"), None);
}

/// An INFO finding arrives at PRIORITY=6.
#[test]
fn info_finding_arrives_at_priority_6() {
    let got = roundtrip(&finding_entry(&disk_full(Severity::Info)).expect("entry"));
    assert_eq!(got.priority(), "6");
    assert_eq!(got.get("HEALTHMON_SEVERITY").as_deref(), Some("INFO"));
}

/// A raised CRITICAL alert arrives at PRIORITY=2 with its id, kind and severity fields.
#[test]
fn raised_alert_arrives_with_alert_fields() {
    let got = roundtrip(&alert_raised_entry(&alert(Severity::Critical), false));
    assert_eq!(got.priority(), "2");
    assert_eq!(got.get("HEALTHMON_ALERT_ID").as_deref(), Some("42"));
    assert_eq!(got.get("HEALTHMON_COMPONENT").as_deref(), Some("assigner_worker"));
    assert_eq!(got.get("HEALTHMON_METRIC").as_deref(), Some("worker_alive"));
    assert_eq!(got.get("HEALTHMON_SEVERITY").as_deref(), Some("CRITICAL"));
    assert_eq!(got.get("HEALTHMON_ALERT_EVENT").as_deref(), Some("raised"));
}

/// A resolved alert arrives at PRIORITY=6, still naming its id and former severity.
#[test]
fn resolved_alert_arrives_at_priority_6() {
    let got = roundtrip(&alert_resolved_entry(&alert(Severity::Critical)));
    assert_eq!(got.priority(), "6");
    assert_eq!(got.get("HEALTHMON_ALERT_ID").as_deref(), Some("42"));
    assert_eq!(got.get("HEALTHMON_SEVERITY").as_deref(), Some("CRITICAL"));
    assert_eq!(got.get("HEALTHMON_ALERT_EVENT").as_deref(), Some("resolved"));
}

/// A value with newlines goes in the binary-safe form and arrives intact.
#[test]
fn multiline_value_survives() {
    let receiver = Receiver::bind();
    let message = "lock held by:\n  pid 17 sqlite3\n  pid 18 python3";
    Journal::to_socket(&receiver.path).send(&Entry::new(4, message));
    let raw = receiver.recv();
    let mut binary_header = b"\nMESSAGE\n".to_vec();
    binary_header.extend_from_slice(&(message.len() as u64).to_le_bytes());
    assert!(raw.windows(binary_header.len()).any(|w| w == binary_header), "no binary MESSAGE field in {raw:?}");
    assert_eq!(Received::parse(&raw).get("MESSAGE").as_deref(), Some(message));
}

/// A value over the limit arrives cut to MAX_VALUE_BYTES with the truncation mark.
#[test]
fn oversized_value_arrives_truncated() {
    let entry = Entry::new(6, "big details").field("HEALTHMON_DETAILS", "x".repeat(100 * 1024));
    let details = roundtrip(&entry).get("HEALTHMON_DETAILS").expect("details field");
    assert_eq!(details.len(), MAX_VALUE_BYTES);
    assert!(details.ends_with(TRUNCATED_MARK));
}

/// A vanished socket makes try_send fail naming the path, and send return normally.
#[test]
fn vanished_socket_is_an_error_not_a_panic() {
    let (path, _dir) = Receiver::bind().vanish();
    let journal = Journal::to_socket(&path);
    let entry = finding_entry(&disk_full(Severity::Critical)).expect("entry");
    let err = journal.try_send(&entry).expect_err("send to a removed socket");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    journal.send(&entry);
}

/// An entry too big for one datagram fails with EMSGSIZE instead of being half sent.
#[test]
fn oversized_entry_is_refused_whole() {
    let receiver = Receiver::bind();
    let mut entry = Entry::new(6, "many fields");
    for _ in 0..40 {
        entry = entry.field("HEALTHMON_DETAILS", "y".repeat(MAX_VALUE_BYTES));
    }
    let err = Journal::to_socket(&receiver.path).try_send(&entry).expect_err("640 KiB datagram");
    let JournalError::Send { source, .. } = err;
    assert_eq!(source.raw_os_error(), Some(nix::libc::EMSGSIZE), "{source}");
}

/// Child body of `vanished_socket_falls_back_to_stderr_line`.
#[test]
#[ignore = "child process body, run by its parent test"]
fn child_send_to_vanished_socket() {
    if in_child() {
        let path = std::env::var_os("TEST_VANISHED_SOCKET").expect("TEST_VANISHED_SOCKET");
        let finding = disk_full(Severity::Critical).with_action(ActionKind::DiskCleanup, "deleted 12 files");
        Journal::to_socket(path).send(&finding_entry(&finding).expect("entry"));
    }
}

/// When the socket is gone, the entry is written to stderr as its plain line.
#[test]
fn vanished_socket_falls_back_to_stderr_line() {
    let (path, _dir) = Receiver::bind().vanish();
    let out = run_child("child_send_to_vanished_socket", &[("TEST_VANISHED_SOCKET", path.as_os_str())], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().any(|l| l == "CRITICAL disk:/ disk_usage unhealthy: / is 96.1% full (action: deleted 12 files)"),
        "stderr: {stderr}"
    );
}

/// Child body of the `detect_*` tests: detect, then send one WARNING finding.
#[test]
#[ignore = "child process body, run by its parent test"]
fn child_detect_and_send() {
    if in_child() {
        Journal::detect().send(&finding_entry(&disk_full(Severity::Warning)).expect("entry"));
    }
}

/// HEALTHMON_JOURNAL_SOCKET makes detect send datagrams to that socket.
#[test]
fn detect_uses_healthmon_journal_socket() {
    let receiver = Receiver::bind();
    let out = run_child("child_detect_and_send", &[("HEALTHMON_JOURNAL_SOCKET", receiver.path.as_os_str())], &[]);
    let got = Received::parse(&receiver.recv());
    assert_eq!(got.priority(), "4");
    assert_eq!(got.get("HEALTHMON_COMPONENT").as_deref(), Some("disk:/"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("disk_usage"), "entry also went to stderr");
}

/// Without the override and with a JOURNAL_STREAM that is not our stderr, detect writes stderr lines.
#[test]
fn detect_without_journal_writes_stderr() {
    let out =
        run_child("child_detect_and_send", &[("JOURNAL_STREAM", OsStr::new("0:0"))], &["HEALTHMON_JOURNAL_SOCKET"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().any(|l| l == "WARNING disk:/ disk_usage unhealthy: / is 96.1% full"), "stderr: {stderr}");
}

/// Child body of the logging tests: log one line per level after init_logging.
#[test]
#[ignore = "child process body, run by its parent test"]
fn child_log_each_level() {
    if in_child() {
        init_logging();
        log::debug!("probe-debug");
        log::info!("probe-info");
        log::warn!("probe-warn");
    }
}

/// HEALTHMON_LOG=warn keeps info and debug off stderr; warnings come as `WARN message`.
#[test]
fn log_level_env_filters_diagnostics() {
    let out = run_child("child_log_each_level", &[("HEALTHMON_LOG", OsStr::new("warn"))], &["JOURNAL_STREAM"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().any(|l| l == "WARN probe-warn"), "stderr: {stderr}");
    assert!(!stderr.contains("probe-info") && !stderr.contains("probe-debug"), "stderr: {stderr}");
}

/// An unknown HEALTHMON_LOG means info, with a warning naming the bad value.
#[test]
fn bad_log_level_means_info_with_warning() {
    let out = run_child("child_log_each_level", &[("HEALTHMON_LOG", OsStr::new("loud"))], &["JOURNAL_STREAM"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HEALTHMON_LOG=loud"), "stderr: {stderr}");
    assert!(stderr.lines().any(|l| l == "INFO probe-info"), "stderr: {stderr}");
    assert!(!stderr.contains("probe-debug"), "stderr: {stderr}");
}

/// Every datagram waiting on `socket`, parsed, without waiting for more.
fn drain(socket: &std::os::unix::net::UnixDatagram) -> Vec<Received> {
    socket.set_nonblocking(true).expect("non-blocking");
    let mut buf = vec![0u8; 1 << 20];
    std::iter::from_fn(|| socket.recv(&mut buf).ok().map(|len| Received::parse(&buf[..len]))).collect()
}

/// `healthmon --once` on a real directory whose thresholds are set to
/// raise, then to resolve, with its journal aimed at a real socket: there
/// are entries, a raise and a resolve among them, and every entry with a
/// HEALTHMON_ field has HEALTHMON_COMPONENT, _METRIC and _STATUS (so
/// `journalctl HEALTHMON_STATUS=unhealthy` finds raises).
#[test]
fn every_healthmon_entry_has_component_metric_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("journal.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    let run = |warning: &str| {
        let config = dir.path().join("healthmon.toml");
        let text = format!(
            "[monitor]\ndatabase = \"{}\"\n[disk]\npaths = [\"{}\"]\nwarning_percent = {warning}\ncritical_percent = 99.99\n",
            dir.path().join("health.db").display(),
            dir.path().display()
        );
        std::fs::write(&config, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_healthmon"))
            .args(["--once", "--config"])
            .arg(&config)
            .env(healthmon::journal::SOCKET_ENV, &socket_path)
            .output()
            .expect("run healthmon --once");
        assert!(out.status.code().is_some(), "{out:?}");
    };
    run("0.001");
    run("99.98");
    let entries: Vec<Received> =
        drain(&socket).into_iter().filter(|e| e.fields.iter().any(|(k, _)| k.starts_with("HEALTHMON_"))).collect();

    let events: Vec<String> = entries.iter().filter_map(|e| e.get("HEALTHMON_ALERT_EVENT")).collect();
    assert!(events.contains(&"raised".to_string()) && events.contains(&"resolved".to_string()), "{events:?}");
    for entry in &entries {
        for field in ["HEALTHMON_COMPONENT", "HEALTHMON_METRIC", "HEALTHMON_STATUS"] {
            assert!(entry.get(field).is_some_and(|v| !v.is_empty()), "{field} missing in {:?}", entry.lines());
        }
    }
    let raised = entries.iter().find(|e| e.get("HEALTHMON_ALERT_EVENT").as_deref() == Some("raised")).unwrap();
    assert_eq!(raised.get("HEALTHMON_STATUS").as_deref(), Some("unhealthy"));
}

proptest::proptest! {
    /// Any message and field value, newlines and all, reaches journald
    /// whole: the datagram parses back to exactly the entry's fields.
    #[test]
    fn native_datagram_reads_back(message in "(?s).{0,200}", detail in "(?s).{0,200}", priority in 0u8..8) {
        let entry = Entry::new(priority, message.clone()).field("HEALTHMON_DETAILS", detail.clone());
        let got = Received::parse(&entry.to_native());
        proptest::prop_assert_eq!(got.priority(), priority.to_string());
        proptest::prop_assert_eq!(got.get("MESSAGE"), Some(message));
        proptest::prop_assert_eq!(got.get("HEALTHMON_DETAILS"), Some(detail));
        proptest::prop_assert_eq!(got.get("SYSLOG_IDENTIFIER"), Some("healthmon".to_owned()));
    }
}

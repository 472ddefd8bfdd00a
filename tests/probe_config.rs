//! The probe and resource-limit keys of a worker against real files: the
//! values they give, their defaults, and every bad input refused with the
//! file, line and column it came from.

use std::time::Duration;

use healthmon::config::{self, ConfigError, Settings, WorkerSettings};

/// Loads `text` as the main config file of a fresh directory.
fn load(text: &str) -> (tempfile::TempDir, Result<Settings, ConfigError>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("healthmon.toml");
    std::fs::write(&main, text).expect("write config");
    let result = config::load(Some(&main));
    (dir, result)
}

/// The one worker of a valid config.
fn worker(keys: &str) -> WorkerSettings {
    let (_dir, result) = load(&format!("[workers.api]\ncommand = [\"/bin/true\"]\n{keys}"));
    result.expect("valid config").workers.remove(0)
}

/// Asserts `keys` (from line 3 of the file) give exactly one error at
/// `line:column` of healthmon.toml whose message contains `fragment`.
fn assert_error(keys: &str, line: usize, column: usize, fragment: &str) {
    let (dir, result) = load(&format!("[workers.api]\ncommand = [\"/bin/true\"]\n{keys}"));
    let err = result.expect_err("the config should be invalid");
    let all: Vec<_> = err.errors().into_iter().collect();
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    match all[0] {
        ConfigError::Invalid { file, line: l, column: c, message } => {
            assert_eq!(file, &dir.path().join("healthmon.toml").display().to_string());
            assert_eq!((*l, *c), (line, column), "position of {message:?}");
            assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
        }
        other => panic!("expected a positioned error, got {other}"),
    }
}

/// Every key parses into its setting; the rendered config loads back the same.
#[test]
fn probe_and_limit_keys_parse_and_round_trip() {
    let w = worker(concat!(
        "health_http = \"http://127.0.0.1:8080/healthz?token=s3cret\"\n",
        "health_tcp = \"[::1]:5432\"\n",
        "heartbeat_file = \"/run/api/heartbeat\"\n",
        "heartbeat_max_age = \"30s\"\n",
        "health_interval = \"2s\"\n",
        "start_timeout = \"20s\"\n",
        "max_memory = \"512M\"\n",
        "max_cpu_percent = 95\n",
        "over_for = \"3m\"\n",
    ));
    let http = w.probes.http.as_ref().unwrap();
    assert_eq!(http.shown, "http://127.0.0.1:8080/healthz", "messages never show the query");
    assert_eq!(w.probes.tcp.as_ref().unwrap().to_string(), "[::1]:5432");
    let heartbeat = w.probes.heartbeat.as_ref().unwrap();
    assert_eq!((heartbeat.path.to_str().unwrap(), heartbeat.max_age), ("/run/api/heartbeat", Duration::from_secs(30)));
    assert_eq!((w.health_interval, w.start_timeout), (Duration::from_secs(2), Duration::from_secs(20)));
    assert_eq!(w.limits.max_memory, Some(512 << 20));
    assert_eq!(w.limits.max_cpu_percent, Some(95.0));
    assert_eq!(w.limits.over_for, Duration::from_secs(180));

    let (_dir, first) =
        load("[workers.api]\ncommand = [\"/bin/true\"]\nhealth_tcp = \"db:5432\"\nmax_memory = \"1G\"\n");
    let first = first.unwrap();
    let (_dir2, again) = load(&config::render(&first));
    assert_eq!(again.unwrap().workers, first.workers);
}

/// Without the keys: 10 s probe interval, 90 s startup window, 1 min over_for, no probe, no limit.
#[test]
fn defaults() {
    let w = worker("");
    assert_eq!((w.health_interval, w.start_timeout), (Duration::from_secs(10), Duration::from_secs(90)));
    assert!(w.probes.is_empty() && w.limits.is_empty());
    assert_eq!(w.limits.over_for, Duration::from_secs(60));
}

/// A probe URL that is not http:// is refused at its position.
#[test]
fn non_http_url_names_position() {
    assert_error("health_http = \"https://127.0.0.1/healthz\"\n", 3, 15, "is not an http:// URL");
    assert_error("\nhealth_http = \"127.0.0.1:8080\"\n", 4, 15, "is not an http:// URL");
}

/// A host:port that does not parse is refused at its position.
#[test]
fn bad_host_port_names_position() {
    assert_error("health_tcp = \"127.0.0.1\"\n", 3, 14, "is not host:port");
    assert_error("health_tcp = \"localhost:99999\"\n", 3, 14, "is not host:port");
}

/// health_interval below 1 s is refused at its position.
#[test]
fn health_interval_below_one_second_names_position() {
    assert_error("health_interval = \"500ms\"\n", 3, 19, "must be at least 1s");
    assert_eq!(worker("health_interval = \"1s\"\n").health_interval, Duration::from_secs(1));
}

/// heartbeat_file and heartbeat_max_age come together.
#[test]
fn heartbeat_keys_need_each_other() {
    assert_error("heartbeat_file = \"/run/hb\"\n", 3, 18, "needs workers.api.heartbeat_max_age");
    assert_error("heartbeat_max_age = \"5s\"\n", 3, 21, "needs workers.api.heartbeat_file");
    assert_error("heartbeat_file = \"run/hb\"\nheartbeat_max_age = \"5s\"\n", 3, 18, "must be an absolute path");
}

/// Limits: a bad size, a non-positive percentage, over_for alone.
#[test]
fn bad_limits_name_position() {
    assert_error("max_memory = \"512\"\n", 3, 14, "invalid size");
    assert_error("max_cpu_percent = 0\n", 3, 19, "must be above 0");
    assert_error("over_for = \"1m\"\n", 3, 12, "needs max_memory or max_cpu_percent");
}

//! The real daemon in fork mode: a worker gets none of healthmon's own
//! environment (`NOTIFY_SOCKET`, `WATCHDOG_*`, `HEALTHMON_*`, all set in
//! healthmon's environment first), healthmon raises its soft open-file
//! limit to the hard one while the worker keeps the soft limit healthmon
//! started with, and the worker's output reaches healthmon's stderr
//! prefixed with its name. One test in its own binary: it lowers this
//! process's limit, which the daemon inherits.

#[path = "common/dbus.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{TestBus, TestDaemon, TIMEOUT};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::Signal;

/// The soft and hard "Max open files" of a /proc/PID/limits text.
fn open_files(limits: &str) -> (String, String) {
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("Max open files line");
    let mut fields = line["Max open files".len()..].split_whitespace();
    (fields.next().unwrap().to_string(), fields.next().unwrap().to_string())
}

fn wait_for_file(path: &std::path::Path) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with("END\n") {
                return text;
            }
        }
        assert!(Instant::now() < deadline, "{} not written within {TIMEOUT:?}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Worker environment and fd limit are the worker's, not healthmon's; its output is prefixed with its name.
#[test]
fn worker_gets_neither_healthmons_environment_nor_its_raised_limit() {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    assert!(hard > 512, "the hard open-file limit must exceed 512 for this test (it is {hard})");
    setrlimit(Resource::RLIMIT_NOFILE, 512, hard).expect("lower the soft limit");

    let bus = TestBus::session();
    let out = tempfile::Builder::new().prefix("hm-env").tempdir().expect("tempdir");
    let (env_file, limits_file) = (out.path().join("env"), out.path().join("limits"));
    let worker = format!(
        r#"
[workers.envdump]
command = ["/bin/sh", "-c", "env > {env}; echo END >> {env}; cat /proc/self/limits > {limits}; echo END >> {limits}; echo hello from the worker; exec sleep 1000"]
environment = {{ WORKER_OWN = "kept" }}
"#,
        env = env_file.display(),
        limits = limits_file.display(),
    );
    let healthmons_own = [("WATCHDOG_USEC", "600000000"), ("WATCHDOG_PID", "1"), ("HEALTHMON_TEST_ONLY", "leak")];
    let mut daemon = TestDaemon::start_configured(&bus, &healthmons_own, &worker);
    let environ = std::fs::read(format!("/proc/{}/environ", daemon.pid())).expect("healthmon's environ");
    let environ = String::from_utf8_lossy(&environ);
    assert!(
        environ.contains("NOTIFY_SOCKET=") && environ.contains("HEALTHMON_TEST_ONLY=leak"),
        "set in healthmon's own environment"
    );

    let env = wait_for_file(&env_file);
    for name in ["NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "HEALTHMON_"] {
        assert!(!env.lines().any(|l| l.starts_with(name)), "the worker got {name}:\n{env}");
    }
    assert!(env.lines().any(|l| l == "WORKER_OWN=kept"), "{env}");

    let own = std::fs::read_to_string(format!("/proc/{}/limits", daemon.pid())).expect("healthmon's limits");
    assert_eq!(open_files(&own), (hard.to_string(), hard.to_string()), "healthmon raised its soft limit");
    let theirs = wait_for_file(&limits_file);
    assert_eq!(
        open_files(&theirs),
        ("512".to_string(), hard.to_string()),
        "the worker has the limit healthmon started with"
    );

    let deadline = Instant::now() + TIMEOUT;
    while !daemon.stderr().lines().any(|l| l == "envdump: hello from the worker") {
        assert!(Instant::now() < deadline, "no prefixed output line on stderr:\n{}", daemon.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit().success(), "clean stop; stderr:\n{}", daemon.stderr());
}

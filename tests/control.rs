//! Worker control and silences end to end: the real `healthmon` on a
//! private dbus-daemon with real worker processes, called through the
//! generated proxy, `busctl` and `healthctl`; a real webhook server for
//! the notifications a silence holds back; the state database read back.

#[path = "common/dbus.rs"]
mod common;
#[path = "common/http.rs"]
mod http;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{as_nobody, json, ok_stdout, require_root, TestBus, TestDaemon, TIMEOUT};
use healthmon::dbus::{MonitorError, MonitorProxy};
use http::HookServer;

/// A worker script that appends its pid to `pids` at every start.
fn worker_script(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let pids = dir.join(format!("{name}.pids"));
    let script = dir.join(format!("{name}.sh"));
    std::fs::write(&script, format!("#!/bin/sh\necho $$ >> '{}'\nexec sleep 1000\n", pids.display())).expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, pids)
}

/// A worker table for the test config; fast timings.
fn worker_toml(name: &str, script: &Path, extra: &str) -> String {
    format!(
        "[workers.{name}]\ncommand = [\"{}\"]\nrestart_delay = \"0s\"\nverify_after = \"100ms\"\nstop_timeout = \"2s\"\n{extra}\n",
        script.display()
    )
}

fn pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect()
}

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Polls `cond` until it holds; panics naming `what` after [`TIMEOUT`].
fn wait(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {TIMEOUT:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

async fn proxy(bus: &TestBus) -> MonitorProxy<'static> {
    let conn = zbus::connection::Builder::address(bus.address.as_str()).build().await.expect("connect");
    MonitorProxy::new(&conn).await.expect("proxy")
}

/// Starts a daemon whose config adds `extra`.
fn daemon_with(bus: &TestBus, extra: &str) -> TestDaemon {
    TestDaemon::start_configured(bus, &[], extra)
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// StopWorker stops the process and keeps it stopped (no alert, healthy);
/// a second stop succeeds; StartWorker starts it; RestartWorker replaces
/// the process without counting a restart; GetWorker reports all of it.
#[tokio::test]
async fn stop_start_restart_and_get_worker() {
    let bus = TestBus::session();
    let scripts = tempfile::tempdir().expect("tempdir");
    let (script, pid_file) = worker_script(scripts.path(), "w1");
    let daemon = daemon_with(&bus, &worker_toml("w1", &script, ""));
    let proxy = proxy(&bus).await;
    wait("w1 to start", || pids(&pid_file).len() == 1);
    let first = pids(&pid_file)[0];
    wait("w1 running", || is_running(&bus, "w1"));

    let w = proxy.get_worker("w1").await.expect("GetWorker");
    assert_eq!(
        (w.name.as_str(), w.state.as_str(), w.desired.as_str(), w.pid as i32),
        ("w1", "running", "running", first)
    );
    assert_eq!((w.kind.as_str(), w.unit.as_str(), w.restarts), ("command", "", 0));
    assert!(w.since > 0 && w.since <= now(), "since is a unix time: {}", w.since);

    proxy.stop_worker("w1").await.expect("StopWorker");
    assert!(!alive(first), "the stopped worker's process is gone");
    let w = proxy.get_worker("w1").await.expect("GetWorker");
    assert_eq!((w.state.as_str(), w.desired.as_str(), w.pid), ("stopped", "stopped", 0));
    assert!(w.last_exit.contains("stopped by an administrator"), "{w:?}");
    proxy.stop_worker("w1").await.expect("stopping a stopped worker succeeds");
    let listed = proxy.list_workers().await.expect("ListWorkers");
    assert_eq!(listed[0].state, "stopped");
    let status = proxy.status().await.expect("Status");
    assert_eq!((status.workers_healthy, status.workers_total), (1, 1), "a stopped worker is not unhealthy");
    proxy.run_once().await.expect("RunOnce");
    assert_eq!(pids(&pid_file).len(), 1, "a cycle does not restart a stopped worker");
    let alerts = proxy.list_alerts(true, 0).await.expect("alerts");
    assert!(alerts.iter().all(|a| a.component != "w1"), "no alert for a stopped worker: {alerts:?}");

    proxy.start_worker("w1").await.expect("StartWorker");
    wait("w1 to start again", || pids(&pid_file).len() == 2);
    let second = pids(&pid_file)[1];
    let w = proxy.get_worker("w1").await.expect("GetWorker");
    assert_eq!((w.desired.as_str(), w.pid as i32), ("running", second));

    proxy.restart_worker("w1").await.expect("RestartWorker");
    wait("w1 restarted", || pids(&pid_file).len() == 3);
    assert!(!alive(second), "the old process was stopped");
    let w = proxy.get_worker("w1").await.expect("GetWorker");
    assert_eq!((w.pid as i32, w.restarts), (pids(&pid_file)[2], 0), "an administrator's restart is not counted");
    assert!(w.detail.contains("restarts 0 of"), "not counted against the budget: {}", w.detail);
    drop(daemon);
}

/// `healthctl worker NAME --json` says `running`.
fn is_running(bus: &TestBus, name: &str) -> bool {
    let out = bus.healthctl(&["worker", name, "--json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok_and(|w| w["state"] == "running")
}

/// An unknown worker, an empty name and one over 255 bytes are named errors.
#[tokio::test]
async fn bad_worker_names_are_refused() {
    let bus = TestBus::session();
    let _daemon = TestDaemon::start(&bus);
    let proxy = proxy(&bus).await;
    match proxy.start_worker("nope").await {
        Err(MonitorError::UnknownWorker(message)) => assert!(message.contains("\"nope\""), "{message}"),
        other => panic!("expected UnknownWorker, got {other:?}"),
    }
    assert!(matches!(proxy.get_worker("nope").await, Err(MonitorError::UnknownWorker(_))));
    assert!(matches!(proxy.stop_worker("").await, Err(MonitorError::InvalidArgument(_))));
    let long = "w".repeat(256);
    for result in [proxy.restart_worker(&long).await, proxy.start_worker(&long).await] {
        assert!(matches!(&result, Err(MonitorError::InvalidArgument(m)) if m.contains("256 bytes")), "{result:?}");
    }

    let out = bus.healthctl(&["start", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no worker named \"nope\""), "{out:?}");
    let out = bus.healthctl(&["stop"]);
    assert_eq!(out.status.code(), Some(1), "stop without a name is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("healthctl shutdown"), "{out:?}");
}

/// A stop and a start sent back to back end in the state of the last one
/// (running), with one fresh process.
#[tokio::test]
async fn stop_and_start_racing_end_in_the_last_state() {
    let bus = TestBus::session();
    let scripts = tempfile::tempdir().expect("tempdir");
    let (script, pid_file) = worker_script(scripts.path(), "w1");
    let _daemon = daemon_with(&bus, &worker_toml("w1", &script, ""));
    let proxy = proxy(&bus).await;
    wait("w1 to start", || pids(&pid_file).len() == 1);
    let (stopped, started) = tokio::join!(proxy.stop_worker("w1"), proxy.start_worker("w1"));
    stopped.expect("stop");
    started.expect("start");
    let w = proxy.get_worker("w1").await.expect("GetWorker");
    assert_eq!(w.desired, "running");
    wait("one fresh process", || pids(&pid_file).len() == 2);
    assert!(!alive(pids(&pid_file)[0]) && alive(pids(&pid_file)[1]));
}

/// A stopped worker stays stopped through a reload and a restart of
/// healthmon (no new process), and a silence is still there after it.
#[tokio::test]
async fn stopped_worker_and_silence_survive_a_restart() {
    let bus = TestBus::session();
    let scripts = tempfile::tempdir().expect("tempdir");
    let (script, pid_file) = worker_script(scripts.path(), "w1");
    let mut daemon = daemon_with(&bus, &worker_toml("w1", &script, ""));
    {
        let proxy = proxy(&bus).await;
        wait("w1 to start", || pids(&pid_file).len() == 1);
        proxy.stop_worker("w1").await.expect("StopWorker");
        let id = proxy.silence("disk:*", 3600, "maintenance").await.expect("Silence");
        assert!(id > 0);
        proxy.reload().await.expect("Reload");
        assert_eq!(proxy.get_worker("w1").await.expect("GetWorker").state, "stopped", "a reload keeps it stopped");
    }
    let first = pids(&pid_file)[0];
    assert!(!alive(first));
    let conn = rusqlite::Connection::open(&daemon.db).expect("db");
    let desired: String =
        conn.query_row("SELECT desired FROM worker_state WHERE name = 'w1'", [], |r| r.get(0)).expect("row");
    assert_eq!(desired, "stopped");

    daemon.restart(&bus);
    let proxy = proxy(&bus).await;
    let w = proxy.get_worker("w1").await.expect("GetWorker");
    assert_eq!((w.state.as_str(), w.pid), ("stopped", 0));
    assert_eq!(pids(&pid_file), vec![first], "no new process after the restart");
    let silences = proxy.list_silences().await.expect("ListSilences");
    assert_eq!(silences.len(), 1, "{silences:?}");
    assert_eq!((silences[0].component.as_str(), silences[0].reason.as_str()), ("disk:*", "maintenance"));
    assert!(silences[0].until > now() + 3000);

    proxy.start_worker("w1").await.expect("StartWorker");
    wait("w1 to start after the restart", || pids(&pid_file).len() == 2);
}

/// A CRITICAL alert under a silence is recorded (silenced = 1) and
/// journaled but sends nothing to the webhook, and `healthctl status`
/// exits 0; Unsilence sends it then. A given-up worker started by hand
/// runs again with a fresh budget.
#[tokio::test]
async fn silenced_critical_is_recorded_but_not_sent() {
    let bus = TestBus::session();
    let hook = HookServer::start(200);
    let scripts = tempfile::tempdir().expect("tempdir");
    let crash = scripts.path().join("crash");
    let (script, pid_file) = worker_script(scripts.path(), "crashy");
    let body = format!(
        "#!/bin/sh\necho $$ >> '{}'\nwhile [ ! -e '{}' ]; do sleep 0.05; done\nrm -f '{}'\nexit 3\n",
        pid_file.display(),
        crash.display(),
        crash.display()
    );
    std::fs::write(&script, body).expect("script");
    let notify = format!("[notify]\nwebhook = \"{}\"\nmin_severity = \"CRITICAL\"\n", hook.url());
    let config = format!("{}{notify}", worker_toml("crashy", &script, "critical = true\nmax_restarts = 0"));
    let daemon = daemon_with(&bus, &config);
    let proxy = proxy(&bus).await;
    wait("crashy to start", || pids(&pid_file).len() == 1);
    let id = proxy.silence("crashy", 3600, "maintenance").await.expect("Silence");
    proxy.silence("disk:*", 3600, "").await.expect("Silence disk");

    std::fs::write(&crash, "").expect("crash it");
    let conn = rusqlite::Connection::open(&daemon.db).expect("db");
    let silenced_alert = || {
        conn.query_row(
            "SELECT severity, silenced FROM health_alerts WHERE component = 'crashy' AND resolved = 0",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
        )
        .ok()
    };
    wait("the CRITICAL alert on crashy", || silenced_alert().is_some());
    assert_eq!(silenced_alert(), Some(("CRITICAL".to_string(), 1)));
    assert!(daemon.stderr().contains("crashy"), "journaled (stderr here): {}", daemon.stderr());
    let status = bus.healthctl(&["status"]);
    assert_eq!(
        status.status.code(),
        Some(0),
        "silenced alerts leave status at 0: {}",
        String::from_utf8_lossy(&status.stdout)
    );
    assert_eq!(hook.next_body(Duration::from_secs(1)), None, "nothing is sent while silenced");

    assert!(proxy.unsilence(id).await.expect("Unsilence"));
    assert!(!proxy.unsilence(id).await.expect("Unsilence twice"), "a removed silence is gone");
    let sent = hook.next_body(TIMEOUT).expect("the held alert is sent once the silence ends");
    assert!(sent.contains("crashy") && sent.contains("CRITICAL"), "{sent}");
    assert_eq!(bus.healthctl(&["status"]).status.code(), Some(2), "it counts again");

    assert_eq!(proxy.get_worker("crashy").await.expect("GetWorker").state, "given-up");
    proxy.start_worker("crashy").await.expect("StartWorker");
    wait("crashy to run again", || pids(&pid_file).len() == 2);
    wait("crashy running", || is_running(&bus, "crashy"));
}

/// A silence ends by itself: it leaves ListSilences, and an alert it held
/// back that is still open is sent then.
#[tokio::test]
async fn silence_expires_and_releases_its_alert() {
    let bus = TestBus::session();
    let hook = HookServer::start(200);
    let notify = format!("[notify]\nwebhook = \"{}\"\nmin_severity = \"WARNING\"\n", hook.url());
    let daemon = TestDaemon::start_configured(&bus, &[], &notify);
    let proxy = proxy(&bus).await;
    // The first cycle raised (and sent) the disk WARNING; resolve it, silence
    // the disk, and let the next cycle raise it again under the silence.
    let sent = hook.next_body(TIMEOUT).expect("the first disk WARNING is sent");
    assert!(sent.contains("disk"), "{sent}");
    let open = proxy.list_alerts(true, 0).await.expect("alerts");
    for alert in &open {
        proxy.resolve_alert(alert.id).await.expect("resolve");
    }
    for _ in &open {
        hook.next_body(TIMEOUT).expect("each resolution is sent");
    }
    let until = now() + 3;
    proxy.silence("disk:*", 3, "short").await.expect("Silence");
    proxy.run_once().await.expect("RunOnce");
    let conn = rusqlite::Connection::open(&daemon.db).expect("db");
    let held: i64 = conn
        .query_row(
            "SELECT count(*) FROM health_alerts WHERE component LIKE 'disk:%' AND resolved = 0 AND silenced = 1",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(held, 1, "the new disk alert is held back");
    let sent = hook.next_body(TIMEOUT).expect("sent when the silence expires");
    assert!(now() >= until, "not before the silence ended: {sent}");
    assert!(sent.contains("disk"), "{sent}");
    assert!(proxy.list_silences().await.expect("ListSilences").is_empty());
}

/// Silence refuses a duration of 0 or over 30 days and a bare `*` (which
/// SilenceAll takes); healthctl refuses the same before calling, and
/// `silence '*'` needs --all.
#[tokio::test]
async fn bad_silences_are_refused() {
    let bus = TestBus::session();
    let _daemon = TestDaemon::start(&bus);
    let proxy = proxy(&bus).await;
    for (component, seconds, needle) in
        [("w", 0, "0 seconds"), ("w", 30 * 86_400 + 1, "30 days"), ("*", 60, "--all"), ("", 60, "empty")]
    {
        match proxy.silence(component, seconds, "").await {
            Err(MonitorError::InvalidArgument(m)) => assert!(m.contains(needle), "{component:?} {seconds}: {m}"),
            other => panic!("{component:?} {seconds}: expected InvalidArgument, got {other:?}"),
        }
    }
    let all = proxy.silence_all(60, "everything").await.expect("SilenceAll");
    assert_eq!(proxy.list_silences().await.expect("list")[0].component, "*");
    assert!(proxy.unsilence(all).await.expect("Unsilence"));

    for (args, needle) in [
        (&["silence", "*", "--for", "1h"][..], "--all"),
        (&["silence", "w", "--for", "0s"], "0 seconds"),
        (&["silence", "w", "--for", "31d"], "30 days"),
        (&["silence", "w", "--for", "soon"], "invalid duration"),
    ] {
        let out = bus.healthctl(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(proxy.list_silences().await.expect("list").is_empty(), "nothing was added");

    let out = ok_stdout(&bus.healthctl(&["silence", "--all", "--for", "10m", "--reason", "upgrade"]));
    assert!(out.starts_with("silence ") && out.contains(" on * until "), "{out}");
    let listed: serde_json::Value =
        serde_json::from_slice(&bus.healthctl(&["silences", "--json"]).stdout).expect("json");
    assert_eq!((listed[0]["component"].as_str(), listed[0]["reason"].as_str()), (Some("*"), Some("upgrade")));
    let id = listed[0]["id"].as_i64().expect("id");
    assert_eq!(ok_stdout(&bus.healthctl(&["unsilence", &id.to_string()])), format!("silence {id} removed\n"));
    assert_eq!(bus.healthctl(&["unsilence", &id.to_string()]).status.code(), Some(1));
    assert_eq!(ok_stdout(&bus.healthctl(&["silences"])), "No silences\n");
}

/// healthctl start/stop/restart/worker/logs on a real worker.
#[test]
fn healthctl_worker_commands() {
    let bus = TestBus::session();
    let scripts = tempfile::tempdir().expect("tempdir");
    let (script, pid_file) = worker_script(scripts.path(), "w1");
    let (script2, pid_file2) = worker_script(scripts.path(), "w2");
    let config = format!("{}{}", worker_toml("w1", &script, ""), worker_toml("w2", &script2, ""));
    let _daemon = daemon_with(&bus, &config);
    wait("both workers to start", || pids(&pid_file).len() == 1 && pids(&pid_file2).len() == 1);

    assert_eq!(ok_stdout(&bus.healthctl(&["stop", "w1", "w2"])), "w1 stopped\nw2 stopped\n");
    assert_eq!(ok_stdout(&bus.healthctl(&["stop", "w1"])), "w1 was already stopped\n");
    let workers = ok_stdout(&bus.healthctl(&["workers"]));
    let stopped = |name: &str| workers.lines().any(|l| l.split_whitespace().take(2).eq([name, "stopped"]));
    assert!(stopped("w1") && stopped("w2"), "{workers}");
    let out = bus.healthctl(&["start", "w1", "nope", "w2"]);
    assert_eq!(out.status.code(), Some(1), "one unknown name fails the command");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "w1 started\nw2 started\n", "the others still ran");
    wait("both started again", || pids(&pid_file).len() == 2 && pids(&pid_file2).len() == 2);
    assert_eq!(ok_stdout(&bus.healthctl(&["restart", "w2"])), "w2 restarted\n");

    let text = ok_stdout(&bus.healthctl(&["worker", "w1"]));
    assert!(text.contains("Worker: w1") && text.contains("Desired: running"), "{text}");
    let doc: serde_json::Value =
        serde_json::from_slice(&bus.healthctl(&["worker", "w1", "--json"]).stdout).expect("json");
    for key in [
        "name",
        "state",
        "pid",
        "restarts",
        "since",
        "last_exit",
        "desired",
        "unit",
        "memory_bytes",
        "cpu_usec",
        "tasks",
    ] {
        assert!(doc.get(key).is_some(), "worker --json lacks {key}: {doc}");
    }
    assert_eq!(ok_stdout(&bus.healthctl(&["__workers"])), "w1\nw2\n", "the names completions offer");

    // No journald on this test host: logs says so instead of printing nothing.
    assert!(!Path::new("/run/systemd/journal/socket").exists(), "this test expects a host without journald");
    let out = bus.healthctl(&["logs", "w1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no systemd journal"), "{out:?}");
}

/// Under the shipped system-bus policy, uid 65534 may call GetWorker and
/// ListSilences but gets AccessDenied on each root-only method.
#[test]
fn unprivileged_callers_are_denied_each_root_only_method() {
    require_root();
    let bus = TestBus::system();
    let _daemon = TestDaemon::start(&bus);
    let busctl_as_nobody = |method: &str, args: &[&str]| {
        let mut cmd = bus.command("busctl");
        cmd.arg(format!("--address={}", bus.address));
        cmd.args(["call", "org.healthmon.Monitor1", "/org/healthmon/Monitor1", "org.healthmon.Monitor1", method]);
        cmd.args(args);
        as_nobody(&cmd).output().expect("busctl")
    };
    let denied = |method: &str, args: &[&str]| {
        let out = busctl_as_nobody(method, args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success() && (err.contains("Access denied") || err.contains("AccessDenied")),
            "{method}: {err}"
        );
    };
    denied("StartWorker", &["s", "w1"]);
    denied("StopWorker", &["s", "w1"]);
    denied("RestartWorker", &["s", "w1"]);
    denied("Silence", &["sts", "w1", "60", "x"]);
    denied("SilenceAll", &["ts", "60", "x"]);
    denied("Unsilence", &["x", "1"]);

    let listed = busctl_as_nobody("ListSilences", &[]);
    assert!(listed.status.success(), "everyone may list silences: {}", String::from_utf8_lossy(&listed.stderr));
    let unknown = busctl_as_nobody("GetWorker", &["s", "nope"]);
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        !unknown.status.success() && err.contains("no worker named"),
        "GetWorker is allowed (and says unknown): {err}"
    );

    for (cmd, method) in [
        (&["stop", "w1"][..], "StopWorker"),
        (&["silence", "w1", "--for", "1m"], "Silence"),
        (&["unsilence", "1"], "Unsilence"),
    ] {
        let out = as_nobody(&bus.healthctl_cmd(cmd)).output().expect("healthctl");
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!("permission denied: {method} needs root")),
            "{cmd:?}: {out:?}"
        );
    }
    // Root may.
    assert!(json(&bus.call("Silence", &["sts", "w1", "60", "x"]))["data"][0].as_i64().is_some());
}

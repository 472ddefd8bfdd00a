//! sd_notify for workers in fork mode, against real processes: python3
//! workers that speak over the `NOTIFY_SOCKET` healthmon gives them
//! (`notify_ready`, `start_timeout`, `watchdog`, `STATUS=`), helpers that
//! send `READY=1` and exit, and what is ignored (oversize messages, other
//! processes); then the real daemon over a private bus, read back through
//! GetWorker and `healthctl worker`.

#[path = "common/workers.rs"]
mod common;
#[path = "common/dbus.rs"]
mod daemon;

use std::path::Path;
use std::time::{Duration, Instant};

use healthmon::model::{Finding, Severity, Status};
use healthmon::workers::Supervisor;

use common::*;

/// Python that speaks sd_notify: `say(text)` sends one datagram to
/// `$NOTIFY_SOCKET`; `wait_for(path)` waits until the test creates `path`.
const PRELUDE: &str = r#"
import os, socket, sys, time
def say(m):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(m if isinstance(m, bytes) else m.encode(), os.environ['NOTIFY_SOCKET'])
    s.close()
def wait_for(path):
    while not os.path.exists(path):
        time.sleep(0.01)
def env_to(path):
    with open(path + '.tmp', 'w') as f:
        f.write('%s\n%s\n' % (os.environ.get('NOTIFY_SOCKET', '-'), os.environ.get('WATCHDOG_USEC', '-')))
    os.replace(path + '.tmp', path)
"#;

/// A python3 worker running `body` after [`PRELUDE`].
fn python(name: &str, body: &str) -> healthmon::config::WorkerSettings {
    command_worker(name, vec![PY.into(), "-c".into(), format!("{PRELUDE}\n{body}")])
}

fn touch(path: &Path) {
    std::fs::write(path, "").expect("create flag file");
}

fn problem_with<'a>(f: &'a Finding, fragment: &str) -> Option<&'a str> {
    f.problem.as_ref().map(|p| p.message.as_str()).filter(|m| m.contains(fragment))
}

/// A worker that sends READY=1 late is `starting` until then (past
/// verify_after), and `running` from it on; its env has NOTIFY_SOCKET but
/// no WATCHDOG_USEC (no watchdog key).
#[tokio::test]
async fn late_ready_counts_only_from_ready() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let (env, go) = (dir.path().join("env"), dir.path().join("go"));
        let body = format!(
            "env_to('{}')\nsay('STATUS=warming up')\nwait_for('{}')\nsay('READY=1\\nSTATUS=serving')\ntime.sleep(1000)",
            env.display(),
            go.display()
        );
        let mut w = python("late", &body);
        w.notify_ready = true;
        w.start_timeout = Duration::from_secs(60);
        let (tx, mut events) = Events::channel();
        let mut sup = Supervisor::start(&[w], false, tx).await;

        wait_until("its status text", Duration::from_secs(10), || sup.list()[0].status == "warming up").await;
        let started = Instant::now();
        let env = lines(&env);
        assert!(env[0].ends_with("/late") && Path::new(&env[0]).exists(), "NOTIFY_SOCKET is its socket: {env:?}");
        assert_eq!(env[1], "-", "no WATCHDOG_USEC without the watchdog key");
        // Proving an absence: well past verify_after (100 ms), it still starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(started.elapsed() > Duration::from_millis(100));
        let info = &sup.list()[0];
        assert_eq!((info.state.as_str(), info.healthy), ("starting", false), "{info:?}");
        assert!(info.pid > 0);
        assert_eq!(sup.cycle().await[0].status, Status::Healthy, "a start in progress is no alert");

        touch(&go);
        wait_until("running after READY=1", Duration::from_secs(10), || sup.list()[0].state == "running").await;
        assert_eq!(sup.list()[0].status, "serving");
        events.drain();
        assert!(events.seen.iter().all(|f| f.problem.is_none()), "{:#?}", events.seen);
        sup.shutdown().await;
        assert!(!Path::new(&env[0]).exists(), "the socket file goes with the worker");
    })
    .await;
}

/// A worker that never sends READY=1 is a failed start after start_timeout:
/// stopped, counted in the budget, with an alert naming it, until the budget gives up.
#[tokio::test]
async fn never_ready_is_a_failed_start_counted_in_the_budget() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let pids = dir.path().join("pids");
        let body = format!("open('{}', 'a').write('%d\\n' % os.getpid())\ntime.sleep(1000)", pids.display());
        let mut w = python("mute", &body);
        w.notify_ready = true;
        w.start_timeout = Duration::from_millis(700);
        w.max_restarts = 1;
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;

        let failed = events
            .wait_for("the failed start", Duration::from_secs(10), |f| problem_with(f, "READY=1").is_some())
            .await;
        let problem = failed.problem.unwrap();
        assert_eq!(problem.message, "no READY=1 within 700 ms; restarting now (restart 1 of 1 in 10 min)");
        assert_eq!(problem.severity, Severity::Critical);
        let first: i32 = lines(&pids)[0].parse().unwrap();
        assert!(stat(first).is_none(), "the worker that never became ready was stopped and reaped");

        let gave_up =
            events.wait_for("the give-up", Duration::from_secs(10), |f| problem_with(f, "gave up").is_some()).await;
        assert_eq!(
            gave_up.problem.unwrap().message,
            "gave up after 1 restarts in 10 min (last: no READY=1 within 700 ms)"
        );
        assert_eq!(lines(&pids).len(), 2, "one start plus the one restart the budget allowed");
        let info = &sup.list()[0];
        assert_eq!((info.state.as_str(), info.last_exit.as_str()), ("given-up", "no READY=1 within 700 ms"));
        sup.shutdown().await;
    })
    .await;
}

/// A worker that stops sending WATCHDOG=1 is stopped as hung and restarted;
/// the alert names the watchdog; it gets WATCHDOG_USEC.
#[tokio::test]
async fn silent_watchdog_restarts_the_worker() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let (env, hang) = (dir.path().join("env"), dir.path().join("hang"));
        let body = format!(
            "env_to('{}')\nwhile not os.path.exists('{}'):\n    say('WATCHDOG=1')\n    time.sleep(0.05)\ntime.sleep(1000)",
            env.display(),
            hang.display()
        );
        let mut w = python("dog", &body);
        w.watchdog = Some(Duration::from_secs(2));
        let (tx, mut events) = Events::channel();
        let mut sup = Supervisor::start(&[w], false, tx).await;
        wait_until("running", Duration::from_secs(10), || sup.list()[0].state == "running").await;
        wait_until("its environment", Duration::from_secs(10), || lines(&env).len() == 2).await;
        assert_eq!(lines(&env)[1], "2000000", "WATCHDOG_USEC as systemd sets it");
        // Pinging every 50 ms keeps it up past a whole watchdog period.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        events.drain();
        assert!(events.seen.iter().all(|f| f.problem.is_none()), "{:#?}", events.seen);
        let old = sup.list()[0].pid as i32;
        assert_eq!(sup.cycle().await[0].status, Status::Healthy);

        touch(&hang);
        let hung =
            events.wait_for("the hang", Duration::from_secs(10), |f| problem_with(f, "WATCHDOG=1").is_some()).await;
        let problem = hung.problem.unwrap();
        assert_eq!(problem.message, "no WATCHDOG=1 for 2 s; restarting now (restart 1 of 5 in 10 min)");
        assert!(stat(old).is_none(), "the hung worker {old} was stopped and reaped");
        std::fs::remove_file(&hang).unwrap();
        let restart = events
            .wait_for("the verified restart", Duration::from_secs(10), |f| {
                f.metric_type == "worker_restart" && f.status == Status::Recovered
            })
            .await;
        assert!(restart.action.unwrap().taken.starts_with("restarted (no WATCHDOG=1 for 2 s), restart 1 of 5"));
        assert_ne!(sup.list()[0].pid as i32, old);
        sup.shutdown().await;
    })
    .await;
}

/// A shell worker whose helper process sends READY=1 and exits at once
/// (as `systemd-notify --ready` does) becomes ready.
#[tokio::test]
async fn ready_from_a_helper_that_exits_counts() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let helper = format!("{PRELUDE}\nsay('READY=1')");
        let worker = script(dir.path(), "helper.sh", &format!("{PY} -c \"$HM_HELPER\"\nexec sleep 1000"));
        let mut w = command_worker("helped", vec![worker.display().to_string()]);
        spec(&mut w).environment.insert("HM_HELPER".into(), helper);
        w.notify_ready = true;
        w.start_timeout = Duration::from_secs(20);
        let (tx, _events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        wait_until("running", Duration::from_secs(15), || sup.list()[0].state == "running").await;
        sup.shutdown().await;
    })
    .await;
}

/// A READY=1 over 4 KiB, and one sent by a process outside the worker,
/// are ignored: the worker's own later message is read, and it still starts.
#[tokio::test]
async fn oversize_and_foreign_messages_are_ignored() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let (env, go) = (dir.path().join("env"), dir.path().join("go"));
        let body = format!(
            "env_to('{}')\nsay(b'READY=1\\nSTATUS=' + b'x' * 5000)\nwait_for('{}')\nsay('STATUS=after')\ntime.sleep(1000)",
            env.display(),
            go.display()
        );
        let mut w = python("picky", &body);
        w.notify_ready = true;
        w.start_timeout = Duration::from_secs(60);
        let (tx, _events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        wait_until("its environment", Duration::from_secs(10), || lines(&env).len() == 2).await;

        // This test process is alive and in no session of the worker's.
        let socket = std::os::unix::net::UnixDatagram::unbound().unwrap();
        socket.send_to(b"READY=1\nSTATUS=foreign", &lines(&env)[0]).expect("send as a foreign process");
        touch(&go);
        wait_until("the worker's own status", Duration::from_secs(10), || sup.list()[0].status == "after").await;
        let info = &sup.list()[0];
        assert_eq!(info.state, "starting", "neither READY=1 counted: {info:?}");
        sup.shutdown().await;
    })
    .await;
}

/// Over D-Bus: GetWorker shows `starting` and the STATUS= text until
/// READY=1, `healthctl worker` prints the status; the ignored oversize
/// message is logged once.
#[tokio::test]
async fn status_shows_in_get_worker_and_healthctl() {
    let bus = daemon::TestBus::session();
    let dir = tempdir();
    let go = dir.path().join("go");
    let body = format!(
        "say(b'x' * 5000)\nsay(b'y' * 5000)\nsay('STATUS=warming up')\nwait_for('{}')\nsay('READY=1\\nSTATUS=serving 3 clients')\ntime.sleep(1000)",
        go.display()
    );
    let code = format!("{PRELUDE}\n{body}").replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let worker = format!(
        "[workers.svc]\ncommand = [\"{PY}\", \"-c\", \"{code}\"]\nnotify_ready = true\nverify_after = \"100ms\"\nstop_timeout = \"2s\"\n"
    );
    let healthmon = daemon::TestDaemon::start_configured(&bus, &[], &worker);
    let conn = zbus::connection::Builder::address(bus.address.as_str()).build().await.expect("connect");
    let proxy = healthmon::dbus::MonitorProxy::new(&conn).await.expect("proxy");

    let deadline = Instant::now() + daemon::TIMEOUT;
    let w = loop {
        let w = proxy.get_worker("svc").await.expect("GetWorker");
        if w.status == "warming up" {
            break w;
        }
        assert!(Instant::now() < deadline, "no STATUS= in GetWorker: {w:?}\n{}", healthmon.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(w.state, "starting");
    let text = daemon::ok_stdout(&bus.healthctl(&["worker", "svc"]));
    assert!(text.contains("Status: warming up") && text.contains("State: starting"), "{text}");

    touch(&go);
    let deadline = Instant::now() + daemon::TIMEOUT;
    while proxy.get_worker("svc").await.expect("GetWorker").state != "running" {
        assert!(Instant::now() < deadline, "not running after READY=1\n{}", healthmon.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let json = daemon::json(&bus.healthctl(&["worker", "svc", "--json"]));
    assert_eq!(json["status"], "serving 3 clients");
    let logged = healthmon.stderr();
    assert_eq!(logged.matches("ignored a notify message of 5000 bytes").count(), 1, "{logged}");
}

/// The keys as a config file gives them, or the errors of a failed load as
/// `line:column: message`.
fn load(text: &str) -> Result<healthmon::config::WorkerSettings, Vec<String>> {
    let dir = tempdir();
    let path = dir.path().join("healthmon.toml");
    std::fs::write(&path, text).expect("write config");
    match healthmon::config::load(Some(&path)) {
        Ok(mut settings) => Ok(settings.workers.remove(0)),
        Err(err) => Err(err
            .errors()
            .into_iter()
            .map(|e| match e {
                healthmon::config::ConfigError::Invalid { line, column, message, .. } => {
                    format!("{line}:{column}: {message}")
                }
                other => panic!("expected a positioned error, got: {other}"),
            })
            .collect()),
    }
}

const COMMAND: &str = "[workers.w]\ncommand = [\"/bin/true\"]\n";

/// Defaults: no watchdog, no readiness, a 90 s start window (systemd's);
/// given keys are read and survive the rendered effective config.
#[test]
fn keys_defaults_and_values() {
    let w = load(COMMAND).unwrap();
    assert_eq!((w.watchdog, w.notify_ready, w.start_timeout), (None, false, Duration::from_secs(90)));
    let text = format!("{COMMAND}watchdog = \"30s\"\nnotify_ready = true\nstart_timeout = \"2m\"\n");
    let w = load(&text).unwrap();
    assert_eq!(
        (w.watchdog, w.notify_ready, w.start_timeout),
        (Some(Duration::from_secs(30)), true, Duration::from_secs(120))
    );
    let settings = healthmon::config::Settings { workers: vec![w.clone()], ..healthmon::config::embedded_defaults() };
    assert_eq!(load(&healthmon::config::render(&settings)).unwrap(), w, "the rendered config reads back the same");
}

/// Bad values are errors at the value's line and column.
#[test]
fn bad_values_name_their_position() {
    let cases = [
        ("watchdog = \"0s\"", "3:12: workers.w.watchdog must be longer than 0s"),
        ("watchdog = \"soon\"", "3:12: invalid duration \"soon\""),
        ("notify_ready = true\nstart_timeout = \"0s\"", "4:17: workers.w.start_timeout must be longer than 0s when"),
        ("notify_ready = \"yes\"", "3:16: workers.w.notify_ready: invalid type: string \"yes\", expected a boolean"),
    ];
    for (line, expected) in cases {
        let errors = load(&format!("{COMMAND}{line}\n")).expect_err(line);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with(expected), "{line}: {errors:?}");
    }
}

/// A unit worker's own unit file says Type=notify and WatchdogSec=: the keys are refused there.
#[test]
fn unit_workers_refuse_the_keys() {
    for (line, column) in [("watchdog = \"30s\"", 12), ("notify_ready = true", 16)] {
        let errors = load(&format!("[workers.w]\nunit = \"w.service\"\n{line}\n")).expect_err(line);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let expected =
            format!("3:{column}: workers.w.{} applies only to command workers", line.split(' ').next().unwrap());
        assert!(errors[0].starts_with(&expected), "{errors:?}");
    }
}

/// A reload that adds `watchdog` to a running worker restarts it, so the
/// new process gets NOTIFY_SOCKET and WATCHDOG_USEC; an unchanged reload keeps it.
#[tokio::test]
async fn reload_that_changes_the_keys_restarts_the_worker() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let env = dir.path().join("env");
        let body = format!(
            "env_to('{}')\nwhile True:\n    if os.environ.get('NOTIFY_SOCKET'):\n        say('WATCHDOG=1')\n    time.sleep(0.05)",
            env.display()
        );
        let plain = python("reloaded", &body);
        let (tx, _events) = Events::channel();
        let mut sup = Supervisor::start(std::slice::from_ref(&plain), false, tx).await;
        wait_until("running", Duration::from_secs(10), || sup.list()[0].state == "running").await;
        wait_until("its environment", Duration::from_secs(10), || lines(&env).len() == 2).await;
        assert_eq!(lines(&env), ["-", "-"], "no sd_notify keys: no NOTIFY_SOCKET, no WATCHDOG_USEC");
        let first = sup.list()[0].pid;

        sup.reconfigure(std::slice::from_ref(&plain), false).await;
        assert_eq!(sup.list()[0].pid, first, "an unchanged worker keeps running");

        let mut watched = plain;
        watched.watchdog = Some(Duration::from_secs(2));
        std::fs::remove_file(&env).unwrap();
        sup.reconfigure(&[watched], false).await;
        wait_until("the new process's environment", Duration::from_secs(10), || lines(&env).len() == 2).await;
        assert_eq!(lines(&env)[1], "2000000");
        wait_until("running again", Duration::from_secs(10), || {
            let info = &sup.list()[0];
            info.state == "running" && info.pid != first
        })
        .await;
        assert!(exited(first as i32), "the old process was stopped");
        sup.shutdown().await;
    })
    .await;
}

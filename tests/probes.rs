//! Typed probes and resource limits against real servers and processes:
//! HTTP servers written here on 127.0.0.1 (500, hanging, redirecting), a
//! TCP port that closes, heartbeat files, a python worker that grows, the
//! startup window, and a SIGSTOPped worker stopped promptly. Probes run on
//! each worker's own timer: no test here runs a check cycle to drive them.

mod common {
    pub mod dbus;
    pub mod sqlite;
    pub mod workers;
}

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use healthmon::config::{Heartbeat, HttpTarget, TcpTarget, WorkerSettings};
use healthmon::model::{Finding, Severity};
use healthmon::workers::Supervisor;
use nix::sys::signal::Signal;

use common::workers::*;

/// Status code meaning "accept the connection and never answer".
const HANG: u16 = 0;

/// An HTTP server on 127.0.0.1 answering every request with the status
/// currently set (a 3xx with `Location: /elsewhere`); it records the paths asked for.
struct Server {
    port: u16,
    status: Arc<AtomicU16>,
    paths: Arc<Mutex<Vec<String>>>,
    answered: Arc<AtomicUsize>,
}

impl Server {
    fn start(status: u16) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let server =
            Server { port, status: Arc::new(AtomicU16::new(status)), paths: Arc::default(), answered: Arc::default() };
        let (status, paths, answered) = (server.status.clone(), server.paths.clone(), server.answered.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (status, paths, answered) = (status.clone(), paths.clone(), answered.clone());
                std::thread::spawn(move || serve(stream, &status, &paths, &answered));
            }
        });
        server
    }

    fn target(&self) -> HttpTarget {
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        HttpTarget { url: url.clone(), shown: url }
    }

    fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

fn serve(mut stream: TcpStream, status: &AtomicU16, paths: &Mutex<Vec<String>>, answered: &AtomicUsize) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let path = String::from_utf8_lossy(&request).split_whitespace().nth(1).unwrap_or_default().to_string();
    paths.lock().unwrap().push(path);
    let code = status.load(Ordering::SeqCst);
    if code == HANG {
        std::thread::sleep(Duration::from_secs(60)); // holds the connection open, silent
        return;
    }
    let location = if (300..400).contains(&code) { "Location: /elsewhere\r\n" } else { "" };
    let answer = format!("HTTP/1.1 {code} X\r\n{location}Content-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = stream.write_all(answer.as_bytes());
    answered.fetch_add(1, Ordering::SeqCst);
}

/// A worker that sleeps, probed every 200 ms (the config refuses below 1 s;
/// the settings here are built directly to keep the tests short).
fn sleeper(name: &str) -> WorkerSettings {
    let mut w = command_worker(name, vec!["/bin/sleep".into(), "1000".into()]);
    w.health_interval = Duration::from_millis(200);
    w.health_failures = 2;
    w
}

fn is_problem(f: &Finding, fragment: &str) -> bool {
    f.problem.as_ref().is_some_and(|p| p.message.contains(fragment))
}

fn is_restart(f: &Finding) -> bool {
    f.metric_type == "worker_restart"
}

/// The worker's pid once it runs.
async fn running_pid(sup: &Supervisor) -> u32 {
    wait_until("a pid", Duration::from_secs(10), || sup.list()[0].pid != 0).await;
    sup.list()[0].pid
}

/// Waits for the worker's pid to be other than `old` (restarted).
async fn wait_new_pid(sup: &Supervisor, old: u32) -> u32 {
    wait_until("a new pid", Duration::from_secs(10), || !matches!(sup.list()[0].pid, 0) && sup.list()[0].pid != old)
        .await;
    sup.list()[0].pid
}

/// A server that starts answering 500: two failures in a row restart the
/// worker, and the failure's record carries the status code.
#[tokio::test]
async fn http_500_restarts_after_health_failures() {
    bounded(Duration::from_secs(30), async {
        let server = Server::start(200);
        let mut w = sleeper("api");
        w.probes.http = Some(server.target());
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        wait_until("a 200 answered", Duration::from_secs(10), || server.answered.load(Ordering::SeqCst) > 0).await;
        let old = running_pid(&sup).await;

        server.set(500);
        let url = &server.target().shown;
        let first = events.wait_for("the first failure", Duration::from_secs(10), |f| is_problem(f, "(1 of 2)")).await;
        assert_eq!(first.problem.unwrap().message, format!("health check failed (1 of 2): GET {url}: status 500"));
        assert_eq!(first.details, format!("pid {old}: GET {url}: status 500"));
        let restart = events.wait_for("the restart", Duration::from_secs(10), is_restart).await;
        let taken = restart.action.unwrap().taken;
        assert!(
            taken
                .starts_with(&format!("restarted (health check failed 2 times in a row, last: GET {url}: status 500)")),
            "{taken}"
        );
        assert_ne!(wait_new_pid(&sup, old).await, old);
        assert!(stat(old as i32).is_none(), "the old worker {old} was stopped and reaped");
        sup.shutdown().await;
    })
    .await;
}

/// A server that accepts and never answers fails the probe at health_timeout.
#[tokio::test]
async fn hanging_http_server_is_a_timeout() {
    bounded(Duration::from_secs(30), async {
        let server = Server::start(HANG);
        let mut w = sleeper("hangs");
        w.probes.http = Some(server.target());
        w.health_timeout = Duration::from_millis(500);
        w.health_failures = 1;
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        let old = running_pid(&sup).await;
        let failed = events.wait_for("the timeout", Duration::from_secs(10), |f| is_problem(f, "restarting")).await;
        let message = failed.problem.unwrap().message;
        assert!(
            message.ends_with(&format!("GET {}: no answer within 500 ms; restarting", server.target().shown)),
            "{message}"
        );
        assert_ne!(wait_new_pid(&sup, old).await, old);
        sup.shutdown().await;
    })
    .await;
}

/// A 302 is a failure, and its Location is never asked for.
#[tokio::test]
async fn redirect_is_a_failure_and_not_followed() {
    bounded(Duration::from_secs(30), async {
        let server = Server::start(302);
        let mut w = sleeper("moved");
        w.probes.http = Some(server.target());
        w.health_failures = 3;
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        let failed = events.wait_for("the 302", Duration::from_secs(10), |f| is_problem(f, "(2 of 3)")).await;
        assert!(failed.problem.unwrap().message.ends_with(": status 302"));
        let paths = server.paths.lock().unwrap().clone();
        assert!(
            paths.len() >= 2 && paths.iter().all(|p| p == "/healthz"),
            "only the probe URL was asked for: {paths:?}"
        );
        sup.shutdown().await;
    })
    .await;
}

/// A TCP port that closes: the connect error is recorded and the worker restarted.
#[tokio::test]
async fn closed_tcp_port_restarts_the_worker() {
    bounded(Duration::from_secs(30), async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut w = sleeper("db");
        w.probes.tcp = Some(TcpTarget { host: "127.0.0.1".into(), port });
        w.health_failures = 1;
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        let old = running_pid(&sup).await;
        // Passing rounds connect; the accepted connection proves the probe ran.
        listener.set_nonblocking(false).unwrap();
        let (_conn, _) = tokio::task::spawn_blocking({
            let l = listener.try_clone().unwrap();
            move || l.accept().unwrap()
        })
        .await
        .unwrap();
        drop(listener);

        let failed =
            events.wait_for("the refused connect", Duration::from_secs(10), |f| is_problem(f, "restarting")).await;
        let message = failed.problem.unwrap().message;
        assert!(message.contains(&format!("tcp 127.0.0.1:{port}: connect failed: Connection refused")), "{message}");
        assert_ne!(wait_new_pid(&sup, old).await, old);
        sup.shutdown().await;
    })
    .await;
}

/// A python worker beating into `hb` every 50 ms (atomically replaced).
fn beating(name: &str, hb: &std::path::Path, delay: f64) -> WorkerSettings {
    let beat = format!(
        "import os, time\ntime.sleep({delay})\nwhile True:\n    open('{0}.tmp', 'w').write('x')\n    os.replace('{0}.tmp', '{0}')\n    time.sleep(0.05)",
        hb.display()
    );
    let mut w = command_worker(name, vec![PY.into(), "-c".into(), beat]);
    w.health_interval = Duration::from_millis(200);
    w.probes.heartbeat = Some(Heartbeat { path: hb.to_path_buf(), max_age: Duration::from_secs(1) });
    w.health_failures = 1;
    w
}

/// A frozen worker's heartbeat goes stale: the record carries its age, and
/// the SIGSTOPped worker is stopped (SIGCONT after SIGTERM) and replaced.
#[tokio::test]
async fn stale_heartbeat_records_its_age_and_restarts() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let hb = dir.path().join("heartbeat");
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[beating("beats", &hb, 0.0)], false, tx).await;
        wait_until("a beat", Duration::from_secs(10), || hb.exists()).await;
        let old = running_pid(&sup).await;
        kill(old as i32, Signal::SIGSTOP);

        let failed =
            events.wait_for("the stale heartbeat", Duration::from_secs(10), |f| is_problem(f, "heartbeat")).await;
        let message = failed.problem.unwrap().message;
        let age = message.split(" is ").nth(1).and_then(|rest| rest.split(" s old").next()).expect(&message);
        let age: f64 = age.parse().expect(&message);
        assert!((1.0..10.0).contains(&age), "{message}");
        assert!(message.contains(&format!("heartbeat {} is {age:.1} s old (heartbeat_max_age 1 s)", hb.display())));
        events.wait_for("the restart", Duration::from_secs(10), is_restart).await;
        assert_ne!(wait_new_pid(&sup, old).await, old);
        assert!(stat(old as i32).is_none(), "the stopped worker {old} is gone and reaped");
        sup.shutdown().await;
    })
    .await;
}

/// A heartbeat file not written yet is no failure inside start_timeout.
#[tokio::test]
async fn missing_heartbeat_not_counted_during_start_timeout() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let (hb, rounds) = (dir.path().join("heartbeat"), dir.path().join("rounds"));
        let mut w = beating("slow", &hb, 1.5);
        w.start_timeout = Duration::from_secs(20);
        // A passing probe beside the heartbeat: each round leaves a line.
        w.health_command = Some(vec!["/bin/sh".into(), "-c".into(), format!("echo run >> '{}'", rounds.display())]);
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        let pid = running_pid(&sup).await;
        wait_until("the first beat", Duration::from_secs(10), || hb.exists()).await;
        let missing = lines(&rounds).len();
        assert!(missing >= 2, "rounds ran while the file was missing: {missing}");
        wait_until("two rounds with the file", Duration::from_secs(10), || lines(&rounds).len() >= missing + 2).await;
        events.drain();
        assert!(events.seen.iter().all(|f| f.problem.is_none()), "{:#?}", events.seen);
        assert_eq!((sup.list()[0].pid, sup.list()[0].restarts), (pid, 0));
        sup.shutdown().await;
    })
    .await;
}

/// After start_timeout, a heartbeat file that never appeared is a failure,
/// and the restart it causes counts against the budget.
#[tokio::test]
async fn missing_heartbeat_counts_after_start_timeout() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let hb = dir.path().join("never");
        let mut w = sleeper("silent");
        w.probes.heartbeat = Some(Heartbeat { path: hb.clone(), max_age: Duration::from_secs(1) });
        w.start_timeout = Duration::from_secs(1);
        w.health_failures = 1;
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        let failed = events.wait_for("the missing file", Duration::from_secs(10), |f| is_problem(f, "heartbeat")).await;
        assert!(failed.problem.unwrap().message.contains("No such file or directory"));
        // A start that never became healthy is a restart counted against the budget.
        let restart = events.wait_for("the restart", Duration::from_secs(10), is_restart).await;
        assert!(restart.action.unwrap().taken.ends_with("restart 1 of 5 in 10 min"));
        sup.shutdown().await;
    })
    .await;
}

/// A worker whose health_command passes while `flag` exists (one probe
/// failure restarts it, after a 30 s startup window); each probe run
/// leaves a line in `rounds`.
fn passes_while_exists(name: &str, command: Vec<String>, flag: &Path, rounds: &Path) -> WorkerSettings {
    let probe = format!("echo run >> '{}'; test -e '{}'", rounds.display(), flag.display());
    let mut w = command_worker(name, command);
    w.health_command = Some(vec!["/bin/sh".into(), "-c".into(), probe]);
    w.health_interval = Duration::from_millis(200);
    w.health_failures = 1;
    w.start_timeout = Duration::from_secs(30);
    w
}

/// The next failure is counted, and restarts the worker.
async fn counted_failure_restarts(events: &mut Events) {
    let failed = events.wait_for("a counted failure", Duration::from_secs(10), |f| is_problem(f, "restarting")).await;
    assert_eq!(failed.problem.unwrap().message, "health check failed: exit code 1; restarting");
}

/// Failed probes inside start_timeout are not counted; the first passing
/// round ends the window, and failures count from then on.
#[tokio::test]
async fn failures_in_the_startup_window_are_not_counted() {
    bounded(Duration::from_secs(40), async {
        let dir = tempdir();
        let (ready, rounds) = (dir.path().join("ready"), dir.path().join("rounds"));
        // The worker is "up" only 1.5 s after its start; each probe run leaves a line.
        let body = format!("sleep 1.5; touch '{}'; exec sleep 1000", ready.display());
        let w = passes_while_exists("warmup", vec!["/bin/sh".into(), "-c".into(), body], &ready, &rounds);
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        let pid = running_pid(&sup).await;
        wait_until("ready", Duration::from_secs(10), || ready.exists()).await;
        let failing = lines(&rounds).len();
        assert!(failing >= 2, "rounds failed while starting: {failing}");
        wait_until("two passing rounds", Duration::from_secs(10), || lines(&rounds).len() >= failing + 2).await;
        events.drain();
        assert!(
            events.seen.iter().all(|f| f.problem.is_none()),
            "no failure counted while starting: {:#?}",
            events.seen
        );
        assert_eq!((sup.list()[0].pid, sup.list()[0].restarts), (pid, 0), "not restarted");

        std::fs::remove_file(&ready).unwrap();
        counted_failure_restarts(&mut events).await;
        sup.shutdown().await;
    })
    .await;
}

/// A reload (same command) gives a running worker no new startup window:
/// failures right after it are counted.
#[tokio::test]
async fn a_reload_opens_no_new_startup_window() {
    bounded(Duration::from_secs(40), async {
        let dir = tempdir();
        let (ok, rounds) = (dir.path().join("ok"), dir.path().join("rounds"));
        std::fs::write(&ok, "").unwrap();
        let mut w = passes_while_exists("reloaded", vec!["/bin/sleep".into(), "1000".into()], &ok, &rounds);
        let (tx, mut events) = Events::channel();
        let mut sup = Supervisor::start(std::slice::from_ref(&w), false, tx).await;
        running_pid(&sup).await;
        wait_until("a passing round", Duration::from_secs(10), || !lines(&rounds).is_empty()).await;

        w.health_timeout = Duration::from_secs(9); // a change that keeps the process
        sup.reconfigure(std::slice::from_ref(&w), false).await;
        std::fs::remove_file(&ok).unwrap();
        counted_failure_restarts(&mut events).await;
        sup.shutdown().await;
    })
    .await;
}

/// A worker whose RSS grows past max_memory for over_for is restarted
/// gracefully with a WARNING naming the figure.
#[tokio::test]
async fn rss_past_max_memory_restarts_with_a_warning() {
    bounded(Duration::from_secs(40), async {
        let grow = "import time\nblocks = []\nfor i in range(40):\n    blocks.append(b'x' * (4 << 20))\n    time.sleep(0.02)\nwhile True:\n    time.sleep(1)";
        let mut w = command_worker("leaky", vec![PY.into(), "-c".into(), grow.into()]);
        w.health_interval = Duration::from_millis(200);
        w.limits.max_memory = Some(64 << 20);
        w.limits.over_for = Duration::from_secs(1);
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        let old = running_pid(&sup).await;
        let warned = events.wait_for("the limit", Duration::from_secs(20), |f| is_problem(f, "above max_memory")).await;
        let problem = warned.problem.unwrap();
        assert_eq!(problem.severity, Severity::Warning);
        assert!(problem.message.starts_with("memory "), "{}", problem.message);
        assert!(problem.message.ends_with(" MiB above max_memory 64 MiB for 1 s; restarting"), "{}", problem.message);
        let restart = events.wait_for("the restart", Duration::from_secs(10), is_restart).await;
        assert!(restart.action.unwrap().taken.contains("above max_memory 64 MiB for 1 s"));
        assert_ne!(wait_new_pid(&sup, old).await, old);
        sup.shutdown().await;
    })
    .await;
}

/// A SIGSTOPped fork-mode worker gets SIGCONT after its SIGTERM: its TERM
/// handler runs and it exits long before its 60 s stop_timeout.
#[tokio::test]
async fn stopped_fork_worker_is_continued_and_exits_on_sigterm() {
    let dir = tempdir();
    let got = dir.path().join("got-term");
    let body = format!("trap 'echo TERM > \"{}\"; exit 0' TERM; while :; do sleep 0.05; done", got.display());
    let mut w = command_worker("frozen", vec!["/bin/sh".into(), "-c".into(), body]);
    w.stop_timeout = Duration::from_secs(60);
    let (tx, _events) = Events::channel();
    let sup = Supervisor::start(&[w], false, tx).await;
    wait_until("running", Duration::from_secs(10), || sup.list()[0].state == "running").await;
    let pid = sup.list()[0].pid as i32;
    kill(pid, Signal::SIGSTOP);
    wait_until("stopped", Duration::from_secs(5), || stat(pid).is_some_and(|(state, _)| state == 'T')).await;
    // Without SIGCONT the stop would take the whole 60 s stop_timeout.
    bounded(Duration::from_secs(20), sup.shutdown()).await;
    assert_eq!(std::fs::read_to_string(&got).unwrap_or_default(), "TERM\n", "the TERM handler ran");
    assert!(stat(pid).is_none());
}

/// Through the real daemon: a probe failure is a health_metrics row and an
/// alert carrying the status code, with no check cycle run (check_interval 1h).
#[test]
fn http_failure_is_recorded_with_its_status_code() {
    let server = Server::start(503);
    let bus = common::dbus::TestBus::session();
    let config = format!(
        "[monitor]\ncheck_interval = \"1h\"\n\n[disk]\npaths = [\"/\"]\n\n[workers.api]\ncommand = [\"/bin/sleep\", \"1000\"]\nhealth_http = \"{}\"\nhealth_interval = \"1s\"\nstart_timeout = \"0s\"\nhealth_failures = 5\n",
        server.target().url
    );
    let daemon = common::dbus::TestDaemon::start_with_config(&bus, &[], &config);
    let query = "SELECT status, details FROM health_metrics WHERE component = 'api' AND metric_type = 'worker_status' AND details LIKE '%status 503%'";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while common::sqlite::rows(&daemon.db, query).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no metrics row; stderr:\n{}", daemon.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(common::sqlite::rows(&daemon.db, query)[0][0], "Text(\"unhealthy\")");
    let alerts = common::sqlite::rows(
        &daemon.db,
        "SELECT severity, message FROM health_alerts WHERE component = 'api' AND resolved = 0",
    );
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0][1].contains("health check failed (1 of 5): GET http://127.0.0.1:"), "{alerts:?}");
    assert!(alerts[0][1].contains("/healthz: status 503"), "{alerts:?}");
}

//! Task handling that cannot double-apply: the stuck-session check against
//! a real tmux server on a private socket and a real SQLite task database
//! that another connection (the owner) or another healthmon writes to at
//! the same time.

#[path = "common/sessions.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use healthmon::alerts::{decide, Decision};
use healthmon::checks::sessions::SessionsCheck;
use healthmon::checks::Check;
use healthmon::model::{Finding, Status};
use healthmon::store::Store;
use rusqlite::types::Value;
use serde_json::Value as Json;
use support::*;

const SECOND: Duration = Duration::from_secs(1);
const LIMIT: Duration = Duration::from_secs(20);
/// Less than the task database's 5 s busy timeout: the waits below must end
/// while healthmon still waits for the lock.
const LOCK_WAIT: Duration = Duration::from_secs(4);
const BIN: &str = env!("CARGO_BIN_EXE_healthmon");

/// Runs the check once on a thread of its own; returns that thread's id
/// (to watch it wait for the lock) and its handle.
fn spawn_run(check: &Arc<SessionsCheck>) -> (u32, JoinHandle<Vec<Finding>>) {
    let check = Arc::clone(check);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let handle = thread::spawn(move || {
        tid_tx.send(nix::unistd::gettid().as_raw() as u32).unwrap();
        check.run(&LIVE).expect("check run")
    });
    (tid_rx.recv().unwrap(), handle)
}

/// A task the owner finishes while healthmon waits for the write lock is
/// left alone: healthmon saw it in progress without the lock, but reads the
/// set again under it. The row stays 'done', nothing is queued, no Ctrl+C.
#[test]
fn task_finished_while_waiting_for_the_lock_is_left_alone() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let id = server.idle_session("f", &server.marker_dir().join("f"));
    db.add(6, "f", "in_progress");
    let check = Arc::new(SessionsCheck::new(settings(&server, &db.path, SECOND)));
    run_until(&check, &DRY, LIMIT, |f| acted_on(f, "tmux:f")); // stuck now
    let owner = db.conn();
    owner.execute_batch("BEGIN IMMEDIATE; UPDATE tasks SET status = 'done' WHERE id = 6").unwrap();

    let (tid, run) = spawn_run(&check);
    wait_for_lock_wait(std::process::id(), Some(tid), &db.path, 1, LOCK_WAIT);
    owner.execute_batch("COMMIT").unwrap();
    let findings = run.join().unwrap();

    assert_eq!(db.task(6), ("done".to_owned(), None));
    assert!(db.queue().is_empty());
    assert_eq!(finding(&findings, "tmux:f").status, Status::Healthy, "{findings:#?}");
    assert_eq!(server.ctrl_c_count(&id), 0, "no Ctrl+C may be sent for a finished task");
}

/// When Ctrl+C cannot be sent (the tmux server is unreachable between the
/// listing and send-keys), the marks are rolled back: the task stays in
/// progress, nothing is queued, and the finding raises an alert. The next
/// cycle, with tmux reachable again, handles it.
#[test]
fn failed_ctrl_c_leaves_the_task_in_progress() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let marker = server.marker_dir().join("k");
    let id = server.idle_session("k", &marker);
    db.add(7, "k", "in_progress");
    let check = Arc::new(SessionsCheck::new(settings(&server, &db.path, SECOND)));
    run_until(&check, &DRY, LIMIT, |f| acted_on(f, "tmux:k"));
    let owner = db.conn();
    owner.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (tid, run) = spawn_run(&check);
    wait_for_lock_wait(std::process::id(), Some(tid), &db.path, 1, LOCK_WAIT);
    let away = server.dir.path().join("sock.away");
    std::fs::rename(&server.socket, &away).unwrap();
    owner.execute_batch("ROLLBACK").unwrap();

    let findings = run.join().unwrap();
    std::fs::rename(&away, &server.socket).unwrap();

    let f = finding(&findings, "tmux:k");
    assert_eq!(f.status, Status::Error);
    assert!(f.action.is_none(), "{f:#?}");
    let message = &f.problem.as_ref().unwrap().message;
    assert!(message.contains("Ctrl+C could not be sent"), "{message}");
    assert!(message.contains("task 7 left in progress and not requeued"), "{message}");
    assert!(
        decide(&[], &findings).iter().any(|d| matches!(d, Decision::Raise { component, .. } if component == "tmux:k")),
        "the failure must raise an alert"
    );
    assert_eq!(db.task(7), ("in_progress".to_owned(), None));
    assert!(db.queue().is_empty());
    assert_eq!(server.ctrl_c_count(&id), 0); // (its marker is activity: stuck again after stuck_after)

    let retried = run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:k"));

    assert_eq!(finding(&retried, "tmux:k").status, Status::Recovered, "{retried:#?}");
    assert_eq!(db.task(7).0, "failed");
    assert_eq!(db.queue(), vec![Value::Integer(7)]);
    assert_eq!(wait_for_lines(&marker, 1, LIMIT), "INT\n");
    assert_eq!(server.ctrl_c_count(&id), 1);
}

/// The first `on_stuck` statement is the guard: a task it changes no row
/// for (in progress for the query, not for the guard) is rolled back whole
/// and not requeued; the session's other task is handled. A session with
/// only such tasks is left alone: no Ctrl+C.
#[test]
fn guard_that_changes_no_row_skips_the_task() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let mixed = server.idle_session("mixed", &server.marker_dir().join("mixed"));
    let paused = server.idle_session("paused", &server.marker_dir().join("paused"));
    db.add(1, "mixed", "in_progress");
    db.add(2, "mixed", "paused");
    db.add(3, "paused", "paused");
    let mut settings = settings(&server, &db.path, SECOND);
    settings.in_progress_query = "SELECT id, session_name FROM tasks WHERE status IN ('in_progress', 'paused')".into();
    settings.on_stuck = vec![
        "UPDATE tasks SET status = 'failed', error = :reason WHERE id = :task_id AND status = 'in_progress'".into(),
        "UPDATE tasks SET attempts = attempts + 1 WHERE id = :task_id".into(),
    ];
    let check = SessionsCheck::new(settings);

    let findings = run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:mixed"));

    assert_eq!(
        finding(&findings, "tmux:mixed").action.as_ref().unwrap().taken,
        "sent Ctrl+C; task 1 marked failed and requeued"
    );
    let left = finding(&findings, "tmux:paused");
    assert_eq!((left.status, &left.action), (Status::Unhealthy, &None));
    assert!(left.problem.as_ref().unwrap().message.contains("changed no row"), "{left:#?}");
    assert_eq!((db.task(1).0, db.attempts(1)), ("failed".to_owned(), 1));
    assert_eq!((db.task(2), db.attempts(2)), (("paused".to_owned(), None), 0));
    assert_eq!((db.task(3), db.attempts(3)), (("paused".to_owned(), None), 0));
    assert_eq!(db.queue(), vec![Value::Integer(1)]);
    assert_eq!(server.ctrl_c_count(&mixed), 1);
    assert_eq!(server.ctrl_c_count(&paused), 0);
}

/// Two `healthmon --once` (as beside a daemon) that both saw the same task
/// stuck, then wait for the owner's write lock together, handle it once:
/// one requeue, one attempt counted, one Ctrl+C, one alert. The `on_stuck`
/// here has no status guard: reading the set under the lock is what keeps
/// the second run off the task.
#[test]
fn two_once_runs_handle_a_stuck_task_once() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let id = server.idle_session("race", &server.marker_dir().join("race"));
    db.add(11, "race", "in_progress");
    let state = server.dir.path().join("health.db");
    Store::open(&state).expect("create the state database"); // both runs open it as it is
    let config = race_config(&server, &db.path, &state);
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));
    run_until(&check, &DRY, LIMIT, |f| acted_on(f, "tmux:race")); // stuck now
    let owner = db.conn();
    owner.execute_batch("BEGIN IMMEDIATE").unwrap();

    let runs = [once(&config), once(&config)];
    for run in &runs {
        wait_for_lock_wait(run.id(), None, &db.path, 0, LOCK_WAIT);
    }
    owner.execute_batch("ROLLBACK").unwrap();
    let reports: Vec<Json> = runs.map(report).into();

    let statuses: Vec<&str> = reports.iter().map(|r| race_finding(r)["status"].as_str().unwrap()).collect();
    assert!(statuses == ["recovered", "healthy"] || statuses == ["healthy", "recovered"], "{reports:#?}");
    assert_eq!((db.task(11).0, db.attempts(11)), ("failed".to_owned(), 1));
    assert_eq!(db.queue(), vec![Value::Integer(11)]);
    assert_eq!(server.ctrl_c_count(&id), 1);
    let alerts: i64 = rusqlite::Connection::open(&state)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM health_alerts WHERE component = 'tmux:race'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(alerts, 1);
}

/// A config with only the sessions check of interest; `on_stuck` counts
/// attempts and has no status guard.
fn race_config(server: &TmuxServer, tasks: &Path, state: &Path) -> std::path::PathBuf {
    let path = server.dir.path().join("healthmon.toml");
    let text = format!(
        "[monitor]\ndatabase = \"{state}\"\n\n[disk]\npaths = [\"{dir}\"]\n\n[sessions]\ntmux_socket = \"{socket}\"\n\
         stuck_after = \"1s\"\ntask_database = \"{tasks}\"\n\
         on_stuck = [\"UPDATE tasks SET status = 'failed', attempts = attempts + 1, error = :reason WHERE id = :task_id\"]\n\
         requeue = [\"INSERT INTO queue (task_id) VALUES (:task_id)\"]\n",
        state = state.display(),
        dir = server.dir.path().display(),
        socket = server.socket.display(),
        tasks = tasks.display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn once(config: &Path) -> Child {
    Command::new(BIN)
        .args(["--once", "--json", "--config"])
        .arg(config)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start healthmon --once")
}

/// The JSON report of a finished `--once`.
fn report(run: Child) -> Json {
    let out = run.wait_with_output().expect("wait for healthmon --once");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("no JSON report ({err}); stderr: {}", String::from_utf8_lossy(&out.stderr)))
}

fn race_finding(report: &Json) -> &Json {
    let findings = report["findings"].as_array().expect("findings");
    findings.iter().find(|f| f["component"] == "tmux:race").unwrap_or_else(|| panic!("no tmux:race in {report:#}"))
}

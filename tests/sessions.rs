//! The stuck-session check against a real tmux server on a private socket
//! and a real SQLite task database.

#[path = "common/sessions.rs"]
mod support;

use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use healthmon::checks::sessions::{SessionsCheck, SessionsMemory};
use healthmon::checks::taskdb::BUSY_TIMEOUT;
use healthmon::checks::Check;
use healthmon::engine::Engine;
use healthmon::journal::Journal;
use healthmon::model::{ActionKind, Finding, Severity, Status};
use healthmon::store::{Store, StoreHandle};
use rusqlite::types::Value;
use support::*;

const SECOND: Duration = Duration::from_secs(1);
const LIMIT: Duration = Duration::from_secs(20);

/// An idle session with a task in progress gets its task failed with the
/// reason, requeued, and its program a real SIGINT; the session survives.
#[test]
fn stuck_session_is_interrupted_failed_and_requeued() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let marker = server.marker_dir().join("worker-1");
    let id = server.idle_session("worker-1", &marker);
    db.add(77, "worker-1", "in_progress");
    db.add(78, "worker-1", "done");
    db.add(79, "elsewhere", "in_progress");
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));

    let findings = run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:worker-1"));

    let f = finding(&findings, "tmux:worker-1");
    assert_eq!(f.metric_type, "stuck_session");
    assert_eq!(f.status, Status::Recovered);
    let action = f.action.as_ref().unwrap();
    assert_eq!(action.kind, ActionKind::SessionCleared);
    assert_eq!(action.taken, "sent Ctrl+C; task 77 marked failed and requeued");
    let problem = f.problem.as_ref().unwrap();
    assert_eq!(problem.severity, Severity::Warning);
    assert!(problem.message.starts_with("session worker-1 idle "), "{}", problem.message);
    assert!(problem.message.ends_with(" with task 77 in progress; interrupted and requeued"), "{}", problem.message);
    let (status, error) = db.task(77);
    assert_eq!(status, "failed");
    assert!(error.unwrap().starts_with("healthmon: tmux session worker-1 showed no activity"));
    assert_eq!(db.queue(), vec![Value::Integer(77)]);
    assert_eq!(db.task(78), ("done".to_owned(), None));
    assert_eq!(db.task(79), ("in_progress".to_owned(), None));
    assert_eq!(wait_for_lines(&marker, 1, LIMIT), "INT\n");
    assert!(server.has_session(&id), "the session must not be killed");
}

/// The cycle after a clearing reports the session healthy, which resolves
/// the alert the clearing raised.
#[test]
fn next_cycle_after_clearing_is_healthy() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    server.idle_session("w", &server.marker_dir().join("w"));
    db.add(1, "w", "in_progress");
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));
    run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:w"));

    let findings = check.run(&LIVE).unwrap();

    let f = finding(&findings, "tmux:w");
    assert_eq!((f.status, &f.problem, &f.action), (Status::Healthy, &None, &None));
}

/// A session whose program keeps printing is never touched, while an idle
/// one beside it with the same setup is cleared.
#[test]
fn busy_session_is_untouched() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let busy_marker = server.marker_dir().join("busy");
    server.busy_session("busy", &busy_marker);
    server.idle_session("idle", &server.marker_dir().join("idle"));
    db.add(1, "busy", "in_progress");
    db.add(2, "idle", "in_progress");
    let check = SessionsCheck::new(settings(&server, &db.path, 2 * SECOND));

    let started = Instant::now();
    let mut busy_acted = false;
    run_until(&check, &LIVE, LIMIT, |f| {
        busy_acted |= acted_on(f, "tmux:busy");
        acted_on(f, "tmux:idle")
    });
    // Keep checking as long again: still nothing for the busy one.
    while started.elapsed() < Duration::from_secs(6) {
        let findings = check.run(&LIVE).unwrap();
        assert_eq!(finding(&findings, "tmux:busy").status, Status::Healthy);
    }

    assert!(!busy_acted);
    assert_eq!(db.task(1).0, "in_progress");
    assert_eq!(db.queue(), vec![Value::Integer(2)]);
    assert!(!busy_marker.exists(), "the busy session must not get Ctrl+C");
}

/// An idle session with no task in progress is left alone.
#[test]
fn session_without_task_is_untouched() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let free_marker = server.marker_dir().join("free");
    server.idle_session("free", &free_marker);
    server.idle_session("loaded", &server.marker_dir().join("loaded"));
    db.add(5, "loaded", "in_progress");
    db.add(6, "free", "done");
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));

    let findings = run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:loaded"));

    let f = finding(&findings, "tmux:free");
    assert_eq!(f.status, Status::Healthy);
    assert!(f.details.ends_with("no task in progress"), "{}", f.details);
    assert_eq!(db.task(6).0, "done");
    assert!(!free_marker.exists(), "a session without a task must not get Ctrl+C");
}

/// Names with spaces, quotes, `;`, `$`, `.`/`:`, backslashes and unicode are
/// matched and cleared; a session *named* `$0` is told from the session
/// whose id is `$0`.
#[test]
fn odd_session_names_work() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let decoy_marker = server.marker_dir().join("decoy");
    let decoy = server.idle_session("decoy", &decoy_marker);
    assert_eq!(decoy, "$0");
    // (name in the task database, name tmux stores)
    let names = [
        ("it's a \"test\"; $HOME", "it's a \"test\"; \\$HOME"),
        ("ünïcødé ✓ 作业", "ünïcødé ✓ 作业"),
        ("job.v2:main", "job_v2_main"),
        ("$0", "$0"),
        ("back\\slash `x` & | > *", "back\\\\slash `x` & | > *"),
        ("-t", "-t"),
    ];
    for (i, (raw, _)) in names.iter().enumerate() {
        server.idle_session(raw, &server.marker_dir().join(i.to_string()));
        db.add(100 + i as i64, raw, "in_progress");
    }
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));

    let components: Vec<String> = names.iter().map(|(_, stored)| format!("tmux:{stored}")).collect();
    // Sessions may turn stuck in different runs (they start one by one).
    let mut cleared = std::collections::HashSet::new();
    run_until(&check, &LIVE, LIMIT, |f| {
        cleared.extend(components.iter().filter(|c| acted_on(f, c)).cloned());
        cleared.len() == components.len()
    });

    for (i, _) in names.iter().enumerate() {
        assert_eq!(db.task(100 + i as i64).0, "failed");
        assert_eq!(wait_for_lines(&server.marker_dir().join(i.to_string()), 1, LIMIT), "INT\n");
    }
    assert!(!decoy_marker.exists(), "the session with id $0 must not be hit by the one named $0");
}

/// A TEXT task id is bound back as TEXT: the integer row with the same
/// digits is not touched and the queue gets the text value.
#[test]
fn text_task_id_is_bound_unchanged() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    server.idle_session("t", &server.marker_dir().join("t"));
    db.add(String::from("77"), "t", "in_progress");
    db.add(77, "other", "queued");
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));

    run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:t"));

    assert_eq!(db.task(String::from("77")).0, "failed");
    assert_eq!(db.task(77).0, "queued");
    assert_eq!(db.queue(), vec![Value::Text("77".into())]);
}

/// A stuck task is handled once: idle again with the same task still in
/// progress, the session is reported but not interrupted or requeued
/// again, also by the check a reload builds on the same memory.
#[test]
fn same_stuck_task_is_not_handled_twice() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let marker = server.marker_dir().join("s");
    server.idle_session("s", &marker);
    db.add(9, "s", "in_progress");
    let mut settings = settings(&server, &db.path, SECOND);
    // An on_stuck that leaves the task in progress.
    settings.on_stuck = vec!["UPDATE tasks SET error = :reason WHERE id = :task_id".into()];
    let memory = SessionsMemory::default();
    let check = SessionsCheck::remembering(settings.clone(), memory.clone());
    run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:s"));

    let reloaded = SessionsCheck::remembering(settings, memory);
    let findings = run_until(&reloaded, &LIVE, LIMIT, |f| {
        assert!(!acted_on(f, "tmux:s"), "handled twice: {f:#?}");
        f.iter().any(|x| x.problem.as_ref().is_some_and(|p| p.message.contains("already interrupted")))
    });

    assert_eq!(finding(&findings, "tmux:s").status, Status::Unhealthy);
    assert_eq!(db.queue(), vec![Value::Integer(9)]);
    assert_eq!(fs::read_to_string(&marker).unwrap(), "INT\n");
}

/// Once the task leaves the in-progress set it is forgotten: put in
/// progress again and stuck again, it is handled again.
#[test]
fn handled_task_is_forgotten_when_it_leaves_in_progress() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let marker = server.marker_dir().join("r");
    server.idle_session("r", &marker);
    db.add(3, "r", "in_progress");
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));
    run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:r"));
    check.run(&LIVE).unwrap(); // task 3 is failed now: forgotten
    db.set_status(3, "in_progress");

    run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:r"));

    assert_eq!(db.queue(), vec![Value::Integer(3), Value::Integer(3)]);
    assert_eq!(wait_for_lines(&marker, 2, LIMIT), "INT\nINT\n");
}

/// Dry run reports "would send Ctrl+C" and changes nothing: no SQL write,
/// no keys sent.
#[test]
fn dry_run_changes_nothing() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let marker = server.marker_dir().join("d");
    server.idle_session("d", &marker);
    db.add(4, "d", "in_progress");
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));

    let findings = run_until(&check, &DRY, LIMIT, |f| acted_on(f, "tmux:d"));
    std::thread::sleep(Duration::from_millis(500)); // a sent Ctrl+C would show by now

    let f = finding(&findings, "tmux:d");
    assert_eq!(f.status, Status::Unhealthy);
    let action = f.action.as_ref().unwrap();
    assert_eq!(action.kind, ActionKind::Other);
    assert_eq!(action.taken, "would send Ctrl+C; task 4 would be marked failed and requeued");
    assert_eq!(db.task(4), ("in_progress".to_owned(), None));
    assert!(db.queue().is_empty());
    assert!(!marker.exists(), "dry run must not send keys");
}

/// No server on the socket (missing or stale) is nothing to check: no
/// session findings and no error.
#[test]
fn no_tmux_server_is_healthy() {
    let server = TmuxServer::new(); // never started: the socket does not exist
    let db = TaskDb::create(server.dir.path());
    db.add(1, "x", "in_progress");
    let stale = server.dir.path().join("stale");
    fs::write(&stale, "").unwrap();
    for socket in [server.socket.clone(), stale] {
        let mut s = settings(&server, &db.path, SECOND);
        s.tmux_socket = Some(socket);

        let findings = SessionsCheck::new(s).run(&LIVE).expect("no server is not an error");

        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].metric_type, "task_database");
        assert_eq!(findings[0].status, Status::Healthy);
    }
}

/// A missing task database is an error finding on `sqlite:PATH`, the file
/// is not created, and no session is touched.
#[test]
fn missing_database_is_an_error_finding() {
    let server = TmuxServer::new();
    let marker = server.marker_dir().join("m");
    server.idle_session("m", &marker);
    let path = server.dir.path().join("absent.db");
    let check = SessionsCheck::new(settings(&server, &path, SECOND));
    std::thread::sleep(3 * SECOND); // the session is past stuck_after

    let findings = check.run(&LIVE).expect("a missing database is a finding, not a check failure");

    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.component, format!("sqlite:{}", path.display()));
    assert_eq!(f.status, Status::Error);
    assert_eq!(f.problem.as_ref().unwrap().severity, Severity::Warning);
    assert!(f.details.contains("does not exist"), "{}", f.details);
    assert!(!path.exists(), "the task database must not be created");
    assert!(!marker.exists());
}

/// A database another connection holds with BEGIN EXCLUSIVE gives an error
/// finding within the busy timeout and nothing is changed or sent.
#[test]
fn locked_database_changes_nothing() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let marker = server.marker_dir().join("l");
    server.idle_session("l", &marker);
    db.add(8, "l", "in_progress");
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));
    run_until(&check, &DRY, LIMIT, |f| acted_on(f, "tmux:l")); // stuck now
    let holder = db.conn();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let started = Instant::now();
    let findings = check.run(&LIVE).unwrap();
    let took = started.elapsed();
    holder.execute_batch("ROLLBACK").unwrap();

    println!("locked database: check returned after {took:?}");
    assert!(took < BUSY_TIMEOUT + Duration::from_secs(5), "took {took:?}");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].status, Status::Error);
    assert!(findings[0].details.contains("database is locked"), "{}", findings[0].details);
    assert_eq!(db.task(8), ("in_progress".to_owned(), None));
    assert!(db.queue().is_empty());
    assert!(!marker.exists(), "nothing may be sent while the task cannot be marked");
}

/// When the tasks can be read but not written (another writer holds the
/// write lock), the stuck session is reported as an error and not
/// interrupted: the task is marked first, keys are sent only after.
#[test]
fn write_locked_database_leaves_session_uninterrupted() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let marker = server.marker_dir().join("w");
    server.idle_session("w", &marker);
    db.add(2, "w", "in_progress");
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));
    run_until(&check, &DRY, LIMIT, |f| acted_on(f, "tmux:w"));
    let holder = db.conn();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();

    let findings = check.run(&LIVE).unwrap();
    holder.execute_batch("ROLLBACK").unwrap();

    let f = finding(&findings, "tmux:w");
    assert_eq!(f.status, Status::Error);
    assert!(f.action.is_none());
    assert!(f.problem.as_ref().unwrap().message.contains("not interrupted"));
    assert_eq!(finding(&findings, &format!("sqlite:{}", db.path.display())).status, Status::Error);
    assert_eq!(db.task(2).0, "in_progress");
    assert!(!marker.exists());
}

/// Root clears a stuck session on another user's server laid out like
/// /tmp/tmux-UID/default (tmux 3.3 lets root in without server-access).
#[test]
fn root_reaches_another_users_server() {
    assert!(nix::unistd::geteuid().is_root(), "this test needs root (it starts a server as uid 65534)");
    let server = TmuxServer::owned_by(65534);
    let db = TaskDb::create(server.dir.path());
    let marker = server.marker_dir().join("u");
    server.idle_session("user-work", &marker);
    db.add(12, "user-work", "in_progress");
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));

    run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:user-work"));

    assert_eq!(db.task(12).0, "failed");
    assert_eq!(wait_for_lines(&marker, 1, LIMIT), "INT\n");
}

/// 500 sessions with 500 tasks in progress come out of one pass correctly;
/// the time is printed, not asserted.
#[test]
fn five_hundred_sessions_in_one_pass() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let mut args: Vec<String> = Vec::new();
    for i in 0..500 {
        if i > 0 {
            args.push(";".into());
        }
        args.extend(["new-session", "-d", "-s", &format!("s{i}"), "cat"].map(String::from));
    }
    server.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let conn = db.conn();
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..500 {
        conn.execute(
            "INSERT INTO tasks (id, session_name, status) VALUES (?1, ?2, 'in_progress')",
            (i, format!("s{i}")),
        )
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
    let check = SessionsCheck::new(settings(&server, &db.path, Duration::from_secs(3600)));

    let started = Instant::now();
    let findings = check.run(&LIVE).unwrap();
    let took = started.elapsed();

    println!("500 sessions, 500 tasks: one check run took {took:?}");
    assert_eq!(findings.len(), 501);
    for i in 0..500 {
        let f = finding(&findings, &format!("tmux:s{i}"));
        assert_eq!(f.status, Status::Healthy);
        assert!(f.details.ends_with(&format!("task {i} in progress")), "{}", f.details);
    }
}

/// Statements that could write more than asked are refused whole: an
/// unknown or positional parameter, several statements in one string, or a
/// failing requeue (which also rolls the on_stuck change back). Nothing
/// changes and no keys are sent.
#[test]
fn bad_statements_change_nothing() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let marker = server.marker_dir().join("b");
    server.idle_session("b", &marker);
    db.add(6, "b", "in_progress");
    db.add(7, "other", "done");
    let update = "UPDATE tasks SET status = 'failed' WHERE id = :task_id";
    let insert = "INSERT INTO queue (task_id) VALUES (:task_id)";
    let configs = [
        ("UPDATE tasks SET status = 'failed' WHERE id = :task", insert),
        ("UPDATE tasks SET status = 'failed' WHERE id = ?", insert),
        ("UPDATE tasks SET status = 'failed' WHERE id = :task_id; DELETE FROM tasks", insert),
        (update, "INSERT INTO no_such_table (task_id) VALUES (:task_id)"),
    ];
    for (on_stuck, requeue) in configs {
        let mut s = settings(&server, &db.path, SECOND);
        s.on_stuck = vec![on_stuck.into()];
        s.requeue = vec![requeue.into()];
        let check = SessionsCheck::new(s);

        let findings =
            run_until(&check, &LIVE, LIMIT, |f| f.iter().any(|x| x.component == "tmux:b" && x.problem.is_some()));

        let f = finding(&findings, "tmux:b");
        assert_eq!((f.status, &f.action), (Status::Error, &None), "{on_stuck} / {requeue}");
        assert_eq!(db.task(6).0, "in_progress", "{on_stuck} / {requeue}");
        assert_eq!(db.task(7).0, "done");
        assert!(db.queue().is_empty());
    }
    assert!(!marker.exists(), "no keys may be sent when the task could not be marked");
}

/// An in_progress_query that writes is refused before it runs.
#[test]
fn writing_in_progress_query_is_refused() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    server.idle_session("q", &server.marker_dir().join("q"));
    db.add(1, "q", "done");
    let mut s = settings(&server, &db.path, SECOND);
    s.in_progress_query = "UPDATE tasks SET status = 'in_progress' RETURNING id, session_name".into();

    let findings = SessionsCheck::new(s).run(&LIVE).unwrap();

    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].status, Status::Error);
    assert!(findings[0].details.contains("read-only SELECT"), "{}", findings[0].details);
    assert_eq!(db.task(1).0, "done");
}

/// A new task on a session already cleared for another one is handled
/// alone: the earlier task is not requeued a second time.
#[test]
fn only_new_tasks_are_handled_on_a_cleared_session() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    server.idle_session("n", &server.marker_dir().join("n"));
    db.add(1, "n", "in_progress");
    let mut s = settings(&server, &db.path, SECOND);
    s.on_stuck = vec!["UPDATE tasks SET error = :reason WHERE id = :task_id".into()]; // stays in progress
    let check = SessionsCheck::new(s);
    run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:n"));
    db.add(2, "n", "in_progress");

    let findings = run_until(&check, &LIVE, LIMIT, |f| acted_on(f, "tmux:n"));

    assert_eq!(
        finding(&findings, "tmux:n").action.as_ref().unwrap().taken,
        "sent Ctrl+C; task 2 marked failed and requeued"
    );
    assert_eq!(db.queue(), vec![Value::Integer(1), Value::Integer(2)]);
}

/// A tmux server that stopped answering fails the check within the call
/// timeout instead of hanging it.
#[test]
fn hung_tmux_server_fails_in_bounded_time() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    server.idle_session("h", &server.marker_dir().join("h"));
    let pid: i32 = server.run(&["display-message", "-p", "#{pid}"]).trim().parse().unwrap();
    let check = SessionsCheck::new(settings(&server, &db.path, SECOND));
    kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();

    let started = Instant::now();
    let result = check.run(&LIVE);
    let took = started.elapsed();
    kill(Pid::from_raw(pid), Signal::SIGCONT).unwrap();

    println!("hung tmux server: check failed after {took:?}");
    let err = result.expect_err("a hung server is a check failure").to_string();
    assert!(err.contains("did not answer"), "{err}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

/// A session whose alert is still open (its task stays in progress because
/// on_stuck only notes the reason) has that alert resolved by the engine
/// once the session ends and the check no longer reports it.
#[tokio::test]
async fn alert_of_ended_session_resolves() {
    let server = TmuxServer::new();
    let db = TaskDb::create(server.dir.path());
    let marker = server.marker_dir().join("ends");
    let id = server.idle_session("ends", &marker);
    db.add(5, "ends", "in_progress");
    let mut sessions = settings(&server, &db.path, SECOND);
    sessions.on_stuck = vec!["UPDATE tasks SET error = :reason WHERE id = :task_id".into()];
    sessions.requeue.clear();
    let mut config = healthmon::config::embedded_defaults();
    config.monitor.database = server.dir.path().join("health.db");
    config.sessions = Some(sessions);
    let store = StoreHandle::new(Store::open(&config.monitor.database).unwrap());
    let mut engine = Engine::new(&config, store, Arc::new(Journal::stderr()), false);
    let open = |engine: &Engine| {
        let store = engine.store().clone();
        async move { store.call(|s| s.unresolved()).await.unwrap().into_iter().map(|a| a.component).collect::<Vec<_>>() }
    };

    // Cleared once (an action), then, idle again with the same task, still stuck.
    let still_stuck = |f: &Finding| f.component == "tmux:ends" && f.problem.is_some() && f.action.is_none();
    let deadline = Instant::now() + LIMIT;
    loop {
        let summary = engine.run_cycle(Vec::new()).await;
        if summary.sections.iter().flat_map(|s| &s.findings).any(still_stuck) {
            break;
        }
        assert!(Instant::now() < deadline, "the session never showed as still stuck");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(open(&engine).await.contains(&"tmux:ends".to_string()));

    server.run(&["kill-session", "-t", &id]);
    engine.run_cycle(Vec::new()).await;
    assert!(!open(&engine).await.contains(&"tmux:ends".to_string()));
}

//! Fork mode against real processes: the whole process group gets its
//! grace, `match` compares argv elements (and adopts nothing when several
//! processes fit), and a crash alert ends with the worker's last output.

#[path = "common/workers.rs"]
mod common;

use std::time::{Duration, Instant};

use healthmon::model::Severity;
use healthmon::workers::Supervisor;
use nix::sys::signal::Signal;

use common::*;

/// `sh -c "python3 worker.py; echo exited"`: sh exits at once on SIGTERM,
/// python needs 1.5 s; python still gets them and writes its marker.
#[tokio::test]
async fn whole_group_gets_the_grace_when_the_leader_exits_first() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let done = dir.path().join("python-finished");
        let py = dir.path().join("worker.py");
        let body = format!(
            "import signal, sys, time\n\
             def term(*_):\n    time.sleep(1.5)\n    open({done:?}, 'w').write('done')\n    sys.exit(0)\n\
             signal.signal(signal.SIGTERM, term)\n\
             open({ready:?}, 'w').write('ready')\n\
             while True: time.sleep(1)\n",
            done = done.display().to_string(),
            ready = dir.path().join("ready").display().to_string(),
        );
        std::fs::write(&py, body).unwrap();
        let line = format!("{PY} {}; echo exited", py.display());
        let mut w = command_worker("tree", vec!["/bin/sh".into(), "-c".into(), line]);
        w.stop_timeout = Duration::from_secs(10);
        let (tx, _events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        wait_until("python ready", Duration::from_secs(10), || dir.path().join("ready").exists()).await;

        sup.shutdown().await;
        assert_eq!(
            std::fs::read_to_string(&done).ok().as_deref(),
            Some("done"),
            "python finished its 1.5 s of cleanup"
        );
    })
    .await;
}

/// A group member that ignores SIGTERM is SIGKILLed only after stop_timeout, and nothing of the group is left.
#[tokio::test]
async fn sigkill_only_after_the_grace_and_only_to_what_is_left() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let pidfile = dir.path().join("child.pid");
        // The leader exits on TERM; its child ignores TERM.
        let body =
            format!(r#"sh -c 'trap "" TERM; echo $$ > {}; while :; do sleep 0.05; done' & wait"#, pidfile.display());
        let worker = script(dir.path(), "leader.sh", &body);
        let mut w = command_worker("stubborn-child", vec![worker.display().to_string()]);
        w.stop_timeout = Duration::from_millis(800);
        let (tx, _events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        wait_until("the child's pid", Duration::from_secs(5), || !lines(&pidfile).is_empty()).await;
        let child: i32 = lines(&pidfile)[0].parse().unwrap();
        let leader = sup.list()[0].pid as i32;

        let asked = Instant::now();
        sup.shutdown().await;
        let took = asked.elapsed();
        assert!(took >= Duration::from_millis(800), "the child had its whole stop_timeout, took {took:?}");
        assert!(exited(child), "the stubborn child was killed");
        assert!(stat(leader).is_none(), "the leader was reaped");
    })
    .await;
}

/// `tail -f worker.py.log` does not match `worker.py`: it is neither adopted nor touched.
#[tokio::test]
async fn a_file_named_after_the_worker_is_not_a_match() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let tag = marker("argv");
        let log = dir.path().join(format!("{tag}.py.log"));
        std::fs::write(&log, "").unwrap();
        let tail = spawn_orphan(&["tail", "-f", &log.display().to_string()]);
        let starts = dir.path().join("starts");
        let worker = script(dir.path(), "w.sh", &format!(r#"echo $$ >> {}; exec sleep 1000"#, starts.display()));
        let mut w = command_worker("argv", vec![worker.display().to_string()]);
        spec(&mut w).match_cmdline = Some(format!("{tag}.py"));
        let (tx, _events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;

        wait_until("its own start", Duration::from_secs(5), || lines(&starts).len() == 1).await;
        assert_ne!(sup.list()[0].pid as i32, tail);
        sup.shutdown().await;
        assert!(!exited(tail), "the tail is untouched");
        kill(tail, Signal::SIGKILL);
    })
    .await;
}

/// Two processes fit `match`: none is adopted, none started, and a WARNING names both pids.
#[tokio::test]
async fn two_candidates_adopt_none_and_warn() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let tag = marker("twins");
        let first = spawn_orphan(&[PY, "-c", "import time; time.sleep(120)", &tag]);
        let second = spawn_orphan(&[PY, "-c", "import time; time.sleep(120)", &tag]);
        let starts = dir.path().join("starts");
        let worker = script(dir.path(), "w.sh", &format!(r#"echo $$ >> {}; exec sleep 1000"#, starts.display()));
        let mut w = command_worker("twins", vec![worker.display().to_string()]);
        w.critical = true; // the ambiguity is a WARNING all the same
        spec(&mut w).match_cmdline = Some(tag);
        let (tx, mut events) = Events::channel();
        let mut sup = Supervisor::start(&[w], false, tx).await;

        let warned = events
            .wait_for("the ambiguity warning", Duration::from_secs(5), |f| {
                f.problem.as_ref().is_some_and(|p| p.message.contains("fits 2"))
            })
            .await;
        let problem = warned.problem.unwrap();
        assert_eq!(problem.severity, Severity::Warning);
        assert!(
            problem.message.contains(&first.to_string()) && problem.message.contains(&second.to_string()),
            "{}",
            problem.message
        );
        let info = &sup.list()[0];
        assert_eq!((info.state.as_str(), info.pid), ("error", 0));
        assert_eq!(sup.cycle().await[0].problem.as_ref().map(|p| p.severity), Some(Severity::Warning));
        assert!(lines(&starts).is_empty(), "no third copy was started");
        sup.shutdown().await;
        assert!(!exited(first) && !exited(second), "neither candidate was signalled");
        kill(first, Signal::SIGKILL);
        kill(second, Signal::SIGKILL);
    })
    .await;
}

/// A crash alert's message ends with the worker's last lines of output, the very last one included.
#[tokio::test]
async fn crash_alert_ends_with_the_last_output() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let worker = script(dir.path(), "crash.sh", "echo starting; echo 'fatal: config missing' >&2; exit 4");
        let mut w = command_worker("talker", vec![worker.display().to_string()]);
        w.restart_delay = Duration::from_secs(60);
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;

        let crash = events
            .wait_for("the crash", Duration::from_secs(5), |f| {
                f.problem.as_ref().is_some_and(|p| p.message.starts_with("exited"))
            })
            .await;
        let message = crash.problem.unwrap().message;
        assert!(message.ends_with("last output: starting | fatal: config missing"), "{message}");
        sup.shutdown().await;
    })
    .await;
}

/// The restart budget survives a restart of healthmon: a given-up worker stays given up, nothing is started.
#[tokio::test]
async fn given_up_budget_survives_a_new_supervisor() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let store = healthmon::store::StoreHandle::new(
            healthmon::store::Store::open(&dir.path().join("health.db")).expect("open store"),
        );
        let starts = dir.path().join("starts");
        let worker = script(dir.path(), "crash.sh", &format!("echo $$ >> {}; exit 1", starts.display()));
        let mut w = command_worker("persisted", vec![worker.display().to_string()]);
        w.max_restarts = 2;
        let (tx, _events) = Events::channel();
        let sup = Supervisor::start_in(
            healthmon::workers::Mode::Fork,
            Some(store.clone()),
            &[w.clone()],
            Default::default(),
            false,
            tx,
        )
        .await;
        wait_until("given up", Duration::from_secs(10), || sup.list()[0].state == "given-up").await;
        sup.shutdown().await;
        let saved = store.call(|s| s.load_budget("persisted")).await.expect("read").expect("a saved budget");
        assert!(saved.given_up_at.is_some(), "{saved:?}");
        assert_eq!(saved.restart_times.len(), 2);
        let started = lines(&starts).len();

        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start_in(
            healthmon::workers::Mode::Fork,
            Some(store.clone()),
            &[w],
            Default::default(),
            false,
            tx,
        )
        .await;
        let gave_up = events
            .wait_for("the give-up", Duration::from_secs(10), |f| {
                f.problem.as_ref().is_some_and(|p| p.message.starts_with("gave up"))
            })
            .await;
        assert!(gave_up.problem.unwrap().message.starts_with("gave up after 2 restarts"));
        assert_eq!(sup.list()[0].state, "given-up");
        assert_eq!(lines(&starts).len(), started, "nothing started");
        sup.shutdown().await;
    })
    .await;
}

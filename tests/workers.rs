//! Worker supervision against real processes: crashes, budgets, probes,
//! adoption through pidfds, privileges, shutdown, and systemd units over a
//! private dbus-daemon (no systemd here, so a clearly named fake serves the
//! systemd1 API in one test).

#[path = "common/workers.rs"]
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use healthmon::model::{ActionKind, Severity, Status};
use healthmon::workers::{once, Supervisor};
use nix::sys::signal::Signal;

use common::*;

/// A script that logs one line per start to `$HM_LOG` and then sleeps.
fn logging_sleeper(dir: &std::path::Path) -> PathBuf {
    script(dir, "worker.sh", r#"echo "$$" >> "$HM_LOG"; exec sleep 1000"#)
}

fn first_pid(path: &std::path::Path, index: usize) -> i32 {
    lines(path)[index].split('|').next().unwrap().trim().parse().expect("pid in log")
}

/// A crashed worker is restarted with the same argv, environment and working directory.
#[tokio::test]
async fn crash_restarts_with_same_argv_env_and_cwd() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let wd = dir.path().join("wd");
        std::fs::create_dir(&wd).unwrap();
        let log = dir.path().join("starts.log");
        let worker = script(dir.path(), "worker.sh", r#"echo "$$|$(pwd)|$HM_TEST|$*" >> "$HM_LOG"; exec sleep 1000"#);
        let mut w = command_worker("crashy", vec![worker.display().to_string(), "--flag".into(), "two words".into()]);
        spec(&mut w).working_dir = Some(wd.clone());
        spec(&mut w).environment.insert("HM_TEST".into(), "hello".into());
        spec(&mut w).environment.insert("HM_LOG".into(), log.display().to_string());
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;

        wait_until("the first start", Duration::from_secs(5), || lines(&log).len() == 1).await;
        wait_until("verified running", Duration::from_secs(5), || sup.list()[0].state == "running").await;
        let old = first_pid(&log, 0);
        kill(old, Signal::SIGKILL);

        let restart = events
            .wait_for("a verified restart", Duration::from_secs(5), |f| {
                f.metric_type == "worker_restart" && f.status == Status::Recovered
            })
            .await;
        let action = restart.action.expect("restart carries its action");
        assert_eq!(action.kind, ActionKind::WorkerRestarted);
        assert_eq!(action.taken, "restarted (signal 9 (SIGKILL)), restart 1 of 5 in 10 min");
        let starts = lines(&log);
        assert_eq!(starts.len(), 2, "{starts:?}");
        let same = |line: &str| line.split_once('|').unwrap().1.to_string();
        assert_eq!(same(&starts[1]), same(&starts[0]));
        assert_eq!(same(&starts[1]), format!("{}|hello|--flag two words", wd.display()));
        assert!(stat(old).is_none(), "the crashed worker {old} was reaped");
        let info = &sup.list()[0];
        assert_eq!((info.state.as_str(), info.restarts), ("running", 1));
        sup.shutdown().await;
    })
    .await;
}

/// A crash loop stops at max_restarts with a CRITICAL "gave up" problem and state given-up.
#[tokio::test]
async fn crash_loop_gives_up_at_budget() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let log = dir.path().join("starts.log");
        let worker = script(dir.path(), "crash.sh", r#"echo "$$" >> "$HM_LOG"; exit 1"#);
        let mut w = command_worker("looper", vec![worker.display().to_string()]);
        w.critical = false; // given up is CRITICAL whatever `critical` says
        w.max_restarts = 3;
        spec(&mut w).environment.insert("HM_LOG".into(), log.display().to_string());
        let (tx, mut events) = Events::channel();
        let mut sup = Supervisor::start(&[w], false, tx).await;

        let gave_up = events
            .wait_for("the give-up", Duration::from_secs(10), |f| {
                f.problem.as_ref().is_some_and(|p| p.message.starts_with("gave up"))
            })
            .await;
        let problem = gave_up.problem.unwrap();
        assert_eq!(problem.severity, Severity::Critical);
        assert_eq!(problem.message, "gave up after 3 restarts in 10 min (last: exit code 1)");
        assert_eq!(sup.list()[0].state, "given-up");
        tokio::time::sleep(Duration::from_millis(300)).await; // proving an absence: nothing more starts
        assert_eq!(lines(&log).len(), 4, "one start plus three restarts");
        let cycle = sup.cycle().await;
        assert_eq!(
            cycle[0].problem.as_ref().map(|p| p.severity),
            Some(Severity::Critical),
            "each cycle keeps the alert open"
        );
        sup.shutdown().await;
    })
    .await;
}

/// Resolving the given-up alert by hand gives a fresh budget and starts the worker again.
#[tokio::test]
async fn resolving_given_up_alert_restarts_worker() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let log = dir.path().join("starts.log");
        let flag = dir.path().join("broken");
        std::fs::write(&flag, "").unwrap();
        let body = format!(r#"echo "$$" >> "$HM_LOG"; [ -e '{}' ] && exit 1; exec sleep 1000"#, flag.display());
        let worker = script(dir.path(), "w.sh", &body);
        let mut w = command_worker("fixable", vec![worker.display().to_string()]);
        w.max_restarts = 1;
        spec(&mut w).environment.insert("HM_LOG".into(), log.display().to_string());
        let (tx, _events) = Events::channel();
        let mut sup = Supervisor::start(&[w], false, tx).await;
        wait_until("given up", Duration::from_secs(5), || sup.list()[0].state == "given-up").await;
        assert_eq!(lines(&log).len(), 2);

        std::fs::remove_file(&flag).unwrap(); // the admin fixed the cause
        sup.alert_resolved_by_hand("fixable");
        wait_until("running again", Duration::from_secs(5), || sup.list()[0].state == "running").await;
        assert_eq!(lines(&log).len(), 3);
        sup.shutdown().await;
    })
    .await;
}

/// A SIGSTOPped worker whose probe fails health_failures times in a row is killed and restarted.
#[tokio::test]
async fn stopped_worker_with_failing_probe_is_restarted() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let hb = dir.path().join("heartbeat");
        // The beat is replaced atomically so a probe never reads a half-written file.
        let beat = format!(
            "import os, time\nwhile True:\n    open('{0}.tmp', 'w').write(str(time.monotonic()))\n    os.replace('{0}.tmp', '{0}')\n    time.sleep(0.02)",
            hb.display()
        );
        let probe = format!("import sys, time\nsys.exit(0 if time.monotonic() - float(open('{}').read()) < 0.5 else 1)", hb.display());
        let mut w = command_worker("hung", vec![PY.into(), "-c".into(), beat]);
        w.verify_after = Duration::from_millis(500);
        w.health_command = Some(vec![PY.into(), "-c".into(), probe]);
        w.health_failures = 2;
        let (tx, mut events) = Events::channel();
        let mut sup = Supervisor::start(&[w], false, tx).await;
        wait_until("verified running", Duration::from_secs(10), || sup.list()[0].state == "running").await;
        assert_eq!(sup.cycle().await[0].status, Status::Healthy, "the probe passes while it beats");
        let old = sup.list()[0].pid as i32;

        kill(old, Signal::SIGSTOP);
        wait_until("a stale heartbeat", Duration::from_secs(5), || {
            std::fs::metadata(&hb).and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_millis(700))
        })
        .await;
        let first = sup.cycle().await.remove(0);
        assert_eq!(first.problem.expect("first failure").message, "health check failed (1 of 2): exit code 1");
        let second = sup.cycle().await.remove(0);
        assert!(second.problem.expect("second failure").message.ends_with("; restarting"));

        // Recovered or not depends on how fast the new process beats on a
        // loaded machine; the restart itself is the point here.
        let restart = events.wait_for("the restart", Duration::from_secs(10), |f| f.metric_type == "worker_restart").await;
        assert!(restart.action.unwrap().taken.starts_with("restarted (health check failed 2 times in a row"));
        assert!(stat(old).is_none(), "the stopped worker {old} was killed and reaped");
        assert_ne!(sup.list()[0].pid as i32, old);
        sup.shutdown().await;
    })
    .await;
}

/// A running process matching `match` (not our child) is adopted and no second copy is started.
#[tokio::test]
async fn adopts_matching_process_without_starting_another() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let log = dir.path().join("starts.log");
        let tag = marker("adopt");
        let orphan = spawn_orphan(&[PY, "-c", "import time; time.sleep(120)", &tag]);
        let mut w = command_worker("adoptee", vec![logging_sleeper(dir.path()).display().to_string()]);
        spec(&mut w).match_cmdline = Some(tag.clone());
        spec(&mut w).environment.insert("HM_LOG".into(), log.display().to_string());
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;

        let adopted = events.wait_for("the adoption", Duration::from_secs(5), |f| f.details.contains("adopted")).await;
        assert!(adopted.details.contains(&format!("pid {orphan}")), "{}", adopted.details);
        let info = &sup.list()[0];
        assert_eq!((info.state.as_str(), info.pid as i32), ("running", orphan));
        assert!(lines(&log).is_empty(), "nothing was started beside the adopted process");
        sup.shutdown().await;
        assert!(exited(orphan), "shutdown stops adopted workers too");
    })
    .await;
}

/// A process that merely resembles the worker is never adopted nor signalled.
#[tokio::test]
async fn never_adopts_or_touches_a_non_matching_process() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let log = dir.path().join("starts.log");
        let tag = marker("near");
        let bystander = spawn_orphan(&[PY, "-c", "import time; time.sleep(120)", &format!("{tag}-other")]);
        let mut w = command_worker("picky", vec![logging_sleeper(dir.path()).display().to_string()]);
        spec(&mut w).match_cmdline = Some(format!("{tag}-wanted"));
        spec(&mut w).environment.insert("HM_LOG".into(), log.display().to_string());
        let (tx, _events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;

        wait_until("its own start", Duration::from_secs(5), || lines(&log).len() == 1).await;
        assert_ne!(sup.list()[0].pid as i32, bystander);
        sup.shutdown().await;
        assert!(!exited(bystander), "the bystander still runs untouched");
        kill(bystander, Signal::SIGKILL);
    })
    .await;
}

/// The exit of an adopted (non-child) process is noticed through its pidfd within milliseconds.
#[tokio::test]
async fn pidfd_notices_exit_of_non_child_within_milliseconds() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let tag = marker("latency");
        let orphan = spawn_orphan(&[PY, "-c", "import time; time.sleep(120)", &tag]);
        let mut w = command_worker("watched", vec![logging_sleeper(dir.path()).display().to_string()]);
        w.restart_delay = Duration::from_secs(60); // only the exit event matters here
        spec(&mut w).match_cmdline = Some(tag);
        spec(&mut w).environment.insert("HM_LOG".into(), dir.path().join("log").display().to_string());
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        events.wait_for("the adoption", Duration::from_secs(5), |f| f.details.contains("adopted")).await;

        let killed = Instant::now();
        kill(orphan, Signal::SIGKILL);
        let exit = events
            .wait_for("the exit event", Duration::from_secs(5), |f| {
                f.problem.as_ref().is_some_and(|p| p.message.starts_with("exited"))
            })
            .await;
        let latency = killed.elapsed();
        println!("pidfd exit notice for a non-child: {:.3} ms", latency.as_secs_f64() * 1e3);
        assert!(latency < Duration::from_millis(500), "took {latency:?}");
        assert!(exit.problem.unwrap().message.contains("exit status unknown, not our child"));
        sup.shutdown().await;
    })
    .await;
}

/// 100 crash/restart cycles leave no zombie behind.
#[tokio::test]
async fn no_zombie_after_100_crash_restart_cycles() {
    bounded(Duration::from_secs(60), async {
        let dir = tempdir();
        let log = dir.path().join("pids.log");
        let worker = script(dir.path(), "crash.sh", r#"echo "$$" >> "$HM_LOG"; exit 3"#);
        let mut w = command_worker("zombies", vec![worker.display().to_string()]);
        w.max_restarts = 1000;
        spec(&mut w).environment.insert("HM_LOG".into(), log.display().to_string());
        let (tx, _events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        wait_until("101 starts", Duration::from_secs(40), || lines(&log).len() > 100).await;
        sup.shutdown().await;

        let pids: Vec<i32> = lines(&log).iter().map(|l| l.parse().unwrap()).collect();
        assert!(pids.len() > 100);
        let zombies: Vec<i32> = pids.iter().copied().filter(|p| is_our_zombie(*p)).collect();
        assert!(zombies.is_empty(), "zombie children left: {zombies:?}");
    })
    .await;
}

/// In dry run nothing is started or restarted: the findings say "would ...".
#[tokio::test]
async fn dry_run_starts_and_restarts_nothing() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let log = dir.path().join("starts.log");
        let tag = marker("dry");
        let orphan = spawn_orphan(&[PY, "-c", "import time; time.sleep(120)", &tag]);
        let mut watched = command_worker("dry-watched", vec![logging_sleeper(dir.path()).display().to_string()]);
        spec(&mut watched).match_cmdline = Some(tag);
        spec(&mut watched).environment.insert("HM_LOG".into(), log.display().to_string());
        let mut absent = watched.clone();
        absent.name = "dry-absent".into();
        spec(&mut absent).match_cmdline = None;
        let (tx, mut events) = Events::channel();
        let mut sup = Supervisor::start(&[absent, watched], true, tx).await;

        let start = events.wait_for("would start", Duration::from_secs(5), |f| f.component == "dry-absent").await;
        assert_eq!(start.action.map(|a| (a.kind, a.taken)), Some((ActionKind::Other, "would start".into())));
        events.wait_for("the adoption", Duration::from_secs(5), |f| f.details.contains("adopted")).await;
        kill(orphan, Signal::SIGKILL);
        let exit = events
            .wait_for("the exit", Duration::from_secs(5), |f| f.component == "dry-watched" && f.action.is_some())
            .await;
        assert_eq!(exit.action.map(|a| (a.kind, a.taken)), Some((ActionKind::Other, "would restart".into())));
        let cycle = sup.cycle().await;
        assert!(cycle.iter().all(|f| f.action.as_ref().is_some_and(|a| a.kind == ActionKind::Other)), "{cycle:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await; // proving an absence
        assert!(lines(&log).is_empty(), "dry run started a process");
        assert!(sup.list().iter().all(|i| i.state == "inactive" && i.pid == 0));
        sup.shutdown().await;
    })
    .await;
}

/// `user = "nobody"` runs the worker with nobody's uid, gid, groups and HOME/USER/LOGNAME.
#[tokio::test]
async fn user_drops_privileges() {
    require_root("it starts a worker as nobody");
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let out = dir.path().join("id.txt");
        let worker = script(
            dir.path(),
            "id.sh",
            r#"echo "$(id -u) $(id -g) $(id -G) $HOME $USER $LOGNAME" > "$HM_OUT"; exec sleep 1000"#,
        );
        let mut w = command_worker("unprivileged", vec![worker.display().to_string()]);
        spec(&mut w).user = Some("nobody".into());
        spec(&mut w).environment.insert("HM_OUT".into(), out.display().to_string());
        let (tx, _events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        wait_until("the id line", Duration::from_secs(5), || !lines(&out).is_empty()).await;
        assert_eq!(lines(&out)[0], "65534 65534 65534 /nonexistent nobody nobody");
        sup.shutdown().await;
    })
    .await;
}

/// A user that cannot be resolved is an `error` finding and state, never a crash.
#[tokio::test]
async fn unknown_user_is_an_error_finding() {
    bounded(Duration::from_secs(20), async {
        let mut w = command_worker("nouser", vec!["/bin/sleep".into(), "1000".into()]);
        w.restart_delay = Duration::from_secs(60);
        spec(&mut w).user = Some("no-such-user-hm".into());
        let (tx, mut events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        let error = events.wait_for("the error", Duration::from_secs(5), |f| f.status == Status::Error).await;
        let message = error.problem.unwrap().message;
        assert!(message.starts_with("cannot start: cannot resolve user \"no-such-user-hm\""), "{message}");
        assert_eq!(sup.list()[0].state, "error");
        sup.shutdown().await;
    })
    .await;
}

/// Shutdown sends SIGTERM, then SIGKILL after stop_timeout to a worker that ignores TERM, and reaps it.
#[tokio::test]
async fn shutdown_terms_then_kills_and_reaps() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let got = dir.path().join("signals");
        let body = format!(
            r#"trap 'echo TERM >> {}' TERM; echo $$ > {}/pid; while :; do sleep 0.05; done"#,
            got.display(),
            dir.path().display()
        );
        let worker = script(dir.path(), "stubborn.sh", &body);
        let mut w = command_worker("stubborn", vec![worker.display().to_string()]);
        w.stop_timeout = Duration::from_millis(500);
        let (tx, _events) = Events::channel();
        let sup = Supervisor::start(&[w], false, tx).await;
        wait_until("verified running", Duration::from_secs(5), || sup.list()[0].state == "running").await;
        let pid = sup.list()[0].pid as i32;

        let asked = Instant::now();
        sup.shutdown().await;
        let took = asked.elapsed();
        assert_eq!(lines(&got), vec!["TERM"], "SIGTERM came first");
        assert!(took >= Duration::from_millis(500), "SIGKILL only after stop_timeout, took {took:?}");
        assert!(stat(pid).is_none(), "killed and reaped: no zombie");
    })
    .await;
}

/// A reload keeps a worker whose command is unchanged, replaces a changed one and stops a removed one
/// (in the background: the reload does not wait for the stops).
#[tokio::test]
async fn reload_keeps_unchanged_replaces_changed_stops_removed() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let sleeper = logging_sleeper(dir.path()).display().to_string();
        let worker = |name: &str| {
            let mut w = command_worker(name, vec![sleeper.clone()]);
            spec(&mut w).environment.insert("HM_LOG".into(), dir.path().join(name).display().to_string());
            w
        };
        let (kept, changed, removed) = (worker("kept"), worker("changed"), worker("removed"));
        let (tx, _events) = Events::channel();
        let mut sup = Supervisor::start(&[changed.clone(), kept.clone(), removed.clone()], false, tx).await;
        wait_until("all running", Duration::from_secs(5), || sup.list().iter().all(|i| i.state == "running")).await;
        let pid_of = |sup: &Supervisor, name: &str| sup.list().iter().find(|i| i.name == name).map(|i| i.pid as i32);
        let (kept_pid, changed_pid, removed_pid) =
            (pid_of(&sup, "kept").unwrap(), pid_of(&sup, "changed").unwrap(), pid_of(&sup, "removed").unwrap());

        let mut kept2 = kept.clone();
        kept2.max_restarts = 9; // not the command: no restart
        let mut changed2 = changed.clone();
        spec(&mut changed2).command.push("--new-flag".into());
        sup.reconfigure(&[changed2, kept2], false).await;

        assert_eq!(pid_of(&sup, "kept"), Some(kept_pid));
        assert_eq!(pid_of(&sup, "removed"), None);
        wait_until("the removed worker stopped and reaped", Duration::from_secs(5), || stat(removed_pid).is_none())
            .await;
        wait_until("the changed worker's old process stopped and reaped", Duration::from_secs(5), || {
            stat(changed_pid).is_none()
        })
        .await;
        wait_until("the changed worker restarted", Duration::from_secs(5), || {
            lines(&dir.path().join("changed")).len() == 2
        })
        .await;
        assert!(sup.list()[1].detail.contains("of 9 in 10 min"), "{}", sup.list()[1].detail);
        sup.shutdown().await;
    })
    .await;
}

/// `--once` reports a matched process as running and a missing one as down, starting nothing.
#[tokio::test]
async fn once_reports_without_starting() {
    bounded(Duration::from_secs(20), async {
        let dir = tempdir();
        let log = dir.path().join("starts.log");
        let tag = marker("once");
        let orphan = spawn_orphan(&[PY, "-c", "import time; time.sleep(120)", &tag]);
        let mut up = command_worker("once-up", vec![logging_sleeper(dir.path()).display().to_string()]);
        spec(&mut up).match_cmdline = Some(tag);
        spec(&mut up).environment.insert("HM_LOG".into(), log.display().to_string());
        let mut down = up.clone();
        down.name = "once-down".into();
        spec(&mut down).match_cmdline = Some(marker("nothing-runs-this"));
        let found = once(&[up, down], false).await;
        assert_eq!(found[0].status, Status::Healthy);
        assert!(found[0].details.contains(&format!("pid {orphan}")));
        assert_eq!(found[1].problem.as_ref().unwrap().message, "not running (start the daemon to supervise it)");
        assert!(lines(&log).is_empty(), "--once starts nothing");
        kill(orphan, Signal::SIGKILL);
    })
    .await;
}

mod units {
    //! Unit workers against a private dbus-daemon: the system bus address
    //! is pointed at it through DBUS_SYSTEM_BUS_ADDRESS, so these tests run
    //! one at a time.

    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};

    use zbus::{interface, OwnedObjectPath};

    use super::*;

    static BUS_ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// A private dbus-daemon; killed and reaped on drop.
    struct PrivateBus {
        child: Child,
        address: String,
        _dir: tempfile::TempDir,
    }

    impl PrivateBus {
        fn start() -> PrivateBus {
            let dir = tempdir();
            let socket = dir.path().join("bus");
            let mut child = Command::new("dbus-daemon")
                .args(["--session", "--nofork", "--print-address=1"])
                .arg(format!("--address=unix:path={}", socket.display()))
                .stdout(Stdio::piped())
                .spawn()
                .expect("dbus-daemon must be installed (Debian package dbus-daemon)");
            let mut address = String::new();
            BufReader::new(child.stdout.take().unwrap()).read_line(&mut address).unwrap();
            PrivateBus { child, address: address.trim().to_string(), _dir: dir }
        }
    }

    impl Drop for PrivateBus {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// FAKE systemd (test only): the few systemd1 members healthmon calls.
    #[derive(Debug)]
    struct FakeUnitState {
        active: String,
        n_restarts: u32,
        restart_calls: Vec<(String, String)>,
    }

    type Shared = Arc<Mutex<FakeUnitState>>;
    const UNIT_PATH: &str = "/org/freedesktop/systemd1/unit/fake_2dworker_2eservice";

    struct FakeSystemdManager(Shared);
    struct FakeSystemdUnit(Shared);
    struct FakeSystemdService(Shared);

    #[interface(name = "org.freedesktop.systemd1.Manager")]
    impl FakeSystemdManager {
        fn get_unit(&self, name: &str) -> zbus::fdo::Result<OwnedObjectPath> {
            if name != "fake-worker.service" {
                return Err(zbus::fdo::Error::Failed(format!("fake knows no {name}")));
            }
            Ok(OwnedObjectPath::try_from(UNIT_PATH).unwrap())
        }
        fn load_unit(&self, name: &str) -> zbus::fdo::Result<OwnedObjectPath> {
            self.get_unit(name)
        }
        fn restart_unit(&self, name: &str, mode: &str) -> zbus::fdo::Result<OwnedObjectPath> {
            let mut s = self.0.lock().unwrap();
            s.restart_calls.push((name.to_string(), mode.to_string()));
            s.active = "active".into();
            Ok(OwnedObjectPath::try_from("/org/freedesktop/systemd1/job/42").unwrap())
        }
    }

    #[interface(name = "org.freedesktop.systemd1.Unit")]
    impl FakeSystemdUnit {
        #[zbus(property)]
        fn active_state(&self) -> String {
            self.0.lock().unwrap().active.clone()
        }
        #[zbus(property)]
        fn sub_state(&self) -> String {
            if self.0.lock().unwrap().active == "active" { "running" } else { "failed" }.into()
        }
        #[zbus(property)]
        fn load_state(&self) -> String {
            "loaded".into()
        }
    }

    #[interface(name = "org.freedesktop.systemd1.Service")]
    impl FakeSystemdService {
        #[zbus(property, name = "MainPID")]
        fn main_pid(&self) -> u32 {
            4242
        }
        #[zbus(property, name = "NRestarts")]
        fn n_restarts(&self) -> u32 {
            self.0.lock().unwrap().n_restarts
        }
    }

    /// The fake on `bus`: the manager and the unit, with the Service
    /// interface only when `service`.
    async fn serve_fake(bus: &PrivateBus, state: &Shared, service: bool) -> zbus::Connection {
        let builder = zbus::connection::Builder::address(bus.address.as_str())
            .name("org.freedesktop.systemd1")
            .serve_at("/org/freedesktop/systemd1", FakeSystemdManager(state.clone()))
            .serve_at(UNIT_PATH, FakeSystemdUnit(state.clone()));
        let builder = if service { builder.serve_at(UNIT_PATH, FakeSystemdService(state.clone())) } else { builder };
        builder.build().await.expect("the fake systemd serves on the private bus")
    }

    /// Without systemd on the bus a unit worker is `error` with a WARNING "cannot reach systemd".
    #[tokio::test]
    async fn unit_without_systemd_is_an_error_warning() {
        let _env = BUS_ENV.lock().await;
        let bus = PrivateBus::start();
        std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
        bounded(Duration::from_secs(30), async {
            let (tx, _events) = Events::channel();
            let mut sup = Supervisor::start(&[unit_worker("svc", "task-worker.service")], false, tx).await;
            let found = sup.cycle().await;
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].status, Status::Error);
            let problem = found[0].problem.as_ref().unwrap();
            assert_eq!(problem.severity, Severity::Warning);
            assert!(problem.message.starts_with("cannot reach systemd: "), "{}", problem.message);
            assert!(problem.message.contains("org.freedesktop.systemd1"), "{}", problem.message);
            assert_eq!(sup.list()[0].state, "error");
            sup.shutdown().await;
        })
        .await;
    }

    /// A failed unit is restarted with RestartUnit(name, "replace") and shows ActiveState/NRestarts.
    #[tokio::test]
    async fn failed_unit_is_restarted_through_fake_systemd() {
        let _env = BUS_ENV.lock().await;
        let bus = PrivateBus::start();
        std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
        bounded(Duration::from_secs(30), async {
            let state: Shared = Arc::new(Mutex::new(FakeUnitState {
                active: "failed".into(),
                n_restarts: 3,
                restart_calls: Vec::new(),
            }));
            let _fake = serve_fake(&bus, &state, true).await;
            let (tx, _events) = Events::channel();
            let mut sup = Supervisor::start(&[unit_worker("svc", "fake-worker.service")], false, tx).await;

            let found = sup.cycle().await;
            assert_eq!(
                state.lock().unwrap().restart_calls,
                vec![("fake-worker.service".to_string(), "replace".to_string())]
            );
            let restart = found.iter().find(|f| f.metric_type == "worker_restart").expect("a restart row");
            assert_eq!(restart.action.as_ref().unwrap().kind, ActionKind::WorkerRestarted);
            assert!(restart.details.contains("/org/freedesktop/systemd1/job/42"));
            assert!(found.iter().any(|f| f.metric_type == "worker_status" && f.problem.is_some()));
            assert_eq!(sup.list()[0].state, "restarting");

            let found = sup.cycle().await;
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].status, Status::Healthy);
            let info = &sup.list()[0];
            assert_eq!((info.state.as_str(), info.pid, info.restarts), ("running", 4242, 1));
            assert!(
                info.detail.contains("ActiveState=active") && info.detail.contains("NRestarts=3"),
                "{}",
                info.detail
            );
            assert_eq!(state.lock().unwrap().restart_calls.len(), 1, "an active unit is left alone");
            sup.shutdown().await;
        })
        .await;
    }

    /// A unit without the Service interface (the workers' slice, which
    /// `--stop-workers` waits on) is read from its Unit properties alone:
    /// systemd's UnknownInterface for the Service ones is no error.
    #[tokio::test]
    async fn unit_without_service_interface_is_read_from_unit_properties() {
        let bus = PrivateBus::start();
        bounded(Duration::from_secs(30), async {
            let state: Shared = Arc::new(Mutex::new(FakeUnitState {
                active: "deactivating".into(),
                n_restarts: 0,
                restart_calls: Vec::new(),
            }));
            let _fake = serve_fake(&bus, &state, false).await;
            let client = zbus::connection::Builder::address(bus.address.as_str()).build().await.expect("connect");
            let manager = healthmon::systemd::manager::Manager::on(client);

            let unit = manager.loaded("fake-worker.service").await.expect("a unit without Service properties reads");
            let unit = unit.expect("the unit is loaded");
            assert_eq!((unit.active.as_str(), unit.main_pid, unit.n_restarts), ("deactivating", 0, None));
            assert!(!unit.is_down());
        })
        .await;
    }
}

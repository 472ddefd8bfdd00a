//! Pools (`instances = N`) and start order (`depends_on`): the config
//! errors with their positions, then real processes under the supervisor
//! and under the real `healthmon` on a private dbus-daemon, driven by the
//! real `healthctl`.

#[path = "common/workers.rs"]
mod common;
#[path = "common/dbus.rs"]
mod dbus;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use healthmon::config::{self, ConfigError, Settings, WorkerKind};
use healthmon::dbus::MonitorProxy;
use healthmon::workers::Supervisor;
use nix::sys::signal::Signal;

use common::*;

/// Writes `text` as `healthmon.toml` in `dir` and loads it.
fn load(dir: &Path, text: &str) -> Result<Settings, ConfigError> {
    let main = dir.join("healthmon.toml");
    std::fs::write(&main, text).expect("write config");
    config::load(Some(&main))
}

/// The one error of an invalid config, as `file:line:column: message`.
fn the_error(text: &str) -> (String, String) {
    let dir = tempdir();
    let err = load(dir.path(), text).expect_err("the config should be invalid");
    let all = err.errors();
    assert_eq!(all.len(), 1, "expected one error, got: {err}");
    (all[0].to_string(), dir.path().join("healthmon.toml").display().to_string())
}

/// Asserts the config fails with one error at `line:column` containing `fragment`.
fn assert_error(text: &str, line: usize, column: usize, fragment: &str) {
    let (error, file) = the_error(text);
    assert!(error.starts_with(&format!("{file}:{line}:{column}: ")), "position of {error:?}");
    assert!(error.contains(fragment), "{error:?} should contain {fragment:?}");
}

/// `[workers.NAME]` running /bin/sleep, plus `extra` lines.
fn sleeper(name: &str, extra: &str) -> String {
    format!("[workers.{name}]\ncommand = [\"/bin/sleep\", \"1000\"]\n{extra}\n")
}

/// '@' is kept for pool instances: a configured name with it is an error at the name.
#[test]
fn at_sign_in_worker_name_is_rejected() {
    assert_error(&sleeper("\"api@1\"", ""), 1, 10, "@ is reserved for pool instances");
}

/// A cycle is an error at the entry that closes it, naming the whole cycle.
#[test]
fn dependency_cycle_is_rejected() {
    let text = [
        sleeper("a", "depends_on = [\"c\"]"),
        sleeper("b", "depends_on = [\"a\"]"),
        sleeper("c", "depends_on = [\"b\"]"),
    ]
    .concat();
    // a → c → b → a: found from a, closed by b's entry "a" (line 6, column 15).
    assert_error(&text, 6, 15, "workers.b.depends_on: \"a\" closes a dependency cycle: a → c → b → a");
}

/// A name that is neither a worker, a pool nor an instance of one is an error at the entry.
#[test]
fn unknown_dependency_is_rejected() {
    let text = [sleeper("db", "instances = 2"), sleeper("web", "depends_on = [\"db@1\", \"db@3\"]")].concat();
    assert_error(&text, 6, 23, "workers.web.depends_on: no worker named \"db@3\" is configured");
}

/// A worker (or a pool, through one of its instances) cannot depend on itself.
#[test]
fn self_dependency_is_rejected() {
    assert_error(&sleeper("api", "instances = 2\ndepends_on = [\"api@1\"]"), 4, 15, "cannot depend on itself");
}

/// A unit worker is started by systemd: depending on it is an error.
#[test]
fn dependency_on_unit_worker_is_rejected() {
    let text = format!("[workers.pg]\nunit = \"postgresql.service\"\n\n{}", sleeper("web", "depends_on = [\"pg\"]"));
    assert_error(&text, 6, 15, "\"pg\" is a unit worker");
}

/// instances is 1 to 1000; 0 and 1001 are errors at the value; a unit worker cannot be a pool.
#[test]
fn instances_out_of_range_are_rejected() {
    assert_error(&sleeper("api", "instances = 0"), 3, 13, "workers.api.instances must be from 1 to 1000, not 0");
    assert_error(&sleeper("api", "instances = 1001"), 3, 13, "must be from 1 to 1000, not 1001");
    let unit = "[workers.u]\nunit = \"u.service\"\ninstances = 2\n";
    assert_error(unit, 3, 13, "workers.u.instances applies only to command workers");
}

/// A pool becomes NAME@1..NAME@N with %i in argv, environment, working_dir
/// and match; depending on a pool means every instance; rendered, it loads back the same.
#[test]
fn pool_expands_with_instance_numbers_and_renders_back() {
    let text = r#"
[workers.api]
command = ["/bin/sleep", "100%i", "100%%i"]
working_dir = "/srv/api-%i"
environment = { PORT = "80%i" }
match = "api-%i"
instances = 3

[workers.web]
command = ["/bin/sleep", "1000"]
depends_on = ["api"]
"#;
    let dir = tempdir();
    let settings = load(dir.path(), text).expect("valid");
    let names: Vec<&str> = settings.workers.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["api@1", "api@2", "api@3", "web"]);
    let WorkerKind::Command(second) = &settings.workers[1].kind else { panic!("a command worker") };
    assert_eq!(second.command, ["/bin/sleep", "1002", "100%i"]);
    assert_eq!(second.working_dir.as_deref(), Some(Path::new("/srv/api-2")));
    assert_eq!(second.environment, BTreeMap::from([("PORT".to_string(), "802".to_string())]));
    assert_eq!(second.match_cmdline.as_deref(), Some("api-2"));
    assert_eq!(settings.workers[3].depends_on, ["api@1", "api@2", "api@3"]);

    let rendered = config::render(&settings);
    assert_eq!(rendered.matches("[workers.api]").count(), 1, "one pool table:\n{rendered}");
    assert!(!rendered.contains("[workers.\"api@"), "no instance is written as a worker of its own:\n{rendered}");
    let again = tempdir();
    let reloaded = load(again.path(), &rendered).unwrap_or_else(|e| panic!("{e}\n{rendered}"));
    assert_eq!(reloaded.workers, settings.workers);
}

/// Starts `settings`' workers under a fork-mode supervisor.
async fn supervise(settings: &Settings) -> (Supervisor, Events) {
    let (tx, events) = Events::channel();
    (Supervisor::start(&settings.workers, false, tx).await, events)
}

/// The first number in a file (a start time the worker wrote), when there is one.
fn time_in(path: &Path) -> Option<f64> {
    std::fs::read_to_string(path).ok()?.split_whitespace().next()?.parse().ok()
}

/// A `[workers.NAME]` table whose worker writes its start time to
/// `DIR/NAME.started` (see [`time_in`]) and is verified after `verify`.
fn stamping_worker(starter: &Path, dir: &Path, name: &str, verify: &str, deps: &str) -> String {
    let file = dir.join(format!("{name}.started"));
    format!(
        "[workers.{name}]\ncommand = [\"{}\", \"{}\"]\nverify_after = \"{verify}\"\nrestart_delay = \"0s\"\nstop_timeout = \"2s\"\n{deps}\n",
        starter.display(),
        file.display()
    )
}

/// a → b → c: b starts only once a is up (a and b take 1 s to be
/// verified), c only once b is; meanwhile b shows `waiting` naming a.
#[tokio::test]
async fn depends_on_chain_starts_in_order() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let starter = script(dir.path(), "start.sh", r#"date +%s.%N > "$1"; exec sleep 1000"#);
        let worker = |name: &str, verify: &str, deps: &str| stamping_worker(&starter, dir.path(), name, verify, deps);
        // Listed in reverse, so the order cannot come from the file.
        let text = [
            worker("c", "100ms", "depends_on = [\"b\"]"),
            worker("b", "1s", "depends_on = [\"a\"]"),
            worker("a", "1s", ""),
        ]
        .concat();
        let settings = load(dir.path(), &text).expect("valid");
        let (sup, _events) = supervise(&settings).await;
        let state = |name: &str| sup.list().into_iter().find(|w| w.name == name).expect("listed");

        wait_until("b waiting for a", Duration::from_secs(5), || {
            let b = state("b");
            b.state == "waiting" && b.detail.contains("waiting for a to be up")
        })
        .await;
        assert_eq!((state("b").pid, state("c").pid), (0, 0), "nothing started before a is up");
        wait_until("all three running", Duration::from_secs(15), || {
            ["a", "b", "c"].iter().all(|n| state(n).state == "running")
        })
        .await;
        let started = |name: &str| time_in(&dir.path().join(format!("{name}.started"))).expect("start time written");
        let (a, b, c) = (started("a"), started("b"), started("c"));
        // Half the 1 s: a writes its time a moment after healthmon started it.
        assert!(b >= a + 0.5, "b started {:.3}s after a; a was up only after its 1s verify_after", b - a);
        assert!(c >= b + 0.5, "c started {:.3}s after b; b was up only after its 1s verify_after", c - b);
        sup.shutdown().await;
    })
    .await;
}

/// A pool of 3 under the real daemon: three processes whose argv carries
/// 1, 2 and 3, three rows in ListWorkers; killing @2 restarts only @2,
/// counted against @2's own budget.
#[tokio::test]
async fn pool_of_three_instances_each_with_its_own_budget() {
    let bus = dbus::TestBus::session();
    let text = r#"
[workers.api]
command = ["/bin/sleep", "100%i"]
instances = 3
restart_delay = "0s"
verify_after = "100ms"
stop_timeout = "2s"
"#;
    let mut daemon = dbus::TestDaemon::start_configured(&bus, &[], text);
    let conn = zbus::connection::Builder::address(bus.address.as_str()).build().await.expect("connect");
    let proxy = MonitorProxy::new(&conn).await.expect("proxy");
    let rows = || async { proxy.list_workers().await.expect("ListWorkers") };
    let running = |rows: &[healthmon::dbus::WorkerEntry]| rows.iter().all(|w| w.state == "running");
    let mut listed = rows().await;
    for _ in 0..500 {
        if running(&listed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        listed = rows().await;
    }
    let names: Vec<&str> = listed.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["api@1", "api@2", "api@3"]);
    assert!(running(&listed), "{listed:?}");
    for (n, row) in listed.iter().enumerate() {
        let argv = std::fs::read(format!("/proc/{}/cmdline", row.pid)).expect("the instance runs");
        assert_eq!(argv, format!("/bin/sleep\0100{}\0", n + 1).into_bytes(), "argv of {}", row.name);
    }

    let before: Vec<u32> = listed.iter().map(|w| w.pid).collect();
    kill(before[1] as i32, Signal::SIGKILL);
    for _ in 0..500 {
        listed = rows().await;
        if listed[1].restarts == 1 && listed[1].state == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!((listed[1].restarts, listed[1].state.as_str()), (1, "running"), "{listed:?}");
    assert_ne!(listed[1].pid, before[1], "api@2 runs a new process");
    assert_eq!((listed[0].pid, listed[2].pid), (before[0], before[2]), "api@1 and api@3 untouched");
    assert_eq!((listed[0].restarts, listed[2].restarts), (0, 0));
    let second = proxy.get_worker("api@2").await.expect("GetWorker").detail;
    let first = proxy.get_worker("api@1").await.expect("GetWorker").detail;
    assert!(second.contains("restarts 1 of 5"), "api@2 spent its own budget: {second}");
    assert!(first.contains("restarts 0 of 5"), "api@1's budget is untouched: {first}");
    let pool = proxy.get_worker("api").await.expect_err("GetWorker takes one instance");
    assert!(pool.to_string().contains("api is a pool; name one of its instances, api@1 to api@3"), "{pool}");
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit().success(), "clean stop; stderr:\n{}", daemon.stderr());
}

/// `healthctl restart POOL` restarts the instances one after another:
/// each stopped only once the one before it is up again (its new process
/// alive past verify_after, 1 s), as the workers' own log shows. (The
/// bound checked is half of it: a worker writes its start line a moment
/// after healthmon started it.)
#[tokio::test]
async fn healthctl_restart_pool_rolls_instance_by_instance() {
    let bus = dbus::TestBus::session();
    let dir = tempdir();
    let log = dir.path().join("events.log");
    let body = r#"trap 'echo "stop $1 $(date +%s.%N)" >> "$2"; exit 0' TERM
echo "start $1 $(date +%s.%N)" >> "$2"
while :; do sleep 1 & wait $!; done"#;
    let worker = script(dir.path(), "worker.sh", body);
    let text = format!(
        "[workers.api]\ncommand = [\"{}\", \"%i\", \"{}\"]\ninstances = 3\nrestart_delay = \"0s\"\nverify_after = \"1s\"\nstop_timeout = \"2s\"\n",
        worker.display(),
        log.display()
    );
    let mut daemon = dbus::TestDaemon::start_configured(&bus, &[], &text);
    let up = || {
        let out = bus.healthctl(&["workers", "--json"]);
        let rows = dbus::json(&out).as_array().cloned().unwrap_or_default();
        rows.len() == 3 && rows.iter().all(|w| w["state"] == "running")
    };
    wait_until_sync("the pool running", up);
    assert_eq!(lines(&log).len(), 3, "{:?}", lines(&log));

    let out = bus.healthctl(&["restart", "api"]);
    assert!(out.status.success(), "healthctl restart api: {}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<(String, String, f64)> = lines(&log)[3..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string(), f[2].parse().expect("time"))
        })
        .collect();
    let order: Vec<String> = events.iter().map(|(what, n, _)| format!("{what} {n}")).collect();
    assert_eq!(order, ["stop 1", "start 1", "stop 2", "start 2", "stop 3", "start 3"], "{events:?}");
    for k in [1, 3] {
        let (started, next_stopped) = (events[k].2, events[k + 1].2);
        assert!(
            next_stopped >= started + 0.5,
            "{} was stopped {:.3}s after {} started, before it was up (verify_after 1s)",
            order[k + 1],
            next_stopped - started,
            order[k]
        );
    }
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit().success(), "clean stop; stderr:\n{}", daemon.stderr());
}

/// Polls `cond` every 20 ms until it holds; panics naming `what` after the D-Bus tests' timeout.
fn wait_until_sync(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + dbus::TIMEOUT;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A rolling restart halts at an instance that does not come back (here
/// it gives up at once, max_restarts = 0): the error names it, and the
/// instances after it keep their processes.
#[tokio::test]
async fn rolling_restart_halts_at_an_instance_that_does_not_come_back() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let broken = dir.path().join("broken");
        let worker = script(dir.path(), "worker.sh", r#"[ -e "$2-$1" ] && exit 1; exec sleep 1000"#);
        let text = format!(
            "[workers.api]\ncommand = [\"{}\", \"%i\", \"{}\"]\ninstances = 3\nmax_restarts = 0\nrestart_delay = \"0s\"\nverify_after = \"200ms\"\nstop_timeout = \"2s\"\n",
            worker.display(),
            broken.display()
        );
        let settings = load(dir.path(), &text).expect("valid");
        let (mut sup, _events) = supervise(&settings).await;
        let rows = |sup: &Supervisor| sup.list();
        wait_until("the pool running", Duration::from_secs(10), || rows(&sup).iter().all(|w| w.state == "running")).await;
        let before: Vec<u32> = rows(&sup).iter().map(|w| w.pid).collect();

        std::fs::write(format!("{}-2", broken.display()), "").expect("break api@2");
        let pending = sup.restart_worker("api").await.expect("a pool's name is accepted");
        let err = pending.wait().await.expect_err("api@2 does not come back");
        let text = err.to_string();
        assert!(text.contains("restart of pool api halted: api@2 did not come back up"), "{text}");
        assert!(text.contains("gave up"), "{text}");
        let after = rows(&sup);
        assert_ne!(after[0].pid, before[0], "api@1 was restarted");
        assert_eq!(after[0].state, "running");
        assert_eq!(after[1].state, "given-up");
        assert_eq!((after[2].pid, after[2].restarts), (before[2], 0), "api@3 was not touched");
        sup.shutdown().await;
    })
    .await;
}

/// A worker added by a reload waits for its dependencies too: b, added
/// with a (1 s to be up), starts only once a is up.
#[tokio::test]
async fn worker_added_by_reload_waits_for_its_dependency() {
    bounded(Duration::from_secs(30), async {
        let dir = tempdir();
        let starter = script(dir.path(), "start.sh", r#"date +%s.%N > "$1"; exec sleep 1000"#);
        let worker = |name: &str, verify: &str, deps: &str| stamping_worker(&starter, dir.path(), name, verify, deps);
        let first = load(dir.path(), &worker("x", "100ms", "")).expect("valid");
        let (mut sup, _events) = supervise(&first).await;
        wait_until("x running", Duration::from_secs(5), || sup.list()[0].state == "running").await;

        let text =
            [worker("x", "100ms", ""), worker("a", "1s", ""), worker("b", "100ms", "depends_on = [\"a\"]")].concat();
        let second = load(dir.path(), &text).expect("valid");
        sup.reconfigure(&second.workers, false).await;
        let state =
            |sup: &Supervisor, name: &str| sup.list().into_iter().find(|w| w.name == name).expect("listed").state;
        wait_until("b running", Duration::from_secs(10), || state(&sup, "b") == "running").await;
        let started = |name: &str| time_in(&dir.path().join(format!("{name}.started"))).expect("start time written");
        let (a, b) = (started("a"), started("b"));
        // Half the 1 s: a writes its time a moment after healthmon started it.
        assert!(b >= a + 0.5, "b started {:.3}s after a; a was up only after its 1s verify_after", b - a);
        sup.shutdown().await;
    })
    .await;
}

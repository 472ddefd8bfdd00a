//! Unit workers (`unit = "x.service"`) against a private dbus-daemon
//! standing in for the system bus; there is no systemd here, so a clearly
//! named fake serves the few systemd1 members healthmon calls.
//!
//! healthmon reaches systemd through DBUS_SYSTEM_BUS_ADDRESS. Setting an
//! environment variable is only sound while the process has one thread, so
//! this binary has no test harness (Cargo.toml: `harness = false`): `main`
//! starts the bus and sets the variable before any thread exists, then runs
//! the cases one after another.

#[path = "common/workers.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use healthmon::model::{ActionKind, Severity, Status};
use healthmon::workers::Supervisor;
use zbus::{interface, OwnedObjectPath};

use common::*;

fn main() {
    let bus = PrivateBus::start();
    // Sound here: no other thread exists yet (no harness, no runtime).
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // Without the fake first: the fake, once it owns systemd1's name, stays.
    let cases: [(&str, &dyn Fn()); 2] = [
        ("unit_without_systemd_is_an_error_warning", &|| {
            runtime.block_on(unit_without_systemd_is_an_error_warning(&bus))
        }),
        ("failed_unit_is_restarted_through_fake_systemd", &|| {
            runtime.block_on(failed_unit_is_restarted_through_fake_systemd(&bus))
        }),
    ];
    let mut failed = 0;
    for (name, case) in cases {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(case)).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        failed += usize::from(!ok);
    }
    // The line cargo's harness prints, which scripts/test counts.
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    println!("test result: {verdict}. {} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out", 2 - failed);
    drop(runtime);
    drop(bus); // exit() runs no destructors: stop the dbus-daemon first
    std::process::exit(if failed == 0 { 0 } else { 101 });
}

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
/// A timer: the Unit interface only, no Service interface (as a slice).
const TIMER_PATH: &str = "/org/freedesktop/systemd1/unit/fake_2dworker_2etimer";

struct FakeSystemdManager(Shared);
struct FakeSystemdUnit(Shared);
struct FakeSystemdService(Shared);

#[interface(name = "org.freedesktop.systemd1.Manager")]
impl FakeSystemdManager {
    fn get_unit(&self, name: &str) -> zbus::fdo::Result<OwnedObjectPath> {
        let path = match name {
            "fake-worker.service" => UNIT_PATH,
            "fake-worker.timer" => TIMER_PATH,
            _ => return Err(zbus::fdo::Error::Failed(format!("fake knows no {name}"))),
        };
        Ok(OwnedObjectPath::try_from(path).unwrap())
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

/// Without systemd on the bus a unit worker is `error` with a WARNING "cannot reach systemd".
async fn unit_without_systemd_is_an_error_warning(_bus: &PrivateBus) {
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

/// A failed unit is restarted with RestartUnit(name, "replace") and shows ActiveState/NRestarts;
/// a timer (no Service interface) reads as running.
async fn failed_unit_is_restarted_through_fake_systemd(bus: &PrivateBus) {
    bounded(Duration::from_secs(30), async {
        let state: Shared =
            Arc::new(Mutex::new(FakeUnitState { active: "failed".into(), n_restarts: 3, restart_calls: Vec::new() }));
        let _fake = zbus::connection::Builder::address(bus.address.as_str())
            .name("org.freedesktop.systemd1")
            .serve_at("/org/freedesktop/systemd1", FakeSystemdManager(state.clone()))
            .serve_at(UNIT_PATH, FakeSystemdUnit(state.clone()))
            .serve_at(UNIT_PATH, FakeSystemdService(state.clone()))
            .serve_at(TIMER_PATH, FakeSystemdUnit(state.clone()))
            .build()
            .await
            .expect("the fake systemd serves on the private bus");
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
        assert!(info.detail.contains("ActiveState=active") && info.detail.contains("NRestarts=3"), "{}", info.detail);
        assert_eq!(state.lock().unwrap().restart_calls.len(), 1, "an active unit is left alone");
        sup.shutdown().await;

        // A unit without a Service interface (a timer; a slice alike) is
        // read from its Unit interface alone, not refused.
        let (tx, _events) = Events::channel();
        let mut sup = Supervisor::start(&[unit_worker("tick", "fake-worker.timer")], false, tx).await;
        let found = sup.cycle().await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].status, Status::Healthy, "{:?}", found[0].problem);
        assert_eq!(sup.list()[0].state, "running");
        sup.shutdown().await;
    })
    .await;
}

//! healthctl's worker control and silence commands: `start`, `stop`,
//! `restart`, `worker`, `logs`, `silence`, `silences`, `unsilence`. The
//! renderers are small functions of their own so they can be restyled.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::{call, print_json, EXIT_ERROR};
use crate::dbus::{MonitorError, MonitorProxy, SilenceEntry, WorkerDict};
use crate::workers::KIND_UNIT;

/// Where journald listens; without it there is no journal to read.
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// The three worker levers, as healthctl spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lever {
    Start,
    Stop,
    Restart,
}

impl Lever {
    pub fn method(self) -> &'static str {
        match self {
            Lever::Start => "StartWorker",
            Lever::Stop => "StopWorker",
            Lever::Restart => "RestartWorker",
        }
    }

    fn done(self) -> &'static str {
        match self {
            Lever::Start => "started",
            Lever::Stop => "stopped",
            Lever::Restart => "restarted",
        }
    }
}

/// `start|stop|restart W...`: each worker in turn; one that fails does not
/// keep the others from their turn, and makes the exit code 1.
pub async fn levers(proxy: &MonitorProxy<'_>, lever: Lever, names: &[String]) -> Result<u8, MonitorError> {
    let mut code = 0;
    for name in names {
        let before = call(proxy.get_worker(name)).await;
        let result = match lever {
            Lever::Start => call(proxy.start_worker(name)).await,
            Lever::Stop => call(proxy.stop_worker(name)).await,
            Lever::Restart => call(proxy.restart_worker(name)).await,
        };
        match result {
            Ok(()) => println!("{}", lever_line(lever, name, before.ok().as_ref())),
            // A bus-level failure (daemon gone, access denied) ends it all.
            Err(err @ MonitorError::ZBus(_)) => return Err(err),
            Err(err) => {
                eprintln!("{name}: {err}");
                code = EXIT_ERROR;
            }
        }
    }
    Ok(code)
}

/// `worker1 stopped`, or `worker1 was already stopped` when the state
/// before the call shows there was nothing to do.
fn lever_line(lever: Lever, name: &str, before: Option<&WorkerDict>) -> String {
    let already = before.is_some_and(|w| match lever {
        Lever::Stop => w.desired == "stopped",
        Lever::Start => w.desired == "running" && w.state == "running",
        Lever::Restart => false,
    });
    if already {
        format!("{name} was already {}", lever.done())
    } else {
        format!("{name} {}", lever.done())
    }
}

/// `worker NAME [--json]`.
pub async fn worker(proxy: &MonitorProxy<'_>, name: &str, json: bool) -> Result<u8, MonitorError> {
    let w = call(proxy.get_worker(name)).await?;
    if json {
        print_json(&worker_json(&w));
    } else {
        print!("{}", worker_text(&w));
    }
    Ok(0)
}

pub fn worker_text(w: &WorkerDict) -> String {
    let mut out = String::new();
    let pid = if w.pid == 0 { "-".to_string() } else { w.pid.to_string() };
    let since = if w.since > 0 { crate::human::Clock::local().time_with_zone(w.since) } else { "-".to_string() };
    let or_dash = |s: &str| if s.is_empty() { "-".to_string() } else { s.to_string() };
    let rows = [
        ("Worker", w.name.clone()),
        ("State", format!("{} since {since} UTC", w.state)),
        ("Desired", w.desired.clone()),
        ("Kind", w.kind.clone()),
        ("PID", pid),
        ("Unit", or_dash(&w.unit)),
        ("Restarts", w.restarts.to_string()),
        ("Last exit", or_dash(&w.last_exit)),
        ("Status", or_dash(&w.status)),
        ("Memory", if w.memory_bytes == 0 { "-".into() } else { format!("{} bytes", w.memory_bytes) }),
        ("CPU", if w.cpu_usec == 0 { "-".into() } else { format!("{} µs", w.cpu_usec) }),
        ("Tasks", if w.tasks == 0 { "-".into() } else { w.tasks.to_string() }),
        ("Detail", or_dash(&w.detail)),
    ];
    for (key, value) in rows {
        let _ = writeln!(out, "{key:>10}: {value}");
    }
    out
}

pub fn worker_json(w: &WorkerDict) -> Value {
    json!({
        "name": w.name, "state": w.state, "pid": w.pid, "restarts": w.restarts, "since": w.since,
        "last_exit": w.last_exit, "desired": w.desired, "unit": w.unit, "kind": w.kind,
        "memory_bytes": w.memory_bytes, "cpu_usec": w.cpu_usec, "tasks": w.tasks, "detail": w.detail,
        "status": w.status,
    })
}

/// `logs NAME [-f] [-n N]`: runs journalctl in place of healthctl.
pub async fn logs(proxy: &MonitorProxy<'_>, name: &str, follow: bool, lines: u32) -> Result<u8, MonitorError> {
    let w = call(proxy.get_worker(name)).await?;
    if !Path::new(JOURNAL_SOCKET).exists() {
        eprintln!(
            "no systemd journal on this host ({JOURNAL_SOCKET} is missing): without systemd, worker output \
             goes to healthmon's own stderr, each line prefixed with the worker's name"
        );
        return Ok(EXIT_ERROR);
    }
    let args = journal_args(&w, follow, lines);
    let err = std::process::Command::new("journalctl").args(&args).exec();
    eprintln!("cannot run journalctl {}: {err}", args.join(" "));
    Ok(EXIT_ERROR)
}

/// journalctl's arguments: `-u UNIT` for a unit worker, `-t NAME`
/// (SYSLOG_IDENTIFIER) for a command worker; the last `lines` lines;
/// `-f` to follow.
pub fn journal_args(w: &WorkerDict, follow: bool, lines: u32) -> Vec<String> {
    let mut args = if w.kind == KIND_UNIT {
        vec!["-u".to_string(), w.unit.clone()]
    } else {
        vec!["-t".to_string(), w.name.clone()]
    };
    args.extend(["-n".to_string(), lines.to_string(), "--no-pager".to_string()]);
    if follow {
        args.push("-f".to_string());
    }
    args
}

/// `silence COMPONENT --for D [--reason R] [--all]`.
pub async fn silence(
    proxy: &MonitorProxy<'_>,
    component: &str,
    seconds: u64,
    reason: &str,
    all: bool,
) -> Result<u8, MonitorError> {
    let id = if all {
        call(proxy.silence_all(seconds, reason)).await?
    } else {
        call(proxy.silence(component, seconds, reason)).await?
    };
    let until = now().saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX));
    println!("silence {id} on {component} until {}", crate::human::Clock::local().time_with_zone(until));
    Ok(0)
}

/// `silences [--json]`.
pub async fn silences(proxy: &MonitorProxy<'_>, json: bool) -> Result<u8, MonitorError> {
    let rows = call(proxy.list_silences()).await?;
    if json {
        print_json(&silences_json(&rows));
    } else {
        print!("{}", silences_text(&rows));
    }
    Ok(0)
}

pub fn silences_text(rows: &[SilenceEntry]) -> String {
    if rows.is_empty() {
        return "No silences\n".to_string();
    }
    let mut out = String::new();
    for s in rows {
        let reason = if s.reason.is_empty() { String::new() } else { format!("  {}", s.reason) };
        let _ = writeln!(
            out,
            "#{} {} until {}{reason}",
            s.id,
            s.component,
            crate::human::Clock::local().time_with_zone(s.until)
        );
    }
    out
}

pub fn silences_json(rows: &[SilenceEntry]) -> Value {
    Value::Array(
        rows.iter()
            .map(|s| json!({"id": s.id, "component": s.component, "until": s.until, "reason": s.reason}))
            .collect(),
    )
}

/// `unsilence ID`.
pub async fn unsilence(proxy: &MonitorProxy<'_>, id: i64) -> Result<u8, MonitorError> {
    if call(proxy.unsilence(id)).await? {
        println!("silence {id} removed");
        Ok(0)
    } else {
        eprintln!("no silence has id {id} (it may have ended; see `healthctl silences`)");
        Ok(EXIT_ERROR)
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(kind: &str, unit: &str) -> WorkerDict {
        WorkerDict {
            name: "w1".into(),
            state: "running".into(),
            pid: 1,
            restarts: 0,
            since: 0,
            last_exit: String::new(),
            desired: "running".into(),
            unit: unit.into(),
            memory_bytes: 0,
            cpu_usec: 0,
            tasks: 0,
            detail: String::new(),
            kind: kind.into(),
            status: String::new(),
        }
    }

    /// Command workers are read by identifier, unit workers by unit.
    #[test]
    fn journal_args_pick_identifier_or_unit() {
        assert_eq!(
            journal_args(&dict("command", "healthmon-w1.service"), false, 10),
            ["-t", "w1", "-n", "10", "--no-pager"]
        );
        assert_eq!(
            journal_args(&dict("unit", "task.service"), true, 50),
            ["-u", "task.service", "-n", "50", "--no-pager", "-f"]
        );
    }

    /// A stop of a worker an administrator had stopped says so.
    #[test]
    fn lever_line_says_already() {
        let mut w = dict("command", "");
        assert_eq!(lever_line(Lever::Start, "w1", Some(&w)), "w1 was already started");
        assert_eq!(lever_line(Lever::Stop, "w1", Some(&w)), "w1 stopped");
        w.desired = "stopped".into();
        assert_eq!(lever_line(Lever::Stop, "w1", Some(&w)), "w1 was already stopped");
        assert_eq!(lever_line(Lever::Restart, "w1", None), "w1 restarted");
    }
}

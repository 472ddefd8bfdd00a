//! The probes of a command worker, one file per kind: `command`
//! (`health_command`), `http` (`health_http`), `tcp` (`health_tcp`) and
//! `heartbeat` (`heartbeat_file`). A round runs every configured probe at
//! once; [`timer`] runs rounds on the worker's own `health_interval`,
//! counts failures and asks for restarts.

pub mod command;
mod heartbeat;
mod http;
mod tcp;
pub mod timer;

use std::time::{Duration, Instant};

use crate::config::{CommandWorker, WorkerSettings};

use super::launch::Launcher;

/// What one probe (or one round) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// What the probe saw: the status code, the connect error, the heartbeat's age.
    Fail(String),
    /// Not known yet: a heartbeat file not written yet inside start_timeout.
    Pending,
}

/// A round's outcome, and when its heartbeat goes stale (if it has one).
pub struct Round {
    pub outcome: Outcome,
    pub stale_at: Option<Instant>,
}

/// Whether the worker has any probe to run.
pub fn configured(w: &WorkerSettings) -> bool {
    w.health_command.is_some() || !w.probes.is_empty()
}

/// Runs every configured probe of `w` at once, each bounded by
/// `health_timeout`; `starting`: the worker is inside its start_timeout.
/// `health_command` runs through `launcher`: a unit of its own under
/// systemd, a child of healthmon in fork mode.
pub async fn round(w: &WorkerSettings, spec: &CommandWorker, launcher: &Launcher, starting: bool) -> Round {
    let timeout = w.health_timeout;
    let command = async {
        match &w.health_command {
            Some(argv) => launcher.probe(w, spec, argv).await,
            None => Outcome::Pass,
        }
    };
    let http = async {
        match &w.probes.http {
            Some(target) => http::run(target, timeout).await,
            None => Outcome::Pass,
        }
    };
    let tcp = async {
        match &w.probes.tcp {
            Some(target) => tcp::run(target, timeout).await,
            None => Outcome::Pass,
        }
    };
    let heartbeat = async {
        match &w.probes.heartbeat {
            Some(heartbeat) => Some(heartbeat::run(heartbeat, starting).await),
            None => None,
        }
    };
    let (command, http, tcp, heartbeat) = tokio::join!(command, http, tcp, heartbeat);
    let stale_at = heartbeat.as_ref().and_then(|seen| seen.stale_at);
    let beat = heartbeat.map_or(Outcome::Pass, |seen| seen.outcome);
    Round { outcome: combine([command, http, tcp, beat]), stale_at }
}

/// Failures first (all of them, joined), then pending, else a pass.
fn combine(outcomes: [Outcome; 4]) -> Outcome {
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Fail(what) => Some(what.clone()),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        return Outcome::Fail(failures.join("; "));
    }
    if outcomes.contains(&Outcome::Pending) {
        return Outcome::Pending;
    }
    Outcome::Pass
}

/// "2 s": a probe timeout as messages show it.
fn timeout_text(timeout: Duration) -> String {
    crate::human::duration(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any failure fails the round and names every failing probe; pending beats pass.
    #[test]
    fn rounds_combine() {
        let fail = |s: &str| Outcome::Fail(s.into());
        assert_eq!(combine([Outcome::Pass, fail("a"), Outcome::Pending, fail("b")]), fail("a; b"));
        assert_eq!(combine([Outcome::Pass, Outcome::Pending, Outcome::Pass, Outcome::Pass]), Outcome::Pending);
        assert_eq!(combine([Outcome::Pass, Outcome::Pass, Outcome::Pass, Outcome::Pass]), Outcome::Pass);
    }
}

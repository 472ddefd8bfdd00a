//! Taking over what an earlier healthmon left: the worker's unit still
//! running, a process matching `match` (ambiguity included), and the
//! restart budget kept in the state database.

use std::time::{Duration, Instant, SystemTime};

use crate::model::Status;

use super::super::adopt;
use super::super::findings as f;
use super::super::notify::Watch;
use super::super::proc::Proc;
use super::{lock, Control, Run, State, Task};

/// How long an ambiguous `match` waits before looking again.
const AMBIGUOUS_RETRY: Duration = Duration::from_secs(30);

impl Task {
    /// Takes over the budget an earlier healthmon saved for this worker.
    pub(super) async fn restore_budget(&mut self) {
        let Some(store) = self.store.clone() else { return };
        let name = self.w.name.clone();
        match store.call(move |s| s.load_budget(&name)).await {
            Ok(Some(saved)) => {
                self.budget.restore(&saved, Instant::now(), unix_ms());
                self.saved = Some(saved);
            }
            Ok(None) => {}
            Err(err) => log::warn!("{}: cannot read its saved restart budget: {err}", self.w.name),
        }
    }

    /// Saves the budget when it changed (in the background: a slow disk
    /// must not hold up a restart).
    pub(super) fn save_budget(&mut self) {
        let Some(store) = self.store.clone() else { return };
        let saved = self.budget.saved(Instant::now(), unix_ms());
        if self.saved.as_ref() == Some(&saved) || self.dry_run {
            return;
        }
        self.saved = Some(saved.clone());
        let name = self.w.name.clone();
        tokio::spawn(async move {
            if let Err(err) = store.call(move |s| s.save_budget(&name, &saved)).await {
                log::warn!("cannot save the restart budget: {err}");
            }
        });
    }

    /// The worker's unit as the previous healthmon left it: taken over as
    /// it is, no restart counted, no alert.
    pub(super) async fn find_left_running(&mut self) -> Option<State> {
        match self.launcher.find(&self.w, &self.spec).await {
            Ok(Some(proc)) => {
                let unit = proc.unit_name().unwrap_or_default().to_string();
                lock(&self.claimed).insert(proc.pid() as i32);
                self.emit(vec![f::healthy(
                    &self.w,
                    format!("adopted {unit} (pid {}), left running by the previous healthmon", proc.pid()),
                )]);
                Some(State::Up(proc, Run { adopted: true, verified: true, watch: Watch::adopted(), restart: None }))
            }
            Ok(None) => None,
            Err(err) => {
                log::warn!("{}: cannot look for its unit: {err}", self.w.name);
                None
            }
        }
    }

    /// Adopts the one process matching `pattern`, if exactly one does.
    /// Several are ambiguous: none is adopted and none started.
    pub(super) async fn adopt(&mut self, pattern: &str) -> Option<State> {
        let exclude = lock(&self.claimed).clone();
        let owned = pattern.to_string();
        let found = tokio::task::spawn_blocking(move || match adopt::find(&owned, &exclude).as_slice() {
            [] => Ok(None),
            [one] => Ok(adopt::take(one.pid, &owned).map(|fd| (one.clone(), fd))),
            many => Err(many.iter().map(|c| c.pid).collect::<Vec<_>>()),
        })
        .await
        .ok()?;
        let (candidate, fd) = match found {
            Ok(one) => one?,
            Err(pids) => return Some(self.ambiguous(pattern, &pids)),
        };
        if !lock(&self.claimed).insert(candidate.pid) {
            return None;
        }
        let proc = Proc::adopted(fd).ok()?;
        let details =
            format!("adopted running process pid {} matching {pattern:?}: {}", candidate.pid, candidate.cmdline);
        self.emit(vec![f::healthy(&self.w, details)]);
        Some(State::Up(proc, Run { adopted: true, verified: true, watch: Watch::adopted(), restart: None }))
    }

    /// A WARNING naming the pids; adoption is tried again after a while.
    fn ambiguous(&mut self, pattern: &str, pids: &[i32]) -> State {
        let list: Vec<String> = pids.iter().map(i32::to_string).collect();
        let message = format!(
            "match {pattern:?} fits {} processes (pids {}): adopting none and starting none; \
             make match more specific or stop the extra copies",
            pids.len(),
            list.join(", ")
        );
        self.emit(vec![f::warning(&self.w, Status::Error, &message, "ambiguous match")]);
        State::Ambiguous { until: Instant::now() + AMBIGUOUS_RETRY, message }
    }

    /// Waits, then looks for a process to adopt (or starts one) afresh.
    pub(super) async fn on_ambiguous(&mut self, until: Instant) -> State {
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => {}
            control = self.rx.recv() => match control {
                None | Some(Control::Stop) | Some(Control::Leave) => return State::Quit,
                Some(Control::Update(settings, dry_run)) => self.update(*settings, dry_run),
                Some(Control::Reset) | Some(Control::Restart(_)) => {}
                // Nothing runs: an admin's stop holds it, a start looks again.
                Some(Control::Admin(admin, ack)) => return self.admin_done(admin, ack, None).await,
            },
        }
        self.initial().await
    }
}

fn unix_ms() -> i64 {
    SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

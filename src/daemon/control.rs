//! The loop's side of worker control and silences: `StartWorker`,
//! `StopWorker`, `RestartWorker` (the desired state is written to the state
//! database before the loop moves on, the reply goes out once the worker is
//! there), `Silence`/`Unsilence`, and the expiry of silences, after which
//! alerts they held back and that are still open are notified.

use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::Daemon;
use crate::dbus::{MonitorError, WorkerOp};
use crate::silences;
use crate::store::StoreError;
use crate::workers::{Change, Pending};

/// A D-Bus reply waiting for a worker request to finish.
type Reply = oneshot::Sender<Result<(), MonitorError>>;

/// What woke the loop on behalf of this module.
pub(super) enum ControlWake {
    /// A worker request finished: refresh the snapshot, then reply.
    Finished(Reply, Result<(), MonitorError>),
    /// The earliest silence has ended.
    Expired,
}

/// Worker requests in flight and the next silence expiry.
pub(super) struct Control {
    done_tx: mpsc::UnboundedSender<(Reply, Result<(), MonitorError>)>,
    done_rx: mpsc::UnboundedReceiver<(Reply, Result<(), MonitorError>)>,
    expiry: Option<Instant>,
}

impl Control {
    pub(super) fn new() -> Control {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Control { done_tx, done_rx, expiry: None }
    }

    /// Waits for a finished request or the next expiry.
    pub(super) async fn next(&mut self) -> ControlWake {
        let expiry = self.expiry;
        tokio::select! {
            Some((reply, result)) = self.done_rx.recv() => ControlWake::Finished(reply, result),
            () = sleep_until(expiry) => {
                self.expiry = None;
                ControlWake::Expired
            }
        }
    }

    /// Waits for `pending` off the loop and hands its outcome back to it.
    fn finish_later(&self, what: String, pending: Pending, reply: Reply) {
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let result = match pending.wait().await {
                Ok(Change::Done) => {
                    log::info!("{what}: done");
                    Ok(())
                }
                Ok(Change::Already) => {
                    log::info!("{what}: it already was; nothing to do");
                    Ok(())
                }
                Err(err) => {
                    log::warn!("{what}: {err}");
                    Err(err.into())
                }
            };
            let _ = done.send((reply, result));
        });
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Daemon {
    /// StartWorker, StopWorker, RestartWorker. The request is accepted by
    /// the supervisor first (an unknown name or a unit systemd refuses
    /// changes nothing), then the desired state is stored, and the reply
    /// waits, off the loop, for the worker to get there.
    pub(super) async fn control_worker(&mut self, op: WorkerOp, name: String, reply: Reply) {
        let pending = match op {
            WorkerOp::Start => self.supervisor.start_worker(&name).await,
            WorkerOp::Stop => self.supervisor.stop_worker(&name).await,
            WorkerOp::Restart => self.supervisor.restart_worker(&name).await,
        };
        let pending = match pending {
            Ok(pending) => pending,
            Err(err) => {
                let _ = reply.send(Err(err.into()));
                return;
            }
        };
        let stopped = op == WorkerOp::Stop;
        // A pool's desired state is its instances'.
        let workers = self.supervisor.members(&name);
        let stored = self
            .store
            .call(move |s| workers.iter().try_for_each(|w| s.set_desired(w, stopped, SystemTime::now())))
            .await;
        if let Err(err) = stored {
            // The worker is stopped or started all the same; say that it
            // will not survive a restart of healthmon.
            log::error!("worker {name}: cannot store the desired state, a restart of healthmon forgets it: {err}");
        }
        let verb = match op {
            WorkerOp::Start => "start",
            WorkerOp::Stop => "stop",
            WorkerOp::Restart => "restart",
        };
        log::info!("worker {name}: {verb} requested by an administrator");
        self.control.finish_later(format!("worker {name}: {verb}"), pending, reply);
    }

    /// A worker request finished: the snapshot shows its new state before
    /// the caller hears back.
    pub(super) async fn control_wake(&mut self, wake: ControlWake) {
        match wake {
            ControlWake::Finished(reply, result) => {
                self.refresh_workers();
                let _ = reply.send(result);
            }
            ControlWake::Expired => {
                let expired = self.store.call(|s| s.expire_silences(SystemTime::now())).await;
                match expired {
                    Ok(n) if n > 0 => log::info!("{n} silence(s) ended"),
                    Ok(_) => {}
                    Err(err) => log::warn!("cannot expire silences: {err}"),
                }
                self.silences_changed().await;
            }
        }
    }

    /// `Silence()`: stores it (already validated by the interface).
    pub(super) async fn add_silence(
        &mut self,
        component: String,
        seconds: u64,
        reason: String,
    ) -> Result<i64, MonitorError> {
        let now = crate::store::unix_seconds(SystemTime::now());
        let until = silences::until(now, seconds);
        let pattern = component.clone();
        let id = self.store.call(move |s| s.add_silence(&pattern, until, &reason)).await?;
        log::info!("silence {id} on {component:?} for {seconds}s");
        self.silences_changed().await;
        Ok(id)
    }

    /// `Unsilence()`: ends a silence now; false when there is none.
    pub(super) async fn remove_silence(&mut self, id: i64) -> Result<bool, MonitorError> {
        let removed = self.store.call(move |s| s.remove_silence(id)).await?;
        if removed {
            log::info!("silence {id} removed");
            self.silences_changed().await;
        }
        Ok(removed)
    }

    /// After silences changed: notify the open alerts no silence holds
    /// back any more, recount the state, and re-arm the expiry timer.
    pub(super) async fn silences_changed(&mut self) {
        let now = SystemTime::now();
        let changed =
            self.store.call(move |s| Ok::<_, StoreError>((s.release_silenced(now)?, s.active_silences(now)?))).await;
        match changed {
            Ok((released, active)) => {
                if !released.is_empty() {
                    log::info!("{} alert(s) no longer silenced; notifying them now", released.len());
                }
                self.notifications.alerts(&released, &[]);
                let unix_now = crate::store::unix_seconds(now);
                self.control.expiry = silences::next_expiry(&active, unix_now).map(|until| {
                    let left = u64::try_from(until.saturating_sub(unix_now)).unwrap_or(0);
                    Instant::now() + Duration::from_secs(left)
                });
            }
            Err(err) => log::warn!("cannot read silences: {err}"),
        }
        self.refresh(None).await;
    }
}

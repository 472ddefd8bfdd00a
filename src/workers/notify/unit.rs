//! sd_notify under systemd: the worker's transient unit does the listening
//! (`Type=notify` for `notify_ready`, `WatchdogSec=` for `watchdog`,
//! `TimeoutStartSec=` = `start_timeout`, and `NotifyAccess=all`: with
//! systemd's default `main`, a `READY=1` from a helper such as
//! `systemd-notify` in a shell script is dropped and the start times
//! out). healthmon never waits on the start job: it reads the unit's
//! state, a little at first and then every [`STATUS_EVERY`], for readiness
//! (`ActiveState=active`) and `StatusText`.

use std::time::Duration;

use zbus::Variant;

use crate::config::WorkerSettings;

use super::super::launch::transient::UnitRef;
use super::{wanted, Notice};

/// The first pause between two reads of a starting unit; it doubles up to [`STATUS_EVERY`].
const FIRST_POLL: Duration = Duration::from_millis(20);
/// How often a ready unit's `StatusText` is read.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);

/// The service type a worker's unit gets.
pub fn service_type(w: &WorkerSettings) -> &'static str {
    if w.notify_ready {
        "notify"
    } else {
        "exec"
    }
}

/// The unit properties sd_notify needs, none for a worker without the keys.
pub fn properties(w: &WorkerSettings) -> Vec<(&'static str, Variant<'static>)> {
    if !wanted(w) {
        return Vec::new();
    }
    let usec = |d: Duration| Variant::from(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let mut properties = vec![("NotifyAccess", Variant::from("all"))];
    if w.notify_ready {
        properties.push(("TimeoutStartUSec", usec(w.start_timeout)));
    }
    if let Some(every) = w.watchdog {
        properties.push(("WatchdogUSec", usec(every)));
    }
    properties
}

/// The next news of the unit: once it turns active while not `ready`
/// (its `READY=1`), else its status text every [`STATUS_EVERY`]. A unit
/// that cannot be read is asked again later; its end is seen on the pidfd.
pub async fn notice(unit: &UnitRef, ready: bool) -> Notice {
    let mut pause = if ready { STATUS_EVERY } else { FIRST_POLL };
    loop {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(STATUS_EVERY);
        let Ok(Some(state)) = unit.state().await else { continue };
        let became_ready = !ready && state.active == "active";
        if ready || became_ready {
            return Notice { ready: became_ready, ping: false, status: Some(state.status_text) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// notify_ready makes the unit Type=notify with the start timeout; every sd_notify worker gets NotifyAccess=all.
    #[test]
    fn unit_properties() {
        let mut w = super::super::test_worker();
        assert!(properties(&w).is_empty());
        assert_eq!(service_type(&w), "exec");
        w.notify_ready = true;
        w.watchdog = Some(Duration::from_secs(30));
        let names: Vec<&str> = properties(&w).iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["NotifyAccess", "TimeoutStartUSec", "WatchdogUSec"]);
        assert_eq!(service_type(&w), "notify");
        assert_eq!(properties(&w)[2].1, Variant::from(30_000_000u64));
    }
}

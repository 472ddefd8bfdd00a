//! The one-line `STATUS=` text systemd shows for the service.

use std::time::SystemTime;

use crate::dbus::Snapshot;

/// `3/3 workers healthy, 0 alerts, last check 12s ago`.
pub fn status_line(snap: &Snapshot, now: SystemTime) -> String {
    let alerts = match snap.unresolved_alerts {
        1 => "1 alert".to_string(),
        n => format!("{n} alerts"),
    };
    let last = match snap.last_check.and_then(|t| now.duration_since(t).ok()) {
        Some(ago) => format!("last check {}s ago", ago.as_secs()),
        None if snap.last_check.is_some() => "last check just now".to_string(),
        None => "no check yet".to_string(),
    };
    let dry_run = if snap.dry_run { " (dry run)" } else { "" };
    format!("{}/{} workers healthy, {alerts}, {last}{dry_run}", snap.workers_healthy(), snap.workers.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn snap(workers: usize, alerts: u32, last: Option<SystemTime>) -> Snapshot {
        let mut s = Snapshot::new(false);
        s.unresolved_alerts = alerts;
        s.last_check = last;
        s.workers = (0..workers)
            .map(|i| crate::workers::WorkerInfo {
                name: format!("w{i}"),
                state: "running".into(),
                pid: 1,
                restarts: 0,
                detail: String::new(),
                healthy: i > 0,
                ..Default::default()
            })
            .collect();
        s
    }

    /// The STATUS= line has the contract's shape.
    #[test]
    fn status_line_reads_like_the_contract() {
        let now = SystemTime::now();
        let line = status_line(&snap(3, 0, Some(now - Duration::from_secs(12))), now);
        assert_eq!(line, "2/3 workers healthy, 0 alerts, last check 12s ago");
        assert_eq!(status_line(&snap(0, 1, None), now), "0/0 workers healthy, 1 alert, no check yet");
    }
}

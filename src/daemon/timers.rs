//! The loop's two timers: the check interval and the heartbeat that pings
//! the watchdog and refreshes `STATUS=`.

use std::time::Duration;

use tokio::time::{interval, interval_at, Instant, Interval, MissedTickBehavior};

use crate::systemd::Notifier;

/// `STATUS=` is refreshed at least this often even without a watchdog.
const STATUS_REFRESH: Duration = Duration::from_secs(10);

/// The check timer; the first cycle runs at once at start-up, and a
/// changed interval after a reload starts counting from now.
pub(super) fn check_timer(period: Duration, now: bool) -> Interval {
    let start = if now { Instant::now() } else { Instant::now() + period };
    let mut timer = interval_at(start, period);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}

/// Watchdog pings at half of WATCHDOG_USEC, and STATUS= refreshes.
pub(super) fn heartbeat_timer(notifier: &Notifier) -> Interval {
    let period = notifier.watchdog_interval().map_or(STATUS_REFRESH, |w| w.min(STATUS_REFRESH));
    let mut timer = interval(period.max(Duration::from_millis(1)));
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}

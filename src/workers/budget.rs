//! The restart budget of one worker: a pure state machine (the clock is
//! passed in) deciding whether an exit is restarted, after which delay, or
//! whether healthmon gives up.
//!
//! Rules (documented for admins):
//! - At most `max_restarts` restarts within any sliding `restart_window`;
//!   the exit that would need one more gives up. So a worker that has run
//!   stably for a whole window has its budget back by itself.
//! - A crash before the restart was verified (`verify_after`) is "quick";
//!   each further quick crash in a row doubles the delay, from
//!   `restart_delay` up to 5 minutes (never below `restart_delay`). A
//!   verified run resets the doubling. `restart_delay = "0s"` never waits.
//! - Given up stays given up until [`RestartBudget::reset`] (alert resolved
//!   by hand, reload).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use crate::store::SavedBudget;

/// The longest delay the doubling reaches (unless `restart_delay` is longer).
const BACKOFF_CAP: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetState {
    /// Restarting is allowed. `recent`: restart times inside the window,
    /// oldest first; `quick`: crashes in a row before verification.
    Open { recent: VecDeque<Instant>, quick: u32 },
    /// Restarting stopped at `at` after `restarts` restarts within the window.
    GivenUp { restarts: u32, at: Instant },
}

/// What to do about one exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Restart after `delay`; it is the `nth` restart within the window.
    Restart { delay: Duration, nth: u32 },
    /// Stop restarting: `restarts` were done within the window.
    GiveUp { restarts: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartBudget {
    max: u32,
    window: Duration,
    base_delay: Duration,
    state: BudgetState,
}

impl RestartBudget {
    pub fn new(max: u32, window: Duration, base_delay: Duration) -> RestartBudget {
        RestartBudget { max, window, base_delay, state: BudgetState::Open { recent: VecDeque::new(), quick: 0 } }
    }

    pub fn is_given_up(&self) -> bool {
        matches!(self.state, BudgetState::GivenUp { .. })
    }

    /// Decides about an exit at `now`; `quick` = it died before its start
    /// was verified.
    pub fn on_exit(&mut self, now: Instant, quick: bool) -> Verdict {
        let window = self.window;
        let (recent, streak) = match &mut self.state {
            BudgetState::GivenUp { restarts, .. } => return Verdict::GiveUp { restarts: *restarts },
            BudgetState::Open { recent, quick } => (recent, quick),
        };
        prune(recent, now, window);
        let done = recent.len() as u32;
        if done >= self.max {
            self.state = BudgetState::GivenUp { restarts: done, at: now };
            return Verdict::GiveUp { restarts: done };
        }
        *streak = if quick { *streak + 1 } else { 0 };
        recent.push_back(now);
        Verdict::Restart { delay: backoff(self.base_delay, *streak), nth: done + 1 }
    }

    /// The restart was verified: the next crash starts the doubling afresh.
    pub fn on_verified(&mut self) {
        if let BudgetState::Open { quick, .. } = &mut self.state {
            *quick = 0;
        }
    }

    /// A fresh budget (alert resolved by hand, reload).
    pub fn reset(&mut self) {
        self.state = BudgetState::Open { recent: VecDeque::new(), quick: 0 };
    }

    /// The worker came back by other means (e.g. an admin started the
    /// unit): restarting may resume.
    pub fn reset_if_given_up(&mut self) {
        if self.is_given_up() {
            self.reset();
        }
    }

    /// Restarts counted against the budget at `now` (for "restart 2 of 5").
    pub fn used(&self, now: Instant) -> u32 {
        match &self.state {
            BudgetState::Open { recent, .. } => {
                recent.iter().filter(|t| now.duration_since(**t) < self.window).count() as u32
            }
            BudgetState::GivenUp { restarts, .. } => *restarts,
        }
    }

    /// The budget as the state database keeps it; `now` and `now_ms` (unix
    /// milliseconds) are the same moment.
    pub fn saved(&self, now: Instant, now_ms: i64) -> SavedBudget {
        let ms =
            |t: &Instant| now_ms - i64::try_from(now.saturating_duration_since(*t).as_millis()).unwrap_or(i64::MAX);
        match &self.state {
            BudgetState::Open { recent, quick } => SavedBudget {
                restart_times: recent.iter().map(ms).collect(),
                backoff_ms: if *quick == 0 { 0 } else { millis(backoff(self.base_delay, *quick)) },
                given_up_at: None,
            },
            BudgetState::GivenUp { restarts, at } => SavedBudget {
                restart_times: vec![ms(at); *restarts as usize],
                backoff_ms: 0,
                given_up_at: Some(ms(at) / 1000),
            },
        }
    }

    /// Takes over a budget an earlier healthmon saved (see [`Self::saved`]):
    /// its restarts inside the window, its backoff, its giving up.
    pub fn restore(&mut self, saved: &SavedBudget, now: Instant, now_ms: i64) {
        let at =
            |ms: i64| now.checked_sub(Duration::from_millis(u64::try_from(now_ms - ms).unwrap_or(0))).unwrap_or(now);
        if let Some(given_up) = saved.given_up_at {
            let restarts = u32::try_from(saved.restart_times.len()).unwrap_or(u32::MAX);
            self.state = BudgetState::GivenUp { restarts, at: at(given_up * 1000) };
            return;
        }
        let mut recent: VecDeque<Instant> = saved.restart_times.iter().map(|ms| at(*ms)).collect();
        prune(&mut recent, now, self.window);
        let quick = (1..=17)
            .find(|q| millis(backoff(self.base_delay, *q)) >= saved.backoff_ms)
            .filter(|_| saved.backoff_ms > 0);
        self.state = BudgetState::Open { recent, quick: quick.unwrap_or(0) };
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Drops restart times that left the sliding window.
fn prune(recent: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while recent.front().is_some_and(|t| now.duration_since(*t) >= window) {
        recent.pop_front();
    }
}

/// `base` for the first crash in a row, doubled for each further quick one.
fn backoff(base: Duration, streak: u32) -> Duration {
    let doublings = streak.saturating_sub(1).min(16);
    let cap = BACKOFF_CAP.max(base);
    base.saturating_mul(1 << doublings).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(600);

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    /// Exactly `max_restarts` restarts are granted within the window; the next exit gives up.
    #[test]
    fn gives_up_after_max_restarts_within_window() {
        let t0 = Instant::now();
        let mut b = RestartBudget::new(3, WINDOW, Duration::ZERO);
        for n in 1..=3 {
            assert_eq!(b.on_exit(secs(t0, n), false), Verdict::Restart { delay: Duration::ZERO, nth: n as u32 });
        }
        assert_eq!(b.on_exit(secs(t0, 4), false), Verdict::GiveUp { restarts: 3 });
        assert!(b.is_given_up());
        assert_eq!(b.on_exit(secs(t0, 5000), false), Verdict::GiveUp { restarts: 3 }, "given up stays given up");
    }

    /// Restarts older than the window no longer count, so a stable run restores the budget.
    #[test]
    fn window_slides() {
        let t0 = Instant::now();
        let mut b = RestartBudget::new(2, WINDOW, Duration::ZERO);
        b.on_exit(secs(t0, 0), false);
        b.on_exit(secs(t0, 100), false);
        assert_eq!(b.used(secs(t0, 599)), 2);
        assert_eq!(b.on_exit(secs(t0, 600), false), Verdict::Restart { delay: Duration::ZERO, nth: 2 });
        assert_eq!(b.on_exit(secs(t0, 1300), false), Verdict::Restart { delay: Duration::ZERO, nth: 1 });
    }

    /// Quick crashes in a row double the delay up to the cap; a verified run resets it.
    #[test]
    fn quick_crashes_back_off() {
        let t0 = Instant::now();
        let base = Duration::from_secs(5);
        let mut b = RestartBudget::new(100, WINDOW, base);
        let delays: Vec<Duration> = (0..8)
            .map(|n| match b.on_exit(secs(t0, n), true) {
                Verdict::Restart { delay, .. } => delay,
                Verdict::GiveUp { .. } => panic!("budget is 100"),
            })
            .collect();
        let expect: Vec<u64> = vec![5, 10, 20, 40, 80, 160, 300, 300];
        assert_eq!(delays, expect.into_iter().map(Duration::from_secs).collect::<Vec<_>>());
        b.on_verified();
        assert_eq!(b.on_exit(secs(t0, 10), true), Verdict::Restart { delay: base, nth: 9 });
        assert_eq!(
            b.on_exit(secs(t0, 11), false),
            Verdict::Restart { delay: base, nth: 10 },
            "a slow crash never backs off"
        );
    }

    /// Zero restart_delay stays zero however many quick crashes happen.
    #[test]
    fn zero_delay_never_waits() {
        let t0 = Instant::now();
        let mut b = RestartBudget::new(10, WINDOW, Duration::ZERO);
        for n in 0..5 {
            assert!(matches!(b.on_exit(secs(t0, n), true), Verdict::Restart { delay, .. } if delay.is_zero()));
        }
    }

    /// reset() reopens a given-up budget with nothing counted.
    #[test]
    fn reset_reopens() {
        let t0 = Instant::now();
        let mut b = RestartBudget::new(1, WINDOW, Duration::ZERO);
        b.on_exit(t0, false);
        assert_eq!(b.on_exit(t0, false), Verdict::GiveUp { restarts: 1 });
        b.reset();
        assert_eq!(b.used(t0), 0);
        assert_eq!(b.on_exit(t0, false), Verdict::Restart { delay: Duration::ZERO, nth: 1 });
    }

    /// A saved budget comes back with its restarts in the window, its backoff and its giving up.
    #[test]
    fn saved_and_restored() {
        let t0 = Instant::now();
        let base = Duration::from_secs(5);
        let mut b = RestartBudget::new(3, WINDOW, base);
        b.on_exit(secs(t0, 0), true);
        b.on_exit(secs(t0, 1), true);
        let now = secs(t0, 2);
        let saved = b.saved(now, 1_000_000_000);
        assert_eq!(
            saved,
            SavedBudget { restart_times: vec![999_998_000, 999_999_000], backoff_ms: 10_000, given_up_at: None }
        );
        let mut again = RestartBudget::new(3, WINDOW, base);
        again.restore(&saved, now, 1_000_000_000);
        assert_eq!(again.used(now), 2);
        assert_eq!(
            again.on_exit(secs(t0, 3), true),
            Verdict::Restart { delay: Duration::from_secs(20), nth: 3 },
            "backoff goes on"
        );
        assert_eq!(again.on_exit(secs(t0, 4), true), Verdict::GiveUp { restarts: 3 });
        let gone = again.saved(secs(t0, 5), 1_000_003_000);
        assert_eq!(gone.given_up_at, Some(1_000_002));
        let mut third = RestartBudget::new(3, WINDOW, base);
        third.restore(&gone, secs(t0, 5), 1_000_003_000);
        assert!(third.is_given_up());
        assert_eq!(third.saved(secs(t0, 5), 1_000_003_000), gone, "saving again changes nothing");
    }

    /// max_restarts = 0 means: never restart, give up at the first exit.
    #[test]
    fn zero_budget_gives_up_at_once() {
        let mut b = RestartBudget::new(0, WINDOW, Duration::ZERO);
        assert_eq!(b.on_exit(Instant::now(), false), Verdict::GiveUp { restarts: 0 });
    }
}

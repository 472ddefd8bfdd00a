//! Storm policy of one channel: a token bucket of 10 notifications,
//! refilled one every 6 seconds (so at most 10 at once and 10 a minute
//! sustained). What is over the limit is not sent; the count of suppressed
//! notifications is added to the next one that goes out ("+N suppressed"),
//! so nobody is left thinking all was quiet.
//!
//! Not every notification weighs the same. CRITICAL raises and resolutions
//! always go out (a page and its all-clear must never be lost in a storm);
//! reminders and INFO (auto-recovered) records need a bucket at least half
//! full, so they are the first to be coalesced and leave room for the
//! WARNING raises that need only one token.

use std::time::{Duration, Instant};

use super::payload::{Event, EventKind};
use crate::model::Severity;

const BURST: u32 = 10;
/// Tokens that only WARNING raises (and the never-limited ones) may use.
const RESERVED: u32 = BURST / 2;
const REFILL_EVERY: Duration = Duration::from_secs(6);

/// How the storm policy treats an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weight {
    /// CRITICAL raises and every resolution: never held back.
    Never,
    /// WARNING raises: held back only when the bucket is empty.
    Normal,
    /// Reminders and INFO: held back once the bucket is half empty.
    First,
}

fn weight(event: &Event) -> Weight {
    match (event.kind, event.alert.severity) {
        (EventKind::Resolved, _) | (EventKind::Raised, Severity::Critical) => Weight::Never,
        (EventKind::Reminder | EventKind::AutoRecovered, _) | (_, Severity::Info) => Weight::First,
        (EventKind::Raised, _) => Weight::Normal,
    }
}

#[derive(Debug)]
pub struct RateLimit {
    tokens: u32,
    refilled_at: Option<Instant>,
    suppressed: u64,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit { tokens: BURST, refilled_at: None, suppressed: 0 }
    }
}

impl RateLimit {
    /// The event to send now (carrying the suppressed count), or None.
    pub fn admit(&mut self, mut event: Event, now: Instant) -> Option<Event> {
        self.refill(now);
        let admitted = match weight(&event) {
            Weight::Never => true,
            Weight::Normal => self.tokens > 0,
            Weight::First => self.tokens > RESERVED,
        };
        if !admitted {
            self.suppressed += 1;
            return None;
        }
        self.tokens = self.tokens.saturating_sub(1);
        event.suppressed_before = std::mem::take(&mut self.suppressed);
        Some(event)
    }

    fn refill(&mut self, now: Instant) {
        let since = *self.refilled_at.get_or_insert(now);
        let earned = (now.duration_since(since).as_millis() / REFILL_EVERY.as_millis()) as u32;
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(BURST);
            self.refilled_at = Some(since + REFILL_EVERY * earned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AlertRow;

    fn event(id: i64, severity: Severity, kind: EventKind) -> Event {
        let alert = AlertRow {
            id,
            raised_at: 0,
            severity,
            component: "c".into(),
            kind: "k".into(),
            message: "m".into(),
            resolved: false,
            silenced: false,
        };
        Event::new(&alert, kind)
    }

    fn warning(id: i64) -> Event {
        event(id, Severity::Warning, EventKind::Raised)
    }

    /// A burst of 25 WARNING raises lets exactly 10 through, and the next
    /// one after a refill says how many were held back.
    #[test]
    fn storm_is_capped_and_counted() {
        let mut limit = RateLimit::default();
        let t0 = Instant::now();
        let passed = (0..25).filter(|i| limit.admit(warning(*i), t0).is_some()).count();
        assert_eq!(passed, 10);
        let next = limit.admit(warning(99), t0 + REFILL_EVERY).expect("a token after one refill");
        assert_eq!(next.suppressed_before, 15);
        assert!(limit.admit(warning(100), t0 + REFILL_EVERY).is_none());
    }

    /// Quiet periods refill the bucket, never beyond the burst size.
    #[test]
    fn refill_is_capped_at_burst() {
        let mut limit = RateLimit::default();
        let t0 = Instant::now();
        assert!(limit.admit(warning(1), t0).is_some());
        let later = t0 + Duration::from_secs(3600);
        let passed = (0..20).filter(|i| limit.admit(warning(*i), later).is_some()).count();
        assert_eq!(passed, 10);
    }

    /// In an exhausted bucket CRITICAL raises and resolutions of any
    /// severity still go out, all 50 of each.
    #[test]
    fn critical_raises_and_resolutions_are_never_dropped() {
        let mut limit = RateLimit::default();
        let t0 = Instant::now();
        (0..20).for_each(|i| drop(limit.admit(warning(i), t0)));
        let critical = (0..50).filter(|i| limit.admit(event(*i, Severity::Critical, EventKind::Raised), t0).is_some());
        assert_eq!(critical.count(), 50);
        let resolved = (0..50).filter(|i| limit.admit(event(*i, Severity::Warning, EventKind::Resolved), t0).is_some());
        assert_eq!(resolved.count(), 50);
    }

    /// Reminders and INFO records are coalesced while WARNING raises still
    /// have tokens: they stop at half the bucket.
    #[test]
    fn reminders_and_info_are_coalesced_first() {
        let mut limit = RateLimit::default();
        let t0 = Instant::now();
        let reminders =
            (0..20).filter(|i| limit.admit(event(*i, Severity::Critical, EventKind::Reminder), t0).is_some()).count();
        assert_eq!(reminders, (BURST - RESERVED) as usize);
        assert!(limit.admit(event(30, Severity::Info, EventKind::AutoRecovered), t0).is_none());
        assert!(limit.admit(event(31, Severity::Info, EventKind::Raised), t0).is_none());
        let warnings = (0..20).filter(|i| limit.admit(warning(*i), t0).is_some()).count();
        assert_eq!(warnings, RESERVED as usize, "the reserve is left for WARNING raises");
    }
}

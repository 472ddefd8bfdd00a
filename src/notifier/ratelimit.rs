//! Storm policy: a token bucket of 10 notifications, refilled one every 6
//! seconds (so at most 10 at once and 10 a minute sustained). What is
//! over the limit is not sent; the count of suppressed notifications is
//! added to the next one that goes out ("+N suppressed"), so nobody is
//! left thinking all was quiet. Resolutions pass the same bucket.

use std::time::{Duration, Instant};

use super::payload::Event;

const BURST: u32 = 10;
const REFILL_EVERY: Duration = Duration::from_secs(6);

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
        if self.tokens == 0 {
            self.suppressed += 1;
            return None;
        }
        self.tokens -= 1;
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
    use crate::model::Severity;
    use crate::notifier::EventKind;
    use crate::store::AlertRow;

    fn event(id: i64) -> Event {
        let alert = AlertRow {
            id,
            raised_at: 0,
            severity: Severity::Warning,
            component: "c".into(),
            kind: "k".into(),
            message: "m".into(),
            resolved: false,
        };
        Event::new(&alert, EventKind::Raised)
    }

    /// A burst of 25 lets exactly 10 through, and the next one after a
    /// refill says how many were held back.
    #[test]
    fn storm_is_capped_and_counted() {
        let mut limit = RateLimit::default();
        let t0 = Instant::now();
        let passed = (0..25).filter(|i| limit.admit(event(*i), t0).is_some()).count();
        assert_eq!(passed, 10);
        let next = limit.admit(event(99), t0 + REFILL_EVERY).expect("a token after one refill");
        assert_eq!(next.suppressed_before, 15);
        assert!(limit.admit(event(100), t0 + REFILL_EVERY).is_none());
    }

    /// Quiet periods refill the bucket, never beyond the burst size.
    #[test]
    fn refill_is_capped_at_burst() {
        let mut limit = RateLimit::default();
        let t0 = Instant::now();
        assert!(limit.admit(event(1), t0).is_some());
        let later = t0 + Duration::from_secs(3600);
        let passed = (0..20).filter(|i| limit.admit(event(*i), later).is_some()).count();
        assert_eq!(passed, 10);
    }
}

//! Maintenance silences, as decisions: which component a silence covers,
//! whether an alert is silenced now, which silences have expired, and what
//! an administrator may ask for. Pure (the clock is passed in, as unix
//! seconds) and tested without SQLite; the store only keeps the rows and
//! the daemon applies what these functions decide.
//!
//! Rules (documented for admins): a pattern is a component name matched
//! exactly, or a prefix ending in `*` (`disk:*` covers every disk path).
//! A silence is active while `now < until`. A silenced alert is raised,
//! recorded and journaled as usual, but not notified (webhook, command,
//! Alertmanager) and not counted in `State` or exit codes; when its last
//! silence ends while it is still open, it is notified then.

use std::time::Duration;

/// The longest silence anyone may ask for.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Longest component pattern or worker name accepted over D-Bus (bytes).
pub const MAX_NAME_BYTES: usize = 255;
/// Longest reason kept with a silence (bytes).
pub const MAX_REASON_BYTES: usize = 1024;
/// The pattern that matches everything; it needs an explicit request.
pub const EVERYTHING: &str = "*";

/// One row of the `silences` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: i64,
    /// A component name, or a prefix followed by `*`.
    pub component: String,
    /// Unix seconds; the silence ends then.
    pub until: i64,
    pub reason: String,
}

/// Why a silence request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("the component pattern is empty; name a component (e.g. `assigner_worker`) or a prefix ending in `*` (e.g. `disk:*`)")]
    EmptyPattern,
    #[error("the component pattern is {0} bytes long; at most {MAX_NAME_BYTES} are allowed")]
    PatternTooLong(usize),
    #[error("`*` may only end a pattern (a prefix such as `disk:*`), not appear inside {0:?}")]
    InnerStar(String),
    #[error("a pattern of `*` alone silences every alert; healthctl needs --all for that")]
    Everything,
    #[error("a silence of 0 seconds would end at once; give a duration of at least 1 second")]
    ZeroDuration,
    #[error("a silence may last at most 30 days ({max} seconds), not {0} seconds", max = MAX_DURATION.as_secs())]
    TooLong(u64),
    #[error("the reason is {0} bytes long; at most {MAX_REASON_BYTES} are allowed")]
    ReasonTooLong(usize),
}

/// Checks a request for a silence. `everything` is the explicit consent a
/// bare `*` needs (healthctl's `--all`; over D-Bus the bare `*` is always
/// refused, see the README).
pub fn validate(pattern: &str, seconds: u64, reason: &str, everything: bool) -> Result<(), SilenceError> {
    if pattern.is_empty() {
        return Err(SilenceError::EmptyPattern);
    }
    if pattern.len() > MAX_NAME_BYTES {
        return Err(SilenceError::PatternTooLong(pattern.len()));
    }
    if pattern.strip_suffix('*').unwrap_or(pattern).contains('*') {
        return Err(SilenceError::InnerStar(pattern.to_string()));
    }
    if pattern == EVERYTHING && !everything {
        return Err(SilenceError::Everything);
    }
    if seconds == 0 {
        return Err(SilenceError::ZeroDuration);
    }
    if seconds > MAX_DURATION.as_secs() {
        return Err(SilenceError::TooLong(seconds));
    }
    if reason.len() > MAX_REASON_BYTES {
        return Err(SilenceError::ReasonTooLong(reason.len()));
    }
    Ok(())
}

/// Does `pattern` cover `component`? Exact, or a prefix ending in `*`.
pub fn covers(pattern: &str, component: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => component.starts_with(prefix),
        None => pattern == component,
    }
}

/// Is the silence still in force at `now` (unix seconds)?
pub fn is_active(silence: &Silence, now: i64) -> bool {
    now < silence.until
}

/// The decision the alert pipeline asks for: is an alert on `component`
/// silenced at `now`? (Notifiers, Alertmanager and `State` all use this.)
pub fn is_silenced(silences: &[Silence], component: &str, now: i64) -> bool {
    silences.iter().any(|s| is_active(s, now) && covers(&s.component, component))
}

/// The ids of silences that have ended by `now`.
pub fn expired(silences: &[Silence], now: i64) -> Vec<i64> {
    silences.iter().filter(|s| !is_active(s, now)).map(|s| s.id).collect()
}

/// When the next of these silences ends (unix seconds), if any is active.
pub fn next_expiry(silences: &[Silence], now: i64) -> Option<i64> {
    silences.iter().filter(|s| is_active(s, now)).map(|s| s.until).min()
}

/// `until` for a silence of `seconds` starting at `now`, saturating.
pub fn until(now: i64, seconds: u64) -> i64 {
    now.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(id: i64, component: &str, until: i64) -> Silence {
        Silence { id, component: component.into(), until, reason: String::new() }
    }

    /// An exact pattern covers only that component; a `*` suffix covers the prefix.
    #[test]
    fn exact_and_prefix_patterns() {
        assert!(covers("assigner_worker", "assigner_worker"));
        assert!(!covers("assigner_worker", "assigner_worker2"));
        assert!(!covers("assigner", "assigner_worker"));
        assert!(covers("disk:*", "disk:/"));
        assert!(covers("disk:*", "disk:/var"));
        assert!(!covers("disk:*", "sqlite:/disk"));
        assert!(covers("api@*", "api@1"));
        assert!(covers("*", "anything"));
    }

    /// A silence is active up to, not including, its `until`.
    #[test]
    fn silence_ends_at_until() {
        let s = [silence(1, "w", 100)];
        assert!(is_silenced(&s, "w", 99));
        assert!(!is_silenced(&s, "w", 100));
        assert_eq!(expired(&s, 99), Vec::<i64>::new());
        assert_eq!(expired(&s, 100), vec![1]);
    }

    /// Of several silences, any active one that covers the component silences it.
    #[test]
    fn any_active_matching_silence_counts() {
        let s = [silence(1, "w", 50), silence(2, "w*", 200), silence(3, "other", 500)];
        assert!(is_silenced(&s, "w", 100), "the prefix silence still runs");
        assert!(!is_silenced(&s, "w", 200));
        assert!(!is_silenced(&s, "x", 100));
        assert_eq!(next_expiry(&s, 100), Some(200));
        assert_eq!(next_expiry(&s, 600), None);
    }

    /// Bad requests are refused with a reason a person can act on.
    #[test]
    fn bad_requests_are_refused() {
        assert_eq!(validate("", 60, "", false), Err(SilenceError::EmptyPattern));
        assert_eq!(validate(&"x".repeat(256), 60, "", false), Err(SilenceError::PatternTooLong(256)));
        assert_eq!(validate(&"x".repeat(255), 60, "", false), Ok(()));
        assert_eq!(validate("*", 60, "", false), Err(SilenceError::Everything));
        assert_eq!(validate("*", 60, "", true), Ok(()));
        assert_eq!(validate("a*b", 60, "", false), Err(SilenceError::InnerStar("a*b".into())));
        assert_eq!(validate("w", 0, "", false), Err(SilenceError::ZeroDuration));
        assert_eq!(validate("w", 30 * 86_400, "", false), Ok(()));
        assert_eq!(validate("w", 30 * 86_400 + 1, "", false), Err(SilenceError::TooLong(30 * 86_400 + 1)));
        assert_eq!(validate("w", 60, &"r".repeat(1025), false), Err(SilenceError::ReasonTooLong(1025)));
        assert_eq!(validate("é", 60, "", false), Ok(()), "a multi-byte last character is fine");
    }

    /// A huge duration cannot overflow the end time.
    #[test]
    fn until_saturates() {
        assert_eq!(until(10, 5), 15);
        assert_eq!(until(i64::MAX - 1, u64::MAX), i64::MAX);
    }
}

//! How healthmon writes durations, sizes, counts and times for people:
//! one way each, shared by the daemon's messages, `healthmon --once` and
//! healthctl, so "3 min 5 s" never sits beside "3m 05s" or "185s".
//! (The config's own spelling, `"5m"`, is parsed by `config::duration`.)

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// `250 ms`, `45 s`, `3 min 5 s`, `2 h 3 min`, `5 d 2 h`: the two largest
/// units, so a column of them stays short; a zero second part is left out.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    let two = |big: u64, big_unit: &str, small: u64, small_unit: &str| match small {
        0 => format!("{big} {big_unit}"),
        _ => format!("{big} {big_unit} {small} {small_unit}"),
    };
    match s {
        0 if d.is_zero() => "0 s".to_string(),
        0 => format!("{} ms", d.as_millis()),
        1..=59 => format!("{s} s"),
        60..=3599 => two(s / 60, "min", s % 60, "s"),
        3600..=86_399 => two(s / 3600, "h", s % 3600 / 60, "min"),
        _ => two(s / 86_400, "d", s % 86_400 / 3600, "h"),
    }
}

/// [`duration`] of whole seconds.
pub fn secs(s: u64) -> String {
    duration(Duration::from_secs(s))
}

/// `512 B`, `12 KiB`, `3.1 MiB`, `930 GiB`: powers of 1024, one decimal
/// only while the number is below 10.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match (unit, value < 10.0) {
        (0, _) => format!("{bytes} B"),
        (_, true) => format!("{value:.1} {}", UNITS[unit]),
        (_, false) => format!("{value:.0} {}", UNITS[unit]),
    }
}

/// `1 file`, `2 files`, `0 files`; `plural` is the whole plural word
/// (`entry`/`entries`).
pub fn count(n: u64, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

/// How long ago `then` was, seen at `now` (both unix seconds):
/// `3 min ago`, `just now` under a second, `in 5 min` for the future.
pub fn ago(then: i64, now: i64) -> String {
    match now - then {
        0 => "just now".to_string(),
        past if past > 0 => format!("{} ago", secs(past as u64)),
        future => format!("in {}", secs(future.unsigned_abs())),
    }
}

/// Which clock times are shown in: the system's zone (as `journalctl`
/// does by default) or UTC (`--utc`).
#[derive(Debug, Clone)]
pub enum Clock {
    Local(TimeZone),
    Utc,
}

impl Clock {
    /// The system's zone (`TZ`, else `/etc/localtime`); UTC when neither
    /// can be read, which is also what a container without tzdata has.
    pub fn local() -> Clock {
        Clock::Local(TimeZone::try_system().unwrap_or(TimeZone::UTC))
    }

    fn zone(&self) -> TimeZone {
        match self {
            Clock::Local(zone) => zone.clone(),
            Clock::Utc => TimeZone::UTC,
        }
    }

    /// `2026-12-03 10:30:56`, in this clock's zone.
    pub fn time(&self, unix: i64) -> String {
        match Timestamp::from_second(unix) {
            Ok(ts) => ts.to_zoned_datetime(self.zone()).strftime("%Y-%m-%d %H:%M:%S").to_string(),
            Err(_) => unix.to_string(),
        }
    }

    /// `2026-12-03 10:30:56 CET`: with the zone's abbreviation, for a
    /// time that stands alone rather than in a column headed by its zone.
    pub fn time_with_zone(&self, unix: i64) -> String {
        match Timestamp::from_second(unix) {
            Ok(ts) => ts.to_zoned_datetime(self.zone()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
            Err(_) => unix.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations read the same everywhere: two units at most, a space before each unit.
    #[test]
    fn durations_have_one_form() {
        assert_eq!(duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(secs(45), "45 s");
        assert_eq!(secs(0), "0 s");
        assert_eq!(secs(180), "3 min");
        assert_eq!(secs(185), "3 min 5 s");
        assert_eq!(secs(7380), "2 h 3 min");
        assert_eq!(secs(5 * 86_400 + 7200), "5 d 2 h");
        assert_eq!(secs(7 * 86_400), "7 d");
    }

    /// Sizes pick the unit read at a glance; bytes stay whole.
    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(12 * 1024), "12 KiB");
        assert_eq!(size(3_250_586), "3.1 MiB");
        assert_eq!(size(930 * 1024 * 1024 * 1024), "930 GiB");
    }

    /// One of a thing is singular, any other number plural.
    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(count(0, "file", "files"), "0 files");
        assert_eq!(count(2, "entry", "entries"), "2 entries");
    }

    /// Relative times say which way they point.
    #[test]
    fn ago_points_both_ways() {
        assert_eq!(ago(100, 100), "just now");
        assert_eq!(ago(100, 280), "3 min ago");
        assert_eq!(ago(400, 100), "in 5 min");
    }

    /// The clock shows a time in its zone; UTC is the database's own form.
    #[test]
    fn clock_shows_local_or_utc() {
        assert_eq!(Clock::Utc.time(1_700_000_000), "2023-11-14 22:13:20");
        let berlin = Clock::Local(TimeZone::get("Europe/Berlin").expect("tzdata is installed"));
        assert_eq!(berlin.time(1_700_000_000), "2023-11-14 23:13:20");
        assert_eq!(berlin.time_with_zone(1_700_000_000), "2023-11-14 23:13:20 CET");
    }
}

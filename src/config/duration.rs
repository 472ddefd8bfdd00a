//! Duration strings of the config: an unsigned integer followed by one unit,
//! `ms`, `s`, `m`, `h` or `d` (`"500ms"`, `"5s"`, `"30m"`, `"24h"`, `"7d"`).
//! No spaces, no fractions, no compound forms: one obvious spelling per value.

use std::time::Duration;

const UNITS: [(&str, u64); 5] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Parses a config duration; the error is the whole message for the admin.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid = format!("invalid duration {text:?}: expected a number followed by ms, s, m, h or d");
    let millis = scaled(text, &UNITS, invalid)
        .map_err(|e| e.unwrap_or_else(|| format!("invalid duration {text:?}: too large")))?;
    Ok(Duration::from_millis(millis))
}

/// `text` as a whole number directly followed by one of `units` (name,
/// factor), multiplied out. `Err(Some(invalid))` when malformed,
/// `Err(None)` when too large. Shared by durations and sizes.
pub(super) fn scaled(text: &str, units: &[(&str, u64)], invalid: String) -> Result<u64, Option<String>> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    // `digits` counts ASCII bytes only, so the split is on a char boundary.
    let (number, unit) = text.split_at(digits);
    let Some(per_unit) = units.iter().find(|(name, _)| *name == unit).map(|(_, n)| *n) else {
        return Err(Some(invalid));
    };
    let count: u64 = number.parse().map_err(|_| Some(invalid))?;
    count.checked_mul(per_unit).ok_or(None)
}

/// Renders a duration in the largest unit that represents it exactly, so
/// `parse(&format(d)) == d` for every duration with whole milliseconds
/// (anything finer is truncated to milliseconds).
pub fn format(duration: Duration) -> String {
    let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return "0s".to_owned();
    }
    let (name, per_unit) = UNITS.iter().find(|(_, per_unit)| millis % per_unit == 0).copied().unwrap_or(("ms", 1));
    format!("{}{name}", millis / per_unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every unit of the contract parses to the right length.
    #[test]
    fn parses_every_unit() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    /// Spaces, fractions, signs, missing or unknown units are rejected with the admin message.
    #[test]
    fn rejects_malformed_strings() {
        for bad in ["", "5", "s", "5 s", "1.5s", "-5s", "+5s", "5sec", "5S", "5 parsecs", "5s5m", "٣s"] {
            let err = parse(bad).unwrap_err();
            assert!(err.ends_with("expected a number followed by ms, s, m, h or d"), "{bad:?}: {err}");
        }
    }

    /// A count that overflows u64 milliseconds is an error, not a wrap-around.
    #[test]
    fn rejects_overflow() {
        assert!(parse("99999999999999999999d").is_err());
        assert_eq!(parse("999999999999999999d").unwrap_err(), "invalid duration \"999999999999999999d\": too large");
    }

    /// Rendering picks the largest exact unit and round-trips.
    #[test]
    fn formats_in_largest_exact_unit() {
        let cases = [(60_000, "1m"), (90_000, "90s"), (86_400_000, "1d"), (500, "500ms"), (1_500, "1500ms"), (0, "0s")];
        for (millis, text) in cases {
            assert_eq!(format(Duration::from_millis(millis)), text);
            assert_eq!(parse(text), Ok(Duration::from_millis(millis)));
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// Whether `text` is the one spelling the parser accepts: digits, then exactly one unit.
    fn well_formed(text: &str) -> bool {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && UNITS.iter().any(|(name, _)| *name == &text[digits..])
    }

    proptest! {
        /// Every count in every unit parses to exactly count × unit.
        #[test]
        fn count_and_unit_parse_exactly(count in 0u64..1_000_000_000, unit in 0..UNITS.len()) {
            let (name, millis) = UNITS[unit];
            prop_assert_eq!(parse(&format!("{count}{name}")), Ok(Duration::from_millis(count * millis)));
        }

        /// `format` is the inverse of `parse` for every whole-millisecond duration.
        #[test]
        fn format_round_trips(millis in 0u64..u64::MAX / 2) {
            let duration = Duration::from_millis(millis);
            prop_assert_eq!(parse(&format(duration)), Ok(duration));
        }

        /// Anything but digits followed by one unit is refused, never misread.
        #[test]
        fn only_digits_then_one_unit_parse(text in "[0-9 .+-]{0,4}[a-zA-Z ]{0,3}[0-9]{0,2}") {
            prop_assert_eq!(parse(&text).is_ok(), well_formed(&text), "{:?}", text);
        }
    }
}

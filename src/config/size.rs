//! Size strings of the config: a whole number and one unit, `K`, `M`, `G`
//! or `KB`, `MB`, `GB`, all powers of 1024 (`"512M"` = `"512MB"`). No
//! spaces, no fractions, no bare numbers: one obvious spelling per value.

const UNITS: [(&str, u64); 6] =
    [("K", 1 << 10), ("KB", 1 << 10), ("M", 1 << 20), ("MB", 1 << 20), ("G", 1 << 30), ("GB", 1 << 30)];

/// Parses a config size into bytes; the error is the whole message for the admin.
pub fn parse(text: &str) -> Result<u64, String> {
    let invalid = format!("invalid size {text:?}: expected a whole number followed by K, M, G, KB, MB or GB");
    super::duration::scaled(text, &UNITS, invalid)
        .map_err(|e| e.unwrap_or_else(|| format!("invalid size {text:?}: too large")))
}

/// Renders bytes in the largest unit that represents them exactly (`MB`
/// style), so `parse(&format(n)) == n` for every multiple of 1 KiB.
pub fn format(bytes: u64) -> String {
    let (name, per_unit) = [("GB", 1u64 << 30), ("MB", 1 << 20), ("KB", 1 << 10)]
        .into_iter()
        .find(|(_, n)| bytes.is_multiple_of(*n))
        .unwrap_or(("KB", 1 << 10));
    format!("{}{name}", bytes / per_unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every unit of the contract parses, in powers of 1024, with or without the B.
    #[test]
    fn parses_every_unit() {
        assert_eq!(parse("256MB"), Ok(256 << 20));
        assert_eq!(parse("512M"), parse("512MB"));
        assert_eq!(parse("4K"), Ok(4096));
        assert_eq!(parse("2GB"), Ok(2 << 30));
        assert_eq!(parse("0K"), Ok(0));
    }

    /// Bare numbers, fractions, spaces, signs and unknown or lower-case units are refused.
    #[test]
    fn rejects_malformed_sizes() {
        for bad in ["", "256", "MB", "1.5G", "256 MB", "-1M", "+1M", "1mb", "1T", "1B", "1MiB", "1GBs"] {
            let err = parse(bad).unwrap_err();
            assert!(err.ends_with("followed by K, M, G, KB, MB or GB"), "{bad:?}: {err}");
        }
        assert!(parse("99999999999999999999G").is_err());
        assert_eq!(parse("999999999999G").unwrap_err(), "invalid size \"999999999999G\": too large");
    }

    /// Rendering round-trips through the parser.
    #[test]
    fn formats_in_largest_exact_unit() {
        for (bytes, text) in [(256 << 20, "256MB"), (1 << 30, "1GB"), (1536 << 10, "1536KB")] {
            assert_eq!(format(bytes), text);
            assert_eq!(parse(text), Ok(bytes));
        }
    }
}

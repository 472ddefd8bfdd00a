//! Property tests across public parts: config error positions for any
//! layout of the file, and cleanup patterns deleting exactly the names
//! their glob matches on a real directory.

use std::fs;
use std::time::{Duration, SystemTime};

use healthmon::cleanup::{CleanupDir, Selection};
use healthmon::config::{self, ConfigError};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A bad value is reported at its own line and column, whatever
    /// comments, blank lines and spacing come before it.
    #[test]
    fn config_error_names_line_and_column(
        before in prop::collection::vec(prop::sample::select(vec!["", "# [[a comment]] = \"x\"", "   "]), 0..6),
        indent in 0usize..4,
        gap in 0usize..3,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("healthmon.toml");
        let mut text = String::from("[monitor]\n");
        for line in &before {
            text.push_str(line);
            text.push('\n');
        }
        let spaces = " ".repeat(gap);
        text.push_str(&format!("{}check_interval{spaces}={spaces}\"soon\"\n", " ".repeat(indent)));
        fs::write(&path, &text).unwrap();

        let err = config::load(Some(&path)).expect_err("\"soon\" is no duration");
        let ConfigError::Invalid { line, column, .. } = &err.errors()[0] else { panic!("unpositioned: {err}") };
        let expected_column = indent + "check_interval".len() + 2 * gap + 2;
        prop_assert_eq!((*line, *column), (before.len() + 2, expected_column), "{}", text);
    }

    /// A cleanup deletes exactly the aged names its pattern matches, and
    /// keeps every other name and every fresh file.
    #[test]
    fn cleanup_deletes_exactly_the_matching_names(
        names in prop::collection::btree_set("[a-z.]{1,3}(\\.log)?[0-9]?", 1..12),
        pattern in prop::sample::select(vec!["*.log*", "*.log", "a*", "?.log", "[ab]*", "*", ".*", "*[0-9]"]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let aged = SystemTime::now() - Duration::from_secs(8 * 86_400);
        let fresh = dir.path().join("fresh.log");
        fs::write(&fresh, "new").unwrap();
        prop_assume!(names.iter().all(|n| n != "." && n != ".." && n != "fresh.log"));
        for name in &names {
            let path = dir.path().join(name);
            fs::write(&path, "old").unwrap();
            fs::File::options().write(true).open(&path).unwrap().set_modified(aged).unwrap();
        }
        let glob = glob::Pattern::new(pattern).unwrap();
        let cutoff = SystemTime::now() - Duration::from_secs(7 * 86_400);

        let report = CleanupDir::open(dir.path()).unwrap().clean(&Selection { pattern: glob.clone(), cutoff }, false);

        let expected: Vec<&String> = names.iter().filter(|n| glob.matches(n)).collect();
        prop_assert_eq!(report.files, expected.len() as u64);
        for name in &names {
            prop_assert_eq!(dir.path().join(name).exists(), !glob.matches(name), "{} with {}", name, pattern);
        }
        prop_assert!(fresh.exists(), "a fresh file was deleted");
    }
}

//! Entry point for `bench/cleanup.sh`: runs healthmon's cleanup walker on
//! one directory the way the disk check does, so it can be timed against
//! `find -delete`. Usage: `cleanup_bench DIR [PATTERN] [OLDER_THAN_DAYS]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use healthmon::cleanup::{CleanupDir, Selection};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: cleanup_bench DIR [PATTERN] [OLDER_THAN_DAYS]");
        return ExitCode::from(2);
    };
    let pattern = args.next().unwrap_or_else(|| "*".into());
    let days: u64 = match args.next().map(|d| d.parse()) {
        None => 7,
        Some(Ok(days)) => days,
        Some(Err(e)) => {
            eprintln!("cleanup_bench: bad OLDER_THAN_DAYS: {e}");
            return ExitCode::from(2);
        }
    };
    let pattern = match glob::Pattern::new(&pattern) {
        Ok(pattern) => pattern,
        Err(e) => {
            eprintln!("cleanup_bench: bad pattern: {e}");
            return ExitCode::from(2);
        }
    };
    let cutoff = SystemTime::now() - Duration::from_secs(days * 86_400);
    match CleanupDir::open(&dir) {
        Ok(root) => {
            let report = root.clean(&Selection { pattern, cutoff }, false);
            eprintln!(
                "cleanup_bench: deleted {} files ({} bytes), {} errors",
                report.files, report.bytes, report.errors
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cleanup_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

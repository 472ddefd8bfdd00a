//! Entry point for `bench/archive.sh`: archive-then-delete of one
//! directory's aged files the way a `[[disk.cleanup]]` rule with
//! `archive_dir` does it (gzip, fsyncs unless HEALTHMON_BENCH_NO_FSYNC=1).
//! Usage: `archive_bench DIR ARCHIVE_DIR [OLDER_THAN_DAYS]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use healthmon::cleanup::{ArchiveDir, Archiver, CleanupDir, Selection};
use healthmon::config::Compression;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(archive)) = (args.first().map(PathBuf::from), args.get(1).map(PathBuf::from)) else {
        eprintln!("usage: archive_bench DIR ARCHIVE_DIR [OLDER_THAN_DAYS]");
        return ExitCode::from(2);
    };
    let days: u64 = args.get(2).and_then(|d| d.parse().ok()).unwrap_or(7);
    let selection = Selection {
        pattern: glob::Pattern::new("*").expect("a valid glob"),
        cutoff: SystemTime::now() - Duration::from_secs(days * 86_400),
    };
    let opened = CleanupDir::open(&dir).and_then(|root| Ok((root, ArchiveDir::open(&archive, Compression::Gzip)?)));
    match opened {
        Ok((root, archive)) => {
            let mut archiver = Archiver { dir: Some(archive), command: None };
            let report = root.clean_archiving(&selection, Some(&mut archiver), false);
            eprintln!(
                "archive_bench: archived {} files ({} -> {} bytes), {} kept, {} errors",
                report.archived, report.bytes, report.archived_bytes, report.kept, report.errors
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("archive_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

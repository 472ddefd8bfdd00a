//! WAL size and who pins it: every run records the WAL's bytes (the
//! metric's value) and frames; a WAL above `wal_max_size` whose frames a
//! checkpoint cannot copy back because open read transactions pin them is
//! a WARNING naming those readers. With `kill_holders`, readers that have
//! pinned it for `locked_after` are stopped like stale write-lock holders,
//! then a TRUNCATE checkpoint with `busy_timeout = 0` folds the WAL into
//! the database. SQLite itself does the checkpoint: the -wal is never
//! renamed, copied or deleted by healthmon.
//!
//! "Pinned" comes from the -shm header (`mxFrame` against `nBackfill` and
//! the readers' marks), never from the file size: a passive checkpoint
//! never shrinks the file, and a big file can be all backfilled.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::shm::WalIndex;
use super::sqlite::{self, Recovery};
use super::stop::{describe, short, stop_processes};
use super::{DbRun, DbState, WAL_SIZE};
use crate::checks::holders::{self, sidecar};
use crate::human;
use crate::model::{ActionKind, Finding, Severity, Status};
use crate::process::ProcessInfo;

/// One look at the WAL.
struct WalLook {
    bytes: u64,
    /// From the -shm header when it could be read (exact), else estimated from the size.
    index: Option<WalIndex>,
    frames: u64,
}

impl WalLook {
    fn take(db: &Path) -> WalLook {
        let wal = sidecar(db, "-wal");
        let bytes = fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let index = WalIndex::read(&sidecar(db, "-shm")).ok().flatten();
        let frames = match index {
            Some(index) => u64::from(index.max_frame),
            None if bytes > 0 => sqlite::wal_frames(&wal, bytes).unwrap_or(0),
            None => 0,
        };
        WalLook { bytes, index, frames }
    }

    /// `WAL 300.0 MiB, 76800 frames (1200 checkpointed)`.
    fn describe(&self) -> String {
        match self.index {
            Some(index) => {
                format!("WAL {}, {} frames ({} checkpointed)", human::size(self.bytes), self.frames, index.backfilled)
            }
            None => format!("WAL {}, ~{} frames", human::size(self.bytes), self.frames),
        }
    }
}

/// The readers pinning a WAL: their pids and what /proc says about them.
struct Pinners {
    shm: PathBuf,
    bytes: Vec<u64>,
    readers: Vec<ProcessInfo>,
}

impl Pinners {
    /// Who holds a read lock on a reader slot whose mark is below mxFrame.
    fn find(db: &Path, index: &WalIndex) -> io::Result<Pinners> {
        let shm = sidecar(db, "-shm");
        let bytes = index.pinning_lock_bytes();
        let holders = if bytes.is_empty() { Default::default() } else { holders::byte_lock_holders(&shm, &bytes)? };
        let readers = holders.into_keys().filter_map(ProcessInfo::read).collect();
        Ok(Pinners { shm, bytes, readers })
    }

    fn names(&self) -> String {
        self.readers.iter().map(describe).collect::<Vec<_>>().join(", ")
    }
}

impl DbRun<'_> {
    /// The `wal_size` finding, after stopping stale pinning readers when allowed.
    pub(super) fn wal_finding(&self, path: &Path, st: &mut DbState) -> Finding {
        let look = WalLook::take(path);
        let healthy =
            |details: String| Finding::healthy(&self.component, WAL_SIZE, details).with_value(look.bytes as i64);
        let Some(limit) = self.db.wal_max_size.filter(|&limit| look.bytes > limit) else {
            st.pinned.clear();
            return healthy(look.describe());
        };
        let over = format!("{} (above wal_max_size {})", look.describe(), human::size(limit));
        let Some(index) = look.index.filter(WalIndex::has_unbackfilled) else {
            st.pinned.clear();
            return healthy(format!("{over}; every frame is checkpointed, nothing pins it"));
        };
        let pinners = match Pinners::find(path, &index) {
            Ok(pinners) => pinners,
            Err(e) => return healthy(format!("{over}; cannot look for its readers: {e}")),
        };
        remember_pinners(st, &pinners.readers);
        if pinners.readers.is_empty() {
            return healthy(format!("{over}; no reader healthmon can see pins it (a checkpoint can fold it)"));
        }
        let message = format!(
            "{} WAL is {} and cannot be checkpointed: {} frames pinned by the open read transaction(s) of {}",
            self.db.path.display(),
            human::size(look.bytes),
            index.max_frame - index.backfilled,
            pinners.names()
        );
        let pinned = Finding::problem(&self.component, WAL_SIZE, Status::Unhealthy, Severity::Warning, &message, &over)
            .with_value(look.bytes as i64);
        let stale = self.stale_readers(st, &pinners);
        if !self.db.kill_holders || stale.is_empty() || st.integrity_failure.is_some() {
            return pinned;
        }
        if self.dry_run {
            let names = stale.iter().map(|r| format!("reader {}", short(r))).collect::<Vec<_>>().join(", ");
            return pinned.with_action(ActionKind::Other, format!("would stop {names}, then checkpoint (TRUNCATE)"));
        }
        self.unpin(path, &pinners, &stale, &message)
    }

    /// The pinning readers that have pinned it for `locked_after`.
    fn stale_readers(&self, st: &DbState, pinners: &Pinners) -> Vec<ProcessInfo> {
        let stale =
            |r: &&ProcessInfo| st.pinned.get(&r.pid).is_some_and(|since| since.elapsed() >= self.db.locked_after);
        pinners.readers.iter().filter(stale).cloned().collect()
    }

    /// Stops the stale readers, then folds the WAL with a TRUNCATE checkpoint.
    fn unpin(&self, path: &Path, pinners: &Pinners, stale: &[ProcessInfo], message: &str) -> Finding {
        let still_reads = |pid| holders::verify_byte_holder(pid, &pinners.shm, &pinners.bytes);
        let report = stop_processes("reader", stale, &still_reads);
        let checkpoint = Recovery::open_without_waiting(path).and_then(|r| r.checkpoint());
        let after = WalLook::take(path);
        let stopped = format!("{} (pinned for more than {})", report.summary(), human::duration(self.db.locked_after));
        let done = match &checkpoint {
            Ok(cp) if !cp.busy => format!("checkpointed {} frames (TRUNCATE)", cp.checkpointed),
            Ok(cp) => format!("checkpoint (TRUNCATE) busy after {} of {} frames", cp.checkpointed, cp.frames),
            Err(e) => format!("checkpoint failed: {e}"),
        };
        let details = format!("{stopped}; {done}; {} now", after.describe());
        let action = [report.action(), done.clone()].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>();
        let finding = match checkpoint {
            Ok(cp) if !cp.busy => {
                Finding { status: Status::Recovered, ..Finding::healthy(&self.component, WAL_SIZE, details) }
            }
            _ => Finding::problem(&self.component, WAL_SIZE, Status::Unhealthy, Severity::Warning, message, details),
        };
        let kind = if report.signalled() { ActionKind::LockCleared } else { ActionKind::Other };
        finding.with_action(kind, action.join("; ")).with_value(after.bytes as i64)
    }
}

/// Keeps, per pinning reader, since when it has pinned the WAL; readers
/// that no longer pin it are forgotten.
fn remember_pinners(st: &mut DbState, readers: &[ProcessInfo]) {
    let now = Instant::now();
    let mut pinned: HashMap<i32, Instant> = HashMap::new();
    for reader in readers {
        pinned.insert(reader.pid, st.pinned.get(&reader.pid).copied().unwrap_or(now));
    }
    st.pinned = pinned;
}

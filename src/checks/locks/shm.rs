//! The WAL-index header in a database's `-shm` file: how many frames the
//! WAL holds (`mxFrame`), how many a checkpoint has copied back
//! (`nBackfill`), and the readers' marks, from SQLite's documented layout
//! (its walformat page; `WalIndexHdr` and `WalCkptInfo` in `wal.c`):
//!
//! | offset | what |
//! | --- | --- |
//! | 0, 48 | two copies of the 48-byte header; `mxFrame` at +16 |
//! | 96 | `nBackfill` |
//! | 100 | `aReadMark[0..5]` |
//! | 120..128 | lock bytes: write, checkpoint, recover, `READ_LOCK(0..4)` |
//! | 128 | the "DMS" byte every connection holds a read lock on |
//!
//! The integers are in the host's byte order (the file is a shared mapping,
//! never moved between machines). Reading the file opens and closes an fd
//! on it, which would drop POSIX locks of an SQLite connection of this very
//! process: the check holds none on a watched database while it reads.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes of the header that matter here (both copies and the checkpoint info).
const HEADER_LEN: usize = 136;
const HDR_COPY_LEN: usize = 48;
const MX_FRAME: usize = 16;
const N_BACKFILL: usize = 96;
const READ_MARKS: usize = 100;
/// The lock byte of `READ_LOCK(i)` is `READ_LOCK_BASE + i`.
pub const READ_LOCK_BASE: u64 = 123;
/// SQLite's `READMARK_NOT_USED`: a slot no reader is using.
const NOT_USED: u32 = 0xffff_ffff;
/// A header copy that changed while it was read is read again this often.
const TRIES: usize = 5;

/// The parts of the WAL-index header the WAL check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalIndex {
    /// Index of the last valid frame in the WAL (its size in frames).
    pub max_frame: u32,
    /// Frames already copied back into the database.
    pub backfilled: u32,
    /// `aReadMark[1..=4]`: the frame each reader slot reads up to.
    pub read_marks: [u32; 4],
}

impl WalIndex {
    /// Parses the first [`HEADER_LEN`] bytes; `None` when the two header
    /// copies differ (a writer is changing them) or the index is not set up.
    pub fn parse(bytes: &[u8]) -> Option<WalIndex> {
        let bytes = bytes.get(..HEADER_LEN)?;
        if bytes[..HDR_COPY_LEN] != bytes[HDR_COPY_LEN..2 * HDR_COPY_LEN] || bytes[12] == 0 {
            return None;
        }
        let word = |at: usize| u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        Some(WalIndex {
            max_frame: word(MX_FRAME),
            backfilled: word(N_BACKFILL),
            read_marks: [1, 2, 3, 4].map(|i| word(READ_MARKS + 4 * i)),
        })
    }

    /// Reads the header of `shm`, again when it changed mid-read; `Ok(None)`
    /// when it is too short or never settles (the caller tries next cycle).
    pub fn read(shm: &Path) -> io::Result<Option<WalIndex>> {
        let file = File::open(shm)?;
        let mut bytes = [0u8; HEADER_LEN];
        for _ in 0..TRIES {
            match file.read_exact_at(&mut bytes, 0) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            }
            if let Some(index) = WalIndex::parse(&bytes) {
                return Ok(Some(index));
            }
        }
        Ok(None)
    }

    /// The lock bytes of the reader slots (1..=4) whose mark lies below
    /// `mxFrame`: a reader holding one of them keeps every later frame
    /// from being checkpointed. Slot 0 reads the database alone and pins
    /// nothing.
    pub fn pinning_lock_bytes(&self) -> Vec<u64> {
        (1u64..)
            .zip(self.read_marks)
            .filter(|&(_, mark)| mark != NOT_USED && mark < self.max_frame)
            .map(|(slot, _)| READ_LOCK_BASE + slot)
            .collect()
    }

    /// Whether frames remain that no checkpoint has copied back yet.
    pub fn has_unbackfilled(&self) -> bool {
        self.backfilled < self.max_frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(max_frame: u32, backfilled: u32, marks: [u32; 5]) -> Vec<u8> {
        let mut bytes = vec![0u8; HEADER_LEN];
        bytes[12] = 1;
        bytes[MX_FRAME..MX_FRAME + 4].copy_from_slice(&max_frame.to_ne_bytes());
        let copy = bytes[..HDR_COPY_LEN].to_vec();
        bytes[HDR_COPY_LEN..2 * HDR_COPY_LEN].copy_from_slice(&copy);
        bytes[N_BACKFILL..N_BACKFILL + 4].copy_from_slice(&backfilled.to_ne_bytes());
        for (i, mark) in marks.iter().enumerate() {
            bytes[READ_MARKS + 4 * i..READ_MARKS + 4 * i + 4].copy_from_slice(&mark.to_ne_bytes());
        }
        bytes
    }

    /// mxFrame, nBackfill and the marks of slots 1..4 are read from their offsets.
    #[test]
    fn parses_the_documented_offsets() {
        let index = WalIndex::parse(&header(900, 100, [0, 100, 900, NOT_USED, 40])).unwrap();
        assert_eq!(index, WalIndex { max_frame: 900, backfilled: 100, read_marks: [100, 900, NOT_USED, 40] });
        assert!(index.has_unbackfilled());
    }

    /// Only slots 1..4 with a mark below mxFrame pin frames; slot 0, a mark at mxFrame and unused slots do not.
    #[test]
    fn only_marks_below_max_frame_pin() {
        let index = WalIndex::parse(&header(900, 100, [0, 100, 900, NOT_USED, 40])).unwrap();
        assert_eq!(index.pinning_lock_bytes(), vec![124, 127]);
    }

    /// Differing header copies (a writer mid-update) or an uninitialised index give no reading.
    #[test]
    fn torn_or_uninitialised_headers_are_refused() {
        let mut torn = header(900, 0, [0; 5]);
        torn[MX_FRAME] ^= 1;
        assert_eq!(WalIndex::parse(&torn), None);
        let mut uninit = header(900, 0, [0; 5]);
        uninit[12] = 0;
        uninit[HDR_COPY_LEN + 12] = 0;
        assert_eq!(WalIndex::parse(&uninit), None);
        assert_eq!(WalIndex::parse(&[0u8; 10]), None);
    }
}

//! The SQLite side of lock management: a write probe that leaves nothing
//! behind, WAL checkpointing, hot-journal rollback and quick_check.
//!
//! Every connection is opened read-write WITHOUT create, so a missing
//! database is reported and never created. Reading the -wal and -journal
//! headers with plain file I/O is safe: SQLite places its POSIX locks on
//! the database and -shm files only, and closing another file does not
//! drop them.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::LockError;

/// Short, so a writer that is merely busy is not queued behind for long
/// and the check stays well inside its timeout.
const PROBE_BUSY_TIMEOUT: Duration = Duration::from_millis(250);
/// A recovery only runs when no other process has the database open; this
/// covers one that opens it meanwhile.
const RECOVERY_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// The 8 bytes a rollback journal starts with while it is live (hot);
/// SQLite zeroes or deletes them when the transaction ends.
const JOURNAL_MAGIC: [u8; 8] = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];
const WAL_HEADER_LEN: u64 = 32;
const WAL_FRAME_HEADER_LEN: u64 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Writable,
    /// Another connection holds a lock that keeps writers out.
    Busy,
}

fn open(path: &Path, busy_timeout: Duration) -> Result<Connection, LockError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let wrap = |source| LockError::Open { path: path.to_path_buf(), source };
    let conn = Connection::open_with_flags(path, flags).map_err(wrap)?;
    conn.busy_timeout(busy_timeout).map_err(wrap)?;
    Ok(conn)
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(err.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// `BEGIN IMMEDIATE` then `ROLLBACK` at once: takes the write lock for
/// microseconds and writes nothing.
pub fn probe(path: &Path) -> Result<Probe, LockError> {
    let conn = open(path, PROBE_BUSY_TIMEOUT)?;
    let wrap = |source| LockError::Probe { path: path.to_path_buf(), source };
    // Were this the last connection, closing it would checkpoint the WAL
    // into the database and delete it: a probe must not change anything.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(wrap)?;
    match conn.execute_batch("BEGIN IMMEDIATE") {
        Ok(()) => {
            conn.execute_batch("ROLLBACK").map_err(wrap)?;
            Ok(Probe::Writable)
        }
        Err(e) if is_busy(&e) => Ok(Probe::Busy),
        Err(e) => Err(wrap(e)),
    }
}

/// The reply of `PRAGMA wal_checkpoint(TRUNCATE)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Another connection kept the checkpoint from finishing.
    pub busy: bool,
    /// Frames in the WAL, and how many of them are now in the database.
    pub frames: i64,
    pub checkpointed: i64,
}

/// A connection for one recovery; dropped (closed) at the end.
pub struct Recovery {
    conn: Connection,
    path: PathBuf,
}

impl Recovery {
    pub fn open(path: &Path) -> Result<Recovery, LockError> {
        Ok(Recovery { conn: open(path, RECOVERY_BUSY_TIMEOUT)?, path: path.to_path_buf() })
    }

    /// For a database others still have open (after its pinning readers
    /// were stopped): `busy_timeout = 0`, so a checkpoint never waits on,
    /// or blocks, the application's own connections; busy is reported.
    pub fn open_without_waiting(path: &Path) -> Result<Recovery, LockError> {
        Ok(Recovery { conn: open(path, Duration::ZERO)?, path: path.to_path_buf() })
    }

    /// Folds the WAL into the database and truncates it to zero bytes
    /// (SQLite syncs the database before it resets the WAL).
    pub fn checkpoint(&self) -> Result<Checkpoint, LockError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok(Checkpoint { busy: row.get::<_, i64>(0)? != 0, frames: row.get(1)?, checkpointed: row.get(2)? })
            })
            .map_err(|source| LockError::Checkpoint { path: self.path.clone(), source })
    }

    /// Reads the schema: before its first read SQLite rolls back a hot
    /// journal, restoring the last committed state.
    pub fn read(&self) -> Result<(), LockError> {
        self.conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .map_err(|source| LockError::Read { path: self.path.clone(), source })
    }

    /// `PRAGMA quick_check`: empty when the database is sound, else its complaints.
    pub fn quick_check(&self) -> Result<Vec<String>, LockError> {
        let wrap = |source| LockError::QuickCheck { path: self.path.clone(), source };
        let mut stmt = self.conn.prepare("PRAGMA quick_check").map_err(wrap)?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0)).map_err(wrap)?;
        let lines = rows.collect::<Result<Vec<_>, _>>().map_err(wrap)?;
        Ok(lines.into_iter().filter(|line| line != "ok").collect())
    }
}

/// About how many frames a WAL holds, from its size and page size (for
/// dry-run reports; the checkpoint reports the exact number).
pub fn wal_frames(wal: &Path, len: u64) -> io::Result<u64> {
    let mut header = [0u8; 12];
    fs::File::open(wal)?.read_exact(&mut header)?;
    let page_size = u64::from(u32::from_be_bytes([header[8], header[9], header[10], header[11]]));
    Ok(len.saturating_sub(WAL_HEADER_LEN) / (page_size + WAL_FRAME_HEADER_LEN))
}

/// Whether a rollback journal still carries a live header: the mark of an
/// interrupted transaction that SQLite will roll back on the next read.
pub fn journal_is_live(journal: &Path) -> io::Result<bool> {
    let mut magic = [0u8; 8];
    match fs::File::open(journal)?.read_exact(&mut magic) {
        Ok(()) => Ok(magic == JOURNAL_MAGIC),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

//! The monitor's own health: opening the state database so that a broken
//! one never stops supervision (moved aside, never deleted, and replaced;
//! or, when even that fails, an in-memory stand-in), and the findings that
//! say so or that resolve alerts about healthmon itself at start.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};

use crate::model::{Finding, Severity, Status};
use crate::store::{Store, StoreError, STATE_COMPONENT};

/// Component and kind of the alert an invalid configuration raises.
pub const CONFIG_COMPONENT: &str = "config";
pub const CONFIG_METRIC: &str = "config_reload";
/// The kind of the alert naming a state database moved aside.
pub const RECREATED_KIND: &str = "state_recreated";
/// The kind of the alert saying healthmon runs on an in-memory database.
pub const UNAVAILABLE_KIND: &str = "state_unavailable";

/// Opens the state database for the daemon. A damaged file (corrupt, not
/// a database, from a newer healthmon) is moved aside and a new one made;
/// when no file can be used at all, an in-memory one stands in. The
/// finding, if any, is the CRITICAL alert that tells the administrator.
pub fn open_state(path: &Path, now: SystemTime) -> (Store, Option<Finding>) {
    let err = match Store::open(path).and_then(Store::verify) {
        Ok(store) => return (store, None),
        Err(err) => err,
    };
    if !err.is_damage() {
        return in_memory(path, &format!("cannot open the state database {}: {err}", path.display()));
    }
    let kept = match move_aside(path, now) {
        Ok(kept) => kept,
        Err(move_err) => {
            let why = format!(
                "the state database {} is damaged ({err}) and cannot be moved aside: {move_err}",
                path.display()
            );
            return in_memory(path, &why);
        }
    };
    log::error!("state database {} is damaged ({err}); moved aside to {}", path.display(), kept.display());
    match Store::open(path) {
        Ok(store) => {
            let message = format!(
                "the state database {} was damaged ({err}) and is kept as {}; a fresh database was created, \
                 so every worker is desired running again and every silence is gone",
                path.display(),
                kept.display()
            );
            let details = format!("kept={}", kept.display());
            (
                store,
                Some(Finding::problem(
                    STATE_COMPONENT,
                    RECREATED_KIND,
                    Status::Error,
                    Severity::Critical,
                    message,
                    details,
                )),
            )
        }
        Err(new_err) => {
            let why = format!(
                "the state database {} was damaged and is kept as {}, but a new one cannot be created: {new_err}",
                path.display(),
                kept.display()
            );
            in_memory(path, &why)
        }
    }
}

/// The in-memory stand-in and the CRITICAL finding that says why.
fn in_memory(path: &Path, why: &str) -> (Store, Option<Finding>) {
    let message = format!(
        "{why}; running on an in-memory database: supervision and checks go on, but alerts, worker states and \
         silences are lost when healthmon stops. Fix {} and restart healthmon",
        path.display()
    );
    log::error!("{message}");
    let store = Store::in_memory(message.clone()).expect("an in-memory SQLite database always opens");
    let finding = Finding::problem(STATE_COMPONENT, UNAVAILABLE_KIND, Status::Error, Severity::Critical, &message, why);
    (store, Some(finding))
}

/// `health.db` → `health.db.corrupt-20261203T103000Z`, with its `-wal` and
/// `-shm` beside it under the same name, so `sqlite3` can still open the
/// kept copy with its log. Renames only, never over an existing file.
pub fn move_aside(path: &Path, now: SystemTime) -> io::Result<PathBuf> {
    let stamp = corrupt_stamp(now);
    let mut attempt = 0;
    let kept = loop {
        let suffix = if attempt == 0 { String::new() } else { format!(".{attempt}") };
        let kept = suffixed(path, &format!(".corrupt-{stamp}{suffix}"));
        match rename_no_replace(path, &kept) {
            Ok(()) => break kept,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(err) => return Err(err),
        }
    };
    for log_suffix in ["-wal", "-shm"] {
        let from = suffixed(path, log_suffix);
        if from.symlink_metadata().is_ok() {
            rename_no_replace(&from, &suffixed(&kept, log_suffix))?;
        }
    }
    Ok(kept)
}

/// `20261203T103000Z`: UTC, sortable, no characters a shell minds.
fn corrupt_stamp(now: SystemTime) -> String {
    let secs = crate::dbus::types::unix_time(Some(now));
    let text = crate::human::Clock::Utc.time(secs);
    format!("{}Z", text.replace(['-', ':'], "").replace(' ', "T"))
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// rename(2) that fails rather than replace `to` (RENAME_NOREPLACE; on a
/// filesystem without it, a check just before the plain rename).
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            if to.symlink_metadata().is_ok() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            std::fs::rename(from, to)
        }
        Err(errno) => Err(io::Error::from(errno)),
    }
}

/// What the daemon records once at start: a valid configuration runs (so
/// a "configuration reload failed" alert left open by the last run
/// resolves), and the state database's trouble, if any.
pub fn startup_findings(state: Option<Finding>) -> Vec<Finding> {
    let config_ok = Finding::healthy(CONFIG_COMPONENT, CONFIG_METRIC, "started with a valid configuration");
    std::iter::once(config_ok).chain(state).collect()
}

/// A `StoreError` for `--once`, which never moves anything aside: it may
/// run beside a daemon that has the file open.
pub fn once_hint(err: &StoreError) -> String {
    if err.is_damage() {
        format!("{err} (healthmon --once leaves it alone; the daemon moves it aside when it next starts)")
    } else {
        err.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// The kept name has the contract's UTC form.
    #[test]
    fn stamp_is_utc_compact() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_293_800);
        assert_eq!(corrupt_stamp(t), "20261203T103000Z");
    }

    /// Moving aside never replaces a file already there: a second move in
    /// the same second gets another name, and both kept files keep their bytes.
    #[test]
    fn move_aside_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("health.db");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_293_800);
        std::fs::write(&db, b"first").unwrap();
        std::fs::write(suffixed(&db, "-wal"), b"wal").unwrap();
        let kept = move_aside(&db, t).unwrap();
        assert_eq!(kept, dir.path().join("health.db.corrupt-20261203T103000Z"));
        assert_eq!(std::fs::read(suffixed(&kept, "-wal")).unwrap(), b"wal");
        std::fs::write(&db, b"second").unwrap();
        let again = move_aside(&db, t).unwrap();
        assert_ne!(again, kept);
        assert_eq!(std::fs::read(&kept).unwrap(), b"first");
        assert_eq!(std::fs::read(&again).unwrap(), b"second");
        assert!(!db.exists());
    }
}

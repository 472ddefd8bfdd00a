//! The open-file limit: healthmon raises its own soft `RLIMIT_NOFILE` to
//! the hard limit (fork mode holds a pidfd and an output pipe per worker,
//! and the shipped unit's soft limit is 1024), and its workers get the soft
//! limit healthmon started with, as any service would: programs built on
//! select(2) break above 1024.

use std::sync::OnceLock;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// The soft limit healthmon started with, once raised.
static STARTED_WITH: OnceLock<u64> = OnceLock::new();

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns (old soft, new soft).
pub fn raise_nofile() -> nix::Result<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let _ = STARTED_WITH.set(soft);
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok((soft, hard))
}

/// The soft limit a child should get back, if healthmon raised its own.
pub fn child_nofile() -> Option<u64> {
    STARTED_WITH.get().copied()
}

/// Sets the soft `RLIMIT_NOFILE` to `soft` (hard unchanged). Async-signal
/// safe: for a forked child before exec.
pub fn set_soft_nofile(soft: u64) -> std::io::Result<()> {
    let mut limit = nix::libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut limit) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit.rlim_cur = soft.min(limit.rlim_max);
        if nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &limit) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

//! Disk usage the way `df` computes it, and byte counts for people.

use std::path::Path;

use nix::sys::statvfs::{statvfs, Statvfs};

/// Used percent of the filesystem holding `path` (as `df` shows it), for
/// the Prometheus export; `None` when statvfs fails.
pub fn used_percent(path: &Path) -> Option<f64> {
    statvfs(path).ok().map(|st| Usage::of(&st).percent)
}

/// Usage the way `df` computes it: blocks reserved for root count as
/// neither used nor available.
pub struct Usage {
    pub percent: f64,
    /// Bytes in use (all blocks but the free ones, as `df` counts them).
    pub used: u64,
    pub free: u64,
    pub total: u64,
}

impl Usage {
    pub fn of(st: &Statvfs) -> Usage {
        let used = st.blocks().saturating_sub(st.blocks_free());
        let avail = st.blocks_available();
        let percent = if used + avail == 0 { 0.0 } else { used as f64 / (used + avail) as f64 * 100.0 };
        let frsize = st.fragment_size();
        Usage { percent, used: used * frsize, free: avail * frsize, total: st.blocks() * frsize }
    }

    pub fn details(&self) -> String {
        format!(
            "used {:.1}% ({} free of {})",
            self.percent,
            crate::human::size(self.free),
            crate::human::size(self.total)
        )
    }
}

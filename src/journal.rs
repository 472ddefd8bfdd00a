//! journald entries with the HEALTHMON_* fields and the contract's
//! priorities, through the journal's native protocol (so CRITICAL can be
//! priority 2); plain stderr lines when not connected to the journal.
//! PLACEHOLDER: stderr only for now.

/// Syslog priorities the contract uses.
pub mod priority {
    pub const CRIT: u8 = 2;
    pub const ERR: u8 = 3;
    pub const WARNING: u8 = 4;
    pub const NOTICE: u8 = 5;
    pub const INFO: u8 = 6;
}

/// One structured entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub priority: u8,
    pub message: String,
    /// `HEALTHMON_*` (and any other) fields, besides MESSAGE and PRIORITY.
    pub fields: Vec<(&'static str, String)>,
}

pub struct Journal {}

impl Journal {
    /// The journal when stderr is connected to it (or the socket named by
    /// `HEALTHMON_JOURNAL_SOCKET`), else stderr.
    pub fn detect() -> Journal {
        Journal {}
    }

    /// Sends the entry; a failed send falls back to a stderr line.
    pub fn send(&self, entry: &Entry) {
        eprintln!("<{}>{}", entry.priority, entry.message);
    }
}

/// PLACEHOLDER until the native protocol lands.
pub fn finding_entry(f: &crate::model::Finding) -> Option<Entry> {
    if f.status == crate::model::Status::Healthy && f.action.is_none() {
        return None;
    }
    Some(Entry { priority: priority::WARNING, message: format!("{} {}: {}", f.component, f.metric_type, f.details), fields: Vec::new() })
}

/// PLACEHOLDER.
pub fn alert_raised_entry(a: &crate::store::AlertRow, _escalated: bool) -> Entry {
    Entry { priority: priority::WARNING, message: a.message.clone(), fields: Vec::new() }
}

/// PLACEHOLDER.
pub fn alert_resolved_entry(a: &crate::store::AlertRow) -> Entry {
    Entry { priority: priority::INFO, message: format!("resolved: {}", a.message), fields: Vec::new() }
}

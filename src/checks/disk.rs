//! Disk usage (statvfs) with warning/critical thresholds, and safe cleanup
//! of aged files. PLACEHOLDER: to be implemented (issue 2 item 7).

use crate::checks::{Check, CheckContext, CheckError};
use crate::config::DiskSettings;
use crate::model::Finding;

pub struct DiskCheck {
    settings: DiskSettings,
}

impl DiskCheck {
    pub fn new(settings: DiskSettings) -> DiskCheck {
        DiskCheck { settings }
    }
}

impl Check for DiskCheck {
    fn name(&self) -> &'static str {
        "disk"
    }

    fn run(&self, _ctx: &CheckContext) -> Result<Vec<Finding>, CheckError> {
        let _ = &self.settings;
        Err("disk check not implemented yet".into())
    }
}

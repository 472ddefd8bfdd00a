//! Worker units that no configured worker owns: left running by an earlier
//! healthmon whose configuration had a worker this one's has not (removed
//! while healthmon was stopped or restarting, or a pool made smaller). A
//! reload stops a removed worker itself; at start, these are stopped the
//! same way (the unit's own stop: SIGTERM to the whole tree, its
//! `stop_timeout`, SIGKILL to what is left), so that no worker runs on
//! unsupervised and unseen by `healthctl`. Only units healthmon made are
//! touched: named `healthmon-*.service` and described `healthmon worker
//! NAME [...]`.

use std::collections::HashSet;

use crate::systemd::manager::{Manager, ManagerError};

/// The start of the Description healthmon gives a worker's unit.
pub(super) const DESCRIBED: &str = "healthmon worker ";

/// Stops (or, when failed, resets) every worker unit not in `configured`
/// (unit names); returns what was done to which, for the journal.
pub async fn stop(manager: &Manager, configured: &HashSet<String>) -> Result<Vec<String>, ManagerError> {
    let mut done = Vec::new();
    for (name, description, active) in manager.units_named("healthmon-*.service").await? {
        if configured.contains(&name) || !description.starts_with(DESCRIBED) {
            continue;
        }
        if active == "failed" {
            manager.reset_failed(&name).await?;
            done.push(format!("reset the failed {name}: its worker is no longer configured"));
        } else if active != "inactive" {
            manager.stop(&name).await?;
            done.push(format!("stopping {name}: its worker is no longer configured"));
        }
    }
    Ok(done)
}

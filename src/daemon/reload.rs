//! Reloading the configuration (SIGHUP or `Reload()`), and loading it at
//! start-up with the command line's overrides.

use crate::config::{self, ConfigError, Settings};
use crate::dbus::MonitorError;
use crate::model::{Finding, Severity, Status};
use crate::selfcheck::{CONFIG_COMPONENT, CONFIG_METRIC};

use super::{Daemon, Options};

/// The settings from the config file, with `--database` applied.
pub(super) fn load_settings(opts: &Options) -> Result<Settings, ConfigError> {
    let mut settings = config::load(opts.config.as_deref())?;
    if let Some(db) = &opts.database {
        settings.monitor.database = db.clone();
    }
    Ok(settings)
}

impl Daemon {
    /// SIGHUP or `Reload()`: new settings replace the old only if valid;
    /// an invalid file keeps the old ones and raises a WARNING alert that
    /// the next valid reload resolves.
    pub(super) async fn reload(&mut self) -> Result<(), MonitorError> {
        self.notifier.reloading();
        let result = match load_settings(&self.opts) {
            Ok(settings) => {
                self.apply(settings).await;
                let fine = Finding::healthy(CONFIG_COMPONENT, CONFIG_METRIC, "configuration reloaded");
                let summary = self.engine.report(fine).await;
                self.publish(&summary, false).await;
                log::info!("configuration reloaded");
                Ok(())
            }
            Err(err) => {
                let message = format!("configuration reload failed, keeping the running configuration: {err}");
                log::error!("{message}");
                let problem = Finding::problem(
                    CONFIG_COMPONENT,
                    CONFIG_METRIC,
                    Status::Error,
                    Severity::Warning,
                    &message,
                    &message,
                );
                let summary = self.engine.report(problem).await;
                self.publish(&summary, false).await;
                Err(MonitorError::InvalidConfig(message))
            }
        };
        self.notifier.ready();
        result
    }

    async fn apply(&mut self, settings: Settings) {
        if settings.monitor.database != self.settings.monitor.database {
            log::warn!(
                "the database path changed to {}; still using {} until healthmon restarts",
                settings.monitor.database.display(),
                self.settings.monitor.database.display()
            );
        }
        self.engine.reconfigure(&settings, self.opts.dry_run);
        self.supervisor.reconfigure(&settings.workers, self.engine.dry_run()).await;
        self.notifications.reconfigure(settings.notify.as_ref());
        self.settings = settings;
    }
}

//! The errors the D-Bus API returns, named `org.healthmon.Monitor1.Error.*`
//! so a client (and a person reading `busctl` output) can tell them apart.

use zbus::DBusError;

#[derive(Debug, DBusError)]
#[zbus(prefix = "org.healthmon.Monitor1.Error")]
pub enum MonitorError {
    /// A bus-level failure (access denied, no such name, timeouts...).
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The database could not be read or written.
    Database(String),
    /// An argument is out of range (e.g. an alert id below 1).
    InvalidArgument(String),
    /// The new configuration is invalid; the running one stays in force.
    InvalidConfig(String),
    /// Too many requests are already waiting for the check loop.
    Busy(String),
    /// The daemon is stopping and takes no more requests.
    ShuttingDown(String),
    /// No worker of that name is configured.
    UnknownWorker(String),
    /// systemd refused to start, stop or restart a unit worker.
    UnitRefused(String),
    /// A pool's rolling restart stopped at an instance that did not come back up.
    NotUp(String),
}

impl MonitorError {
    /// The error's D-Bus name without the prefix (`Database`, `Busy`, ...),
    /// or `None` for a bus-level error.
    pub fn short_name(&self) -> Option<&'static str> {
        match self {
            MonitorError::ZBus(_) => None,
            MonitorError::Database(_) => Some("Database"),
            MonitorError::InvalidArgument(_) => Some("InvalidArgument"),
            MonitorError::InvalidConfig(_) => Some("InvalidConfig"),
            MonitorError::Busy(_) => Some("Busy"),
            MonitorError::ShuttingDown(_) => Some("ShuttingDown"),
            MonitorError::UnknownWorker(_) => Some("UnknownWorker"),
            MonitorError::UnitRefused(_) => Some("UnitRefused"),
            MonitorError::NotUp(_) => Some("NotUp"),
        }
    }
}

impl From<crate::store::StoreError> for MonitorError {
    fn from(err: crate::store::StoreError) -> MonitorError {
        MonitorError::Database(err.to_string())
    }
}

impl From<crate::workers::ControlError> for MonitorError {
    fn from(err: crate::workers::ControlError) -> MonitorError {
        use crate::workers::ControlError;
        match &err {
            ControlError::EmptyName | ControlError::NameTooLong(_) => MonitorError::InvalidArgument(err.to_string()),
            ControlError::Unknown(_) | ControlError::Pool { .. } => MonitorError::UnknownWorker(err.to_string()),
            ControlError::Systemd { .. } => MonitorError::UnitRefused(err.to_string()),
            ControlError::Gone(_) => MonitorError::ShuttingDown(err.to_string()),
            ControlError::NotUp { .. } => MonitorError::NotUp(err.to_string()),
        }
    }
}

impl From<crate::silences::SilenceError> for MonitorError {
    fn from(err: crate::silences::SilenceError) -> MonitorError {
        MonitorError::InvalidArgument(err.to_string())
    }
}

//! systemd integration: [`notify`] speaks sd_notify to the service manager
//! (READY, STATUS, WATCHDOG, ...), [`manager`] is the one client of its
//! D-Bus API (`org.freedesktop.systemd1`), shared by unit workers,
//! transient worker services and the job lookup at stop.

pub mod manager;
pub mod notify;

pub(crate) use notify::SocketAddress;
pub use notify::{watchdog_interval_from, Notifier};

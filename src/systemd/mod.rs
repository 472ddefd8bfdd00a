//! systemd integration: [`notify`] speaks sd_notify to the service manager
//! (READY, STATUS, WATCHDOG, ...), [`manager`] is the one client of its
//! D-Bus API (`org.freedesktop.systemd1`), shared by unit workers,
//! transient worker services and the job lookup at stop; [`watch`] wakes
//! its waiters when systemd signals that a unit changed.

pub mod manager;
pub mod notify;
pub mod view;
pub mod watch;

pub(crate) use notify::SocketAddress;
pub use notify::{watchdog_interval_from, Notifier};

//! The Unix signals the service loop reacts to: SIGTERM and SIGINT stop it,
//! SIGHUP reloads, and the debug-only test hooks.

use tokio::signal::unix::{signal, Signal, SignalKind};

use super::hooks::Hooks;

/// The signal streams, installed once at start-up so none is missed
/// between loop iterations.
pub(super) struct Signals {
    pub(super) term: Signal,
    pub(super) int: Signal,
    pub(super) hup: Signal,
    pub(super) hooks: Hooks,
}

impl Signals {
    pub(super) fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            hooks: Hooks::from_env()?,
        })
    }
}

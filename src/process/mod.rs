//! Processes healthmon may act on: reading what `ps` would show, pinning a
//! process with a pidfd, the guards every signal passes, and the blocking
//! "SIGTERM, grace, SIGKILL" stop. Worker supervision builds its async stop
//! on the same [`pidfd`] layer and [`group`]; [`limits`] is the fd limit,
//! [`heap`] healthmon's own memory.
//! Needs Linux ≥ 5.3 (pidfd_open).

pub mod group;
pub mod heap;
mod info;
pub mod limits;
pub mod pidfd;
mod stop;

pub use info::{ProcessInfo, ProcessState};
pub use stop::{stop, StopError, Stopped};

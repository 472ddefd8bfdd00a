//! The worker's side of sd_notify in its task: healthmon's own socket
//! (fork mode) bound at the first start and emptied before each, and the
//! messages that arrive (status text, readiness, watchdog pings).

use super::super::notify::Notice;
use super::super::WorkerError;
use super::{lock, Run, Task};

impl Task {
    /// Binds the worker's notify socket once (fork mode, sd_notify keys),
    /// and empties it of what an earlier process left.
    pub(super) async fn bind_notify(&mut self) -> Result<(), WorkerError> {
        if self.notify.is_none() {
            self.notify = self.launcher.notify_socket(&self.w, &self.spec).await?;
        }
        if let Some(socket) = &self.notify {
            socket.clear();
        }
        Ok(())
    }

    /// A message from the worker: its status text, its readiness, a watchdog ping.
    pub(super) fn on_notice(&mut self, notice: Notice, run: &mut Run) {
        if let Some(status) = &notice.status {
            lock(&self.view).status.clone_from(status);
        }
        if run.watch.on_notice(&notice) && !run.adopted {
            log::info!("{}: READY=1", self.w.name);
        }
    }
}

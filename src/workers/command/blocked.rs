//! A worker whose `depends_on` are not all up waits here before a start
//! from nothing (healthmon starting, a reload adding it, an
//! administrator's start or restart), still answering every request.

use super::{Admin, Control, State, Task};

impl Task {
    /// Starts it once its dependencies are up; a stop, a reload or an
    /// administrator's stop may come first.
    pub(super) async fn on_blocked(&mut self) -> State {
        let mut changes = self.board.changes();
        if self.board.not_up(&self.w.depends_on).is_empty() {
            return self.launch(None).await;
        }
        tokio::select! {
            // Shown again with what it still waits for, or started.
            Ok(()) = changes.changed() => State::Blocked,
            control = self.rx.recv() => match control {
                None | Some(Control::Stop) | Some(Control::Leave) => State::Quit,
                // New dependencies, or dry run: look again from the start.
                Some(Control::Update(settings, dry_run)) => {
                    self.update(*settings, dry_run);
                    self.initial().await
                }
                Some(Control::Reset) | Some(Control::Restart(_)) => State::Blocked,
                Some(Control::Admin(Admin::Hold, ack)) => self.admin_done(Admin::Hold, ack, None).await,
                // A start or restart is what it is waiting to do already.
                Some(Control::Admin(_, ack)) => {
                    let _ = ack.send(false);
                    State::Blocked
                }
            },
        }
    }
}

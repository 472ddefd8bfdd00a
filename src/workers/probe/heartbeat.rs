//! `heartbeat_file`: the worker touches a file; its mtime must be younger
//! than `heartbeat_max_age`. A file that does not exist yet is no failure
//! while the worker is inside its `start_timeout`.

use std::time::{Duration, Instant, SystemTime};

use crate::config::Heartbeat;
use crate::human;

use super::Outcome;

/// What one look at the file found, and when it goes stale if it is fresh
/// (so the timer can look again right then instead of up to a whole
/// `health_interval` later).
pub struct Seen {
    pub outcome: Outcome,
    pub stale_at: Option<Instant>,
}

/// Looks at the file; `starting`: the worker is inside its start_timeout.
pub async fn run(heartbeat: &Heartbeat, starting: bool) -> Seen {
    let path = heartbeat.path.clone();
    // A stat can block (NFS); it runs off the runtime threads.
    let modified = tokio::task::spawn_blocking(move || std::fs::metadata(path).and_then(|m| m.modified())).await;
    let shown = heartbeat.path.display();
    let modified = match modified {
        Ok(Ok(modified)) => modified,
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotFound && starting => {
            return Seen { outcome: Outcome::Pending, stale_at: None };
        }
        Ok(Err(err)) => return failed(format!("heartbeat {shown}: {err}")),
        Err(err) => return failed(format!("heartbeat {shown}: {err}")),
    };
    // A file from the future (clock stepped back) counts as just written.
    let age = SystemTime::now().duration_since(modified).unwrap_or_default();
    if age >= heartbeat.max_age {
        let (age, max) = (seconds(age), human::duration(heartbeat.max_age));
        return failed(format!("heartbeat {shown} is {age} old (heartbeat_max_age {max})"));
    }
    Seen { outcome: Outcome::Pass, stale_at: Some(Instant::now() + (heartbeat.max_age - age)) }
}

fn failed(message: String) -> Seen {
    Seen { outcome: Outcome::Fail(message), stale_at: None }
}

/// `7.2 s`: an age to a tenth of a second (the figure the record carries).
fn seconds(age: Duration) -> String {
    format!("{:.1} s", age.as_secs_f64())
}

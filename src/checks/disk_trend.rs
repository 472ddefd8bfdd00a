//! The `disk_forecast` finding of each configured disk path: the used
//! bytes kept in the metrics history (the `value` of its `disk_usage`
//! rows) over `predict_window`, plus the sample taken now, fitted by
//! [`forecast`]. A WARNING when the line reaches 100 % within
//! `predict_horizon`; healthy (resolving it) when it no longer does.
//!
//! Samples from before a cleanup that freed space on that disk (a
//! `recovered` `disk_cleanup` row, or this run's) are left out: across a
//! cleanup the series is a saw-tooth, and a line through it would flap.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::checks::forecast::{self, about, per_hour, Outlook, Sample};
use crate::config::duration_text;
use crate::model::{Finding, Severity, Status};
use crate::store::series::{self, History};

pub const FORECAST: &str = "disk_forecast";
const USAGE: &str = "disk_usage";
const CLEANUP: &str = "disk_cleanup";

/// Forecast settings and where the history is.
#[derive(Debug, Clone)]
pub struct Trend {
    pub history: History,
    pub horizon: Duration,
    pub window: Duration,
}

impl Trend {
    /// The finding for `path` reported under `component`, whose disk has
    /// `used` of `capacity` bytes now; `cleaned_now` when this run's
    /// cleanup freed space on it.
    pub fn finding(&self, path: &Path, component: &str, used: u64, capacity: u64, cleaned_now: bool) -> Finding {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        let (mut samples, note) = if cleaned_now {
            (Vec::new(), " since this run's cleanup")
        } else {
            match self.history(component, now) {
                Ok((samples, cleaned)) => (samples, if cleaned { " since the last cleanup" } else { "" }),
                Err(e) => {
                    log::warn!("disk forecast for {}: cannot read the metrics history: {e}", path.display());
                    (Vec::new(), " (history unreadable)")
                }
            }
        };
        samples.push(Sample { t: now, used: used as f64 });
        let healthy = |details: String| Finding::healthy(component, FORECAST, details);
        match forecast::outlook(&samples, capacity, used, self.window) {
            Outlook::TooFew { have, span } => healthy(format!(
                "no forecast yet{note}: {have} samples over {}s (needs {} over a quarter of predict_window {})",
                span.as_secs(),
                forecast::MIN_SAMPLES,
                duration_text(self.window)
            )),
            Outlook::NotGrowing { rate } if rate < 0.0 => healthy(format!("shrinking ({} less)", per_hour(rate))),
            Outlook::NotGrowing { .. } => healthy("steady".to_string()),
            Outlook::Growing { rate, full_in } => {
                let text = format!("{} full in {} (growing {})", path.display(), about(full_in), per_hour(rate));
                let secs = i64::try_from(full_in.as_secs()).unwrap_or(i64::MAX);
                if full_in > self.horizon {
                    let details = format!("{text}; beyond predict_horizon {}", duration_text(self.horizon));
                    return healthy(details).with_value(secs);
                }
                let details = format!("{text}; fitted over {} samples{note}", samples.len());
                Finding::problem(component, FORECAST, Status::Unhealthy, Severity::Warning, text, details)
                    .with_value(secs)
            }
        }
    }

    /// The used-bytes samples of the window (only those after a cleanup in
    /// it, if any), and whether a cleanup cut the window short.
    fn history(&self, component: &str, now: f64) -> rusqlite::Result<(Vec<Sample>, bool)> {
        let since = (now - self.window.as_secs_f64()) as i64;
        self.history.read(|conn| {
            let cleanup = series::last_since(conn, component, CLEANUP, Status::Recovered.as_str(), since)?;
            // The usage row of the cleanup's own cycle is taken after it: keep it.
            let from = cleanup.unwrap_or(since);
            let values = series::values_since(conn, component, USAGE, from)?;
            let samples = values.into_iter().map(|(t, used)| Sample { t: t as f64, used: used as f64 }).collect();
            Ok((samples, cleanup.is_some()))
        })
    }
}

/// One line per `disk_forecast` finding: `/: / full in about 7 h (growing
/// 2.1 GiB/h)` (the message of a WARNING, else the details), for `Status()`.
pub fn lines<'a>(findings: impl Iterator<Item = &'a Finding>) -> Vec<String> {
    findings
        .filter(|f| f.metric_type == FORECAST)
        .map(|f| {
            let path = f.component.strip_prefix("disk:").unwrap_or(&f.component);
            let text = f.problem.as_ref().map_or(f.details.as_str(), |p| p.message.as_str());
            format!("{path}: {text}")
        })
        .collect()
}

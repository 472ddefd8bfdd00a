//! "When will this disk be full?": a least-squares line through the used
//! bytes of the recent past, and what it says against the capacity. Pure
//! functions of the samples, so they are tested on synthetic series.

use std::time::Duration;

use crate::human;

/// At least this many samples before any forecast: a line through two or
/// three points follows noise.
pub const MIN_SAMPLES: usize = 5;

/// One measurement: unix time in seconds, used bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t: f64,
    pub used: f64,
}

/// The least-squares line `used = slope * t + intercept` (slope in bytes per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
}

/// Fits a line through the samples; `None` for fewer than two distinct times.
/// Times are taken relative to the first sample, so unix times do not cost precision.
pub fn fit(samples: &[Sample]) -> Option<Line> {
    let t0 = samples.first()?.t;
    let n = samples.len() as f64;
    let mean_t = samples.iter().map(|s| s.t - t0).sum::<f64>() / n;
    let mean_u = samples.iter().map(|s| s.used).sum::<f64>() / n;
    let (mut stt, mut stu) = (0.0, 0.0);
    for s in samples {
        let dt = s.t - t0 - mean_t;
        stt += dt * dt;
        stu += dt * (s.used - mean_u);
    }
    if stt <= f64::EPSILON {
        return None;
    }
    let slope = stu / stt;
    Some(Line { slope, intercept: mean_u - slope * (mean_t + t0) })
}

/// What the trend says about one disk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outlook {
    /// Not enough history since the start, or since the last cleanup.
    TooFew { have: usize, span: Duration },
    /// Used space is flat or shrinking (bytes per second, <= 0).
    NotGrowing { rate: f64 },
    /// At this rate (bytes per second) the disk is full in `full_in`.
    Growing { rate: f64, full_in: Duration },
}

/// The outlook from `samples` (oldest first, the current one last) of a
/// disk holding `capacity` bytes (used + available, as `df` counts), of
/// which `used_now` are used. A forecast needs [`MIN_SAMPLES`] spanning at
/// least a quarter of `window`.
pub fn outlook(samples: &[Sample], capacity: u64, used_now: u64, window: Duration) -> Outlook {
    let span = match (samples.first(), samples.last()) {
        (Some(first), Some(last)) => Duration::from_secs_f64((last.t - first.t).max(0.0)),
        _ => Duration::ZERO,
    };
    let line = fit(samples).filter(|_| samples.len() >= MIN_SAMPLES && span >= window / 4);
    let Some(line) = line else { return Outlook::TooFew { have: samples.len(), span } };
    if line.slope <= 0.0 {
        return Outlook::NotGrowing { rate: line.slope };
    }
    let left = capacity.saturating_sub(used_now) as f64;
    Outlook::Growing { rate: line.slope, full_in: Duration::from_secs_f64((left / line.slope).min(1e12)) }
}

/// `about 7 h`, `about 40 min`, `about 3 d`: rounded, as a forecast deserves.
pub fn about(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=89 => format!("about {s} s"),
        90..=5399 => format!("about {} min", (s + 30) / 60),
        5400..=172_799 => format!("about {} h", (s + 1800) / 3600),
        _ => format!("about {} d", (s + 43_200) / 86_400),
    }
}

/// `2.1 GiB/h`.
pub fn per_hour(rate: f64) -> String {
    format!("{}/h", human::size((rate.abs() * 3600.0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    fn series(n: usize, step: f64, start: f64, rate: f64) -> Vec<Sample> {
        (0..n).map(|i| Sample { t: 1.7e9 + i as f64 * step, used: start + rate * i as f64 * step }).collect()
    }

    /// A steady fill is fitted exactly, even at unix-time magnitudes.
    #[test]
    fn fits_a_steady_series() {
        let line = fit(&series(10, 60.0, 100.0 * GIB, 1000.0)).unwrap();
        assert!((line.slope - 1000.0).abs() < 1e-6, "{line:?}");
    }

    /// Noise around a trend still gives the trend; one time alone gives no line.
    #[test]
    fn fits_through_noise_and_refuses_a_single_time() {
        let mut noisy = series(200, 60.0, 10.0 * GIB, 2000.0);
        for (i, s) in noisy.iter_mut().enumerate() {
            s.used += if i % 2 == 0 { 5e6 } else { -5e6 };
        }
        let line = fit(&noisy).unwrap();
        assert!((line.slope - 2000.0).abs() < 50.0, "{line:?}");
        assert_eq!(fit(&[Sample { t: 5.0, used: 1.0 }, Sample { t: 5.0, used: 2.0 }]), None);
    }

    /// 2.1 GiB/h with 14.7 GiB left reads "full in about 7 h (growing 2.1 GiB/h)".
    #[test]
    fn growing_disk_gets_a_time_to_full() {
        let rate = 2.1 * GIB / 3600.0;
        let samples = series(37, 600.0, 50.0 * GIB, rate);
        let used_now = samples.last().unwrap().used as u64;
        let capacity = used_now + (14.7 * GIB) as u64;
        let Outlook::Growing { rate, full_in } = outlook(&samples, capacity, used_now, Duration::from_secs(6 * 3600))
        else {
            panic!("expected a growing outlook")
        };
        assert_eq!(
            format!("full in {} (growing {})", about(full_in), per_hour(rate)),
            "full in about 7 h (growing 2.1 GiB/h)"
        );
    }

    /// A flat or shrinking series forecasts nothing.
    #[test]
    fn shrinking_disk_is_not_growing() {
        let samples = series(20, 60.0, 50.0 * GIB, -100.0);
        assert!(matches!(
            outlook(&samples, (100.0 * GIB) as u64, (49.0 * GIB) as u64, Duration::from_secs(3600)),
            Outlook::NotGrowing { .. }
        ));
    }

    /// Too few samples, or samples over too short a part of the window, give no forecast.
    #[test]
    fn needs_enough_points_over_enough_time() {
        let window = Duration::from_secs(3600);
        let few = series(MIN_SAMPLES - 1, 600.0, 0.0, 1e6);
        assert!(matches!(outlook(&few, u64::MAX, 0, window), Outlook::TooFew { have: 4, .. }));
        let bunched = series(20, 10.0, 0.0, 1e6);
        assert!(matches!(outlook(&bunched, u64::MAX, 0, window), Outlook::TooFew { have: 20, .. }));
    }

    /// Durations are rounded the way people say them.
    #[test]
    fn durations_read_as_estimates() {
        assert_eq!(about(Duration::from_secs(42)), "about 42 s");
        assert_eq!(about(Duration::from_secs(40 * 60 + 10)), "about 40 min");
        assert_eq!(about(Duration::from_secs(7 * 3600 - 600)), "about 7 h");
        assert_eq!(about(Duration::from_secs(3 * 86_400)), "about 3 d");
    }
}

//! Resource limits of a command worker: memory above `max_memory`, or CPU
//! above `max_cpu_percent` of one core, held for `over_for` is a breach
//! (the probe timer then restarts the worker gracefully). A pure state
//! machine, sampled on the worker's `health_interval` timer.

use std::time::Instant;

use crate::config::Limits;
use crate::human;

use super::resources::Usage;

/// One run's (one pid's) limit state.
#[derive(Debug, Default)]
pub struct LimitWatch {
    /// Since when the worker is above a limit.
    over_since: Option<Instant>,
    /// The previous CPU reading, for the rate.
    last_cpu: Option<(Instant, u64)>,
}

impl LimitWatch {
    /// Takes one sample; `Some(figure)` when a limit has been exceeded for
    /// `over_for` (e.g. `memory 612 MiB above max_memory 512 MiB for 3 min`).
    pub fn sample(&mut self, limits: &Limits, now: Instant, usage: Usage) -> Option<String> {
        let cpu = self.cpu_percent(now, usage.cpu_usec);
        let Some(figure) = over(limits, usage.memory_bytes, cpu) else {
            self.over_since = None;
            return None;
        };
        let since = *self.over_since.get_or_insert(now);
        if now.duration_since(since) < limits.over_for {
            return None;
        }
        self.over_since = None;
        Some(format!("{figure} for {}", human::duration(limits.over_for)))
    }

    /// Percent of one core since the previous sample (none on the first).
    fn cpu_percent(&mut self, now: Instant, cpu_usec: u64) -> Option<f64> {
        let previous = self.last_cpu.replace((now, cpu_usec));
        let (then, used) = previous?;
        let wall = now.duration_since(then).as_micros() as f64;
        (wall > 0.0).then(|| cpu_usec.saturating_sub(used) as f64 * 100.0 / wall)
    }
}

/// The first limit `usage` is above, as a figure; memory 0 means "not known".
fn over(limits: &Limits, memory: u64, cpu: Option<f64>) -> Option<String> {
    if let Some(max) = limits.max_memory.filter(|max| memory > *max) {
        return Some(format!("memory {} above max_memory {}", human::size(memory), human::size(max)));
    }
    let (max, cpu) = (limits.max_cpu_percent?, cpu?);
    (cpu > max).then(|| format!("CPU {cpu:.0}% above max_cpu_percent {max}%"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(memory: Option<u64>, cpu: Option<f64>) -> Limits {
        Limits { max_memory: memory, max_cpu_percent: cpu, over_for: Duration::from_secs(60) }
    }

    fn usage(memory_bytes: u64, cpu_usec: u64) -> Usage {
        Usage { memory_bytes, cpu_usec, tasks: 1 }
    }

    /// Memory above the limit counts only once held for over_for; a dip starts over.
    #[test]
    fn memory_held_for_over_for_is_a_breach() {
        let l = limits(Some(512 << 20), None);
        let (mut watch, t0) = (LimitWatch::default(), Instant::now());
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(watch.sample(&l, at(0), usage(612 << 20, 0)), None);
        assert_eq!(watch.sample(&l, at(30), usage(100 << 20, 0)), None, "a dip below");
        assert_eq!(watch.sample(&l, at(40), usage(612 << 20, 0)), None);
        assert_eq!(watch.sample(&l, at(99), usage(612 << 20, 0)), None, "59 s above");
        let breach = watch.sample(&l, at(100), usage(612 << 20, 0));
        assert_eq!(breach.as_deref(), Some("memory 612 MiB above max_memory 512 MiB for 1 min"));
        assert_eq!(watch.sample(&l, at(101), usage(0, 0)), None, "unknown memory is never above");
    }

    /// CPU is a rate between samples, in percent of one core.
    #[test]
    fn cpu_rate_above_the_limit() {
        let l = Limits { over_for: Duration::ZERO, ..limits(None, Some(95.0)) };
        let (mut watch, t0) = (LimitWatch::default(), Instant::now());
        assert_eq!(watch.sample(&l, t0, usage(0, 0)), None, "no rate from one sample");
        let half = watch.sample(&l, t0 + Duration::from_secs(1), usage(0, 500_000));
        assert_eq!(half, None, "50% of a core");
        let busy = watch.sample(&l, t0 + Duration::from_secs(2), usage(0, 1_500_000));
        assert_eq!(busy.as_deref(), Some("CPU 100% above max_cpu_percent 95% for 0 s"));
    }
}

//! Disk usage (statvfs) with warning/critical thresholds, and cleanup of
//! aged files through the safe walker in [`crate::cleanup`].
//!
//! One run first applies the cleanup rules (so the usage recorded is the
//! usage after cleanup), then reports one `disk_usage` finding per
//! configured path. Cleanup findings (`disk_cleanup`) are reported per
//! component: every rule whose directory lives on the same filesystem as a
//! configured path is reported under that path's `disk:PATH`, the others
//! under `disk:DIR`; rules sharing a component share one finding, so one
//! failing rule keeps its alert open while another rule on the same disk
//! succeeds.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::sys::statvfs::statvfs;

use crate::checks::disk_trend::{Trend, FORECAST};
use crate::checks::{Check, CheckContext, CheckError};
use crate::cleanup::{ArchiveDir, Archiver, CleanupDir, CleanupError, CleanupReport, Selection};
use crate::config::{ArchiveSettings, CleanupRule, CleanupWhen, DiskSettings};
use crate::human;
use crate::model::{Action, ActionKind, Finding, Problem, Severity, Status};
use crate::store::series::History;

pub use super::disk_usage::used_percent;
use super::disk_usage::Usage;

const USAGE: &str = "disk_usage";
const CLEANUP: &str = "disk_cleanup";
/// The check's name (its report section).
pub const NAME: &str = "disk";
/// The alert kinds this check reports.
pub const KINDS: &[&str] = &[USAGE, CLEANUP, FORECAST];

pub struct DiskCheck {
    settings: DiskSettings,
    /// The forecast, when on and a history is at hand.
    trend: Option<Trend>,
}

impl DiskCheck {
    /// A check without a forecast (no history to fit).
    pub fn new(settings: DiskSettings) -> DiskCheck {
        DiskCheck { settings, trend: None }
    }

    /// Adds the forecast over the metrics history in `history`, unless
    /// `predict_horizon` is 0s.
    pub fn with_history(mut self, history: History) -> DiskCheck {
        let (horizon, window) = (self.settings.predict_horizon, self.settings.predict_window);
        self.trend = (!horizon.is_zero()).then_some(Trend { history, horizon, window });
        self
    }

    /// The `disk_usage` (used bytes as its value) and `disk_forecast`
    /// findings for one configured path; `findings` so far tell whether
    /// this run's cleanup freed space on it.
    fn path_findings(&self, path: &Path, findings: &[Finding]) -> Vec<Finding> {
        let usage = statvfs(path).map(|st| Usage::of(&st));
        let mut out = vec![self.usage_finding(path, &usage)];
        if let (Some(trend), Ok(usage)) = (&self.trend, usage) {
            let component = component(path);
            let cleaned = findings
                .iter()
                .any(|f| f.component == component && f.metric_type == CLEANUP && f.status == Status::Recovered);
            out.push(trend.finding(path, &component, usage.used, usage.used + usage.free, cleaned));
        }
        out
    }

    /// The `disk_usage` finding for one configured path.
    fn usage_finding(&self, path: &Path, usage: &Result<Usage, nix::Error>) -> Finding {
        let component = component(path);
        let usage = match usage {
            Ok(usage) => usage,
            Err(errno) => {
                let message = format!("cannot read disk usage of {}: {}", path.display(), errno.desc());
                return Finding::problem(component, USAGE, Status::Error, Severity::Warning, message.clone(), message);
            }
        };
        let details = usage.details();
        let used = i64::try_from(usage.used).unwrap_or(i64::MAX);
        let (severity, threshold, label) = if usage.percent >= self.settings.critical_percent {
            (Severity::Critical, self.settings.critical_percent, "critical")
        } else if usage.percent >= self.settings.warning_percent {
            (Severity::Warning, self.settings.warning_percent, "warning")
        } else {
            return Finding::healthy(component, USAGE, details).with_value(used);
        };
        let message = format!("{} is {:.1}% full ({label} at {threshold}%)", path.display(), usage.percent);
        Finding::problem(component, USAGE, Status::Unhealthy, severity, message, details).with_value(used)
    }

    /// Applies one rule: opens its directory safely, checks whether it is
    /// due, cleans. Returns the component it reports under and the outcome.
    fn apply(&self, rule: &CleanupRule, now: SystemTime, dry_run: bool) -> (String, Outcome) {
        let component = self.component_for(&rule.dir);
        match CleanupDir::open(&rule.dir) {
            Ok(dir) => (component, self.clean(rule, &dir, now, dry_run)),
            Err(err) => (component, err.into()),
        }
    }

    fn clean(&self, rule: &CleanupRule, dir: &CleanupDir, now: SystemTime, dry_run: bool) -> Outcome {
        let pattern = match glob::Pattern::new(&rule.pattern) {
            Ok(pattern) => pattern,
            Err(err) => {
                return Outcome::Failed(format!("invalid pattern {:?} for {}: {err}", rule.pattern, rule.dir.display()))
            }
        };
        let before = match (dir.usage(), rule.when) {
            (Ok(st), _) => Some(Usage::of(&st).percent),
            (Err(err), CleanupWhen::Critical) => return err.into(),
            (Err(_), CleanupWhen::Always) => None,
        };
        if rule.when == CleanupWhen::Critical && before.is_some_and(|percent| percent < self.settings.critical_percent)
        {
            return Outcome::NotDue {
                dir: rule.dir.clone(),
                percent: before.unwrap_or_default(),
                critical: self.settings.critical_percent,
            };
        }
        let cutoff = now.checked_sub(rule.older_than).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut archiver = match archiver(&rule.archive, dry_run) {
            Ok(archiver) => archiver,
            Err(err) => return err.into(),
        };
        let report = dir.clean_archiving(&Selection { pattern, cutoff }, archiver.as_mut(), dry_run);
        Outcome::Cleaned {
            dir: rule.dir.clone(),
            report,
            over: before.and_then(|percent| self.over_threshold(percent)),
            into: archive_text(&rule.archive),
        }
    }

    /// `97.0% full before cleanup (critical at 95%)` when `percent` is
    /// over a threshold: a cleanup then repaired a problem (`recovered`,
    /// an auto-recovered record) rather than doing routine housekeeping.
    fn over_threshold(&self, percent: f64) -> Option<String> {
        let (label, threshold) = if percent >= self.settings.critical_percent {
            ("critical", self.settings.critical_percent)
        } else if percent >= self.settings.warning_percent {
            ("warning", self.settings.warning_percent)
        } else {
            return None;
        };
        Some(format!("{percent:.1}% full before cleanup ({label} at {threshold}%)"))
    }

    /// `disk:PATH` of the first configured path on the same filesystem as
    /// the rule directory, else `disk:DIR`. The directory's filesystem is
    /// that of its nearest existing ancestor, so a rule whose directory is
    /// missing reports (and later resolves) under the same component.
    /// Only names are decided here: following symlinks does no harm.
    fn component_for(&self, dir: &Path) -> String {
        let dev = dir.ancestors().find_map(|p| nix::sys::stat::stat(p).ok()).map(|st| st.st_dev);
        let same_fs =
            |path: &&PathBuf| dev.is_some() && nix::sys::stat::stat(path.as_path()).ok().map(|st| st.st_dev) == dev;
        component(self.settings.paths.iter().find(same_fs).map_or(dir, PathBuf::as_path))
    }

    /// The rules' outcomes merged into one `disk_cleanup` finding per
    /// component, in the order the components first appear.
    fn cleanup_findings(&self, dry_run: bool) -> Vec<Finding> {
        let now = SystemTime::now();
        let mut groups: Vec<(String, Vec<Outcome>)> = Vec::new();
        for rule in &self.settings.cleanup {
            let (component, outcome) = self.apply(rule, now, dry_run);
            match groups.iter_mut().find(|(c, _)| *c == component) {
                Some((_, outcomes)) => outcomes.push(outcome),
                None => groups.push((component, vec![outcome])),
            }
        }
        groups.into_iter().map(|(component, outcomes)| merge(component, &outcomes, dry_run)).collect()
    }
}

impl Check for DiskCheck {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(&self, ctx: &CheckContext) -> Result<Vec<Finding>, CheckError> {
        let mut findings = self.cleanup_findings(ctx.dry_run);
        for path in &self.settings.paths {
            let more = self.path_findings(path, &findings);
            findings.extend(more);
        }
        Ok(findings)
    }
}

fn component(path: &Path) -> String {
    format!("disk:{}", path.display())
}

/// What one cleanup rule came to in one run.
enum Outcome {
    /// A `when = "critical"` rule whose filesystem is below critical.
    NotDue { dir: PathBuf, percent: f64, critical: f64 },
    Cleaned {
        dir: PathBuf,
        report: CleanupReport,
        /// What the usage was before, when over a threshold.
        over: Option<String>,
        /// Where copies go (` into DIR`, ` through archive_command`), or empty.
        into: String,
    },
    /// The directory is missing or unsafe, or the rule is unusable.
    Failed(String),
}

impl Outcome {
    /// Files were deleted while the filesystem was over a threshold.
    fn repaired(&self) -> bool {
        matches!(self, Outcome::Cleaned { report, over: Some(_), .. } if report.files > 0)
    }

    /// The action text, when something was (or would be) deleted.
    fn action(&self, dry_run: bool) -> Option<String> {
        match self {
            Outcome::Cleaned { dir, report, into, .. } if report.files > 0 => {
                let verb = match (dry_run, report.archived > 0) {
                    (true, false) => "would delete",
                    (true, true) => "would archive, then delete",
                    (false, false) => "deleted",
                    (false, true) => "archived, then deleted",
                };
                let archive = if report.archived > 0 && !dry_run {
                    format!(", {} in the archive", human::size(report.archived_bytes))
                } else {
                    String::new()
                };
                let into = if report.archived > 0 { into.as_str() } else { "" };
                let files = human::count(report.files, "file", "files");
                Some(format!("{verb} {files} ({}{archive}) from {}{into}", human::size(report.bytes), dir.display()))
            }
            _ => None,
        }
    }

    fn details(&self, dry_run: bool) -> String {
        match self {
            Outcome::NotDue { dir, percent, critical } => {
                format!("{}: not run, filesystem at {percent:.1}% (below critical {critical}%)", dir.display())
            }
            Outcome::Cleaned { dir, report, over, .. } => {
                let mut text = self.action(dry_run).unwrap_or_else(|| format!("{}: nothing to delete", dir.display()));
                if let Some(over) = over.as_ref().filter(|_| report.files > 0) {
                    text = format!("{over}; {text}");
                }
                if report.errors > 0 {
                    let first = report.first_error.as_deref().unwrap_or("");
                    let failed = human::count(report.errors, "entry", "entries");
                    text.push_str(&format!(", {failed} failed (first: {first})"));
                }
                if report.other_filesystem > 0 {
                    let dirs = human::count(report.other_filesystem, "dir", "dirs");
                    text.push_str(&format!(", {dirs} on other filesystems skipped"));
                }
                if report.too_deep > 0 {
                    text.push_str(&format!(", {} too deep skipped", human::count(report.too_deep, "dir", "dirs")));
                }
                text
            }
            Outcome::Failed(message) => message.clone(),
        }
    }
}

/// One finding for all the rules reporting under `component`: `error` with
/// a WARNING if any rule failed, else `recovered` if files were deleted
/// from a filesystem over a threshold, else `healthy` (routine `always`
/// housekeeping included); the actions of all rules in one `action_taken`.
fn merge(component: String, outcomes: &[Outcome], dry_run: bool) -> Finding {
    let join = |parts: Vec<String>| parts.join("; ");
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed(message) => Some(format!("disk cleanup failed: {message}")),
            Outcome::Cleaned { dir, report, .. } if report.kept > 0 => Some(format!(
                "{} aged files in {} kept: archiving failed (first: {})",
                report.kept,
                dir.display(),
                report.first_kept.as_deref().unwrap_or("")
            )),
            _ => None,
        })
        .collect();
    let actions: Vec<String> = outcomes.iter().filter_map(|o| o.action(dry_run)).collect();
    let repaired = outcomes.iter().any(Outcome::repaired);
    let status = match (failures.is_empty(), actions.is_empty() || dry_run) {
        (false, _) => Status::Error,
        (true, false) if repaired => Status::Recovered,
        (true, _) => Status::Healthy,
    };
    let kind = if dry_run { ActionKind::Other } else { ActionKind::DiskCleanup };
    Finding {
        component,
        metric_type: CLEANUP.to_string(),
        status,
        details: join(outcomes.iter().map(|o| o.details(dry_run)).collect()),
        action: (!actions.is_empty()).then(|| Action { kind, taken: join(actions) }),
        problem: (!failures.is_empty()).then(|| Problem { severity: Severity::Warning, message: join(failures) }),
        value: None,
    }
}

/// ` into DIR`, ` through archive_command`, both, or nothing.
fn archive_text(a: &ArchiveSettings) -> String {
    let dir = a.dir.as_ref().map(|d| format!(" into {}", d.display())).unwrap_or_default();
    let command = if a.command.is_some() { " through archive_command" } else { "" };
    format!("{command}{dir}")
}

/// What keeps a copy before deletion, if the rule asks for one. A dry
/// run only counts, so it opens (or creates) nothing.
fn archiver(settings: &ArchiveSettings, dry_run: bool) -> Result<Option<Archiver>, CleanupError> {
    if settings.dir.is_none() && settings.command.is_none() {
        return Ok(None);
    }
    if dry_run {
        return Ok(Some(Archiver { dir: None, command: None }));
    }
    let dir = settings.dir.as_deref().map(|dir| ArchiveDir::open(dir, settings.compression)).transpose()?;
    Ok(Some(Archiver { dir, command: settings.command.clone().map(|argv| (argv, settings.timeout)) }))
}

/// A rule directory that cannot be opened or measured is a finding, never
/// a failure of the whole check.
impl From<CleanupError> for Outcome {
    fn from(err: CleanupError) -> Outcome {
        Outcome::Failed(err.to_string())
    }
}

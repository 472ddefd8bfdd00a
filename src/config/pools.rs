//! `instances = N`: one configured worker becomes the pool NAME@1 ..
//! NAME@N, each instance a worker of its own (component, budget, unit),
//! with `%i` in its command, environment values, working directory and
//! `match` replaced by the instance number. `@` is reserved for instances.

use std::path::PathBuf;

use super::file::WorkerFile;
use super::settings::{CommandWorker, PoolMember, WorkerKind, WorkerSettings};
use super::values::Checker;

/// The largest pool: more is almost surely a typo, and each instance is a
/// task, a unit and a row of its own.
pub const MAX_INSTANCES: u32 = 1000;

/// The name of a pool's instance `n`.
pub fn instance_name(pool: &str, n: u32) -> String {
    format!("{pool}@{n}")
}

/// A worker's pool size, checked (1 to [`MAX_INSTANCES`]); `None` when it
/// is not a pool or the size is wrong (the error is reported here).
pub fn size(name: &str, w: &WorkerFile, c: &mut Checker) -> Option<u32> {
    let n = w.instances.as_ref()?;
    if !(1..=MAX_INSTANCES).contains(n.get_ref()) {
        c.error(&n.span(), format!("workers.{name}.instances must be from 1 to {MAX_INSTANCES}, not {}", n.get_ref()));
        return None;
    }
    // Every instance would look for the same process and none could adopt it.
    if let Some(pattern) = w.match_cmdline.as_ref().filter(|m| *n.get_ref() > 1 && !m.get_ref().contains("%i")) {
        c.error(
            &pattern.span(),
            format!("workers.{name}.match must contain %i in a pool, so each instance adopts its own process"),
        );
    }
    Some(*n.get_ref())
}

/// The workers a configured one stands for: itself, or its `size` instances.
pub fn expand(w: WorkerSettings, size: Option<u32>) -> Vec<WorkerSettings> {
    let (Some(instances), WorkerKind::Command(template)) = (size, &w.kind) else { return vec![w] };
    (1..=instances)
        .map(|n| WorkerSettings {
            name: instance_name(&w.name, n),
            kind: WorkerKind::Command(substituted(template, n)),
            pool: Some(PoolMember { pool: w.name.clone(), instance: n, instances, template: template.clone() }),
            ..w.clone()
        })
        .collect()
}

fn substituted(template: &CommandWorker, n: u32) -> CommandWorker {
    let s = |text: &String| percent_i(text, n);
    CommandWorker {
        command: template.command.iter().map(s).collect(),
        working_dir: template.working_dir.as_ref().map(|dir| PathBuf::from(percent_i(&dir.to_string_lossy(), n))),
        environment: template.environment.iter().map(|(k, v)| (k.clone(), s(v))).collect(),
        user: template.user.clone(),
        match_cmdline: template.match_cmdline.as_ref().map(s),
    }
}

/// `%i` is the instance number and `%%` a literal `%`, as in systemd unit
/// files; any other `%` is left as written.
fn percent_i(text: &str, n: u32) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, chars.peek()) {
            ('%', Some('i')) => {
                chars.next();
                out.push_str(&n.to_string());
            }
            ('%', Some('%')) => {
                chars.next();
                out.push('%');
            }
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `%i` becomes the number, `%%` a percent sign, other `%` stays.
    #[test]
    fn percent_i_substitutes_only_the_instance() {
        assert_eq!(percent_i("--port=80%i", 3), "--port=803");
        assert_eq!(percent_i("100%% %i%", 7), "100% 7%");
        assert_eq!(percent_i("date +%s", 1), "date +%s");
        assert_eq!(percent_i("%%i", 2), "%i");
    }
}

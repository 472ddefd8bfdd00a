//! `depends_on`: each entry names a configured command worker, a pool
//! (all its instances) or one instance of a pool (`api@2`); never the
//! worker itself, never a unit worker (healthmon does not start it), and
//! never in a cycle. Each error is at the offending entry.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use toml::Spanned;

use super::file::WorkerFile;
use super::pools::instance_name;
use super::values::Checker;

/// The configured workers as `depends_on` can name them.
type Workers = BTreeMap<Spanned<String>, Spanned<WorkerFile>>;

/// Each configured worker's dependencies as the worker names they stand
/// for (a pool: every instance), keyed by configured name; `sizes` holds
/// each worker's checked pool size. Errors go to `c`.
pub fn depends_on(
    file: &Workers,
    sizes: &BTreeMap<&str, Option<u32>>,
    c: &mut Checker,
) -> BTreeMap<String, Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<(&str, Range<usize>)>> = BTreeMap::new();
    let mut resolved = BTreeMap::new();
    for (name, worker) in file {
        let Some(list) = &worker.get_ref().depends_on else { continue };
        let name = name.get_ref().as_str();
        let mut names = Vec::new();
        for entry in list.get_ref() {
            let Some((target, expanded)) = resolve(entry.get_ref(), file, sizes) else {
                c.error(
                    &entry.span(),
                    format!("workers.{name}.depends_on: no worker named {:?} is configured", entry.get_ref()),
                );
                continue;
            };
            if target == name {
                c.error(
                    &entry.span(),
                    format!("workers.{name}.depends_on: a worker cannot depend on itself ({:?})", entry.get_ref()),
                );
            } else if is_unit(file, target) {
                c.error(
                    &entry.span(),
                    format!("workers.{name}.depends_on: {target:?} is a unit worker, started by systemd, not by healthmon; order against it in its unit (Before=)"),
                );
            } else {
                graph.entry(name).or_default().push((target, entry.span()));
                names.extend(expanded.into_iter().filter(|n| !names.contains(n)).collect::<Vec<_>>());
            }
        }
        resolved.insert(name.to_string(), names);
    }
    report_cycles(&graph, c);
    resolved
}

/// The configured worker an entry names, and the worker names it stands for.
fn resolve<'f>(entry: &str, file: &'f Workers, sizes: &BTreeMap<&str, Option<u32>>) -> Option<(&'f str, Vec<String>)> {
    if let Some((name, _)) = file.get_key_value(entry) {
        let names = match sizes.get(entry).copied().flatten() {
            Some(n) => (1..=n).map(|i| instance_name(entry, i)).collect(),
            None => vec![entry.to_string()],
        };
        return Some((name.get_ref().as_str(), names));
    }
    let (pool, number) = entry.rsplit_once('@')?;
    let (name, _) = file.get_key_value(pool)?;
    let size = sizes.get(pool).copied().flatten()?;
    let n: u32 = number.parse().ok().filter(|n| (1..=size).contains(n))?;
    Some((name.get_ref().as_str(), vec![instance_name(pool, n)]))
}

fn is_unit(file: &Workers, name: &str) -> bool {
    file.get(name).is_some_and(|w| w.get_ref().command.is_none() && w.get_ref().unit.is_some())
}

/// One error per dependency that closes a cycle, at that entry, naming the cycle.
fn report_cycles(graph: &BTreeMap<&str, Vec<(&str, Range<usize>)>>, c: &mut Checker) {
    let mut done = HashSet::new();
    for start in graph.keys() {
        visit(start, graph, &mut Vec::new(), &mut done, c);
    }
}

/// Depth first from `node`; `path` is the chain that led here.
fn visit<'g>(
    node: &'g str,
    graph: &BTreeMap<&'g str, Vec<(&'g str, Range<usize>)>>,
    path: &mut Vec<&'g str>,
    done: &mut HashSet<&'g str>,
    c: &mut Checker,
) {
    if done.contains(node) {
        return;
    }
    path.push(node);
    for (next, at) in graph.get(node).into_iter().flatten() {
        match path.iter().position(|n| n == next) {
            Some(from) => {
                let cycle = [&path[from..], &[*next]].concat().join(" → ");
                c.error(at, format!("workers.{node}.depends_on: {next:?} closes a dependency cycle: {cycle}"));
            }
            None => visit(next, graph, path, done, c),
        }
    }
    path.pop();
    done.insert(node);
}

//! From file texts to one merged TOML tree. Each file is parsed on its own
//! (a syntax error ends that file), its spans moved into the global offset
//! space of [`Sources`], every value checked against the schema on its own (so
//! all unknown keys and wrong types are reported, not just the first), and
//! what fits is merged in file order by the contract's rules.

use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeString, DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::duplicates;
use super::file::FileConfig;
use super::sources::{Source, Sources};
use super::ConfigError;

type Node<'i> = Spanned<DeValue<'i>>;
type Key<'i> = Spanned<DeString<'i>>;

/// Key paths whose arrays a later file appends to instead of replacing.
const APPENDED: [&str; 2] = ["databases", "disk.cleanup"];
/// The table whose entries a later file replaces whole, never key by key.
const REPLACED_WHOLE: &str = "workers";

/// Parses, schema-checks and merges every source into one [`FileConfig`];
/// every problem found on the way is pushed to `errors`.
pub fn merge_sources(sources: &Sources, errors: &mut Vec<ConfigError>) -> FileConfig {
    let mut merged: Node<'_> = Spanned::new(0..0, DeValue::Table(DeTable::new()));
    for source in sources.iter() {
        let Some(root) = parse(source, sources, errors) else { continue };
        let Some(root) = keep_fitting(shift(root, source.base), &mut Vec::new(), sources, errors) else { continue };
        merged = merge_value(merged, root, "");
    }
    let span = merged.span();
    // Every piece already fitted the schema alone, so this cannot fail in
    // practice; if it ever does, it is still reported, not a panic.
    FileConfig::deserialize(ValueDeserializer::from(merged)).unwrap_or_else(|e| {
        errors.push(sources.error_at(&e.span().unwrap_or(span), e.message()));
        FileConfig::default()
    })
}

/// Parses one file, reporting every syntax error the parser can recover from.
fn parse<'i>(source: &'i Source, sources: &Sources, errors: &mut Vec<ConfigError>) -> Option<Node<'i>> {
    let (root, mut syntax) = DeTable::parse_recoverable(&source.text);
    if syntax.is_empty() {
        let span = root.span();
        return Some(Spanned::new(span, DeValue::Table(root.into_inner())));
    }
    syntax.sort_by_key(|e| e.span().map_or(0, |s| s.start));
    // Keys already reported as defined twice: a repeated table's own keys
    // are not reported again.
    let mut reported: Vec<String> = Vec::new();
    for e in syntax {
        let span = e.span().unwrap_or(0..0);
        let mut message = e.message().to_string();
        if message == "duplicate key" {
            if let Some((key, first)) = duplicates::duplicate(&source.text, span.start) {
                if reported.iter().any(|table| duplicates::inside(&key, table)) {
                    continue;
                }
                let first = sources.locate(first + source.base);
                message = format!("duplicate key {key} (first defined at {first})");
                reported.push(key);
            }
        }
        errors.push(sources.error_at(&(span.start + source.base..span.end + source.base), message));
    }
    None
}

/// Moves every span of a file's tree by the file's base offset.
fn shift(node: Node<'_>, by: usize) -> Node<'_> {
    let span = moved(node.span(), by);
    let value = match node.into_inner() {
        DeValue::Table(table) => DeValue::Table(
            table.into_iter().map(|(k, v)| (Spanned::new(moved(k.span(), by), k.into_inner()), shift(v, by))).collect(),
        ),
        DeValue::Array(array) => DeValue::Array(array.into_iter().map(|v| shift(v, by)).collect()),
        leaf => leaf,
    };
    Spanned::new(span, value)
}

fn moved(span: Range<usize>, by: usize) -> Range<usize> {
    span.start + by..span.end + by
}

/// One step from the root to a value: a key, or an element of an array of tables.
enum Step<'i> {
    Key(Key<'i>),
    Element,
}

/// The part of `node` that fits the schema: tables and arrays of tables are
/// descended into, every other value is checked alone. A table left empty
/// because all its keys were wrong is dropped too, so a misspelt section
/// does not come back as "missing key" errors.
fn keep_fitting<'i>(
    node: Node<'i>,
    path: &mut Vec<Step<'i>>,
    sources: &Sources,
    errors: &mut Vec<ConfigError>,
) -> Option<Node<'i>> {
    let span = node.span();
    match node.into_inner() {
        DeValue::Table(table) if !table.is_empty() => {
            let kept: DeTable<'i> = table
                .into_iter()
                .filter_map(|(key, value)| {
                    path.push(Step::Key(key.clone()));
                    let kept = keep_fitting(value, path, sources, errors);
                    path.pop();
                    kept.map(|value| (key, value))
                })
                .collect();
            (!kept.is_empty()).then(|| Spanned::new(span, DeValue::Table(kept)))
        }
        DeValue::Array(array) if !array.is_empty() && array.iter().all(|v| v.get_ref().is_table()) => {
            let kept: toml::de::DeArray<'i> = array
                .into_iter()
                .filter_map(|element| {
                    path.push(Step::Element);
                    let kept = keep_fitting(element, path, sources, errors);
                    path.pop();
                    kept
                })
                .collect();
            (!kept.is_empty()).then(|| Spanned::new(span, DeValue::Array(kept)))
        }
        leaf => {
            let leaf = Spanned::new(span.clone(), leaf);
            match FileConfig::deserialize(ValueDeserializer::from(wrap(&leaf, path))) {
                Ok(_) => Some(leaf),
                Err(e) => {
                    let mut message = format!("{}: {}", dotted(path), in_plain_words(e.message()));
                    if let Some(hint) = duplicates::did_you_mean(e.message()) {
                        message = format!("{message}; {hint}");
                    }
                    errors.push(sources.error_at(&e.span().unwrap_or(span), message));
                    None
                }
            }
        }
    }
}

/// The key path of a value as an admin writes it, e.g. `disk.cleanup.dir`.
fn dotted(path: &[Step<'_>]) -> String {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|step| match step {
            Step::Key(key) => Some(key.get_ref().as_ref()),
            Step::Element => None,
        })
        .collect();
    keys.join(".")
}

/// serde names Rust types ("expected f64", "expected struct DiskFile");
/// the admin wrote TOML.
fn in_plain_words(message: &str) -> String {
    let message = match message.split_once("expected struct ") {
        Some((before, _struct_name)) => format!("{before}expected a table"),
        None => message.to_owned(),
    };
    message
        .replace("expected f64", "expected a number")
        .replace("expected u32", "expected a whole number from 0 to 4294967295")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table")
}

/// A document holding only `leaf` at `path`, to check it against the schema alone.
fn wrap<'i>(leaf: &Node<'i>, path: &[Step<'i>]) -> Node<'i> {
    path.iter().rev().fold(leaf.clone(), |inner, step| {
        let span = inner.span();
        let outer = match step {
            Step::Key(key) => DeValue::Table(std::iter::once((key.clone(), inner)).collect()),
            Step::Element => DeValue::Array(std::iter::once(inner).collect()),
        };
        Spanned::new(span, outer)
    })
}

/// Combines an earlier value with a later one at key path `path`: tables
/// merge key by key (except workers, replaced whole), `[[databases]]` and
/// `[[disk.cleanup]]` append, anything else is replaced.
fn merge_value<'i>(earlier: Node<'i>, later: Node<'i>, path: &str) -> Node<'i> {
    let span = later.span();
    let merged = match (earlier.into_inner(), later.into_inner()) {
        (DeValue::Array(mut all), DeValue::Array(more)) if APPENDED.contains(&path) => {
            more.into_iter().for_each(|element| all.push(element));
            DeValue::Array(all)
        }
        (DeValue::Table(mut table), DeValue::Table(more)) if !is_worker(path) => {
            for (key, value) in more {
                let child =
                    if path.is_empty() { key.get_ref().to_string() } else { format!("{path}.{}", key.get_ref()) };
                // Remove first so the later key (and its span) is the one kept.
                let value = match table.remove(key.get_ref().as_ref()) {
                    Some(old) => merge_value(old, value, &child),
                    None => value,
                };
                table.insert(key, value);
            }
            DeValue::Table(table)
        }
        (_, later) => later,
    };
    Spanned::new(span, merged)
}

fn is_worker(path: &str) -> bool {
    path.strip_prefix(REPLACED_WHOLE).is_some_and(|rest| rest.starts_with('.'))
}

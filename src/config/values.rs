//! Checks of single values (durations, paths, commands, names), each
//! reporting at the value's position and falling back to a harmless value so
//! validation goes on and every error of a load is found in one pass.

use std::ops::Range;
use std::path::{Component, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::file::{List, Val};
use super::sources::Sources;
use super::{duration, ConfigError};

/// Collects errors while values are turned into settings.
pub struct Checker<'a> {
    sources: &'a Sources,
    pub errors: Vec<ConfigError>,
    /// Valid but useless settings (`--check-config` prints them).
    pub warnings: Vec<String>,
}

/// Whether a zero duration is meaningful for a key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Zero {
    Allowed,
    Forbidden,
}

impl<'a> Checker<'a> {
    pub fn new(sources: &'a Sources) -> Self {
        Checker { sources, errors: Vec::new(), warnings: Vec::new() }
    }

    /// A setting that is valid but does nothing, at its position.
    pub fn warn(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.warnings.push(format!("{}: {}", self.locate(span), message.into()));
    }

    pub fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.errors.push(self.sources.error_at(span, message));
    }

    /// `file:line:column` of a span, for "first given at" notes.
    pub fn locate(&self, span: &Range<usize>) -> String {
        self.sources.locate(span.start).to_string()
    }

    /// A duration key, or `default` when absent.
    pub fn duration(&mut self, key: &str, value: &Val<String>, default: Duration, zero: Zero) -> Duration {
        let Some(value) = value else { return default };
        match duration::parse(value.get_ref()) {
            Ok(d) if d.is_zero() && zero == Zero::Forbidden => {
                self.error(&value.span(), format!("{key} must be longer than 0s"));
                default
            }
            Ok(d) => d,
            Err(message) => {
                self.error(&value.span(), message);
                default
            }
        }
    }

    /// A duration that is off when absent; when given it must be longer than 0s.
    pub fn optional_duration(&mut self, key: &str, value: &Val<String>) -> Option<Duration> {
        value.as_ref().map(|_| self.duration(key, value, Duration::ZERO, Zero::Forbidden)).filter(|d| !d.is_zero())
    }

    /// An absolute path, normalised (no `.`, `//` or trailing `/`).
    pub fn path(&mut self, key: &str, value: &Spanned<String>) -> PathBuf {
        let path = PathBuf::from(value.get_ref());
        if !path.is_absolute() {
            self.error(&value.span(), format!("{key} {:?} must be an absolute path", value.get_ref()));
        }
        path.components().collect()
    }

    pub fn optional_path(&mut self, key: &str, value: &Val<String>) -> Option<PathBuf> {
        value.as_ref().map(|value| self.path(key, value))
    }

    /// A required key; `table` is the span to report when it is absent.
    pub fn required<'v, T>(
        &mut self,
        key: &str,
        table: &str,
        value: &'v Val<T>,
        at: &Range<usize>,
    ) -> Option<&'v Spanned<T>> {
        if value.is_none() {
            self.error(at, format!("{table} is missing the required key {key}"));
        }
        value.as_ref()
    }

    /// An argv: non-empty, no NUL bytes; `argv[0]` absolute or a bare program
    /// name looked up in PATH when it runs (a relative path would depend on
    /// the working directory, so it is refused).
    pub fn command(&mut self, key: &str, value: &Spanned<Vec<Spanned<String>>>) -> Vec<String> {
        let Some(program) = value.get_ref().first() else {
            self.error(&value.span(), format!("{key} must not be empty"));
            return Vec::new();
        };
        let name = program.get_ref();
        if name.is_empty() || (name.contains('/') && !name.starts_with('/')) {
            self.error(
                &program.span(),
                format!("{key}[0] {name:?} must be an absolute path or a program name without '/' (looked up in PATH)"),
            );
        }
        for arg in value.get_ref().iter().filter(|arg| arg.get_ref().contains('\0')) {
            self.error(&arg.span(), format!("{key} arguments must not contain NUL bytes"));
        }
        value.get_ref().iter().map(|arg| arg.get_ref().clone()).collect()
    }

    pub fn optional_command(&mut self, key: &str, value: &List<String>) -> Option<Vec<String>> {
        value.as_ref().map(|value| self.command(key, value))
    }

    /// A list of strings none of which may be empty.
    pub fn strings(&mut self, key: &str, value: &Spanned<Vec<Spanned<String>>>) -> Vec<String> {
        for item in value.get_ref().iter().filter(|item| item.get_ref().trim().is_empty()) {
            self.error(&item.span(), format!("{key} entries must not be empty"));
        }
        value.get_ref().iter().map(|item| item.get_ref().clone()).collect()
    }

    /// A string that must not be empty or blank.
    pub fn non_empty(&mut self, key: &str, value: &Spanned<String>) -> String {
        if value.get_ref().trim().is_empty() {
            self.error(&value.span(), format!("{key} must not be empty"));
        }
        value.get_ref().clone()
    }
}

/// True when a path has a `..` component (used where escaping a directory matters).
pub fn has_parent_component(path: &std::path::Path) -> bool {
    path.components().any(|c| c == Component::ParentDir)
}

//! Finding and reading the config files, and turning byte offsets back into
//! `file:line:column`. Every file gets its own range of one global offset
//! space, so a span alone says which file a value came from after merging.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// One config file's text and where it sits in the global offset space.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    pub base: usize,
}

/// The files of one load, in merge order.
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<Source>,
}

impl Sources {
    /// Reads the main file (skipped when it is the default path and absent)
    /// and every drop-in; read errors are collected, not fatal, so one bad
    /// drop-in does not hide the errors of the others.
    pub fn read(main: &Path, main_required: bool, errors: &mut Vec<ConfigError>) -> Sources {
        let mut sources = Sources::default();
        match std::fs::read_to_string(main) {
            Ok(text) => sources.push(main.to_path_buf(), text),
            Err(e) if e.kind() == ErrorKind::NotFound && !main_required => {}
            Err(e) => errors.push(read_error(main, e)),
        }
        for path in drop_ins(&drop_in_dir(main), errors) {
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push(path, text),
                Err(e) => errors.push(read_error(&path, e)),
            }
        }
        sources
    }

    fn push(&mut self, path: PathBuf, text: String) {
        // One byte of gap keeps an end-of-file span inside its own file.
        let base = self.files.last().map_or(0, |last| last.base + last.text.len() + 1);
        self.files.push(Source { path, text, base });
    }

    pub fn iter(&self) -> impl Iterator<Item = &Source> {
        self.files.iter()
    }

    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }

    /// An error at the start of a global span.
    pub fn error_at(&self, span: &Range<usize>, message: impl Into<String>) -> ConfigError {
        let Location { file, line, column } = self.locate(span.start);
        ConfigError::Invalid { file, line, column, message: message.into() }
    }

    /// Which file, line and column a global offset falls on.
    pub fn locate(&self, offset: usize) -> Location {
        match self.files.iter().rev().find(|f| f.base <= offset) {
            Some(source) => {
                let (line, column) = line_column(&source.text, offset - source.base);
                Location { file: source.path.display().to_string(), line, column }
            }
            // Spans only come from parsed files; this is the "no file" fallback.
            None => Location { file: "<embedded defaults>".into(), line: 1, column: 1 },
        }
    }
}

/// A position in a config file, displayed as `file:line:column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The drop-in directory of a main file: its directory's `conf.d`.
pub fn drop_in_dir(main: &Path) -> PathBuf {
    main.parent().unwrap_or(Path::new("/")).join("conf.d")
}

/// Every `*.toml` in `dir`, in byte-wise name order. Hidden files (editor
/// leftovers such as `.#x.toml`) and directories are skipped; a missing
/// directory is no drop-ins at all.
fn drop_ins(dir: &Path, errors: &mut Vec<ConfigError>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(read_error(dir, e));
            return Vec::new();
        }
    };
    let mut names: Vec<_> =
        entries.flatten().map(|entry| entry.file_name()).filter(|name| is_drop_in_name(name)).collect();
    names.sort();
    names.into_iter().map(|name| dir.join(name)).filter(|path| !path.is_dir()).collect()
}

fn is_drop_in_name(name: &OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    bytes.ends_with(b".toml") && !bytes.starts_with(b".")
}

fn read_error(path: &Path, source: std::io::Error) -> ConfigError {
    ConfigError::Read { file: path.display().to_string(), source }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines and columns are 1-based and count characters, not bytes.
    #[test]
    fn line_column_counts_characters() {
        let text = "a = 1\nä = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 11), (2, 5));
        assert_eq!(line_column(text, text.len()), (3, 1));
    }

    /// Global offsets map back to the file they came from.
    #[test]
    fn error_at_finds_the_file() {
        let mut sources = Sources::default();
        sources.push("/a.toml".into(), "x = 1\n".into());
        sources.push("/b.toml".into(), "y = 2\nz = 3\n".into());
        let at = |offset| sources.locate(offset).to_string();
        assert_eq!(at(4), "/a.toml:1:5");
        assert_eq!(at(7), "/b.toml:1:1");
        assert_eq!(at(13), "/b.toml:2:1");
    }
}

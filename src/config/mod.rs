//! Configuration: the main TOML file plus `conf.d/*.toml` drop-ins, merged
//! in name order, validated into [`Settings`]. Every error names file, line
//! and column, and one load reports all of them.
//!
//! # Layout
//! `sources` finds and reads the files; `tree` parses each one, checks
//! it against the `file` schema and merges them; `validate` (with
//! `workers`, `pools`, `order` and `values`) turns the merged schema into
//! [`Settings`];
//! `render` writes settings back as TOML.

mod defaults;
mod duplicates;
pub mod duration;
mod file;
mod order;
mod pools;
mod probes;
mod render;
mod settings;
mod size;
mod sources;
mod storage;
mod tree;
mod validate;
mod values;
mod warnings;
mod workers;

use std::path::{Path, PathBuf};

pub use defaults::embedded_defaults;
pub use duration::format as format_duration;
/// A duration as the config writes it (`"6h"`), for messages.
pub use duration::format as duration_text;
pub use render::render;
pub use settings::*;
pub use sources::drop_in_dir;
pub use storage::FILE_PLACEHOLDER;

/// Reads `path` (or the system config, [`crate::paths::SYSTEM_CONFIG`]) and
/// the `*.toml` drop-ins of its directory's `conf.d/`. A missing system
/// config means the embedded defaults (plus any drop-ins); a missing
/// explicit `path` is an error.
pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
    match path {
        Some(path) => load_from(path, true),
        None => load_from(Path::new(crate::paths::SYSTEM_CONFIG), false),
    }
}

/// [`load`], plus warnings about what is valid but cannot work or does
/// nothing (a missing program, path or socket; a key a unit worker does
/// not use), for `healthmon --check-config`.
pub fn load_checked(path: Option<&Path>) -> Result<(Settings, Vec<String>), ConfigError> {
    let (main, required) = match path {
        Some(path) => (path, true),
        None => (Path::new(crate::paths::SYSTEM_CONFIG), false),
    };
    let (settings, mut warnings) = load_with_warnings(main, required)?;
    warnings.extend(warnings::missing(&settings));
    Ok((settings, warnings))
}

/// [`load`] with the main file's path and whether it must exist.
fn load_from(main: &Path, main_required: bool) -> Result<Settings, ConfigError> {
    load_with_warnings(main, main_required).map(|(settings, _)| settings)
}

fn load_with_warnings(main: &Path, main_required: bool) -> Result<(Settings, Vec<String>), ConfigError> {
    let mut errors = Vec::new();
    let sources = sources::Sources::read(main, main_required, &mut errors);
    let merged = tree::merge_sources(&sources, &mut errors);
    let mut checker = values::Checker::new(&sources);
    let mut settings = validate::settings(merged, &mut checker);
    errors.append(&mut checker.errors);
    let warnings = std::mem::take(&mut checker.warnings);
    settings.sources = sources.paths();
    sort_by_position(&mut errors, &settings.sources);
    match errors.len() {
        0 => Ok((settings, warnings)),
        1 => Err(errors.remove(0)),
        _ => Err(ConfigError::Many(errors)),
    }
}

/// Read errors first, then by file in merge order, line and column.
fn sort_by_position(errors: &mut [ConfigError], files: &[PathBuf]) {
    errors.sort_by_key(|e| match e {
        ConfigError::Invalid { file, line, column, .. } => {
            (1, files.iter().position(|f| f.display().to_string() == *file), *line, *column)
        }
        _ => (0, None, 0, 0),
    });
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}:{line}:{column}: {message}")]
    Invalid { file: String, line: usize, column: usize, message: String },
    #[error("failed to read {file}: {source}")]
    Read { file: String, source: std::io::Error },
    /// Every error of one load, in file and position order.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ConfigError>),
}

impl ConfigError {
    /// The single errors, whether there was one or many.
    pub fn errors(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Many(all) => all.iter().collect(),
            single => vec![single],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no main file and no drop-ins at all, the embedded defaults apply.
    #[test]
    fn no_file_at_all_gives_embedded_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let settings = load_from(&dir.path().join("healthmon.toml"), false).unwrap();
        assert_eq!(settings, embedded_defaults());
    }

    /// A missing default main file still lets the drop-ins apply on top of the defaults.
    #[test]
    fn drop_ins_apply_without_main_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        let drop_in = dir.path().join("conf.d/10-disk.toml");
        std::fs::write(&drop_in, "[disk]\ncritical_percent = 90\n").unwrap();
        let settings = load_from(&dir.path().join("healthmon.toml"), false).unwrap();
        assert_eq!(settings.sources, [drop_in]);
        assert_eq!(settings.disk.critical_percent, 90.0);
        assert_eq!(settings.disk.paths, embedded_defaults().disk.paths);
    }
}

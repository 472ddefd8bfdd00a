//! Plain words for two parser errors: a key or table defined twice is
//! named, with where it was first defined (the TOML parser says only
//! "duplicate key", and once more for every key of a repeated table), and
//! an unknown key gets the nearest known one ("did you mean").

/// The dotted key defined at byte `offset` of `text`, and the byte
/// offset of its first definition before it, when both can be read from
/// the lines (`[a.b]` headers and `key = value` lines).
pub fn duplicate(text: &str, offset: usize) -> Option<(String, usize)> {
    let lines = lines_with_offsets(text);
    let index = lines.iter().rposition(|(start, _)| *start <= offset)?;
    let key = dotted_at(&lines, index)?;
    let first = (0..index).find(|&i| dotted_at(&lines, i).as_deref() == Some(key.as_str()))?;
    Some((key, lines[first].0))
}

/// Whether `key` lies inside table `table` (`workers.a.command` in `workers.a`).
pub fn inside(key: &str, table: &str) -> bool {
    key.strip_prefix(table).is_some_and(|rest| rest.starts_with('.'))
}

fn lines_with_offsets(text: &str) -> Vec<(usize, &str)> {
    let mut start = 0;
    text.split_inclusive('\n')
        .map(|line| {
            let at = start;
            start += line.len();
            (at, line.trim_end())
        })
        .collect()
}

/// The full dotted name a line defines: a table header's name, or a
/// key under the nearest header above it.
fn dotted_at(lines: &[(usize, &str)], index: usize) -> Option<String> {
    let line = lines[index].1.trim_start();
    if let Some(header) = header(line) {
        return Some(header);
    }
    let key = normalise(line.split_once('=')?.0);
    if key.is_empty() || key.starts_with('#') {
        return None;
    }
    let table = lines[..index].iter().rev().find_map(|(_, l)| header(l.trim_start()));
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key,
    })
}

/// `[a.b]` → `a.b`; an array of tables (`[[x]]`) is never a duplicate.
fn header(line: &str) -> Option<String> {
    if line.starts_with("[[") {
        return None;
    }
    let inner = line.strip_prefix('[')?.split_once(']')?.0;
    Some(normalise(inner))
}

/// `a . "b" ` → `a.b`.
fn normalise(key: &str) -> String {
    key.split('.').map(|part| part.trim().trim_matches('"').trim_matches('\'')).collect::<Vec<_>>().join(".")
}

/// serde's "unknown field `x`, expected one of `a`, `b`" with
/// "; did you mean `a`?" when one known key is close to `x`.
pub fn did_you_mean(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let known = rest.split('`').skip(1).step_by(2);
    let (score, best) = known.map(|k| (strsim::jaro_winkler(unknown, k), k)).max_by(|a, b| a.0.total_cmp(&b.0))?;
    (score > 0.8).then(|| format!("did you mean `{best}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repeated table header is named with its first definition.
    #[test]
    fn finds_the_first_table_header() {
        let text = "[workers.a]\ncommand = [\"x\"]\n\n[workers.a]\ncommand = [\"y\"]\n";
        let second = text.rfind("[workers.a]").unwrap() + 9;
        assert_eq!(duplicate(text, second), Some(("workers.a".to_string(), 0)));
        let key = text.rfind("command").unwrap();
        assert_eq!(duplicate(text, key), Some(("workers.a.command".to_string(), 12)));
        assert!(inside("workers.a.command", "workers.a") && !inside("workers.ab", "workers.a"));
    }

    /// A key given twice in one table is named with the line of the first.
    #[test]
    fn finds_the_first_key() {
        let text = "[disk]\npaths = [\"/\"]\npaths = [\"/x\"]\n";
        assert_eq!(duplicate(text, text.rfind("paths").unwrap()), Some(("disk.paths".to_string(), 7)));
    }

    /// A near miss gets the nearest known key; a far one gets nothing.
    #[test]
    fn suggests_close_keys_only() {
        let message = "unknown field `check_intervl`, expected one of `check_interval`, `database`";
        assert_eq!(did_you_mean(message).as_deref(), Some("did you mean `check_interval`?"));
        assert_eq!(did_you_mean("unknown field `zzz`, expected one of `paths`, `cleanup`"), None);
    }
}

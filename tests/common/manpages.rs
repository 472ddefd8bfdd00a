//! Reading man page sources and clap `--help` output for tests/manpages.rs:
//! just enough roff (the `.SH` sections, `.TP` tags, font macros and the
//! escapes the pages use) to compare a page with what it documents.

use std::collections::BTreeSet;

/// The long option named on each option line of a clap `--help`.
pub fn help_flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .filter_map(|line| line.split([' ', ',']).find(|word| word.starts_with("--") && word.len() > 2))
        .map(str::to_owned)
        .collect()
}

/// The commands a clap `--help` lists under "Commands:", without `help`.
pub fn help_commands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// A macro's arguments, split like roff does (double quotes group words).
pub fn macro_args(rest: &str) -> Vec<String> {
    let (mut args, mut current, mut quoted) = (Vec::new(), String::new(), false);
    for ch in rest.chars() {
        match ch {
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => {
                if !current.is_empty() {
                    args.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(ch),
        }
    }
    if !current.is_empty() {
        args.push(current);
    }
    args
}

/// A source line as the reader sees it: font macros joined, escapes resolved.
pub fn plain(line: &str) -> String {
    let text = match line.split_once(' ') {
        Some((".B" | ".I", rest)) => macro_args(rest).join(" "),
        Some((".BR" | ".RB" | ".IR" | ".RI" | ".BI" | ".IB", rest)) => macro_args(rest).concat(),
        _ => line.to_owned(),
    };
    let mut text = text;
    for (escape, replacement) in [
        ("\\fB", ""),
        ("\\fI", ""),
        ("\\fR", ""),
        ("\\fP", ""),
        ("\\-", "-"),
        ("\\(->", "→"),
        ("\\(dq", "\""),
        ("\\(aq", "'"),
        ("\\(ga", "`"),
        ("\\&", ""),
        ("\\ ", " "),
        ("\\e", "\\"),
    ] {
        text = text.replace(escape, replacement);
    }
    text
}

/// The `.SH` sections of a page: (heading, source lines).
pub fn sections(page: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in page.lines() {
        match line.strip_prefix(".SH ") {
            Some(heading) => out.push((heading.trim_matches('"').to_owned(), Vec::new())),
            None => {
                if let Some((_, lines)) = out.last_mut() {
                    lines.push(line.to_owned());
                }
            }
        }
    }
    out
}

pub fn section<'a>(sections: &'a [(String, Vec<String>)], heading: &str) -> &'a [String] {
    let found = sections.iter().find(|(h, _)| h == heading);
    &found.unwrap_or_else(|| panic!("no section {heading}")).1
}

/// The tags of a section's `.TP` paragraphs, as plain text.
pub fn tags(lines: &[String]) -> Vec<String> {
    lines.windows(2).filter(|pair| pair[0] == ".TP").map(|pair| plain(&pair[1])).collect()
}

/// The whole section as plain text, one line per source line.
pub fn text(lines: &[String]) -> String {
    lines.iter().map(|line| plain(line)).collect::<Vec<_>>().join("\n")
}

/// (table heading as the page writes it, key) for each setting of the shipped
/// sample config, where every setting is commented out as `#key = value`.
pub fn sample_config_keys(sample: &str) -> BTreeSet<(String, String)> {
    let mut table = String::new();
    let mut keys = BTreeSet::new();
    for line in sample.lines() {
        let setting = line.strip_prefix('#').unwrap_or(line);
        if setting.starts_with('[') {
            let name = setting.trim().trim_matches(['[', ']']);
            let name = match name.split_once('.') {
                Some(("workers", _)) => "workers.NAME",
                _ => name,
            };
            table = if setting.starts_with("[[") { format!("[[{name}]]") } else { format!("[{name}]") };
        } else if let Some((key, _)) = setting.split_once('=') {
            let key = key.trim();
            if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !setting.starts_with(' ') {
                keys.insert((table.clone(), key.to_owned()));
            }
        }
    }
    keys
}

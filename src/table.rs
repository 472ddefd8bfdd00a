//! How people-facing views are laid out: a [`View`] (width, `--full`,
//! clock, now, style) and a borderless [`Table`] fitted to it by display
//! width (unicode-width: emoji and wide characters count double), as
//! `systemctl list-units` does: one line per row, the widest column cut
//! with "…" to the terminal's width, nothing cut with `-l/--full` or when
//! the output is not a terminal. Render functions take the view, so tests
//! render at any width with fixed data.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::human::Clock;
use crate::report::Style;

/// What a rendering needs to know about where it is shown.
#[derive(Debug, Clone)]
pub struct View {
    /// Columns to fit in; `None` = no limit (a pipe, a file).
    pub width: Option<usize>,
    /// `-l/--full`: never cut a cell.
    pub full: bool,
    pub clock: Clock,
    /// Unix time "now" for ages ("3 min ago").
    pub now: i64,
    pub style: Style,
}

impl View {
    /// The view of this process's stdout: `COLUMNS` if set (as clap and
    /// systemctl read it), else the terminal's width, else no limit.
    pub fn detect(full: bool, utc: bool) -> View {
        View {
            width: terminal_width(),
            full,
            clock: if utc { Clock::Utc } else { Clock::local() },
            now: crate::dbus::types::unix_time(Some(std::time::SystemTime::now())),
            style: Style::detect(),
        }
    }

    /// A fixed view for tests and goldens: plain style, UTC.
    pub fn fixed(width: usize, now: i64) -> View {
        View { width: Some(width), full: false, clock: Clock::Utc, now, style: Style::Plain }
    }

    /// The width a table may take, `None` when cells are never cut.
    fn limit(&self) -> Option<usize> {
        if self.full {
            None
        } else {
            self.width
        }
    }
}

fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()) {
        return (columns > 0).then_some(columns);
    }
    terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| usize::from(w.0))
}

/// A table with a header and one line per row. One column (`flex`,
/// usually the free text at the end) takes what is left and is cut first.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    flex: usize,
    /// Columns never cut (times, ids): a cut time reads as a wrong one.
    kept: Vec<usize>,
}

/// Space between columns.
const GAP: usize = 2;
/// The free-text column is cut down to this before any other column is.
const FLEX_FLOOR: usize = 16;
/// No column is cut below its header or this.
const FLOOR: usize = 6;

impl Table {
    /// A table whose last column is the one that shrinks.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            flex: header.len() - 1,
            kept: Vec::new(),
        }
    }

    /// Never cuts column `index`.
    pub fn keep(mut self, index: usize) -> Table {
        self.kept.push(index);
        self
    }

    /// Makes column `index` the one that shrinks instead of the last.
    pub fn flex(mut self, index: usize) -> Table {
        self.flex = index;
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines (no trailing spaces), each starting with
    /// `indent` spaces and, unless `--full`, no wider than the view.
    pub fn render(&self, view: &View, indent: usize) -> String {
        let cut = view.limit().map(|w| w.saturating_sub(indent));
        let lines: Vec<Vec<String>> = std::iter::once(&self.header)
            .chain(&self.rows)
            .map(|row| row.iter().map(|c| one_line_text(c, cut.is_some())).collect())
            .collect();
        let natural: Vec<usize> = (0..self.header.len())
            .map(|i| lines.iter().map(|row| row.get(i).map_or(0, |c| c.width())).max().unwrap_or(0))
            .collect();
        let widths = match cut {
            Some(limit) => self.fit(natural, limit),
            None => natural,
        };
        let pad = " ".repeat(indent);
        let mut out = String::new();
        for row in &lines {
            let mut line = pad.clone();
            for (i, width) in widths.iter().enumerate() {
                let cell = truncate(row.get(i).map_or("", String::as_str), *width);
                line.push_str(&cell);
                line.push_str(&" ".repeat(width - cell.width() + GAP));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Column widths that fit `limit`: the flex column gives way first
    /// (down to [`FLEX_FLOOR`]), then the widest of the others, one
    /// column at a time, never below its header or [`FLOOR`]. What still
    /// does not fit overflows rather than lose a whole column.
    fn fit(&self, mut widths: Vec<usize>, limit: usize) -> Vec<usize> {
        let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
        let natural = widths.clone();
        let floor = |i: usize| match i {
            _ if self.kept.contains(&i) => natural[i],
            _ if i == self.flex => FLEX_FLOOR,
            _ => FLOOR.max(self.header[i].width()),
        };
        let mut excess = total(&widths).saturating_sub(limit);
        let flex_room = widths[self.flex].saturating_sub(floor(self.flex));
        let take = excess.min(flex_room);
        widths[self.flex] -= take;
        excess -= take;
        while excess > 0 {
            let widest = (0..widths.len()).filter(|&i| widths[i] > floor(i)).max_by_key(|&i| (widths[i], i));
            let Some(i) = widest else { break };
            widths[i] -= 1;
            excess -= 1;
        }
        widths
    }
}

/// `text` cut to `width` display columns, ending in "…" when cut.
fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = ch.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(ch);
        used += w;
    }
    out.push('…');
    out
}

/// A cell on one line: line breaks (a crash alert's last output lines)
/// become " ⏎ " when cells are cut, so each row stays one line.
fn one_line_text(text: &str, cut: bool) -> String {
    if cut {
        text.trim_end().replace('\n', " ⏎ ")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&["ID", "NAME", "MESSAGE"]);
        t.row(vec!["1".into(), "disk:/".into(), "used 97.0% of 20 GiB, over the critical threshold of 95%".into()]);
        t.row(vec!["22".into(), "ghost".into(), "down".into()]);
        t
    }

    /// Columns line up; the last column is cut with "…" to the width.
    #[test]
    fn fits_the_width_and_cuts_the_flex_column() {
        let text = sample().render(&View::fixed(40, 0), 2);
        assert_eq!(text, "  ID  NAME    MESSAGE\n  1   disk:/  used 97.0% of 20 GiB, ove…\n  22  ghost   down\n");
        assert!(text.lines().all(|l| l.chars().count() <= 40), "{text}");
    }

    /// With --full nothing is cut.
    #[test]
    fn full_cuts_nothing() {
        let mut view = View::fixed(40, 0);
        view.full = true;
        let text = sample().render(&view, 0);
        assert!(text.contains("over the critical threshold of 95%"), "{text}");
    }
}

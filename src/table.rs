//! How people-facing views are laid out: a [`View`] (width, `--full`,
//! clock, now, style) and a borderless [`Table`] fitted to it, as
//! `systemctl list-units` does: one line per row, the widest column cut
//! with "…" to the terminal's width, nothing cut with `-l/--full` or when
//! the output is not a terminal. Render functions take the view, so tests
//! render at any width with fixed data.

use comfy_table::{ColumnConstraint, ContentArrangement, Row, TableStyle};

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
}

/// Space between columns.
const GAP: u16 = 2;

impl Table {
    /// A table whose last column is the one that shrinks.
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new(), flex: header.len() - 1 }
    }

    /// Makes column `index` the one that shrinks instead of the last.
    pub fn flex(mut self, index: usize) -> Table {
        self.flex = index;
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines (no trailing spaces), each starting with
    /// `indent` spaces and, unless `--full`, no wider than the view.
    pub fn render(&self, view: &View, indent: usize) -> String {
        let mut table = comfy_table::Table::new();
        table.load_style(TableStyle::new());
        let cut = view.limit().map(|w| w.saturating_sub(indent));
        match cut {
            Some(width) => {
                table.set_content_arrangement(ContentArrangement::Dynamic);
                table.set_width(u16::try_from(width).unwrap_or(u16::MAX));
                table.set_truncation_indicator("…");
            }
            None => {
                table.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        let one_line = |cells: &[String]| {
            let mut row = Row::from(cells.iter().map(|c| one_line_text(c, cut.is_some())).collect::<Vec<_>>());
            if cut.is_some() {
                row.max_height(1);
            }
            row
        };
        table.set_header(one_line(&self.header));
        for cells in &self.rows {
            table.add_row(one_line(cells));
        }
        let last = self.header.len() - 1;
        for (i, column) in table.column_iter_mut().enumerate() {
            column.set_padding((0, if i == last { 0 } else { GAP }));
            if i != self.flex {
                column.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
        let pad = " ".repeat(indent);
        table.lines().map(|line| format!("{pad}{}\n", line.trim_end())).collect()
    }
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
        assert_eq!(
            text,
            "  ID  NAME    MESSAGE\n  1   disk:/  used 97.0% of 20 GiB, ove…\n  22  ghost   down\n"
        );
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

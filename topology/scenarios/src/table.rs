//! The text tables of every scenario's report, and the millisecond helper they share.
//!
//! Owns [`Table`] (columns with a title, an alignment and a least width; a column grows to its
//! widest cell; rows of a side-by-side comparison of runs; a cap on the rows, with a line
//! saying how many more the JSON has) and [`ms`]. Every table is indented two spaces, one
//! space between columns, no space at the end of a line.
//!
//! It never decides what a report says: callers give the cells, already formatted.

use std::fmt::Write as _;
use std::time::Duration;

use ants_router::time::Timestamp;

/// A time as nanoseconds, for [`ms`]: virtual time since the start of a run ([`Timestamp`]),
/// a span ([`Duration`]), or nanoseconds as the applications' logs keep them (`u64`).
pub trait Nanos {
    /// The nanoseconds.
    fn nanos(self) -> u128;
}

impl Nanos for u64 {
    fn nanos(self) -> u128 {
        u128::from(self)
    }
}

impl Nanos for Timestamp {
    fn nanos(self) -> u128 {
        u128::from(self.as_nanos())
    }
}

impl Nanos for Duration {
    fn nanos(self) -> u128 {
        self.as_nanos()
    }
}

/// Milliseconds of `t`, for reports.
pub fn ms(t: impl Nanos) -> f64 {
    t.nanos() as f64 / 1e6
}

#[derive(Clone, Debug)]
struct Column {
    title: String,
    right: bool,
    width: usize,
}

/// A text table: columns, then rows of cells, written with [`Table::write`].
#[derive(Clone, Debug, Default)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
    /// How many rows [`Table::rows_at_most`] left out, and what they are.
    left_out: Option<(usize, String)>,
}

impl Table {
    /// A table without columns yet.
    pub fn new() -> Self {
        Table::default()
    }

    /// Adds a left-aligned column (text) at least `width` characters wide.
    pub fn left(self, title: &str, width: usize) -> Self {
        self.column(title, false, width)
    }

    /// Adds a right-aligned column (numbers) at least `width` characters wide.
    pub fn right(self, title: &str, width: usize) -> Self {
        self.column(title, true, width)
    }

    /// A table of `columns` (title, right-aligned), each as wide as its widest cell.
    pub fn with_columns(columns: &[(&str, bool)]) -> Self {
        columns
            .iter()
            .fold(Table::new(), |t, &(title, right)| t.column(title, right, 0))
    }

    /// Adds a column.
    pub fn column(mut self, title: &str, right: bool, width: usize) -> Self {
        self.columns.push(Column {
            title: title.to_string(),
            right,
            width: width.max(title.chars().count()),
        });
        self
    }

    /// Adds a row; cells beyond the columns are dropped, missing ones are empty.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = cells.into_iter().map(Into::into).collect();
        row.resize(self.columns.len(), String::new());
        for (c, cell) in self.columns.iter_mut().zip(&row) {
            c.width = c.width.max(cell.chars().count());
        }
        self.rows.push(row);
    }

    /// Adds a row comparing runs side by side: `what`, then `cell` of each of `runs`.
    pub fn compare<R>(
        &mut self,
        what: impl Into<String>,
        runs: &[&R],
        cell: impl Fn(&R) -> String,
    ) {
        let cells = std::iter::once(what.into()).chain(runs.iter().map(|r| cell(r)));
        self.row(cells);
    }

    /// Adds the first `max` of `rows`; if there were more, the table ends with a line saying
    /// how many more `what` there are (all of them in the JSON).
    pub fn rows_at_most(
        &mut self,
        rows: impl IntoIterator<Item = Vec<String>>,
        max: usize,
        what: &str,
    ) {
        let mut rows = rows.into_iter();
        for r in rows.by_ref().take(max) {
            self.row(r);
        }
        let more = rows.count();
        if more > 0 {
            self.left_out = Some((more, what.to_string()));
        }
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the header line and the rows.
    pub fn write(&self, out: &mut String) {
        self.write_with_break(out, self.rows.len(), "");
    }

    /// Writes the header line and the rows, with `text` (whole lines) after the first `after`
    /// rows: one table, aligned throughout, around a remark on its first rows.
    pub fn write_with_break(&self, out: &mut String, after: usize, text: &str) {
        self.line(out, self.columns.iter().map(|c| c.title.as_str()));
        for (i, r) in self.rows.iter().enumerate() {
            if i == after {
                out.push_str(text);
            }
            self.line(out, r.iter().map(String::as_str));
        }
        if after >= self.rows.len() {
            out.push_str(text);
        }
        if let Some((more, what)) = &self.left_out {
            let _ = writeln!(
                out,
                "  ... and {more} more {what} (all of them with --json)"
            );
        }
    }

    fn line<'a>(&self, out: &mut String, cells: impl Iterator<Item = &'a str>) {
        let mut s = String::from(" ");
        for (c, cell) in self.columns.iter().zip(cells) {
            let w = c.width;
            let _ = if c.right {
                write!(s, " {cell:>w$}")
            } else {
                write!(s, " {cell:<w$}")
            };
        }
        out.push_str(s.trim_end());
        out.push('\n');
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        self.write(&mut out);
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_grow_to_their_widest_cell() {
        let mut t = Table::new().left("node", 6).right("n", 3);
        t.row(["a", "1"]);
        t.row(["longer name", "22"]);
        assert_eq!(
            t.to_string(),
            "  node          n\n  a             1\n  longer name  22\n"
        );
        let mut h = Table::new().left("", 4).right("x", 2);
        h.row(["a", "1"]);
        h.row(["b", "2"]);
        let mut out = String::new();
        h.write_with_break(&mut out, 1, "-\n");
        assert_eq!(out, "        x\n  a     1\n-\n  b     2\n");
    }

    #[test]
    fn comparisons_and_capped_rows() {
        let mut t = Table::with_columns(&[("", false), ("a", true), ("b", true)]);
        t.compare("twice", &[&1, &2], |n| (n * 2).to_string());
        assert_eq!(t.to_string(), "        a b\n  twice 2 4\n");
        let mut c = Table::with_columns(&[("n", true)]);
        c.rows_at_most((0..5).map(|n| vec![n.to_string()]), 2, "numbers");
        assert_eq!(
            c.to_string(),
            "  n\n  0\n  1\n  ... and 3 more numbers (all of them with --json)\n"
        );
    }

    #[test]
    fn milliseconds_of_every_kind_of_time() {
        assert_eq!(ms(1_500_000u64), 1.5);
        assert_eq!(ms(Duration::from_millis(20)), 20.0);
        assert_eq!(ms(Timestamp::ZERO + Duration::from_micros(2500)), 2.5);
    }
}

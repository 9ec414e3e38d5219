//! `ovom query`: run a SQL file or statement on the warehouse and print a table.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use ovom_duckdb::duckdb::types::Value as DuckValue;
use ovom_duckdb::duckdb::Connection;

/// A query's column names and rows, as text.
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// `FILE_OR_SQL`: an existing file's text, or else the argument itself.
pub fn sql_text(file_or_sql: &str) -> Result<String> {
    let path = Path::new(file_or_sql);
    if file_or_sql.len() < 4096 && path.is_file() {
        return std::fs::read_to_string(path)
            .map_err(|e| anyhow!("reading {}: {e}", path.display()));
    }
    Ok(file_or_sql.to_owned())
}

pub fn run(conn: &Connection, sql: &str) -> Result<Table> {
    match statements(sql) {
        0 => bail!("the query is empty: give a SQL statement or a .sql file"),
        1 => {}
        n => bail!("`ovom query` runs one statement; this text holds {n}: run them one at a time"),
    }
    let mut stmt = conn
        .prepare(sql)
        .map_err(|e| anyhow!("preparing the query: {}", message(e)))?;
    let mut rows = stmt
        .query([])
        .map_err(|e| anyhow!("running the query: {}", message(e)))?;
    let mut out = vec![];
    let mut width = 0;
    while let Some(row) = rows.next().map_err(|e| anyhow!("{}", message(e)))? {
        width = row.as_ref().column_count();
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            cells.push(show(
                row.get::<_, DuckValue>(i)
                    .map_err(|e| anyhow!("{}", message(e)))?,
            ));
        }
        out.push(cells);
    }
    drop(rows);
    let columns = (0..stmt.column_count().max(width))
        .map(|i| {
            stmt.column_name(i)
                .map(|s| s.to_string())
                .unwrap_or_default()
        })
        .collect();
    Ok(Table { columns, rows: out })
}

/// DuckDB's own message, without the generic error code its error carries
/// underneath ("Error code 1: Unknown error code").
pub fn message(e: ovom_duckdb::duckdb::Error) -> String {
    match e {
        ovom_duckdb::duckdb::Error::DuckDBFailure(_, Some(m)) => m,
        other => other.to_string(),
    }
}

/// How many statements a SQL text holds: `;` outside quotes and comments
/// separates them; empty ones (blanks, comments) do not count.
pub fn statements(sql: &str) -> usize {
    let (mut count, mut content) = (0, false);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                content = true;
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for d in chars.by_ref() {
                    if last == '*' && d == '/' {
                        break;
                    }
                    last = d;
                }
            }
            ';' => {
                count += usize::from(content);
                content = false;
            }
            c if c.is_whitespace() => {}
            _ => content = true,
        }
    }
    count + usize::from(content)
}

/// A cell as the terminal shows it: control characters escaped (`\n`,
/// `\t`, `\u{1b}`), so data cannot move the cursor or break the table.
fn printable(cell: &str) -> String {
    if !cell.chars().any(char::is_control) {
        return cell.to_owned();
    }
    cell.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn show(v: DuckValue) -> String {
    match ovom_duckdb::from_duck(v) {
        ovom_core::ports::Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

impl Table {
    pub fn render(&self) -> String {
        let columns: Vec<String> = self.columns.iter().map(|c| printable(c)).collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| printable(c)).collect())
            .collect();
        let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let mut s = line(&columns);
        s.push('\n');
        s.push_str(
            &widths
                .iter()
                .map(|w| "-".repeat(*w))
                .collect::<Vec<_>>()
                .join("-+-"),
        );
        s.push('\n');
        for row in &rows {
            s.push_str(&line(row));
            s.push('\n');
        }
        s.push_str(&format!("({} rows)\n", rows.len()));
        s
    }
}

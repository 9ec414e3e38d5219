//! `ovom query`: run a SQL file or statement on the warehouse and print a table.

use std::path::Path;

use anyhow::{Context, Result};
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
            .with_context(|| format!("reading {}", path.display()));
    }
    Ok(file_or_sql.to_owned())
}

pub fn run(conn: &Connection, sql: &str) -> Result<Table> {
    let mut stmt = conn.prepare(sql).context("preparing the query")?;
    let mut rows = stmt.query([]).context("running the query")?;
    let mut out = vec![];
    let mut width = 0;
    while let Some(row) = rows.next()? {
        width = row.as_ref().column_count();
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            cells.push(show(row.get::<_, DuckValue>(i)?));
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

fn show(v: DuckValue) -> String {
    match ovom_duckdb::from_duck(v) {
        ovom_core::ports::Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

impl Table {
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &self.rows {
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
        let mut s = line(&self.columns);
        s.push('\n');
        s.push_str(
            &widths
                .iter()
                .map(|w| "-".repeat(*w))
                .collect::<Vec<_>>()
                .join("-+-"),
        );
        s.push('\n');
        for row in &self.rows {
            s.push_str(&line(row));
            s.push('\n');
        }
        s.push_str(&format!("({} rows)\n", self.rows.len()));
        s
    }
}

//! `ovom status`: the latest executions, newest first, with where and why
//! the failed ones failed.

use std::fmt::Write as _;

use anyhow::Result;
use ovom_core::ports::{Value, Warehouse};

/// One execution as `ovom status` shows it: a row of
/// `audit/recent_executions`, read by column name.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ExecutionRow {
    pub execution_id: String,
    pub state_machine: String,
    pub logical_date: String,
    pub status: String,
    pub started_at: String,
    pub duration_ms: String,
    pub redrive_count: i64,
    pub parent: String,
    pub failed_state: String,
    pub error: String,
    pub cause: String,
}

/// The `limit` latest executions, newest first.
pub fn recent(wh: &mut dyn Warehouse, limit: u32) -> Result<Vec<ExecutionRow>> {
    Ok(wh
        .query_table(
            ovom_local::sql::file("audit/recent_executions")?,
            &[("limit", Value::Int(limit.into()))],
        )?
        .read()?)
}

/// The blood tests waiting for their patient's first record: a row of
/// `audit/pending_tests`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Pending {
    pub tests: i64,
    pub oldest_delivery: String,
    pub first_wait_until: String,
}

/// What `audit/pending_tests` counts.
pub fn pending(wh: &mut dyn Warehouse) -> Result<Pending> {
    let mut rows: Vec<Pending> = wh
        .query_table(ovom_local::sql::file("audit/pending_tests")?, &[])?
        .read()?;
    rows.pop()
        .ok_or_else(|| anyhow::anyhow!("audit/pending_tests returned no row"))
}

/// The line under the table when tests wait for their patient.
pub fn render_pending(p: &Pending) -> String {
    if p.tests == 0 {
        return String::new();
    }
    format!(
        "pending: {} blood test{} waiting for their patient's first record (delivered from {}; the first is rejected unknown_patient after {} unless its patient arrives)\n",
        p.tests,
        if p.tests == 1 { "" } else { "s" },
        p.oldest_delivery,
        p.first_wait_until
    )
}

/// A table for the terminal; under each failed execution, its error.
pub fn render(rows: &[ExecutionRow]) -> String {
    if rows.is_empty() {
        return "no executions yet: `ovom run` or `ovom backfill` start them\n".to_owned();
    }
    let header = [
        "execution",
        "day",
        "status",
        "started (UTC)",
        "ms",
        "redrives",
        "failed state",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.execution_id.clone(),
                r.logical_date.clone(),
                r.status.clone(),
                r.started_at.clone(),
                r.duration_ms.clone(),
                r.redrive_count.to_string(),
                r.failed_state.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut s = String::new();
    let line = |s: &mut String, row: &[&str]| {
        let parts: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(s, "{}", parts.join("  ").trim_end());
    };
    line(&mut s, &header);
    for (row, r) in cells.iter().zip(rows) {
        line(&mut s, &row.each_ref().map(String::as_str));
        if !r.error.is_empty() {
            let cause: String = r.cause.chars().take(300).collect();
            let _ = writeln!(s, "    {}: {cause}", r.error);
        }
    }
    s
}

//! `ovom report`: one self-contained HTML page about the warehouse's runs.
//!
//! Everything the page shows is read by the queries under
//! `crates/local/sql/reports/report_*.sql`, each row by its columns' names, into the
//! types of [`data`] ([`load`]); [`render`] then lays the page out as
//! `maud` templates, a pure function of [`ReportData`]: inline CSS
//! (`style.css`) and inline SVG, no script, font, stylesheet or image from
//! anywhere else. The templates escape every value they are given, so no
//! value from the warehouse can become markup.
//!
//! The page holds the headline counts, a grid of logical days × the daily
//! state machine's top-level states coloured by the latest execution of each
//! day, rows loaded and rejects by reason over the same days, the latest
//! quality checks, the slowest steps, and the recent failed executions.
//!
//! - `data.rs`: the rows the page is made of, and how they are read;
//! - `geometry.rs`: the day axis, its labels, and the value axes' ticks;
//! - `format.rs`: numbers, durations, times and statuses as the page writes them;
//! - `page.rs`: the page, its header and tiles;
//! - `charts.rs`: the grid of runs and the two charts over the same days;
//! - `tables.rs`: the failures, quality checks, step durations and slowest runs.

mod charts;
mod data;
mod format;
mod geometry;
mod page;
mod tables;

use std::path::Path;

use anyhow::{bail, Context, Result};

pub use data::{
    checks_of, failed_check, load, resolve_states, CheckResult, CheckRun, Day, Execution, Failure,
    Quality, ReportData, SlowRun, StateRun, StepDuration, Totals,
};
pub use format::{duration, thousands};
pub use geometry::{nice_ticks, MAX_DAYS};
pub use page::render;

/// `ovom report`: read the warehouse (read-only) and write the page to
/// `out`. Returns a line saying what was written.
pub fn run(warehouse: &Path, out: &Path) -> Result<String> {
    if !warehouse.is_file() {
        bail!(
            "no warehouse at {}: run `ovom run` first",
            warehouse.display()
        );
    }
    refuse_warehouse_as_output(warehouse, out)?;
    let mut wh = ovom_duckdb::DuckWarehouse::open_read_only(warehouse)
        .map_err(|e| ovom_local::pipeline::open_error(warehouse, e))?;
    ovom_local::pipeline::check_ovom_warehouse(
        &mut wh,
        Some(warehouse),
        ovom_local::pipeline::Access::Read,
    )?;
    let now = chrono::Utc::now().naive_utc();
    let data = load(&mut wh, &warehouse.display().to_string(), now)
        .with_context(|| format!("reading the run history of {}", warehouse.display()))?;
    let html = render(&data);
    write_atomically(out, html.as_bytes()).with_context(|| format!("writing {}", out.display()))?;
    Ok(format!(
        "wrote {} ({} days, {} fact rows, {} failed execution{} listed, {} kB)",
        out.display(),
        data.days.len(),
        thousands(data.totals.fact_rows),
        data.failures.len(),
        if data.failures.len() == 1 { "" } else { "s" },
        html.len().div_ceil(1024)
    ))
}

/// The report must never land on the warehouse or its write-ahead log
/// (by the same name, another spelling of it, or a link to it).
fn refuse_warehouse_as_output(warehouse: &Path, out: &Path) -> Result<()> {
    let mut wal = warehouse.as_os_str().to_owned();
    wal.push(".wal");
    for (what, file) in [
        ("warehouse", warehouse.to_path_buf()),
        ("warehouse's write-ahead log", wal.into()),
    ] {
        let same = match (std::fs::metadata(&file), std::fs::metadata(out)) {
            (Ok(a), Ok(b)) => {
                use std::os::unix::fs::MetadataExt;
                a.dev() == b.dev() && a.ino() == b.ino()
            }
            _ => resolved(&file) == resolved(out),
        };
        if same {
            bail!(
                "--out {} is the {what} {}: the report is written to a file of its own (e.g. --out report.html)",
                out.display(),
                file.display()
            );
        }
    }
    Ok(())
}

/// A path with its folder resolved (the file itself may not exist yet).
fn resolved(path: &Path) -> Option<std::path::PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

/// Write a file whole or not at all: a temporary file beside it, renamed
/// over it once written.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

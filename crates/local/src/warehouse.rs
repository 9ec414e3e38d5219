//! The warehouse file itself: what makes a DuckDB file an ovom warehouse,
//! and what a command says when it cannot open one.

use std::collections::BTreeSet;
use std::path::Path;

use ovom_core::ports::Warehouse;
use ovom_core::sql::{self, Dialect};
use ovom_core::TaskError;
use ovom_duckdb::DuckWarehouse;

use crate::error::{LocalError, Refusal};

/// What a command does with the warehouse file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `run`, `backfill`, `redrive`: a file with no table becomes a warehouse.
    Write,
    /// `status`, `query`, `report`: the file must be a warehouse already.
    Read,
}

/// Refuse, before anything is written, a DuckDB file that is not an ovom
/// warehouse: one holding tables of which none is ovom's (its tables would
/// be mixed with ours), or, to a reader, one with no table. A file holding
/// some of ovom's tables is one (a process killed while it created the
/// schema leaves part of it).
pub fn check_ovom_warehouse(
    wh: &mut DuckWarehouse,
    path: Option<&Path>,
    access: Access,
) -> Result<(), LocalError> {
    let ours = ovom_tables()?;
    #[derive(serde::Deserialize)]
    struct Table {
        table_name: String,
    }
    let tables: Vec<String> = wh
        .query_table(crate::sql::file("audit/main_tables")?, &[])?
        .read::<Table>()?
        .into_iter()
        .map(|t| t.table_name)
        .collect();
    let shown = path.map_or_else(|| "the warehouse".to_owned(), |p| p.display().to_string());
    if tables.is_empty() {
        return match access {
            Access::Write => Ok(()),
            Access::Read => Err(Refusal::EmptyFile { shown }.into()),
        };
    }
    if tables.iter().any(|t| ours.contains(t)) {
        return Ok(());
    }
    let listed: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
    let more = if tables.len() > listed.len() {
        ", …"
    } else {
        ""
    };
    Err(Refusal::ForeignFile {
        shown,
        count: tables.len(),
        listed: format!("{}{more}", listed.join(", ")),
    }
    .into())
}

/// The tables the schema files create, by name.
fn ovom_tables() -> Result<BTreeSet<String>, TaskError> {
    let mut names = BTreeSet::new();
    for ddl in sql::schema(Dialect::DuckDb)?
        .into_iter()
        .chain(crate::sql::schema())
    {
        for line in ddl.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["CREATE", "TABLE", "IF", "NOT", "EXISTS", name, ..] = words.as_slice() {
                names.insert(name.trim_end_matches('(').to_owned());
            }
        }
    }
    Ok(names)
}

/// Why a warehouse file could not be opened; a file another process holds
/// is said to be in use (DuckDB lets one process write it at a time).
pub fn open_error(warehouse: &Path, e: TaskError) -> LocalError {
    let path = warehouse.to_path_buf();
    match e {
        TaskError::WarehouseBusy(detail) => Refusal::InUse { path, detail },
        cause => Refusal::CannotOpen {
            path,
            cause: Box::new(cause),
        },
    }
    .into()
}

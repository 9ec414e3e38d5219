//! The SQL only the local runtime runs, on DuckDB: the run history (on AWS
//! it is Step Functions'), the readers of it, and the report's queries. The
//! tasks' SQL, which both engines run, is `ovom_core::sql`.
//!
//! * `schema/`: the run history's tables, created when `ovom` opens the
//!   warehouse for writing (never on Redshift);
//! * `audit/`: what the runtime records and reads back (start, end, state
//!   runs, redrive, the days a backfill loaded);
//! * `reports/`: `ovom run`'s summary and `ovom report`'s page.

use ovom_core::sql::{Library, Sql};
use ovom_core::TaskError;

/// (name without `.sql`, text) of every file under the crate's `sql/`
/// folder, sorted by name; a test keeps the list equal to the folder.
static FILES: &[(&str, &str)] = &[
    (
        "audit/abort_unfinished",
        include_str!("../sql/audit/abort_unfinished.sql"),
    ),
    (
        "audit/add_new_columns",
        include_str!("../sql/audit/add_new_columns.sql"),
    ),
    (
        "audit/backfill_loaded_days",
        include_str!("../sql/audit/backfill_loaded_days.sql"),
    ),
    (
        "audit/branch_runs",
        include_str!("../sql/audit/branch_runs.sql"),
    ),
    (
        "audit/execution_count",
        include_str!("../sql/audit/execution_count.sql"),
    ),
    (
        "audit/execution_days",
        include_str!("../sql/audit/execution_days.sql"),
    ),
    (
        "audit/execution_ended",
        include_str!("../sql/audit/execution_ended.sql"),
    ),
    (
        "audit/execution_lookup",
        include_str!("../sql/audit/execution_lookup.sql"),
    ),
    (
        "audit/execution_redriven",
        include_str!("../sql/audit/execution_redriven.sql"),
    ),
    (
        "audit/execution_started",
        include_str!("../sql/audit/execution_started.sql"),
    ),
    (
        "audit/latest_unresolved_failure",
        include_str!("../sql/audit/latest_unresolved_failure.sql"),
    ),
    (
        "audit/main_tables",
        include_str!("../sql/audit/main_tables.sql"),
    ),
    (
        "audit/pending_tests",
        include_str!("../sql/audit/pending_tests.sql"),
    ),
    (
        "audit/recent_executions",
        include_str!("../sql/audit/recent_executions.sql"),
    ),
    (
        "audit/state_input",
        include_str!("../sql/audit/state_input.sql"),
    ),
    (
        "audit/state_run",
        include_str!("../sql/audit/state_run.sql"),
    ),
    (
        "audit/state_run_count",
        include_str!("../sql/audit/state_run_count.sql"),
    ),
    (
        "reports/report_day_states",
        include_str!("../sql/reports/report_day_states.sql"),
    ),
    (
        "reports/report_days",
        include_str!("../sql/reports/report_days.sql"),
    ),
    (
        "reports/report_failures",
        include_str!("../sql/reports/report_failures.sql"),
    ),
    (
        "reports/report_headline",
        include_str!("../sql/reports/report_headline.sql"),
    ),
    (
        "reports/report_last_execution",
        include_str!("../sql/reports/report_last_execution.sql"),
    ),
    (
        "reports/report_quality",
        include_str!("../sql/reports/report_quality.sql"),
    ),
    (
        "reports/report_rejects_per_day",
        include_str!("../sql/reports/report_rejects_per_day.sql"),
    ),
    (
        "reports/report_rows_per_day",
        include_str!("../sql/reports/report_rows_per_day.sql"),
    ),
    (
        "reports/report_slowest_runs",
        include_str!("../sql/reports/report_slowest_runs.sql"),
    ),
    (
        "reports/report_step_durations",
        include_str!("../sql/reports/report_step_durations.sql"),
    ),
    (
        "schema/executions",
        include_str!("../sql/schema/executions.sql"),
    ),
    (
        "schema/state_runs",
        include_str!("../sql/schema/state_runs.sql"),
    ),
];

const LIBRARY: Library = Library {
    folder: "crates/local/sql",
    files: FILES,
};

/// The statement of local SQL file `name` (e.g. `audit/state_run`).
pub fn file(name: &str) -> Result<Sql, TaskError> {
    LIBRARY.file(name)
}

/// The run history's tables, in the order they are created.
pub fn schema() -> impl Iterator<Item = Sql> {
    LIBRARY.under("schema/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_every_file_of_the_folder() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let mut found = vec![];
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let name = path.strip_prefix(&root).unwrap().with_extension("");
                    found.push(name.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        found.sort();
        let listed: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(found, listed);
        assert!(file("audit/state_run").is_ok());
        assert!(file("audit/nothing").is_err());
    }
}

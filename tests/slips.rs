//! An operator's slips: commands given by mistake (a wrong folder, a typo
//! in a flag, a report written onto the warehouse, another program's DuckDB
//! file) are refused, saying what is wrong, and change nothing.

use std::path::Path;

use crate::operator::{day_log, day_patients, good_tests, ovom_within_deadline, D1};

/// An operator's slip: a command given in a folder set up by `setup`; it
/// must fail saying `says`, leave the files `unchanged` byte for byte and
/// create none of `absent`.
struct Slip {
    name: &'static str,
    setup: fn(&Path),
    args: &'static [&'static str],
    says: &'static [&'static str],
    unchanged: &'static [&'static str],
    absent: &'static [&'static str],
    /// Texts the output must not hold.
    never: &'static [&'static str],
}

/// A data root of one day and a warehouse that loaded it, in `dir`.
fn loaded(dir: &Path) {
    let root = dir.join("data");
    day_patients(&root, D1, &[1]);
    day_log(&root, D1, "part-00000.json", &good_tests(3));
    let (ok, out) =
        ovom_within_deadline(dir, &["run", "--data", "data", "--warehouse", "w.duckdb"]);
    assert!(ok, "{out}");
}

/// A DuckDB file holding a table of its own, beside a data root.
fn foreign(dir: &Path) {
    day_patients(&dir.join("data"), D1, &[1]);
    let conn = ovom_duckdb::duckdb::Connection::open(dir.join("other.duckdb")).unwrap();
    conn.execute_batch(
        "CREATE TABLE patients_export (id INTEGER); INSERT INTO patients_export VALUES (1)",
    )
    .unwrap();
}

/// A DuckDB file with no table.
fn empty_duckdb(dir: &Path) {
    ovom_duckdb::duckdb::Connection::open(dir.join("empty.duckdb")).unwrap();
}

fn slips() -> Vec<Slip> {
    vec![
        Slip {
            name: "a_typo_in_data_on_a_loaded_warehouse",
            setup: loaded,
            args: &["run", "--data", "dta", "--warehouse", "w.duckdb"],
            says: &["the data root dta does not exist", "nothing was run"],
            unchanged: &["w.duckdb"],
            absent: &["dta"],
            never: &[],
        },
        Slip {
            name: "a_missing_data_root_with_the_default_warehouse",
            setup: |dir| {
                loaded(dir);
                std::fs::rename(dir.join("w.duckdb"), dir.join("ovom.duckdb")).unwrap();
                std::fs::rename(dir.join("data"), dir.join("elsewhere")).unwrap();
            },
            args: &["run"],
            says: &["the data root data does not exist"],
            unchanged: &["ovom.duckdb"],
            absent: &["data"],
            never: &[],
        },
        Slip {
            name: "a_data_root_holding_neither_source",
            setup: |dir| std::fs::create_dir_all(dir.join("data/exports")).unwrap(),
            args: &["run", "--data", "data", "--date", D1],
            says: &["holds neither patient_data/ nor log_data/"],
            unchanged: &[],
            absent: &["ovom.duckdb"],
            never: &[],
        },
        Slip {
            name: "an_s3_data_root_for_run",
            setup: |_| {},
            args: &["run", "--data", "s3://ovom-export/ehr"],
            says: &["read a local folder", "ovom generate --out s3://"],
            unchanged: &[],
            absent: &["s3:", "ovom.duckdb"],
            never: &[],
        },
        Slip {
            name: "a_report_onto_the_warehouse",
            setup: loaded,
            args: &["report", "--warehouse", "w.duckdb", "--out", "w.duckdb"],
            says: &["is the warehouse"],
            unchanged: &["w.duckdb"],
            absent: &[],
            never: &[],
        },
        Slip {
            name: "a_report_onto_the_warehouse_by_another_path",
            setup: |dir| {
                loaded(dir);
                std::fs::create_dir_all(dir.join("sub")).unwrap();
            },
            args: &[
                "report",
                "--warehouse",
                "w.duckdb",
                "--out",
                "./sub/../w.duckdb",
            ],
            says: &["is the warehouse"],
            unchanged: &["w.duckdb"],
            absent: &[],
            never: &[],
        },
        Slip {
            name: "a_report_onto_the_write_ahead_log",
            setup: loaded,
            args: &["report", "--warehouse", "w.duckdb", "--out", "w.duckdb.wal"],
            says: &["write-ahead log"],
            // A one-day run leaves its commits in the log: it is kept as it is.
            unchanged: &["w.duckdb", "w.duckdb.wal"],
            absent: &[],
            never: &[],
        },
        Slip {
            name: "a_run_into_another_duckdb_file",
            setup: foreign,
            args: &["run", "--data", "data", "--warehouse", "other.duckdb"],
            says: &[
                "not an ovom warehouse",
                "patients_export",
                "nothing was changed",
            ],
            unchanged: &["other.duckdb"],
            absent: &[],
            never: &[],
        },
        Slip {
            name: "a_status_of_an_empty_duckdb_file",
            setup: empty_duckdb,
            args: &["status", "--warehouse", "empty.duckdb"],
            says: &["not an ovom warehouse: it holds no table"],
            unchanged: &["empty.duckdb"],
            absent: &[],
            never: &[],
        },
        Slip {
            name: "a_report_of_an_empty_duckdb_file",
            setup: empty_duckdb,
            args: &["report", "--warehouse", "empty.duckdb", "--out", "r.html"],
            says: &["not an ovom warehouse: it holds no table"],
            unchanged: &["empty.duckdb"],
            absent: &["r.html"],
            never: &[],
        },
        Slip {
            name: "a_generate_into_a_folder_holding_a_data_set",
            setup: loaded,
            args: &[
                "generate",
                "--out",
                "data",
                "--patients",
                "10",
                "--tests",
                "20",
            ],
            says: &["already holds a data set"],
            unchanged: &["data/log_data/2025/03/14/part-00000.json"],
            absent: &["data/log_data/2025/01"],
            never: &[],
        },
        Slip {
            name: "an_empty_query",
            setup: loaded,
            args: &["query", "--warehouse", "w.duckdb", " ; -- nothing"],
            says: &["the query is empty"],
            unchanged: &["w.duckdb"],
            absent: &[],
            never: &["Unknown error code"],
        },
        Slip {
            name: "a_query_of_two_statements",
            setup: loaded,
            args: &[
                "query",
                "--warehouse",
                "w.duckdb",
                "SELECT 1; SELECT ';' AS two",
            ],
            says: &["runs one statement; this text holds 2"],
            unchanged: &["w.duckdb"],
            absent: &[],
            never: &[],
        },
        Slip {
            name: "a_query_that_does_not_parse",
            setup: loaded,
            args: &["query", "--warehouse", "w.duckdb", "SELEC 1"],
            says: &["Parser Error", "SELEC"],
            unchanged: &["w.duckdb"],
            absent: &[],
            never: &["Unknown error code"],
        },
        Slip {
            name: "a_log_level_that_does_not_exist",
            setup: loaded,
            args: &["--log", "nonsense", "status", "--warehouse", "w.duckdb"],
            says: &["invalid value 'nonsense'", "--log"],
            unchanged: &["w.duckdb"],
            absent: &[],
            never: &[],
        },
        Slip {
            name: "a_status_limit_of_zero",
            setup: loaded,
            args: &["status", "--warehouse", "w.duckdb", "--limit", "0"],
            says: &["0 is not in 1..=10000"],
            unchanged: &["w.duckdb"],
            absent: &[],
            never: &["no executions yet"],
        },
        Slip {
            name: "a_status_limit_past_the_integer",
            setup: loaded,
            args: &["status", "--warehouse", "w.duckdb", "--limit", "4294967295"],
            says: &["not in 1..=10000"],
            unchanged: &["w.duckdb"],
            absent: &[],
            never: &["conversion"],
        },
    ]
}

#[test]
fn an_operators_slips_are_refused_and_change_nothing() {
    let mut failures = vec![];
    for slip in slips() {
        let dir = tempfile::tempdir().unwrap();
        (slip.setup)(dir.path());
        let before: Vec<Vec<u8>> = slip
            .unchanged
            .iter()
            .map(|f| std::fs::read(dir.path().join(f)).unwrap())
            .collect();
        let (ok, out) = ovom_within_deadline(dir.path(), slip.args);
        let mut problems = vec![];
        if ok {
            problems.push("succeeded".to_owned());
        }
        for text in slip.says {
            if !out.contains(text) {
                problems.push(format!("does not say {text:?}"));
            }
        }
        for text in slip.never {
            if out.contains(text) {
                problems.push(format!("says {text:?}"));
            }
        }
        for (f, bytes) in slip.unchanged.iter().zip(before) {
            if std::fs::read(dir.path().join(f)).unwrap() != bytes {
                problems.push(format!("changed {f}"));
            }
        }
        for f in slip.absent {
            if dir.path().join(f).exists() {
                problems.push(format!("created {f}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}
{out}",
                slip.name,
                problems.join(", ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

//! Around the files: what an operator's slips and an export's odd layouts
//! do to `ovom run`. One table of cases, each a data root built by hand and
//! one run of the `ovom` command under a deadline (a run that outlives it
//! has hung: it is killed and the case fails). A case either loads what it
//! says or fails naming what is wrong; nothing is dropped in silence.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

pub(crate) const D1: &str = "2025-03-14";

/// Longer than any case takes; a run still going after it has hung.
const DEADLINE: Duration = Duration::from_secs(180);

enum Expect {
    /// The run succeeds with this many fact rows and quarantined lines.
    Loads { fact: i64, quarantined: i64 },
    /// The run fails, its output holding each of these texts.
    Fails(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    /// Writes the data root.
    setup: fn(&Path),
    args: &'static [&'static str],
    expect: Expect,
    /// Further checks of the warehouse.
    check: Option<fn(&Path)>,
}

pub(crate) fn day_log(root: &Path, d: &str, name: &str, lines: &[String]) {
    let dir = root.join("log_data").join(folder(d));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), lines.join("\n") + "\n").unwrap();
}

pub(crate) fn day_patients(root: &Path, d: &str, ids: &[i64]) {
    let dir = root.join("patient_data").join(folder(d));
    std::fs::create_dir_all(&dir).unwrap();
    let lines: Vec<String> = ids.iter().map(|id| patient(*id, d)).collect();
    std::fs::write(dir.join("part-00000.json"), lines.join("\n") + "\n").unwrap();
}

pub(crate) fn good_tests(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| test(&format!("bt-{i}"), 1, D1, json!({})))
        .collect()
}

/// One good day, its blood-test files under `dir` (relative to the root).
fn one_day_in(root: &Path, tests_dir: &Path) {
    day_patients(root, D1, &[1]);
    std::fs::create_dir_all(tests_dir).unwrap();
    std::fs::write(
        tests_dir.join("part-00000.json"),
        good_tests(3).join("\n") + "\n",
    )
    .unwrap();
}

/// A good day, and one more file at `rel` (under the data root).
fn with_stray(root: &Path, rel: &str) {
    one_day_in(root, &root.join("log_data").join(folder(D1)));
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, good_tests(1).join("\n") + "\n").unwrap();
}

/// A file outside the layout fails the run, naming it and why.
macro_rules! stray {
    ($name:literal, $rel:literal, $why:literal) => {
        Case {
            name: $name,
            setup: |root| with_stray(root, $rel),
            args: &[],
            expect: Expect::Fails(&[$rel, "is outside the layout", $why]),
            check: None,
        }
    };
}

fn cases() -> Vec<Case> {
    vec![
        stray!(
            "a_day_that_is_not_in_the_calendar",
            "log_data/2025/02/30/part-00000.json",
            "2025-02-30 is not a day"
        ),
        stray!(
            "a_month_and_day_out_of_range",
            "log_data/2025/13/40/part-00000.json",
            "2025-13-40 is not a day"
        ),
        stray!(
            "a_month_of_one_digit",
            "patient_data/2025/1/05/part-00000.json",
            "2025/1/05 is not a YYYY/MM/DD folder"
        ),
        stray!(
            "a_year_outside_the_supported_years",
            "log_data/1969/12/31/part-00000.json",
            "1969-12-31 is not a day between 1970 and 2100"
        ),
        stray!(
            "a_file_at_month_level",
            "log_data/2025/03/part-00000.json",
            "a file outside any day folder"
        ),
        stray!(
            "a_file_directly_under_the_source",
            "log_data/part-00000.json",
            "a file outside any day folder"
        ),
        // A producer blocked on a full channel once the writer had failed:
        // strict with more than a handful of malformed lines, or more than
        // the budget of them without strict.
        Case {
            name: "strict_with_many_malformed_lines",
            setup: |root| {
                day_patients(root, D1, &[1]);
                let mut lines = good_tests(1);
                lines.extend((0..40).map(|i| format!("{{\"test_id\": \"bad-{i}\"")));
                day_log(root, D1, "part-00000.json", &lines);
            },
            args: &["--strict"],
            expect: Expect::Fails(&[
                "StageBloodTests",
                "MalformedInput",
                "log_data/2025/03/14/part-00000.json line 2",
            ]),
            check: None,
        },
        Case {
            name: "more_malformed_lines_than_the_budget",
            setup: |root| {
                day_patients(root, D1, &[1]);
                let mut lines = good_tests(1);
                lines.extend((0..100_050).map(|_| "x".to_owned()));
                day_log(root, D1, "part-00000.json", &lines);
            },
            args: &[],
            expect: Expect::Fails(&["MalformedInput", "more than 100000 malformed lines"]),
            check: None,
        },
        Case {
            name: "fifo_in_a_day_folder",
            setup: |root| {
                day_patients(root, D1, &[1]);
                day_log(root, D1, "part-00000.json", &good_tests(2));
                let fifo = root.join("log_data").join(folder(D1)).join("part-fifo");
                let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
                assert!(made.success());
            },
            args: &[],
            expect: Expect::Fails(&["log_data/2025/03/14/part-fifo", "not a regular file"]),
            check: None,
        },
        Case {
            name: "symlinked_day_folder",
            setup: |root| {
                let real = root.join("elsewhere/day");
                one_day_in(root, &real);
                let link = root.join("log_data").join(folder(D1));
                std::fs::create_dir_all(link.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(&real, &link).unwrap();
            },
            args: &[],
            expect: Expect::Loads {
                fact: 3,
                quarantined: 0,
            },
            check: None,
        },
        Case {
            name: "symlinked_month_folder",
            setup: |root| {
                let real = root.join("elsewhere/month");
                one_day_in(root, &real.join("14"));
                std::fs::create_dir_all(root.join("log_data/2025")).unwrap();
                std::os::unix::fs::symlink(&real, root.join("log_data/2025/03")).unwrap();
            },
            args: &[],
            expect: Expect::Loads {
                fact: 3,
                quarantined: 0,
            },
            check: None,
        },
        Case {
            name: "symlinked_year_folder",
            setup: |root| {
                let real = root.join("elsewhere/year");
                one_day_in(root, &real.join("03/14"));
                std::fs::create_dir_all(root.join("log_data")).unwrap();
                std::os::unix::fs::symlink(&real, root.join("log_data/2025")).unwrap();
            },
            args: &[],
            expect: Expect::Loads {
                fact: 3,
                quarantined: 0,
            },
            check: None,
        },
        Case {
            name: "link_loop",
            setup: |root| {
                one_day_in(root, &root.join("log_data").join(folder(D1)));
                std::os::unix::fs::symlink("..", root.join("log_data/2025/03/loop")).unwrap();
            },
            args: &[],
            expect: Expect::Fails(&["reached twice"]),
            check: None,
        },
        Case {
            name: "link_to_nothing",
            setup: |root| {
                one_day_in(root, &root.join("log_data").join(folder(D1)));
                std::os::unix::fs::symlink(
                    "missing.json",
                    root.join("log_data")
                        .join(folder(D1))
                        .join("part-00001.json"),
                )
                .unwrap();
            },
            args: &[],
            expect: Expect::Fails(&["log_data/2025/03/14/part-00001.json", "a link to nothing"]),
            check: None,
        },
        Case {
            name: "file_name_that_is_not_utf8",
            setup: |root| {
                day_patients(root, D1, &[1]);
                let dir = root.join("log_data").join(folder(D1));
                std::fs::create_dir_all(&dir).unwrap();
                let name = std::ffi::OsStr::from_bytes(b"part-\xff%.json");
                std::fs::write(dir.join(name), good_tests(2).join("\n") + "\n").unwrap();
            },
            args: &[],
            expect: Expect::Loads {
                fact: 2,
                quarantined: 0,
            },
            check: Some(|w| {
                assert_eq!(
                    query(w, "SELECT DISTINCT source_file FROM fact_bloodtest"),
                    "log_data/2025/03/14/part-%FF%25.json"
                );
            }),
        },
    ]
}

/// One value of a query on the warehouse file, as text.
pub(crate) fn query(warehouse: &Path, sql: &str) -> String {
    let wh = ovom_duckdb::DuckWarehouse::open_read_only(warehouse).unwrap();
    ovom::query::run(wh.connection(), sql).unwrap().rows[0][0].clone()
}

/// Run `ovom` with `args`; its status and its output (stdout and stderr);
/// killed, and the test failed, if it outlives the deadline.
pub(crate) fn ovom_within_deadline(dir: &Path, args: &[&str]) -> (bool, String) {
    let out_path = dir.join("ovom.out");
    let err_path = dir.join("ovom.err");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ovom"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("ovom {args:?} hung: still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text =
        std::fs::read_to_string(out_path).unwrap() + &std::fs::read_to_string(err_path).unwrap();
    (status.success(), text)
}

fn run_case(case: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    std::fs::create_dir_all(&root).unwrap();
    (case.setup)(&root);
    let warehouse = dir.path().join("w.duckdb");
    let mut args = vec!["run", "--data", "data", "--warehouse", "w.duckdb"];
    args.extend(case.args);
    let (ok, out) = ovom_within_deadline(dir.path(), &args);
    match &case.expect {
        Expect::Loads { fact, quarantined } => {
            assert!(ok, "{}: the run failed:\n{out}", case.name);
            let count = |table: &str| query(&warehouse, &format!("SELECT COUNT(*) FROM {table}"));
            assert_eq!(count("fact_bloodtest"), fact.to_string(), "{}", case.name);
            assert_eq!(
                count("quarantine"),
                quarantined.to_string(),
                "{}",
                case.name
            );
        }
        Expect::Fails(texts) => {
            assert!(!ok, "{}: the run succeeded:\n{out}", case.name);
            for text in *texts {
                assert!(out.contains(text), "{}: no {text:?} in:\n{out}", case.name);
            }
        }
    }
    if let Some(check) = case.check {
        check(&warehouse);
    }
}

crate::support::case_matrix! {
    a_day_that_is_not_in_the_calendar,
    a_month_and_day_out_of_range,
    a_month_of_one_digit,
    a_year_outside_the_supported_years,
    a_file_at_month_level,
    a_file_directly_under_the_source,
    strict_with_many_malformed_lines,
    more_malformed_lines_than_the_budget,
    fifo_in_a_day_folder,
    symlinked_day_folder,
    symlinked_month_folder,
    symlinked_year_folder,
    link_loop,
    link_to_nothing,
    file_name_that_is_not_utf8,
}

#[test]
fn a_redrive_from_another_folder_reads_the_data_root_its_execution_read() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let root = home.join("data");
    day_patients(&root, D1, &[1]);
    let mut lines = good_tests(3);
    lines.insert(1, "{\"test_id\":".to_owned());
    day_log(&root, D1, "part-00000.json", &lines);
    let (ok, out) = ovom_within_deadline(&home, &["run", "--date", D1, "--strict"]);
    assert!(!ok, "the strict day must fail: {out}");
    // The file is fixed; the operator redrives from another folder, where
    // `data` does not exist.
    day_log(&root, D1, "part-00000.json", &good_tests(3));
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let warehouse = home.join("ovom.duckdb");
    let w = warehouse.to_str().unwrap();
    let other = elsewhere.join("data");
    std::fs::create_dir_all(other.join("log_data")).unwrap();
    let (ok, out) = ovom_within_deadline(
        &elsewhere,
        &[
            "redrive",
            "--warehouse",
            w,
            "--data",
            other.to_str().unwrap(),
        ],
    );
    assert!(!ok && out.contains("is another folder"), "{out}");
    let (ok, out) = ovom_within_deadline(&elsewhere, &["redrive", "--warehouse", w]);
    assert!(ok, "{out}");
    assert_eq!(
        query(&warehouse, "SELECT COUNT(*) FROM fact_bloodtest"),
        "3"
    );
    assert!(!elsewhere.join("data/patient_data").exists());
}

#[test]
fn a_day_with_no_file_does_not_replace_its_rows_unless_told_to() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    day_patients(&root, D1, &[1]);
    day_log(&root, D1, "part-00000.json", &good_tests(3));
    let (ok, out) = ovom_within_deadline(dir.path(), &["run"]);
    assert!(ok, "{out}");
    let warehouse = dir.path().join("ovom.duckdb");
    // The day's blood tests are gone from the folder (moved by hand).
    std::fs::remove_dir_all(root.join("log_data").join(folder(D1))).unwrap();
    let (ok, out) = ovom_within_deadline(dir.path(), &["run", "--date", D1]);
    assert!(!ok, "{out}");
    for says in [
        "EmptyDayRefused",
        "log_data of 2025-03-14 has no file",
        "holds 3 rows",
        "--allow-empty",
    ] {
        assert!(out.contains(says), "no {says:?} in {out}");
    }
    assert_eq!(
        query(&warehouse, "SELECT COUNT(*) FROM fact_bloodtest"),
        "3"
    );
    let (ok, out) = ovom_within_deadline(dir.path(), &["run", "--date", D1, "--allow-empty"]);
    assert!(ok, "{out}");
    assert_eq!(
        query(&warehouse, "SELECT COUNT(*) FROM fact_bloodtest"),
        "0"
    );
}

#[test]
fn a_dead_run_reads_as_aborted_and_its_day_keeps_its_earlier_success() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    day_patients(&root, D1, &[1]);
    day_log(&root, D1, "part-00000.json", &good_tests(3));
    let (ok, out) = ovom_within_deadline(dir.path(), &["run"]);
    assert!(ok, "{out}");
    // A process killed in the middle of the day's second run leaves its
    // execution RUNNING; no process holds the warehouse any more.
    let conn = ovom_duckdb::duckdb::Connection::open(dir.path().join("ovom.duckdb")).unwrap();
    conn.execute_batch(
        "INSERT INTO executions (execution_id, state_machine, logical_date, input, status, started_at) \
         VALUES ('pipeline-20250314-9', 'pipeline', DATE '2025-03-14', '{}', 'RUNNING', TIMESTAMP '2030-01-01 00:00:00')",
    )
    .unwrap();
    drop(conn);
    let (ok, out) = ovom_within_deadline(dir.path(), &["status"]);
    assert!(ok, "{out}");
    assert!(out.contains("ABORTED") && !out.contains("RUNNING"), "{out}");
    let (ok, out) = ovom_within_deadline(dir.path(), &["report", "--out", "r.html"]);
    assert!(ok, "{out}");
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(
        html.contains("<div class=\"label\">Days loaded</div><div class=\"value\">1</div>"),
        "the earlier success counts"
    );
    assert!(!html.contains(">RUNNING<"), "no execution reads as running");
}

#[test]
fn ovom_query_escapes_control_characters_from_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let name = "Ann\u{1b}[2J\nDROP";
    let line = patient(1, D1).replace(
        "\"first_name\":\"",
        &format!(
            "\"first_name\":{},\"x\":\"",
            serde_json::to_string(name).unwrap()
        ),
    );
    let folder_path = root.join("patient_data").join(folder(D1));
    std::fs::create_dir_all(&folder_path).unwrap();
    std::fs::write(folder_path.join("part-00000.json"), line + "\n").unwrap();
    day_log(&root, D1, "part-00000.json", &good_tests(1));
    let (ok, out) = ovom_within_deadline(dir.path(), &["run"]);
    assert!(ok, "{out}");
    let (ok, out) =
        ovom_within_deadline(dir.path(), &["query", "SELECT first_name FROM dim_patient"]);
    assert!(ok, "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "an escape reached the terminal: {out:?}"
    );
    assert!(out.contains("Ann\\u{1b}[2J\\nDROP"), "{out}");
    assert_eq!(out.lines().count(), 4, "one line per row: {out}");
}

#[test]
fn a_warehouse_that_cannot_be_written_names_the_execution_and_never_reads_as_running() {
    // A file-size limit stands in for a full disk: DuckDB's writes past it
    // fail (EFBIG; the signal is ignored), at a different point for each
    // limit: a task's commit, the record of an execution, a checkpoint.
    let year = dirty_year();
    let dir = tempfile::tempdir().unwrap();
    copy_days(
        year.path(),
        &dir.path().join("data"),
        "2025-01-01",
        "2025-02-28",
    );
    let ovom = env!("CARGO_BIN_EXE_ovom");
    let mut failed = 0;
    for blocks in [400, 800, 1200, 1600, 2400] {
        for f in ["ovom.duckdb", "ovom.duckdb.wal"] {
            let _ = std::fs::remove_file(dir.path().join(f));
        }
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "trap '' XFSZ; ulimit -f {blocks}; exec '{ovom}' run --dim-mode append"
            ))
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            failed += 1;
            assert!(
                text.contains("execution pipeline-"),
                "limit {blocks}: the failure does not name its execution:\n{text}"
            );
        }
        let (ok, status) = ovom_within_deadline(dir.path(), &["status", "--limit", "3"]);
        assert!(ok, "{status}");
        assert!(!status.contains("RUNNING"), "limit {blocks}:\n{status}");
    }
    assert!(failed > 0, "no limit made a write fail");
}

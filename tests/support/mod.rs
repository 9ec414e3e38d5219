//! Shared helpers: data folders built line by line, an embedded pipeline on
//! an in-memory warehouse, table fingerprints, and an independent reference
//! of the contract's rules computed straight from the raw files.

#![allow(dead_code)]

pub mod reference;

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use ovom_asl::ManualClock;
use ovom_core::params::LogicalDate;
use ovom_duckdb::DuckWarehouse;
use ovom_local::pipeline::{DayRun, Pipeline, RunOptions, DEFINITION};

/// A data root in a temporary folder, written file by file.
pub struct Data {
    pub dir: tempfile::TempDir,
}

impl Data {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Write `lines` (each with `\n`) to `rel`, e.g. `log_data/2025/03/14/part-00000.json`.
    pub fn file(&self, rel: &str, lines: &[String]) -> &Self {
        let mut text = String::new();
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        self.bytes(rel, text.as_bytes())
    }
    pub fn bytes(&self, rel: &str, bytes: &[u8]) -> &Self {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        self
    }
}

pub fn day(s: &str) -> LogicalDate {
    s.parse().unwrap()
}

/// The folder of a day: `2025/03/14`.
pub fn folder(d: &str) -> String {
    d.replace('-', "/")
}

/// A valid patient record registered on `date` at 08:00.
pub fn patient(id: i64, date: &str) -> String {
    patient_at(id, &format!("{date}T08:00:00Z"), 70.5)
}

pub fn patient_at(id: i64, registered_at: &str, weight: f64) -> String {
    serde_json::json!({
        "patient_id": id, "first_name": "Ada", "last_name": "Lovelace", "sex": "F",
        "age": 45, "height": 165, "weight": weight,
        "address": "1 Main Street, Springfield, 12345", "registered_at": registered_at
    })
    .to_string()
}

/// A valid blood test taken on `date` at 10:00, with fields overridden by `over`.
pub fn test(id: &str, patient_id: i64, date: &str, over: serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "test_id": id, "patient_id": patient_id, "doc_id": 7, "doc_name": "Dr. Grey",
        "clinic": "North Clinic", "lab_id": 3, "lab_name": "Central Lab", "city": "Lyon",
        "ts": format!("{date}T10:00:00Z"), "ap_hi": 120, "ap_lo": 80, "cholesterol": 1,
        "gluc": 1, "smoke": 0, "alco": 0, "active": 1, "cardio": 0
    });
    for (k, x) in over.as_object().expect("an object of overrides") {
        v[k] = x.clone();
    }
    v.to_string()
}

pub fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
}

/// The embedded pipeline on an in-memory warehouse over `data`.
pub fn pipeline(data: &Path) -> Pipeline {
    Pipeline::with(DuckWarehouse::in_memory().unwrap(), data, DEFINITION).unwrap()
}

/// A warehouse file in its own temporary folder.
pub fn pipeline_file(data: &Path, dir: &Path) -> Pipeline {
    Pipeline::open(&dir.join("ovom.duckdb"), data).unwrap()
}

pub fn run(p: &Pipeline, d: &str) -> DayRun {
    p.run_day(day(d), RunOptions::default(), &clock()).unwrap()
}

pub fn run_ok(p: &Pipeline, d: &str) -> serde_json::Value {
    let r = run(p, d);
    r.result
        .unwrap_or_else(|f| panic!("{d} failed in {}: {}: {}", f.state, f.error, f.cause))
}

/// Every day of the data root, one execution each, in order, as `ovom run`
/// runs them day by day: only the last day runs again the days after it
/// that are already loaded (the next days follow the others).
pub fn run_all(p: &Pipeline) {
    let days = p.days().unwrap();
    for &d in &days {
        let opts = RunOptions {
            leave_later_days: Some(&d) != days.last(),
            ..RunOptions::default()
        };
        let r = p.run_day(d, opts, &clock()).unwrap();
        if let Err(f) = r.result {
            panic!("{d} failed in {}: {}: {}", f.state, f.error, f.cause);
        }
    }
}

/// Rows of a query, each cell as text.
pub fn rows(p: &Pipeline, sql: &str) -> Vec<Vec<String>> {
    let wh = p.warehouse();
    ovom::query::run(wh.connection(), sql).unwrap().rows
}

pub fn scalar(p: &Pipeline, sql: &str) -> i64 {
    rows(p, sql)[0][0].parse().unwrap()
}

/// The tables whose content a run produces (audit history aside).
pub const DATA_TABLES: [&str; 13] = [
    "staging_patient",
    "staging_bloodtest",
    "quarantine",
    "stage_audit",
    "rejects",
    "duplicates",
    "pending_tests",
    "dim_patient",
    "dim_patient_history",
    "dim_doctor",
    "dim_lab",
    "dim_date",
    "fact_bloodtest",
];

/// An order-independent checksum of a table's content, lineage (`run_id`)
/// aside, and its row count. The stage audit's rows of days with no file
/// are left out: a range (and the later days a late day runs again) audits
/// every calendar day it covers, a run of one day at a time only the days
/// it runs; neither holds data.
pub fn fingerprint(p: &Pipeline, table: &str) -> (i64, String) {
    let cols = rows(
        p,
        &format!("SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' AND column_name <> 'run_id' ORDER BY ordinal_position"),
    );
    let list: Vec<String> = cols.into_iter().map(|c| format!("\"{}\"", c[0])).collect();
    let r = rows(
        p,
        &format!(
            "SELECT COUNT(*), COALESCE(md5(string_agg(row_text, '\n' ORDER BY row_text)), '') FROM (SELECT CAST(ROW({}) AS VARCHAR) AS row_text FROM {table}{})",
            list.join(", "),
            if table == "stage_audit" {
                " WHERE NOT (files = 0 AND lines_read = 0)"
            } else {
                ""
            }
        ),
    );
    (r[0][0].parse().unwrap(), r[0][1].clone())
}

/// Each data table's fingerprint.
pub type Fingerprints = Vec<(&'static str, (i64, String))>;

pub fn fingerprints(p: &Pipeline) -> Fingerprints {
    DATA_TABLES
        .iter()
        .map(|t| (*t, fingerprint(p, t)))
        .collect()
}

/// Every file under `root`, by path relative to it, with its bytes.
pub fn files(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Fault injection for tests: lets every task through to the handler behind
/// it (the embedded pipeline, or the AWS path's functions) except
/// the task whose input names `target` (a model, a source, or `quality` for
/// the quality task, whose input names its checks), which fails with `error`
/// on the attempts listed (1-based; `None`: every attempt).
/// Production has no such hook: only a test can put a handler in front.
pub struct Fault<'a> {
    pub inner: &'a dyn ovom_asl::TaskHandler,
    pub target: &'static str,
    pub error: &'static str,
    pub attempts: Option<Vec<u32>>,
    pub seen: std::cell::Cell<u32>,
}

impl<'a> Fault<'a> {
    pub fn always(
        inner: &'a dyn ovom_asl::TaskHandler,
        target: &'static str,
        error: &'static str,
    ) -> Self {
        Self {
            inner,
            target,
            error,
            attempts: None,
            seen: Default::default(),
        }
    }

    pub fn on_attempts(
        inner: &'a dyn ovom_asl::TaskHandler,
        target: &'static str,
        error: &'static str,
        attempts: &[u32],
    ) -> Self {
        Self {
            attempts: Some(attempts.to_vec()),
            ..Self::always(inner, target, error)
        }
    }
}

impl ovom_asl::TaskHandler for Fault<'_> {
    fn invoke(
        &self,
        resource: &str,
        input: &serde_json::Value,
        ctx: &serde_json::Value,
    ) -> Result<serde_json::Value, ovom_asl::TaskFailure> {
        if task_key(input) == Some(self.target) {
            let n = self.seen.get() + 1;
            self.seen.set(n);
            if self.attempts.as_ref().is_none_or(|a| a.contains(&n)) {
                return Err(ovom_asl::TaskFailure::new(
                    self.error,
                    format!("injected {} on attempt {n}", self.error),
                ));
            }
        }
        self.inner.invoke(resource, input, ctx)
    }
}

/// Which task an input is for: its model, its source, or `quality` for the
/// quality task (whose input names its checks).
pub fn task_key(input: &serde_json::Value) -> Option<&str> {
    input["model"]
        .as_str()
        .or(input["source"].as_str())
        .or(input.get("checks").map(|_| "quality"))
}

/// The `ovom` binary in `dir`.
pub fn ovom_cmd(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ovom"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running ovom")
}

/// Generate the default data set (or another size) into `dir`.
pub fn generate(dir: &Path, patients: u32, tests: u32) {
    let opts = ovom_generate::Options {
        patients,
        tests,
        ..Default::default()
    };
    ovom::generate::into_dir(dir, &opts).unwrap();
}

/// Copy the day folders of both sources whose date is in `from..=to` into
/// a new data root.
pub fn copy_days(from_root: &Path, to_root: &Path, from: &str, to: &str) {
    for source in ["patient_data", "log_data"] {
        for d in day(from).date().iter_days() {
            if d > day(to).date() {
                break;
            }
            let rel = format!("{source}/{}", d.format("%Y/%m/%d"));
            let src = from_root.join(&rel);
            if !src.is_dir() {
                continue;
            }
            std::fs::create_dir_all(to_root.join(&rel)).unwrap();
            for f in std::fs::read_dir(&src).unwrap().flatten() {
                std::fs::copy(f.path(), to_root.join(&rel).join(f.file_name())).unwrap();
            }
        }
    }
}

/// A generated year with every kind of dirt the generator makes (duplicates
/// on the same and later days, unknown patients, rule breaks, malformed
/// lines, patient updates, patient records delivered 1 to 10 days late).
pub fn dirty_year() -> Data {
    let data = Data::new();
    let o = ovom_generate::Options {
        patients: 600,
        tests: 6000,
        dirty_rate: 0.08,
        malformed_rate: 0.01,
        late_patient_rate: 0.05,
        ..Default::default()
    };
    ovom::generate::into_dir(data.path(), &o).unwrap();
    // Late re-deliveries: a day's blood tests sent again five days later,
    // whose lines are then `other_day` duplicates.
    for d in ["2025-02-10", "2025-06-01", "2025-12-20"] {
        let from = data.path().join(format!("log_data/{}", folder(d)));
        let later = day(d).date() + chrono::Days::new(5);
        let to = data
            .path()
            .join(format!("log_data/{}", later.format("%Y/%m/%d")));
        std::fs::create_dir_all(&to).unwrap();
        let first = std::fs::read_dir(&from)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .min()
            .unwrap();
        std::fs::copy(first, to.join("part-late.json")).unwrap();
    }
    data
}

/// One test per case of a data-driven table, named as the case, and a test
/// that the table and the tests name the same cases, each once. The module
/// that uses it has `cases()` (items with a `name`) and `run_case(&case)`.
macro_rules! case_matrix {
    ($($name:ident),* $(,)?) => {
        fn run_named(name: &str) {
            let all = cases();
            let case = all
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("no case `{name}`"));
            run_case(case);
        }

        $(
            #[test]
            fn $name() {
                run_named(stringify!($name));
            }
        )*

        #[test]
        fn every_case_of_the_table_has_its_test() {
            let tests: std::collections::BTreeSet<&str> =
                [$(stringify!($name)),*].into_iter().collect();
            let table: Vec<&str> = cases().iter().map(|c| c.name).collect();
            let unique: std::collections::BTreeSet<&str> = table.iter().copied().collect();
            assert_eq!(table.len(), unique.len(), "a name twice");
            assert_eq!(unique, tests);
        }
    };
}
pub(crate) use case_matrix;

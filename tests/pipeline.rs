//! The whole pipeline on generated data, against the contract's rules
//! computed independently from the same files.

use std::collections::{BTreeMap, BTreeSet};

use ovom_generate::{DirSink, Options};

use crate::support::*;

/// Check every table against the reference computed from the raw files.
pub fn assert_matches_reference(p: &ovom_local::pipeline::Pipeline, root: &std::path::Path) {
    assert_tables_match_reference(&|sql| rows(p, sql), root);
}

/// The same check over any engine: `query` returns a query's rows as text.
pub fn assert_tables_match_reference(
    query: &dyn Fn(&str) -> Vec<Vec<String>>,
    root: &std::path::Path,
) {
    let e = reference::compute(root);
    let count = |sql: &str| -> u64 { query(sql)[0][0].parse().unwrap() };
    let fact: BTreeSet<String> = query("SELECT test_id FROM fact_bloodtest")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(
        fact.len() as u64,
        count("SELECT COUNT(*) FROM fact_bloodtest"),
        "fact has repeated test_ids"
    );
    let missing: Vec<_> = e.accepted.difference(&fact).take(5).collect();
    let extra: Vec<_> = fact.difference(&e.accepted).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "fact differs: missing {missing:?}, extra {extra:?}"
    );
    let rejected: BTreeMap<String, u64> =
        query("SELECT reason, COUNT(*) FROM rejects GROUP BY reason")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap()))
            .collect();
    assert_eq!(rejected, e.rejected);
    assert_eq!(count("SELECT COUNT(*) FROM duplicates"), e.duplicates);
    assert_eq!(count("SELECT COUNT(*) FROM pending_tests"), e.pending);
    // Each test references its patient's version in force when it was taken.
    let versions: BTreeMap<String, (i64, String)> = query(
        "SELECT f.test_id, CAST(v.version_no AS VARCHAR), CAST(v.valid_from AS VARCHAR)
         FROM fact_bloodtest AS f
         JOIN dim_patient_history AS v ON v.patient_version_key = f.patient_version_key",
    )
    .into_iter()
    .map(|r| (r[0].clone(), (r[1].parse().unwrap(), r[2].clone())))
    .collect();
    assert_eq!(versions, e.versions, "the patient version of each test");
    assert_eq!(
        count("SELECT COUNT(*) FROM quarantine WHERE source = 'log_data'"),
        e.quarantined_tests
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM quarantine WHERE source = 'patient_data'"),
        e.quarantined_patients
    );
    let patients: BTreeSet<i64> = query("SELECT patient_id FROM dim_patient")
        .into_iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    assert_eq!(
        patients, e.patients,
        "dim_patient holds one row per patient with a valid record"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM dim_patient"),
        e.patients.len() as u64
    );
    // Every line read is accounted for, in total.
    let read = count("SELECT SUM(lines_read) FROM stage_audit WHERE source = 'log_data'");
    assert_eq!(read, e.test_lines);
    assert_eq!(
        read,
        e.accepted.len() as u64
            + e.rejected.values().sum::<u64>()
            + e.duplicates
            + e.quarantined_tests
            + e.pending
    );
}

pub fn generated(opts: &Options) -> Data {
    let data = Data::new();
    ovom_generate::generate(opts, &mut DirSink::new(data.path()), &mut |_| {}).unwrap();
    data
}

#[test]
fn a_generated_year_with_dirty_and_malformed_lines_loads_exactly_what_the_contract_accepts() {
    let opts = Options {
        seed: 7,
        patients: 400,
        tests: 5000,
        dirty_rate: 0.08,
        malformed_rate: 0.01,
        late_patient_rate: 0.05,
        ..Options::default()
    };
    let data = generated(&opts);
    let p = pipeline(data.path());
    run_all(&p);
    assert_matches_reference(&p, data.path());
    let e = reference::compute(data.path());
    assert!(
        e.duplicates > 0 && e.quarantined_tests > 0 && e.rejected.len() >= 3,
        "the data set exercises every path: {e:?}"
    );
    assert!(
        e.versions.values().any(|(no, _)| *no > 1),
        "some tests are taken after their patient's update"
    );
    // Every execution succeeded and passed every check.
    assert_eq!(
        scalar(
            &p,
            "SELECT COUNT(*) FROM executions WHERE status <> 'SUCCEEDED'"
        ),
        0
    );
    assert_eq!(
        scalar(&p, "SELECT COUNT(*) FROM state_runs WHERE state_name = 'CheckQuality' AND status = 'SUCCEEDED'"),
        scalar(&p, "SELECT COUNT(*) FROM executions")
    );
}

#[test]
fn every_dimension_mode_gives_the_same_star_on_a_clean_run() {
    let opts = Options {
        seed: 3,
        patients: 150,
        tests: 1500,
        dirty_rate: 0.05,
        ..Options::default()
    };
    let data = generated(&opts);
    let mut results = vec![];
    for mode in [
        ovom_core::params::DimMode::Merge,
        ovom_core::params::DimMode::TruncateInsert,
    ] {
        let p = pipeline(data.path());
        for d in p.days().unwrap() {
            let r = p
                .run_day(
                    d,
                    ovom_local::pipeline::RunOptions {
                        strict: false,
                        dim_mode: mode,
                        leave_later_days: false,
                        allow_empty: false,
                    },
                    &clock(),
                )
                .unwrap();
            assert!(r.result.is_ok(), "{mode:?} {d}: {:?}", r.result);
        }
        assert_matches_reference(&p, data.path());
        results.push(
            [
                "dim_patient",
                "dim_doctor",
                "dim_lab",
                "dim_date",
                "fact_bloodtest",
            ]
            .map(|t| fingerprint(&p, t)),
        );
    }
    assert_eq!(results[0], results[1]);
}

#[test]
fn the_analysis_queries_run_on_a_loaded_warehouse() {
    let data = generated(&Options {
        seed: 5,
        patients: 100,
        tests: 800,
        ..Options::default()
    });
    let p = pipeline(data.path());
    run_all(&p);
    let dir = repo().join("sql/analysis");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let sql = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let wh = p.warehouse();
        let table = ovom::query::run(wh.connection(), &sql).unwrap();
        assert!(!table.rows.is_empty());
        n += 1;
    }
    assert!(n >= 3);
}

//! Re-running a day or a whole run leaves the warehouse as one clean run
//! would; dedup across files and days; patient updates; days with no files.

use serde_json::json;

use crate::pipeline::generated;
use crate::support::*;

#[test]
fn running_every_day_twice_changes_nothing_and_a_rerun_day_replaces_itself() {
    let data = generated(&ovom_generate::Options {
        seed: 11,
        patients: 200,
        tests: 2500,
        dirty_rate: 0.05,
        malformed_rate: 0.005,
        ..Default::default()
    });
    let p = pipeline(data.path());
    run_all(&p);
    let once = fingerprints(&p);
    run_all(&p);
    assert_eq!(fingerprints(&p), once, "a second run of every day");
    let days = p.days().unwrap();
    for d in [days[0], days[days.len() / 2], days[days.len() - 1]] {
        run_ok(&p, &d.to_string());
        assert_eq!(fingerprints(&p), once, "re-running {d}");
    }
}

#[test]
fn a_test_id_delivered_twice_in_a_day_across_files_and_on_a_later_day_loads_once() {
    let (d1, d2) = ("2025-02-01", "2025-02-02");
    let data = Data::new();
    data.file(
        &format!("patient_data/{}/part-00000.json", folder(d1)),
        &[patient(1, d1)],
    );
    data.file(
        &format!("log_data/{}/part-00000.json", folder(d1)),
        &[
            test("bt-1", 1, d1, json!({})),
            test("bt-1", 1, d1, json!({})),
            test("bt-2", 1, d1, json!({"ap_hi": 20})),
        ],
    );
    data.file(
        &format!("log_data/{}/part-00001.json", folder(d1)),
        &[test("bt-1", 1, d1, json!({"ap_hi": 130}))],
    );
    data.file(
        &format!("log_data/{}/part-00000.json", folder(d2)),
        &[
            test("bt-1", 1, d1, json!({})),
            test("bt-2", 1, d1, json!({})),
            test("bt-3", 1, d2, json!({})),
        ],
    );
    let p = pipeline(data.path());
    run_all(&p);
    assert_eq!(
        rows(
            &p,
            "SELECT test_id, ap_hi, source_file, line_no FROM fact_bloodtest ORDER BY test_id"
        ),
        vec![
            vec![
                "bt-1".to_owned(),
                "120".into(),
                format!("log_data/{}/part-00000.json", folder(d1)),
                "1".into()
            ],
            vec![
                "bt-3".to_owned(),
                "120".into(),
                format!("log_data/{}/part-00000.json", folder(d2)),
                "3".into()
            ],
        ]
    );
    assert_eq!(rows(&p, "SELECT logical_date, kind, test_id, line_no FROM duplicates ORDER BY logical_date, source_file, line_no"), vec![
        vec![d1.to_owned(), "same_day".into(), "bt-1".into(), "2".into()],
        vec![d1.to_owned(), "same_day".into(), "bt-1".into(), "1".into()],
        vec![d2.to_owned(), "other_day".into(), "bt-1".into(), "1".into()],
        vec![d2.to_owned(), "other_day".into(), "bt-2".into(), "2".into()],
    ]);
    // Re-running the first day keeps its copies; the later day still counts them as duplicates.
    let before = fingerprints(&p);
    run_ok(&p, d1);
    assert_eq!(fingerprints(&p), before);
}

#[test]
fn a_patient_update_on_a_later_day_replaces_the_record_and_a_rerun_of_the_earlier_day_keeps_it() {
    let (d1, d2) = ("2025-05-01", "2025-05-20");
    let data = Data::new();
    data.file(
        &format!("patient_data/{}/part-00000.json", folder(d1)),
        &[patient_at(1, &format!("{d1}T08:00:00Z"), 70.0)],
    );
    data.file(
        &format!("patient_data/{}/part-00000.json", folder(d2)),
        &[
            patient_at(1, &format!("{d2}T08:00:00Z"), 64.5),
            patient(2, d2),
        ],
    );
    data.file(
        &format!("log_data/{}/part-00000.json", folder(d1)),
        &[
            test("bt-1", 1, d1, json!({})),
            test("bt-2", 2, d1, json!({})),
        ],
    );
    data.file(
        &format!("log_data/{}/part-00000.json", folder(d2)),
        &[test("bt-3", 2, d2, json!({}))],
    );
    let p = pipeline(data.path());
    run_all(&p);
    let q = "SELECT patient_id, weight, registered_at, first_seen_on FROM dim_patient ORDER BY patient_id";
    let expected = vec![
        vec![
            "1".to_owned(),
            "64.5".into(),
            format!("{d2}T08:00:00Z"),
            d1.into(),
        ],
        vec![
            "2".to_owned(),
            "70.5".into(),
            format!("{d2}T08:00:00Z"),
            d2.into(),
        ],
    ];
    assert_eq!(rows(&p, q), expected);
    // Patient 2's first record came 19 days after bt-2 was delivered, after
    // the 7-day window: bt-2 waited, was rejected when the window closed,
    // and a re-run decides the same.
    assert_eq!(
        rows(
            &p,
            "SELECT test_id, reason, CAST(decided_on AS VARCHAR) FROM rejects"
        ),
        vec![vec![
            "bt-2".to_owned(),
            "unknown_patient".into(),
            "2025-05-08".into()
        ]]
    );
    let before = fingerprints(&p);
    run_ok(&p, d1);
    assert_eq!(rows(&p, q), expected);
    assert_eq!(fingerprints(&p), before);
}

#[test]
fn a_day_with_no_files_succeeds_with_zero_rows() {
    // The data root holds another day (a root with no file at all is a
    // wrong root, refused).
    let data = Data::new();
    data.file(
        &format!("patient_data/{}/part-00000.json", folder("2025-07-03")),
        &[patient(1, "2025-07-03")],
    );
    let p = pipeline(data.path());
    let out = run_ok(&p, "2025-07-04");
    assert_eq!(out["stage_bloodtests"]["files"], 0);
    assert_eq!(out["fact_bloodtest"]["loaded"], 0);
    assert_eq!(scalar(&p, "SELECT COUNT(*) FROM fact_bloodtest"), 0);
    assert_eq!(
        rows(&p, "SELECT status FROM executions"),
        vec![vec!["SUCCEEDED".to_owned()]]
    );
}

#[test]
fn append_mode_keeps_the_first_version_and_truncate_insert_rebuilds_from_every_day() {
    use ovom_core::params::DimMode;
    use ovom_local::pipeline::RunOptions;
    let (d1, d2) = ("2025-05-01", "2025-05-02");
    let data = Data::new();
    data.file(
        &format!("patient_data/{}/part-00000.json", folder(d1)),
        &[patient_at(1, &format!("{d1}T08:00:00Z"), 70.0)],
    );
    data.file(
        &format!("patient_data/{}/part-00000.json", folder(d2)),
        &[patient_at(1, &format!("{d2}T08:00:00Z"), 60.0)],
    );
    for (mode, weight) in [
        (DimMode::Append, "70"),
        (DimMode::Merge, "60"),
        (DimMode::TruncateInsert, "60"),
    ] {
        let p = pipeline(data.path());
        for d in [d1, d2] {
            assert!(p
                .run_day(
                    day(d),
                    RunOptions {
                        strict: false,
                        dim_mode: mode,
                        leave_later_days: false,
                        allow_empty: false,
                    },
                    &clock()
                )
                .unwrap()
                .result
                .is_ok());
        }
        assert_eq!(
            rows(&p, "SELECT weight FROM dim_patient"),
            vec![vec![weight.to_owned()]],
            "{mode:?}"
        );
    }
}

//! Late patient records (the data contract's rule): a test whose patient has
//! no record yet waits (pending), is loaded on the day its patient's first
//! record is delivered when that is within the window (7 days, the state
//! machine's `patient_wait_days`), and is rejected `unknown_patient` when the
//! window closes; days with no file in between change nothing, and a range,
//! day-by-day runs, re-runs and a late day all leave the same tables.

use ovom_core::params::Days;
use ovom_local::pipeline::RunOptions;
use serde_json::json;

use crate::support::*;

/// Day `n` of the scenario, counted from 2025-03-01.
fn d(n: u64) -> String {
    (day("2025-03-01").date() + chrono::Days::new(n)).to_string()
}

/// Days 0, 1, 3, 6, 7 and 8 have files; days 2, 4 and 5 have none.
/// - bt-1: patient 1, known on day 0: loaded on day 0.
/// - bt-a: patient 2, whose first record comes on day 3: waits, loaded on day 3;
///   delivered again on day 1, a duplicate of the waiting test.
/// - bt-b: patient 3, first record on day 7, the window's last day: loaded on day 7.
/// - bt-c: patient 4, first record on day 8, a day late: rejected on day 7.
/// - bt-e: patient 2 with an implausible pressure: rejected on day 0 (the
///   contract's rules come before the patient).
/// - bt-d: patient 5, who never comes, tested on day 6: still waiting after day 8.
fn late_records() -> Data {
    let data = Data::new();
    let put = |n: u64, source: &str, lines: &[String]| {
        data.file(
            &format!("{source}/{}/part-00000.json", folder(&d(n))),
            lines,
        );
    };
    put(0, "patient_data", &[patient(1, &d(0))]);
    put(
        0,
        "log_data",
        &[
            test("bt-1", 1, &d(0), json!({})),
            test("bt-a", 2, &d(0), json!({})),
            test("bt-b", 3, &d(0), json!({})),
            test("bt-c", 4, &d(0), json!({})),
            test("bt-e", 2, &d(0), json!({"ap_hi": 500})),
        ],
    );
    put(
        1,
        "log_data",
        &[
            test("bt-a", 2, &d(0), json!({})),
            test("bt-2", 1, &d(1), json!({})),
        ],
    );
    put(3, "patient_data", &[patient(2, &d(3))]);
    put(6, "log_data", &[test("bt-d", 5, &d(6), json!({}))]);
    put(7, "patient_data", &[patient(3, &d(7))]);
    put(8, "patient_data", &[patient(4, &d(8))]);
    data
}

/// Where each test is: (table, test_id, delivery day, decided_on or wait_until, reason).
fn outcomes(p: &ovom_local::pipeline::Pipeline) -> Vec<Vec<String>> {
    rows(
        p,
        "SELECT 'fact', test_id, CAST(logical_date AS VARCHAR), CAST(decided_on AS VARCHAR), '' FROM fact_bloodtest
         UNION ALL SELECT 'rejects', test_id, CAST(logical_date AS VARCHAR), CAST(decided_on AS VARCHAR), reason FROM rejects
         UNION ALL SELECT 'duplicates', test_id, CAST(logical_date AS VARCHAR), CAST(logical_date AS VARCHAR), kind FROM duplicates
         UNION ALL SELECT 'pending', test_id, CAST(logical_date AS VARCHAR), CAST(wait_until AS VARCHAR), '' FROM pending_tests
         ORDER BY 2, 1, 3",
    )
}

fn row(table: &str, id: &str, delivered: u64, decided: u64, reason: &str) -> Vec<String> {
    vec![
        table.into(),
        id.into(),
        d(delivered),
        d(decided),
        reason.into(),
    ]
}

#[test]
fn a_test_waits_for_its_patient_then_loads_or_is_rejected_when_the_window_closes() {
    let data = late_records();
    let p = pipeline(data.path());
    // Day 0: three tests wait; the report and the reconciliation count them.
    let out = run_ok(&p, &d(0));
    let fact = &out["fact_bloodtest"];
    assert_eq!(
        (fact["loaded"].as_u64(), fact["pending"].as_u64()),
        (Some(1), Some(3)),
        "{fact}"
    );
    assert_eq!(
        outcomes(&p),
        vec![
            row("fact", "bt-1", 0, 0, ""),
            row("pending", "bt-a", 0, 7, ""),
            row("pending", "bt-b", 0, 7, ""),
            row("pending", "bt-c", 0, 7, ""),
            row("rejects", "bt-e", 0, 0, "implausible_pressure"),
        ]
    );
    let status = ovom::status::pending(&mut *p.warehouse()).unwrap();
    assert_eq!(
        (
            status.tests,
            status.oldest_delivery.as_str(),
            status.first_wait_until.as_str()
        ),
        (3, d(0).as_str(), d(7).as_str())
    );
    assert!(ovom::status::render_pending(&status).contains("3 blood tests waiting"));

    // Every day with files, one at a time; days 2, 4 and 5 have none and do
    // not run, so bt-c's window closes on day 7 with no run of its own.
    for n in [1, 3, 6, 7, 8] {
        run_ok(&p, &d(n));
    }
    let expected = vec![
        row("fact", "bt-1", 0, 0, ""),
        row("fact", "bt-2", 1, 1, ""),
        row("duplicates", "bt-a", 1, 1, "other_day"),
        row("fact", "bt-a", 0, 3, ""),
        row("fact", "bt-b", 0, 7, ""),
        row("rejects", "bt-c", 0, 7, "unknown_patient"),
        row("pending", "bt-d", 6, 13, ""),
        row("rejects", "bt-e", 0, 0, "implausible_pressure"),
    ];
    assert_eq!(outcomes(&p), expected);
    // Day 0's lines: 1 + 2 loaded later + 2 rejected; nothing of it waits now.
    assert_eq!(
        scalar(
            &p,
            &format!(
                "SELECT COUNT(*) FROM pending_tests WHERE logical_date = DATE '{}'",
                d(0)
            )
        ),
        0
    );
    let status = ovom::status::pending(&mut *p.warehouse()).unwrap();
    assert_eq!((status.tests, status.first_wait_until), (1, d(13)));
}

#[test]
fn a_range_day_by_day_runs_reruns_and_a_late_patient_day_leave_the_same_tables() {
    let data = late_records();
    let by_day = pipeline(data.path());
    run_all(&by_day);
    let want = fingerprints(&by_day);
    assert_eq!(
        scalar(
            &by_day,
            "SELECT COUNT(*) FROM fact_bloodtest WHERE decided_on > logical_date"
        ),
        2
    );

    // One range execution over every calendar day.
    let range = pipeline(data.path());
    let all = Days::new(day(&d(0)), Some(day(&d(8)))).unwrap();
    let run = range
        .run_range(all, RunOptions::default(), &clock())
        .unwrap();
    assert!(run.result.is_ok(), "{:?}", run.result.err());
    assert_eq!(fingerprints(&range), want, "a range");

    // Re-running any day, the empty ones too, changes nothing.
    for n in [0, 3, 4, 7, 1, 8] {
        let r = by_day
            .run_day(
                day(&d(n)),
                RunOptions {
                    leave_later_days: true,
                    allow_empty: true,
                    ..RunOptions::default()
                },
                &clock(),
            )
            .unwrap();
        assert!(r.result.is_ok(), "day {n}: {:?}", r.result.err());
        assert_eq!(fingerprints(&by_day), want, "re-running day {n}");
    }

    // Patient 2's first record (day 3) lands after the later days ran: they
    // were decided without it, so bt-a was rejected when its window closed
    // on day 7. Running day 3 late loads bt-a and runs the days after it
    // again; the tables equal a clean run.
    let late = Data::new();
    copy_days(data.path(), late.path(), &d(0), &d(8));
    let held = late.path().join(format!("patient_data/{}", folder(&d(3))));
    let keep = Data::new();
    std::fs::rename(&held, keep.path().join("day3")).unwrap();
    let p = pipeline(late.path());
    run_all(&p);
    assert!(
        outcomes(&p).contains(&row("rejects", "bt-a", 0, 7, "unknown_patient")),
        "{:?}",
        outcomes(&p)
    );
    std::fs::rename(keep.path().join("day3"), &held).unwrap();
    let r = p
        .run_day(day(&d(3)), RunOptions::default(), &clock())
        .unwrap();
    assert!(r.result.is_ok(), "{:?}", r.result.err());
    assert_eq!(fingerprints(&p), want, "day 3 landing late");
}

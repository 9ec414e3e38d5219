//! `ovom backfill`: a range of days in order, in chunks of consecutive days
//! (one execution each), every chunk each time (as a new execution of the
//! backfill state machine), resumed after a failure or an interruption by a
//! redrive at the first chunk it did not load, with exactly a clean run's
//! result whatever the chunk size.

use std::time::{Duration, Instant};

use ovom_core::params::Days;
use ovom_local::backfill::{backfill, redrive, BackfillInput, Day};
use ovom_local::pipeline::Pipeline;

use crate::support::*;

/// A backfill's input: `per` days per execution (`None`: the default, a
/// month).
fn opts(from: &str, to: &str, per: Option<u32>) -> BackfillInput {
    BackfillInput {
        days_per_execution: per,
        ..BackfillInput::new(Days {
            first: day(from),
            last: day(to),
        })
    }
}

fn run_range(p: &Pipeline, from: &str, to: &str) -> ovom_local::backfill::BackfillOutcome {
    run_chunked(p, from, to, None)
}

fn run_chunked(
    p: &Pipeline,
    from: &str,
    to: &str,
    per: Option<u32>,
) -> ovom_local::backfill::BackfillOutcome {
    backfill(p, &opts(from, to, per), None, &clock(), p.tasks(), |_| {
        Ok(())
    })
    .unwrap()
}

fn resume(p: &Pipeline, execution_id: &str) -> ovom_local::backfill::BackfillOutcome {
    redrive(p, execution_id, &clock(), p.tasks(), |_| Ok(())).unwrap()
}

#[test]
fn a_31_day_backfill_loads_exactly_the_contracts_result_for_those_days_and_again_leaves_it_equal() {
    let all = tempfile::tempdir().unwrap();
    generate(all.path(), 7000, 70000);
    let january = tempfile::tempdir().unwrap();
    copy_days(all.path(), january.path(), "2025-01-01", "2025-01-31");

    // The backfill reads the whole data root but runs only January.
    let p = pipeline(all.path());
    let first = run_range(&p, "2025-01-01", "2025-01-31");
    assert_eq!(
        (first.days, first.executions, first.ran, first.loaded),
        (31, 1, 1, 0)
    );
    assert!(first.failed.is_none());
    crate::pipeline::assert_matches_reference(&p, january.path());
    let once = fingerprints(&p);

    // Run again: every day runs again, replaces itself, and nothing changes.
    let again = run_range(&p, "2025-01-01", "2025-01-31");
    assert_eq!((again.ran, again.loaded), (1, 0));
    assert_eq!(fingerprints(&p), once);
    // A backfill that succeeded has nothing to redrive.
    let err = redrive(&p, &again.execution_id, &clock(), p.tasks(), |_| Ok(()))
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ovom_local::LocalError::Refused(ovom_local::Refusal::Succeeded { .. })
        ),
        "{err}"
    );

    // Each backfill is an execution, and the days it ran name it.
    assert_eq!(
        rows(&p, "SELECT execution_id, status FROM executions WHERE state_machine = 'backfill' ORDER BY execution_id"),
        vec![
            vec!["backfill-20250101-20250131-1".to_owned(), "SUCCEEDED".into()],
            vec!["backfill-20250101-20250131-2".to_owned(), "SUCCEEDED".into()],
        ]
    );
    assert_eq!(
        rows(&p, "SELECT execution_id FROM executions WHERE parent_execution_id = 'backfill-20250101-20250131-1'"),
        vec![vec!["pipeline-20250101-20250131-1".to_owned()]]
    );
    // The fact's run id is the daily execution that loaded the row: one
    // whose days include the row's.
    assert_eq!(
        scalar(&p, "SELECT COUNT(*) FROM fact_bloodtest AS f WHERE NOT EXISTS (SELECT 1 FROM execution_days AS d WHERE d.execution_id = f.run_id AND d.day = f.logical_date)"),
        0
    );
}

#[test]
fn a_backfill_stopped_between_days_is_aborted_and_its_redrive_resumes_where_it_stopped() {
    let data = tempfile::tempdir().unwrap();
    generate(data.path(), 700, 7000);
    let clean = pipeline(data.path());
    run_range(&clean, "2025-02-01", "2025-02-20");

    let p = pipeline(data.path());
    let mut seen = 0;
    let stopped = backfill(
        &p,
        &opts("2025-02-01", "2025-02-20", Some(1)),
        None,
        &clock(),
        p.tasks(),
        |d| {
            if let Day::Ran(_) = d {
                seen += 1;
            }
            if seen >= 8 {
                return Err("interrupted".into());
            }
            Ok(())
        },
    );
    assert!(
        matches!(stopped, Err(ovom_local::LocalError::Interrupted(_))),
        "{stopped:?}"
    );
    let id = "backfill-20250201-20250220-1";
    assert_eq!(
        rows(
            &p,
            &format!("SELECT status, error FROM executions WHERE execution_id = '{id}'")
        ),
        vec![vec!["ABORTED".to_owned(), "States.Aborted".into()]]
    );
    let resumed = resume(&p, id);
    assert_eq!((resumed.days, resumed.ran, resumed.loaded), (20, 12, 8));
    assert_eq!(fingerprints(&p), fingerprints(&clean));
    assert_eq!(
        rows(
            &p,
            &format!("SELECT status, redrive_count FROM executions WHERE execution_id = '{id}'")
        ),
        vec![vec!["SUCCEEDED".to_owned(), "1".into()]]
    );
}

#[test]
fn a_killed_backfill_process_is_resumed_by_redriving_it() {
    let dir = tempfile::tempdir().unwrap();
    generate(&dir.path().join("data"), 700, 7000);
    let args = [
        "backfill",
        "--from",
        "2025-03-01",
        "--to",
        "2025-04-30",
        "--days-per-execution",
        "1",
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ovom"))
        .args(args)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL) once some days are in: the warehouse's write-ahead
    // log grows as days commit.
    let wal = dir.path().join("ovom.duckdb.wal");
    let started = Instant::now();
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) < 200_000
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the backfill ended before it was killed");

    let again = ovom_cmd(dir.path(), &["redrive", "backfill-20250301-20250430-1"]);
    let text = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.status.success(), "{text}");
    assert!(text.contains("loaded before this redrive"), "{text}");

    let p = pipeline_file(&dir.path().join("data"), dir.path());
    let clean = pipeline(&dir.path().join("data"));
    run_range(&clean, "2025-03-01", "2025-04-30");
    assert_eq!(fingerprints(&p), fingerprints(&clean));
    // The killed backfill was found aborted, then redriven to its end.
    assert_eq!(
        rows(
            &p,
            "SELECT status, redrive_count FROM executions WHERE execution_id = 'backfill-20250301-20250430-1'"
        ),
        vec![vec!["SUCCEEDED".to_owned(), "1".into()]]
    );
    assert_eq!(
        scalar(
            &p,
            "SELECT COUNT(*) FROM executions WHERE status = 'RUNNING'"
        ),
        0
    );
}

#[test]
fn a_backfill_stops_at_the_first_failed_day_and_its_redrive_resumes_from_it() {
    let data = tempfile::tempdir().unwrap();
    generate(data.path(), 700, 7000);
    let p = pipeline(data.path());
    let fault = Fault::always(p.tasks(), "fact_bloodtest", "WarehouseError");
    let mut days = vec![];
    let stopped = backfill(
        &p,
        &opts("2025-05-01", "2025-05-05", Some(1)),
        None,
        &clock(),
        &fault,
        |d| {
            if let Day::Ran(r) = d {
                days.push((r.days.first.to_string(), r.result.is_ok()));
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(days, vec![("2025-05-01".to_owned(), false)]);
    assert_eq!(
        stopped.failed.map(|f| f.execution_id).as_deref(),
        Some("pipeline-20250501-1")
    );
    assert_eq!(
        rows(
            &p,
            &format!(
                "SELECT status, failed_state, error FROM executions WHERE execution_id = '{}'",
                stopped.execution_id
            )
        ),
        vec![vec![
            "FAILED".to_owned(),
            "pipeline-20250501-1".into(),
            "WarehouseError".into()
        ]]
    );
    let resumed = resume(&p, &stopped.execution_id);
    assert_eq!((resumed.ran, resumed.loaded), (5, 0));
    assert!(resumed.failed.is_none());
    assert_eq!(resumed.execution_id, stopped.execution_id);
    let clean = pipeline(data.path());
    run_range(&clean, "2025-05-01", "2025-05-05");
    assert_eq!(fingerprints(&p), fingerprints(&clean));
}

#[test]
fn backfill_refuses_a_reversed_or_absurd_range_before_touching_the_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    generate(&dir.path().join("data"), 70, 700);
    for (from, to, needle) in [
        ("2025-02-01", "2025-01-01", "is after"),
        ("1970-01-01", "2100-12-31", "at most 3000"),
        (
            "2025-01-01'; DROP TABLE fact_bloodtest; --",
            "2025-01-02",
            "is not a date",
        ),
        ("2025-13-01", "2025-12-31", "is not a date"),
    ] {
        let out = ovom_cmd(dir.path(), &["backfill", "--from", from, "--to", to]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{from} {to}: {err}");
        assert!(err.contains(needle), "{from} {to}: {err}");
    }
    for (extra, needle) in [
        (&["--days-per-execution", "0"][..], "from 1 to 3000, not 0"),
        (
            &["--dim-mode", "append", "--days-per-execution", "7"][..],
            "one day per execution",
        ),
    ] {
        let mut args = vec!["backfill", "--from", "2025-01-01", "--to", "2025-01-31"];
        args.extend_from_slice(extra);
        let out = ovom_cmd(dir.path(), &args);
        let shown = extra.join(" ");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{shown}: {err}");
        assert!(err.contains(needle), "{shown}: {err}");
    }
    assert!(!dir.path().join("ovom.duckdb").exists());
}

#[test]
fn a_dirty_years_backfill_leaves_the_same_tables_in_chunks_of_a_month_a_week_or_a_day() {
    let data = dirty_year();
    let by_month = pipeline(data.path());
    let months = run_chunked(&by_month, "2025-01-01", "2025-12-31", None);
    assert_eq!((months.days, months.executions, months.ran), (365, 12, 12));
    let expected = fingerprints(&by_month);
    for per in [7, 1] {
        let p = pipeline(data.path());
        let outcome = run_chunked(&p, "2025-01-01", "2025-12-31", Some(per));
        assert_eq!(outcome.executions, 365usize.div_ceil(per as usize));
        assert_eq!(fingerprints(&p), expected, "{per} day(s) per execution");
    }
    crate::pipeline::assert_matches_reference(&by_month, data.path());
}

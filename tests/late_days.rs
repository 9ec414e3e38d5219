//! A late day: when a day is loaded while later days are already loaded (its
//! files landed late, its execution is redriven, a backfill of the past),
//! the later days were decided without it — a test whose patient first came
//! on it stayed `unknown_patient`, a copy it delivered first was kept from a
//! later day. The daily state machine ends by running them again, in order,
//! through the backfill state machine; the warehouse then equals one clean
//! run of every day in order.

use ovom_core::params::Days;
use ovom_local::backfill::{backfill, BackfillInput};
use ovom_local::pipeline::{Pipeline, RunOptions};

use crate::support::*;

const LATE: &str = "2025-03-10";

/// March of a dirty generated year (patients first delivered on a day and
/// tested on the next ones, duplicates across days), the warehouse of a
/// clean run of its days in order, and its days.
fn march() -> (Data, Fingerprints, Vec<String>) {
    let year = dirty_year();
    let data = Data::new();
    copy_days(year.path(), data.path(), "2025-03-01", "2025-03-31");
    let clean = pipeline(data.path());
    run_all(&clean);
    let days = clean
        .days()
        .unwrap()
        .iter()
        .map(|d| d.to_string())
        .collect();
    (data, fingerprints(&clean), days)
}

/// The data root without the late day's folders, to be moved back in when
/// they "land".
struct LateFiles {
    held: Data,
}

impl LateFiles {
    fn hold(root: &Data, d: &str) -> Self {
        let held = Data::new();
        for source in ["patient_data", "log_data"] {
            let rel = format!("{source}/{}", folder(d));
            let from = root.path().join(&rel);
            if from.is_dir() {
                std::fs::create_dir_all(held.path().join(&rel).parent().unwrap()).unwrap();
                std::fs::rename(&from, held.path().join(&rel)).unwrap();
            }
        }
        Self { held }
    }

    fn land(self, root: &Data, d: &str) {
        for source in ["patient_data", "log_data"] {
            let rel = format!("{source}/{}", folder(d));
            let from = self.held.path().join(&rel);
            if from.is_dir() {
                std::fs::rename(&from, root.path().join(&rel)).unwrap();
            }
        }
    }
}

/// Every day of `days` in order, as `ovom run` runs them one by one.
fn run_days(p: &Pipeline, days: &[String]) {
    for d in days {
        let opts = RunOptions {
            leave_later_days: Some(d) != days.last(),
            ..RunOptions::default()
        };
        let r = p.run_day(day(d), opts, &clock()).unwrap();
        assert!(r.result.is_ok(), "{d}: {:?}", r.result);
    }
}

/// The days the daily executions have loaded, each execution's days once
/// (a backfill runs the later days as range executions).
fn daily_days(p: &Pipeline) -> i64 {
    scalar(p, "SELECT COUNT(*) FROM execution_days")
}

#[test]
fn a_day_whose_files_landed_late_runs_the_later_days_again_to_a_clean_runs_warehouse() {
    let (data, clean, days) = march();
    let late_at = days.iter().position(|d| d == LATE).unwrap();
    let later = days.len() - late_at - 1;

    // Every day was loaded, the late day with none of its files.
    let held = LateFiles::hold(&data, LATE);
    let p = pipeline(data.path());
    let alone = pipeline(data.path());
    run_days(&p, &days);
    run_days(&alone, &days);
    held.land(&data, LATE);
    // Without running the later days again, they stay as decided without
    // the late day: the warehouse is not a clean run's.
    let without = alone
        .run_day(
            day(LATE),
            RunOptions {
                leave_later_days: true,
                ..RunOptions::default()
            },
            &clock(),
        )
        .unwrap();
    assert!(without.result.is_ok());
    assert_ne!(
        fingerprints(&alone),
        clean,
        "the late day must change what the days after it decided"
    );

    // The late day loaded again: its execution runs the later days after it.
    let before = daily_days(&p);
    let run = p
        .run_day(day(LATE), RunOptions::default(), &clock())
        .unwrap();
    let out = run.result.unwrap();
    let next = &days[late_at + 1];
    let last = days.last().unwrap();
    assert_eq!(out["stage_patients"]["later_days"]["from"], next.as_str());
    assert_eq!(out["stage_patients"]["later_days"]["to"], last.as_str());
    assert_eq!(out["later_days"]["range"]["from"], next.as_str());
    assert_eq!(out["later_days"]["range"]["days"], later as i64);
    assert_eq!(fingerprints(&p), clean);
    // The late day once, then each later day once, by executions a backfill
    // started (a month per execution), which names the late day's
    // execution as its parent.
    assert_eq!(daily_days(&p) - before, 1 + later as i64);
    let parent = rows(
        &p,
        "SELECT parent_execution_id, input FROM executions WHERE state_machine = 'backfill'",
    );
    assert_eq!(parent.len(), 1);
    assert_eq!(parent[0][0], run.execution_id);
    assert!(parent[0][1].contains(next.as_str()), "{:?}", parent[0]);
    let children = scalar(
        &p,
        "SELECT COUNT(*) FROM execution_days e JOIN executions b ON e.parent_execution_id = b.execution_id WHERE b.state_machine = 'backfill'",
    );
    assert_eq!(children, later as i64);

    // Run again, the last day finds no later day.
    let again = run_ok(&p, last);
    assert!(again["stage_patients"].get("later_days").is_none());
    assert!(again.get("later_days").is_none());
    assert_eq!(fingerprints(&p), clean);
}

#[test]
fn a_redriven_day_and_a_backfill_of_the_past_run_the_later_days_again() {
    let (data, clean, days) = march();
    let late_at = days.iter().position(|d| d == LATE).unwrap();

    // The late day's fact load failed; the schedule went on with the days
    // after it; the redrive then loads it and runs them again.
    let p = pipeline(data.path());
    run_days(&p, &days[..late_at]);
    let fault = Fault::always(p.tasks(), "fact_bloodtest", "WarehouseError");
    let failed = p
        .run_day_with(day(LATE), RunOptions::default(), &clock(), &fault)
        .unwrap();
    assert!(failed.result.is_err());
    run_days(&p, &days[late_at + 1..]);
    let redriven = p
        .redrive(&failed.execution_id, &clock(), p.tasks())
        .unwrap();
    assert!(redriven.result.is_ok(), "{:?}", redriven.result);
    assert_eq!(fingerprints(&p), clean, "after the redrive");

    // A backfill of the first ten days, forced, on the loaded month: only
    // its last day runs the later days again, once.
    let before = daily_days(&p);
    let outcome = backfill(
        &p,
        &BackfillInput {
            days_per_execution: Some(1),
            ..BackfillInput::new(Days {
                first: day(&days[0]),
                last: day(LATE),
            })
        },
        None,
        &clock(),
        p.tasks(),
        |_| Ok(()),
    )
    .unwrap();
    assert!(outcome.failed.is_none());
    assert_eq!(daily_days(&p) - before, days.len() as i64);
    assert_eq!(fingerprints(&p), clean, "after the backfill");

    // A failure among the later days fails the late day's execution at the
    // state that started them, where its redrive resumes.
    let fault = Fault::on_attempts(p.tasks(), "dim_lab", "InvalidParameters", &[2]);
    let run = p
        .run_day_with(day(LATE), RunOptions::default(), &clock(), &fault)
        .unwrap();
    let f = run.result.as_ref().unwrap_err();
    assert_eq!(run.failed_state.as_deref(), Some("RerunLaterDays"));
    assert_eq!(f.error, "States.TaskFailed");
    assert!(f.cause.contains("InvalidParameters"), "{}", f.cause);
    let redriven = p.redrive(&run.execution_id, &clock(), p.tasks()).unwrap();
    assert!(redriven.result.is_ok(), "{:?}", redriven.result);
    assert_eq!(fingerprints(&p), clean, "after the later days' redrive");
}

#[test]
fn ovom_run_of_a_late_day_says_which_later_days_it_ran_again() {
    let year = dirty_year();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_days(year.path(), &data, "2025-03-08", "2025-03-12");
    let ran = ovom_cmd(dir.path(), &["run"]);
    assert!(ran.status.success(), "{ran:?}");
    let late = ovom_cmd(dir.path(), &["run", "--date", LATE]);
    let out = String::from_utf8_lossy(&late.stdout);
    assert!(late.status.success(), "{out}");
    assert!(
        out.contains(
            "later days  2025-03-11 … 2025-03-12: 2 days run again by backfill-20250311-20250312-1"
        ),
        "{out}"
    );
    let status = ovom_cmd(dir.path(), &["status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("backfill-20250311-20250312-1"), "{status}");
    // The last day has no later day.
    let last = ovom_cmd(dir.path(), &["run", "--date", "2025-03-12"]);
    let out = String::from_utf8_lossy(&last.stdout);
    assert!(
        last.status.success() && !out.contains("later days"),
        "{out}"
    );
}

//! `ovom backfill`: the daily state machine for every day of a range, in
//! order, as the backfill state machine's Map does on AWS (one day at a
//! time, stopping at the first day that fails). A backfill is an execution of
//! its own in the audit tables; the daily executions it starts name it as
//! their parent. Days whose latest execution succeeded are skipped unless
//! forced, so an interrupted backfill is resumed by running it again.

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use ovom_asl::{Clock, TaskHandler};
use ovom_core::params::LogicalDate;
use ovom_core::ports::Value;

use crate::pipeline::{DayRun, Pipeline, RunOptions};

/// The name the audit tables give a backfill.
pub const BACKFILL: &str = "backfill";

/// The longest range one backfill takes, as on AWS: the backfill state
/// machine refuses more (each day adds events to its execution history,
/// whose quota is 25,000).
pub const MAX_DAYS: i64 = 3000;

#[derive(Debug, Clone, Copy)]
pub struct BackfillOptions {
    pub from: LogicalDate,
    pub to: LogicalDate,
    /// Run the days whose latest execution succeeded too.
    pub force: bool,
    pub run: RunOptions,
}

/// What happened to one day of the range.
pub enum Day<'a> {
    /// Its latest execution had succeeded: not run again.
    Skipped(LogicalDate),
    Ran(&'a DayRun),
}

/// How a backfill ended.
#[derive(Debug, Clone)]
pub struct BackfillOutcome {
    pub execution_id: String,
    pub days: usize,
    pub skipped: usize,
    pub ran: usize,
    /// The daily execution that failed and stopped the backfill.
    pub failed: Option<DayFailure>,
}

/// The day that stopped a backfill.
#[derive(Debug, Clone)]
pub struct DayFailure {
    pub execution_id: String,
    pub error: String,
    /// Which day, execution and state failed, and why.
    pub cause: String,
}

/// The days of a range, checked: `from` not after `to`, at most
/// [`MAX_DAYS`] days.
pub fn range(from: LogicalDate, to: LogicalDate) -> Result<Vec<LogicalDate>> {
    let (a, b) = (from.date(), to.date());
    if a > b {
        bail!("--from {from} is after --to {to}");
    }
    let n = (b - a).num_days() + 1;
    if n > MAX_DAYS {
        bail!(
            "the range {from} … {to} has {n} days; a backfill takes at most {MAX_DAYS} (split it)"
        );
    }
    a.iter_days()
        .take(n as usize)
        .map(|d| LogicalDate::new(d).map_err(Into::into))
        .collect()
}

/// Run the range; `each` hears of every day as it ends (a progress bar, a
/// summary). `parent` is the daily execution that started the backfill for
/// the days after its own. Only the range's last day runs again the days
/// after the range that are already loaded (unless
/// `opts.run.leave_later_days`): the days before it are followed by the
/// range's next days. So once a day runs, every day after it in the range
/// runs too, even one whose latest execution had succeeded: it was decided
/// without the day that just ran.
pub fn backfill(
    p: &Pipeline,
    opts: BackfillOptions,
    parent: Option<&str>,
    clock: &dyn Clock,
    handler: &dyn TaskHandler,
    mut each: impl FnMut(Day<'_>) -> Result<()>,
) -> Result<BackfillOutcome> {
    let days = range(opts.from, opts.to)?;
    /// `audit/succeeded_days`'s rows.
    #[derive(serde::Deserialize)]
    struct Succeeded {
        day: LogicalDate,
    }
    let succeeded: BTreeSet<LogicalDate> = if opts.force {
        BTreeSet::new()
    } else {
        p.query_as::<Succeeded>(
            "audit/succeeded_days",
            &[
                ("from_date", Value::Text(opts.from.to_string())),
                ("to_date", Value::Text(opts.to.to_string())),
            ],
        )?
        .into_iter()
        .map(|r| r.day)
        .collect()
    };
    let execution_id = p.next_execution_id(BACKFILL, None, |n| {
        format!(
            "{BACKFILL}-{}-{}-{n}",
            opts.from.date().format("%Y%m%d"),
            opts.to.date().format("%Y%m%d")
        )
    })?;
    let input = serde_json::json!({
        "from": opts.from.to_string(),
        "to": opts.to.to_string(),
        "force": opts.force,
        "dim_mode": opts.run.dim_mode.as_str(),
        "strict": opts.run.strict,
    });
    p.execution_started(&execution_id, BACKFILL, None, &input, parent, clock)?;
    let mut outcome = BackfillOutcome {
        execution_id,
        days: days.len(),
        skipped: 0,
        ran: 0,
        failed: None,
    };
    let mut failure = None;
    let mut running = false;
    for day in days {
        if !running && succeeded.contains(&day) {
            outcome.skipped += 1;
            each(Day::Skipped(day))?;
            continue;
        }
        running = true;
        let run_opts = RunOptions {
            leave_later_days: opts.run.leave_later_days || day != opts.to,
            ..opts.run
        };
        let run = p.start_day(day, run_opts, Some(&outcome.execution_id), clock, handler)?;
        outcome.ran += 1;
        each(Day::Ran(&run))?;
        if let Err(f) = &run.result {
            let state = run.failed_state.clone().unwrap_or_else(|| f.state.clone());
            failure = Some(DayFailure {
                execution_id: run.execution_id.clone(),
                error: f.error.clone(),
                cause: format!(
                    "day {day} (execution {}) failed in {state}: {}",
                    run.execution_id, f.cause
                ),
            });
            break;
        }
    }
    p.execution_ended(
        &outcome.execution_id,
        failure
            .as_ref()
            .map(|f| (f.execution_id.as_str(), f.error.as_str(), f.cause.as_str())),
        clock,
    )?;
    outcome.failed = failure;
    Ok(outcome)
}

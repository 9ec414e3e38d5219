//! `ovom backfill`: the daily state machine for every day of a range, in
//! order, as the backfill state machine's Map does on AWS (one day at a
//! time, stopping at the first day that fails). A backfill is an execution of
//! its own in the run history; the daily executions it starts name it as
//! their parent. The rules are the backfill state machine's
//! (`ARCHITECTURE.md`, "One set of backfill rules"): a backfill runs every
//! day of its range; a failed or interrupted one is resumed by redriving it
//! ([`redrive`]), which runs the first day it did not load and every day
//! after it.

use std::collections::BTreeSet;

use ovom_asl::{Clock, TaskHandler};
use ovom_core::params::{DimMode, LogicalDate};
use ovom_core::ports::Value;
use serde::{Deserialize, Serialize};

use crate::error::{LocalError, Refusal};
use crate::pipeline::{DayRun, Pipeline, RunOptions};

/// The name the run history gives a backfill.
pub const BACKFILL: &str = "backfill";

/// The longest range one backfill takes, as on AWS: the backfill state
/// machine refuses more (each day adds events to its execution history,
/// whose quota is 25,000).
pub const MAX_DAYS: i64 = 3000;

#[derive(Debug, Clone, Copy)]
pub struct BackfillOptions {
    pub from: LogicalDate,
    pub to: LogicalDate,
    pub run: RunOptions,
}

/// A backfill's input as the run history keeps it: the backfill state
/// machine's input fields.
#[derive(Debug, Serialize, Deserialize)]
struct BackfillInput {
    from: LogicalDate,
    to: LogicalDate,
    dim_mode: DimMode,
    strict: bool,
    rerun_later_days: bool,
}

/// Why the caller of a backfill stopped it between two days.
pub type Stop = Box<dyn std::error::Error + Send + Sync>;

/// What happened to one day of the range.
pub enum Day<'a> {
    /// A redrive: the backfill had loaded it already; not run again.
    Loaded(LogicalDate),
    Ran(&'a DayRun),
}

/// How a backfill ended.
#[derive(Debug, Clone)]
pub struct BackfillOutcome {
    pub execution_id: String,
    pub days: usize,
    /// Days a redrive found loaded by the backfill's earlier run.
    pub loaded: usize,
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
pub fn range(from: LogicalDate, to: LogicalDate) -> Result<Vec<LogicalDate>, LocalError> {
    let (a, b) = (from.date(), to.date());
    if a > b {
        return Err(Refusal::RangeReversed { from, to }.into());
    }
    let days = (b - a).num_days() + 1;
    if days > MAX_DAYS {
        return Err(Refusal::RangeTooLong { from, to, days }.into());
    }
    a.iter_days()
        .take(days as usize)
        .map(|d| LogicalDate::new(d).map_err(|e| LocalError::Task(e.into())))
        .collect()
}

/// Start a backfill of the range; `each` hears of every day as it ends (a
/// progress bar, a summary). `parent` is the daily execution that started
/// the backfill for the days after its own. Only the range's last day runs
/// again the days after the range that are already loaded (unless
/// `opts.run.leave_later_days`): the days before it are followed by the
/// range's next days.
pub fn backfill(
    p: &Pipeline,
    opts: BackfillOptions,
    parent: Option<&str>,
    clock: &dyn Clock,
    handler: &dyn TaskHandler,
    each: impl FnMut(Day<'_>) -> Result<(), Stop>,
) -> Result<BackfillOutcome, LocalError> {
    let days = range(opts.from, opts.to)?;
    let execution_id = p.next_execution_id(BACKFILL, None, |n| {
        format!(
            "{BACKFILL}-{}-{}-{n}",
            opts.from.date().format("%Y%m%d"),
            opts.to.date().format("%Y%m%d")
        )
    })?;
    let input = BackfillInput {
        from: opts.from,
        to: opts.to,
        dim_mode: opts.run.dim_mode,
        strict: opts.run.strict,
        rerun_later_days: !opts.run.leave_later_days,
    };
    let input = serde_json::to_value(&input).expect("a backfill input serialises");
    p.execution_started(&execution_id, BACKFILL, None, &input, parent, clock)?;
    run_days(p, execution_id, opts, &days, 0, clock, handler, each)
}

/// Resume a failed (or interrupted) backfill, as Step Functions' redrive of
/// the backfill execution does: the days it loaded stay; the first day it
/// did not load runs, then every day after it, under the same execution id.
pub fn redrive(
    p: &Pipeline,
    execution_id: &str,
    clock: &dyn Clock,
    handler: &dyn TaskHandler,
    mut each: impl FnMut(Day<'_>) -> Result<(), Stop>,
) -> Result<BackfillOutcome, LocalError> {
    let row = p.redrivable(execution_id, BACKFILL)?;
    let input: BackfillInput = serde_json::from_str(&row.input).map_err(|e| {
        LocalError::History(format!(
            "backfill {execution_id} has an unreadable input: {e}"
        ))
    })?;
    let opts = BackfillOptions {
        from: input.from,
        to: input.to,
        run: RunOptions {
            strict: input.strict,
            dim_mode: input.dim_mode,
            leave_later_days: !input.rerun_later_days,
            allow_empty: false,
        },
    };
    let days = range(opts.from, opts.to)?;
    /// `audit/backfill_loaded_days`'s rows.
    #[derive(Deserialize)]
    struct Loaded {
        day: LogicalDate,
    }
    let loaded: BTreeSet<LogicalDate> = p
        .query_as::<Loaded>(
            "audit/backfill_loaded_days",
            &[("execution_id", Value::Text(execution_id.to_owned()))],
        )?
        .into_iter()
        .map(|r| r.day)
        .collect();
    let resume = days
        .iter()
        .position(|d| !loaded.contains(d))
        .unwrap_or(days.len());
    p.execution_redriven(execution_id, row.redrive_count + 1)?;
    for day in &days[..resume] {
        if let Err(stop) = each(Day::Loaded(*day)) {
            return Err(interrupted(p, execution_id, stop, clock));
        }
    }
    run_days(
        p,
        execution_id.to_owned(),
        opts,
        &days[resume..],
        resume,
        clock,
        handler,
        each,
    )
}

/// Run `days` (the range's, from the first not yet loaded) in order, then
/// record the backfill's end.
#[allow(clippy::too_many_arguments)]
fn run_days(
    p: &Pipeline,
    execution_id: String,
    opts: BackfillOptions,
    days: &[LogicalDate],
    loaded: usize,
    clock: &dyn Clock,
    handler: &dyn TaskHandler,
    mut each: impl FnMut(Day<'_>) -> Result<(), Stop>,
) -> Result<BackfillOutcome, LocalError> {
    let mut outcome = BackfillOutcome {
        execution_id,
        days: loaded + days.len(),
        loaded,
        ran: 0,
        failed: None,
    };
    let mut failure = None;
    for &day in days {
        let run_opts = RunOptions {
            leave_later_days: opts.run.leave_later_days || day != opts.to,
            ..opts.run
        };
        let run = p.start_day(day, run_opts, Some(&outcome.execution_id), clock, handler)?;
        outcome.ran += 1;
        if let Err(stop) = each(Day::Ran(&run)) {
            return Err(interrupted(p, &outcome.execution_id, stop, clock));
        }
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

/// The caller stopped the backfill between two days: it ends ABORTED, and a
/// redrive resumes it.
fn interrupted(p: &Pipeline, execution_id: &str, stop: Stop, clock: &dyn Clock) -> LocalError {
    match p.execution_aborted(execution_id, &format!("stopped: {stop}"), clock) {
        Ok(()) => LocalError::Interrupted(stop),
        Err(e) => e,
    }
}

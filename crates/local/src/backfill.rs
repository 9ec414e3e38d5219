//! `ovom backfill`: the daily state machine over every day of a range, in
//! chunks of consecutive days ([`BackfillInput::chunks`]), one execution per
//! chunk, in order, as the backfill state machine's Map does on AWS
//! (stopping at the first chunk that fails). A backfill is an execution of
//! its own in the run history; the daily executions it starts name it as
//! their parent. The rules are the backfill state machine's
//! (`ARCHITECTURE.md`, "One set of backfill rules"): a backfill runs every
//! chunk of its range; a failed or interrupted one is resumed by redriving
//! it ([`redrive`]), which runs the first chunk it did not load and every
//! chunk after it.

use std::collections::BTreeSet;

use ovom_asl::{Clock, TaskHandler};
use ovom_core::params::{BackfillInput, Days, LogicalDate};
use ovom_core::ports::Value;
use serde::Deserialize;

use crate::error::{LocalError, Refusal};
use crate::pipeline::{DayRun, Pipeline, RunOptions};

/// The name the run history gives a backfill.
pub const BACKFILL: &str = "backfill";

/// The longest range one backfill takes, as on AWS.
pub const MAX_DAYS: i64 = BackfillInput::MAX_DAYS;

#[derive(Debug, Clone, Copy)]
pub struct BackfillOptions {
    pub from: LogicalDate,
    pub to: LogicalDate,
    /// Days per execution (by default a month; one with append).
    pub days_per_execution: Option<u32>,
    pub run: RunOptions,
}

impl BackfillOptions {
    /// The backfill state machine's input: what the run history keeps.
    fn input(&self) -> BackfillInput {
        BackfillInput {
            dim_mode: self.run.dim_mode,
            strict: self.run.strict,
            rerun_later_days: !self.run.leave_later_days,
            days_per_execution: self.days_per_execution,
            ..BackfillInput::new(Days {
                first: self.from,
                last: self.to,
            })
        }
    }
}

/// Why the caller of a backfill stopped it between two days.
pub type Stop = Box<dyn std::error::Error + Send + Sync>;

/// What happened to one chunk of the range.
pub enum Day<'a> {
    /// A redrive: the backfill had loaded these days already; not run again.
    Loaded(Days),
    /// An execution over the chunk's days.
    Ran(&'a DayRun),
}

/// How a backfill ended.
#[derive(Debug, Clone)]
pub struct BackfillOutcome {
    pub execution_id: String,
    /// Days in the range.
    pub days: usize,
    /// Chunks in the range: one execution each.
    pub executions: usize,
    /// Days a redrive found loaded by the backfill's earlier run.
    pub loaded: usize,
    /// Executions this run started.
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

/// The chunks a backfill with `opts` runs, in order, checked (the range,
/// the chunk size) before anything is written.
pub fn chunks(opts: &BackfillOptions) -> Result<Vec<Days>, LocalError> {
    range(opts.from, opts.to)?;
    Ok(opts.input().chunks()?)
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
    let chunks = chunks(&opts)?;
    let input = opts.input();
    let execution_id = p.next_execution_id(BACKFILL, None, |n| {
        format!(
            "{BACKFILL}-{}-{}-{n}",
            opts.from.date().format("%Y%m%d"),
            opts.to.date().format("%Y%m%d")
        )
    })?;
    let recorded = serde_json::to_value(&input).expect("a backfill input serialises");
    p.execution_started(&execution_id, BACKFILL, None, &recorded, parent, clock)?;
    run_chunks(p, execution_id, &input, &chunks, 0, clock, handler, each)
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
    let chunks = input.chunks()?;
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
    let resume = chunks
        .iter()
        .position(|c| !c.iter().all(|d| loaded.contains(&d)))
        .unwrap_or(chunks.len());
    p.execution_redriven(execution_id, row.redrive_count + 1)?;
    for chunk in &chunks[..resume] {
        if let Err(stop) = each(Day::Loaded(*chunk)) {
            return Err(interrupted(p, execution_id, stop, clock));
        }
    }
    let done: i64 = chunks[..resume].iter().map(|c| c.count()).sum();
    run_chunks(
        p,
        execution_id.to_owned(),
        &input,
        &chunks,
        done as usize,
        clock,
        handler,
        each,
    )
}

/// Run the range's `chunks` that follow its first `loaded` days, in order,
/// then record the backfill's end.
#[allow(clippy::too_many_arguments)]
fn run_chunks(
    p: &Pipeline,
    execution_id: String,
    input: &BackfillInput,
    chunks: &[Days],
    loaded: usize,
    clock: &dyn Clock,
    handler: &dyn TaskHandler,
    mut each: impl FnMut(Day<'_>) -> Result<(), Stop>,
) -> Result<BackfillOutcome, LocalError> {
    let mut outcome = BackfillOutcome {
        execution_id,
        days: chunks.iter().map(|c| c.count() as usize).sum(),
        executions: chunks.len(),
        loaded,
        ran: 0,
        failed: None,
    };
    let mut failure = None;
    let mut start = 0;
    for chunk in chunks.iter().copied() {
        if start < loaded {
            start += chunk.count() as usize;
            continue;
        }
        let run_opts = RunOptions {
            strict: input.strict,
            dim_mode: input.dim_mode,
            leave_later_days: !input.reruns_after(chunk),
            allow_empty: false,
        };
        let run = p.start_days(chunk, run_opts, Some(&outcome.execution_id), clock, handler)?;
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
                    "{} {chunk} (execution {}) failed in {state}: {}",
                    if chunk.count() == 1 { "day" } else { "days" },
                    run.execution_id,
                    f.cause
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

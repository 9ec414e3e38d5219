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
use ovom_core::params::{Days, LogicalDate};
use ovom_core::ports::Value;
use serde::Deserialize;

use crate::error::LocalError;
use crate::pipeline::{DayRun, Pipeline, RunOptions};

/// What a backfill is asked: the backfill state machine's input, which the
/// run history keeps and a redrive reads back.
pub use ovom_core::backfill::BackfillInput;

/// The name the run history gives a backfill.
pub const BACKFILL: &str = "backfill";

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

/// Start a backfill of the range, checked before anything is written;
/// `each` hears of every chunk as it ends (a progress bar, a summary).
/// `parent` is the daily execution that started the backfill for the days
/// after its own. Only the range's last chunk runs again the days after the
/// range that are already loaded (with `input.rerun_later_days`): the chunks
/// before it are followed by the range's next chunks.
pub fn backfill(
    p: &Pipeline,
    input: &BackfillInput,
    parent: Option<&str>,
    clock: &dyn Clock,
    handler: &dyn TaskHandler,
    each: impl FnMut(Day<'_>) -> Result<(), Stop>,
) -> Result<BackfillOutcome, LocalError> {
    let chunks = input.chunks()?;
    let execution_id = p.next_execution_id(BACKFILL, None, |n| {
        format!(
            "{BACKFILL}-{}-{}-{n}",
            input.from.date().format("%Y%m%d"),
            input.to.date().format("%Y%m%d")
        )
    })?;
    let recorded = serde_json::to_value(input).expect("a backfill input serialises");
    p.execution_started(&execution_id, BACKFILL, None, &recorded, parent, clock)?;
    run_chunks(p, execution_id, input, &chunks, 0, clock, handler, each)
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
    run_chunks(
        p,
        execution_id.to_owned(),
        &input,
        &chunks,
        resume,
        clock,
        handler,
        each,
    )
}

/// Run the range's `chunks` from the `resume`th on (those before it are
/// loaded), in order, then record the backfill's end.
#[allow(clippy::too_many_arguments)]
fn run_chunks(
    p: &Pipeline,
    execution_id: String,
    input: &BackfillInput,
    chunks: &[Days],
    resume: usize,
    clock: &dyn Clock,
    handler: &dyn TaskHandler,
    mut each: impl FnMut(Day<'_>) -> Result<(), Stop>,
) -> Result<BackfillOutcome, LocalError> {
    let days = |chunks: &[Days]| chunks.iter().map(|c| c.count() as usize).sum();
    let mut outcome = BackfillOutcome {
        execution_id,
        days: days(chunks),
        executions: chunks.len(),
        loaded: days(&chunks[..resume]),
        ran: 0,
        failed: None,
    };
    let mut failure = None;
    for chunk in chunks[resume..].iter().copied() {
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

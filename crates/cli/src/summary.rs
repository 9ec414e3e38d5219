//! What a run of several days did, for the terminal.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;
use ovom_core::params::{Days, LogicalDate};
use ovom_core::ports::Warehouse;
use ovom_core::reports::PipelineResults;
use ovom_core::tasks;

use ovom_local::pipeline::DayRun;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub days: usize,
    /// Days a redriven backfill did not run: it had loaded them before.
    pub loaded_before: usize,
    pub succeeded: usize,
    pub loaded: u64,
    pub rejected: BTreeMap<String, u64>,
    pub duplicates: u64,
    pub quarantined: BTreeMap<String, u64>,
    /// Tests still waiting for their patient's first record.
    pub pending: u64,
    /// Lines of erased patients the stages dropped.
    pub suppressed: u64,
    /// The days the executions covered, for [`Summary::settle`].
    pub covered: BTreeSet<LogicalDate>,
    pub checks_passed: u64,
    pub checks_run: u64,
    /// Total time and runs of each state, by state name, in first-run order.
    pub steps: Vec<(String, Duration, u32)>,
    /// The days after a late day that its execution ran again, each range
    /// with the backfill that ran it.
    pub later_days: Vec<String>,
    pub failure: Option<String>,
}

impl Summary {
    /// Add one execution: its states' times, its checks, and where the day's
    /// lines went as the warehouse now records them.
    pub fn add(&mut self, run: &DayRun, wh: &mut dyn Warehouse) -> Result<()> {
        let days = run.days.count() as usize;
        self.days += days;
        self.covered.extend(run.days.iter());
        for r in &run.states {
            match self.steps.iter_mut().find(|(name, _, _)| *name == r.name) {
                Some(step) => {
                    step.1 += r.duration;
                    step.2 += 1;
                }
                None => self.steps.push((r.name.clone(), r.duration, 1)),
            }
        }
        let results = match &run.result {
            Ok(output) => Some(
                PipelineResults::from_output(output)
                    .map_err(|e| anyhow::anyhow!("execution {}: {e}", run.execution_id))?,
            ),
            Err(f) => {
                self.failure = Some(format!(
                    "execution {} for {} failed in state {}: {}: {}",
                    run.execution_id,
                    run.days,
                    run.failed_state.as_deref().unwrap_or(&f.state),
                    f.error,
                    f.cause
                ));
                None
            }
        };
        // A day that succeeded says in its output where its lines went; for
        // a failed day, ask the warehouse what it holds of the day.
        let Some(results) = results else {
            let outcomes = tasks::day_outcomes(run.days, wh)?;
            self.loaded += outcomes.loaded;
            self.duplicates += outcomes.duplicates;
            add(&mut self.rejected, outcomes.rejected);
            add(&mut self.quarantined, outcomes.quarantined);
            self.pending += outcomes.pending;
            return Ok(());
        };
        self.succeeded += days;
        for check in &results.quality.checks {
            self.checks_run += 1;
            self.checks_passed += u64::from(check.passed);
        }
        if let Some(later) = &results.later_days {
            let r = &later.range;
            self.later_days.push(format!(
                "{} … {}: {} days run again by {}",
                r.from, r.to, r.days, later.execution
            ));
        }
        let fact = &results.fact_bloodtest;
        self.loaded += fact.loaded.unwrap_or(0);
        self.duplicates += fact.duplicates.unwrap_or(0);
        self.pending += fact.pending.unwrap_or(0);
        add(&mut self.rejected, fact.rejected.clone());
        for stage in results.stages() {
            self.suppressed += stage.suppressed;
            if stage.quarantined > 0 {
                *self
                    .quarantined
                    .entry(stage.source.folder().to_owned())
                    .or_default() += stage.quarantined;
            }
        }
        Ok(())
    }

    /// Where the covered days' lines went as the warehouse records them once
    /// every execution has ended: a test that waited for its patient is
    /// counted where it ended up (loaded by a later execution, or still
    /// pending), not where the execution of its day left it.
    pub fn settle(&mut self, wh: &mut dyn Warehouse) -> Result<()> {
        let mut ranges: Vec<Days> = vec![];
        for &day in &self.covered {
            match ranges.last_mut() {
                Some(r) if r.last.date().succ_opt() == Some(day.date()) => r.last = day,
                _ => ranges.push(Days::one(day)),
            }
        }
        let (mut loaded, mut duplicates, mut pending) = (0, 0, 0);
        let (mut rejected, mut quarantined) = (BTreeMap::new(), BTreeMap::new());
        for days in ranges {
            let o = tasks::day_outcomes(days, wh)?;
            loaded += o.loaded;
            duplicates += o.duplicates;
            pending += o.pending;
            add(&mut rejected, o.rejected);
            add(&mut quarantined, o.quarantined);
        }
        (self.loaded, self.duplicates, self.pending) = (loaded, duplicates, pending);
        (self.rejected, self.quarantined) = (rejected, quarantined);
        Ok(())
    }

    pub fn render(&self, elapsed: Duration) -> String {
        let mut s = String::new();
        let rejected: u64 = self.rejected.values().sum();
        let quarantined: u64 = self.quarantined.values().sum();
        let skipped = if self.loaded_before > 0 {
            format!(", {} loaded before", self.loaded_before)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "days        {} run, {} succeeded{skipped}, in {:.2} s",
            self.days,
            self.succeeded,
            elapsed.as_secs_f64()
        );
        let _ = writeln!(s, "loaded      {}", self.loaded);
        let _ = writeln!(s, "rejected    {rejected}{}", breakdown(&self.rejected));
        let _ = writeln!(s, "duplicates  {}", self.duplicates);
        if self.pending > 0 {
            let _ = writeln!(
                s,
                "pending     {} (waiting for their patient's first record)",
                self.pending
            );
        }
        let _ = writeln!(
            s,
            "quarantined {quarantined}{}",
            breakdown(&self.quarantined)
        );
        if self.suppressed > 0 {
            let _ = writeln!(
                s,
                "suppressed  {} (lines of erased patients, not loaded)",
                self.suppressed
            );
        }
        let _ = writeln!(
            s,
            "checks      {} of {} passed",
            self.checks_passed, self.checks_run
        );
        for later in &self.later_days {
            let _ = writeln!(s, "later days  {later}");
        }
        let _ = writeln!(s, "time per step (total over days):");
        for (name, total, runs) in &self.steps {
            let _ = writeln!(
                s,
                "  {name:<18} {:>8.1} ms  ({runs} runs)",
                total.as_secs_f64() * 1e3
            );
        }
        if let Some(f) = &self.failure {
            let _ = writeln!(s, "FAILED: {f}");
        }
        s
    }
}

fn add(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (key, n) in from {
        *into.entry(key).or_default() += n;
    }
}

fn breakdown(by: &BTreeMap<String, u64>) -> String {
    if by.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = by.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("  ({})", parts.join(", "))
}

/// What `ovom forget` prints: the erasure's id, then what it removed from
/// each table and from each source's raw files (the `erasures` log's counts).
pub fn render_erasure(report: &ovom_core::erasure::ErasureReport) -> String {
    let already = match report.already_erased {
        0 => String::new(),
        n if n == report.patients => " (already erased earlier: nothing of theirs was left)".into(),
        n => format!(" ({n} of them already erased earlier: nothing of theirs was left)"),
    };
    let mut out = format!(
        "erasure     {}: {} patient{} erased{already}\n",
        report.erasure_id,
        report.patients,
        if report.patients == 1 { "" } else { "s" }
    );
    let (files, tables): (Vec<_>, Vec<_>) = report
        .removed
        .iter()
        .partition(|(place, _)| place.ends_with(" files"));
    let list = |items: Vec<(&String, &u64)>| {
        items
            .iter()
            .map(|(place, n)| format!("{place} {n}"))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    out.push_str(&format!("rows        {}\n", list(tables)));
    out.push_str(&format!(
        "raw lines   {} ({} file{} rewritten)\n",
        list(files),
        report.objects_rewritten,
        if report.objects_rewritten == 1 {
            ""
        } else {
            "s"
        }
    ));
    out.push_str(
        "suppressed  later runs, re-runs and backfills skip their lines (counted as suppressed)\n",
    );
    out
}

//! What a run of several days did, for the terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;
use ovom_core::ports::{Value, Warehouse};
use ovom_core::sql::{self, Dialect};

use crate::pipeline::DayRun;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub days: usize,
    /// Days a backfill did not run: their latest execution had succeeded.
    pub skipped: usize,
    pub succeeded: usize,
    pub loaded: u64,
    pub rejected: BTreeMap<String, u64>,
    pub duplicates: u64,
    pub quarantined: BTreeMap<String, u64>,
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
        for r in &run.states {
            match self.steps.iter_mut().find(|(name, _, _)| *name == r.name) {
                Some(step) => {
                    step.1 += r.duration;
                    step.2 += 1;
                }
                None => self.steps.push((r.name.clone(), r.duration, 1)),
            }
        }
        match &run.result {
            Ok(output) => {
                self.succeeded += days;
                for check in output["quality"]["checks"].as_array().into_iter().flatten() {
                    self.checks_run += 1;
                    self.checks_passed += u64::from(check["passed"].as_bool() == Some(true));
                }
            }
            Err(f) => {
                self.failure = Some(format!(
                    "execution {} for {} failed in state {}: {}: {}",
                    run.execution_id,
                    run.days,
                    run.failed_state.as_deref().unwrap_or(&f.state),
                    f.error,
                    f.cause
                ));
            }
        }
        // A day that succeeded says in its output where its lines went; for
        // a failed day, ask the warehouse what it holds of the day.
        if let Ok(output) = &run.result {
            let later = &output["later_days"];
            if let (Some(from), Some(to), Some(n), Some(by)) = (
                later["range"]["from"].as_str(),
                later["range"]["to"].as_str(),
                later["range"]["days"].as_u64(),
                later["execution"].as_str(),
            ) {
                self.later_days
                    .push(format!("{from} … {to}: {n} days run again by {by}"));
            }
            let fact = &output["fact_bloodtest"];
            let count = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
            self.loaded += count(&fact["loaded"]);
            self.duplicates += count(&fact["duplicates"]);
            for (reason, n) in fact["rejected"].as_object().into_iter().flatten() {
                *self.rejected.entry(reason.clone()).or_default() += count(n);
            }
            for stage in ["stage_patients", "stage_bloodtests"] {
                let n = count(&output[stage]["quarantined"]);
                if n > 0 {
                    let source = output[stage]["source"].as_str().unwrap_or(stage);
                    *self.quarantined.entry(source.to_owned()).or_default() += n;
                }
            }
            return Ok(());
        }
        let params = [
            ("logical_date", Value::Text(run.days.first.to_string())),
            ("through", Value::Text(run.days.last.to_string())),
        ];
        for row in wh.query(sql::file(Dialect::DuckDb, "reports/day_outcomes")?, &params)? {
            let n = row[2].as_i64().unwrap_or(0) as u64;
            let reason = row[1].to_string();
            match row[0].to_string().as_str() {
                "loaded" => self.loaded += n,
                "duplicate" => self.duplicates += n,
                "rejected" => *self.rejected.entry(reason).or_default() += n,
                "quarantined" => *self.quarantined.entry(reason).or_default() += n,
                _ => {}
            }
        }
        Ok(())
    }

    pub fn render(&self, elapsed: Duration) -> String {
        let mut s = String::new();
        let rejected: u64 = self.rejected.values().sum();
        let quarantined: u64 = self.quarantined.values().sum();
        let skipped = if self.skipped > 0 {
            format!(", {} skipped (already succeeded)", self.skipped)
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
        let _ = writeln!(
            s,
            "quarantined {quarantined}{}",
            breakdown(&self.quarantined)
        );
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

fn breakdown(by: &BTreeMap<String, u64>) -> String {
    if by.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = by.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("  ({})", parts.join(", "))
}

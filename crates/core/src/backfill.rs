//! The backfill state machine's input (`statemachine/backfill.asl.json`) and
//! the nested start by which the daily state machine runs it for the days
//! after a late one.

use serde::{Deserialize, Serialize};

use crate::params::{Days, DimMode, LogicalDate};
use crate::reports::BackfillRange;
use crate::TaskError;

/// The input of the backfill state machine (`statemachine/backfill.asl.json`):
/// the days `from` … `to`, loaded in chunks of `days_per_execution`
/// consecutive days, each chunk one execution of the daily state machine
/// over its range, in order. Its `ReadRange` state computes the same chunks
/// in JSONata (`tests/offline/backfill_jsonata.js` holds it to them); both
/// runtimes' harnesses run a backfill through [`BackfillInput::chunks`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillInput {
    pub from: LogicalDate,
    pub to: LogicalDate,
    #[serde(default)]
    pub dim_mode: DimMode,
    #[serde(default)]
    pub strict: bool,
    /// Whether the range's last chunk runs again the days after it that are
    /// already loaded (the chunks before it never do: the next chunks of the
    /// range follow them).
    #[serde(default = "yes")]
    pub rerun_later_days: bool,
    /// Days per execution of the daily state machine; by default
    /// [`BackfillInput::DEFAULT_DAYS_PER_EXECUTION`] (1 with append).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_per_execution: Option<u32>,
    /// The execution that started this one, which a nested start adds.
    #[serde(
        default,
        rename = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID",
        skip_serializing_if = "Option::is_none"
    )]
    pub started_by: Option<String>,
}

fn yes() -> bool {
    true
}

impl BackfillInput {
    /// The longest range one backfill takes: each chunk adds events to its
    /// execution history, whose quota is 25,000.
    pub const MAX_DAYS: i64 = 3000;
    /// A month per execution: a year's backfill is a dozen executions. A
    /// range execution leaves the warehouse as its days run one after
    /// another would, so the size changes the cost, not the result.
    pub const DEFAULT_DAYS_PER_EXECUTION: u32 = 31;

    /// A backfill of `days` with the defaults.
    pub fn new(days: Days) -> Self {
        Self {
            from: days.first,
            to: days.last,
            dim_mode: DimMode::default(),
            strict: false,
            rerun_later_days: true,
            days_per_execution: None,
            started_by: None,
        }
    }

    /// The range, checked: `from` not after `to`, at most [`Self::MAX_DAYS`].
    pub fn days(&self) -> Result<Days, TaskError> {
        let days = Days::new(self.from, Some(self.to)).map_err(|_| {
            TaskError::invalid("from", format!("{} is after to ({})", self.from, self.to))
        })?;
        if days.count() > Self::MAX_DAYS {
            return Err(TaskError::invalid(
                "to",
                format!(
                    "the range has {} days; a backfill loads at most {}: split it into several",
                    days.count(),
                    Self::MAX_DAYS
                ),
            ));
        }
        Ok(days)
    }

    /// Days per execution, checked: 1 to [`Self::MAX_DAYS`]; 1 with append,
    /// which keeps the first version of each key and so loads one day at a
    /// time.
    pub fn days_per_execution(&self) -> Result<u32, TaskError> {
        let append = self.dim_mode == DimMode::Append;
        let n = self.days_per_execution.unwrap_or(if append {
            1
        } else {
            Self::DEFAULT_DAYS_PER_EXECUTION
        });
        if !(1..=Self::MAX_DAYS).contains(&i64::from(n)) {
            return Err(TaskError::invalid(
                "days_per_execution",
                format!(
                    "must be a whole number from 1 to {}, not {n}",
                    Self::MAX_DAYS
                ),
            ));
        }
        if append && n != 1 {
            return Err(TaskError::invalid(
                "days_per_execution",
                format!("append keeps the first version of each key, so it loads one day per execution: must be 1, not {n}"),
            ));
        }
        Ok(n)
    }

    /// The chunks, in order: `days_per_execution` consecutive days each,
    /// the last one shorter.
    pub fn chunks(&self) -> Result<Vec<Days>, TaskError> {
        let days: Vec<LogicalDate> = self.days()?.iter().collect();
        let size = self.days_per_execution()? as usize;
        Ok(days
            .chunks(size)
            .map(|c| Days {
                first: c[0],
                last: c[c.len() - 1],
            })
            .collect())
    }

    /// The `rerun_later_days` of the daily execution that loads `chunk`.
    pub fn reruns_after(&self, chunk: Days) -> bool {
        self.rerun_later_days && chunk.last == self.to
    }

    /// The backfill's output when every chunk succeeded (its `range`).
    pub fn output(&self) -> Result<BackfillRange, TaskError> {
        Ok(BackfillRange {
            from: self.from,
            to: self.to,
            days: self.days()?.count(),
            days_per_execution: self.days_per_execution()?,
            executions: self.chunks()?.len(),
            dim_mode: self.dim_mode,
            strict: self.strict,
            rerun_later_days: self.rerun_later_days,
        })
    }
}

/// The parameters of a Task state that starts the backfill state machine
/// and waits for it (`arn:aws:states:::states:startExecution.sync:2`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NestedStart {
    pub state_machine_arn: String,
    pub name: String,
    pub input: BackfillInput,
}

impl NestedStart {
    /// What the Task state receives when the execution succeeded: the
    /// fields of DescribeExecution the state machine reads, the output as
    /// JSON (`.sync:2`).
    pub fn succeeded(&self, execution_arn: &str, output: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "ExecutionArn": execution_arn,
            "StateMachineArn": self.state_machine_arn,
            "Name": self.name,
            "Status": "SUCCEEDED",
            "Output": output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks_of(
        from: &str,
        to: &str,
        per: Option<u32>,
        mode: DimMode,
    ) -> Result<Vec<String>, TaskError> {
        let input = BackfillInput {
            dim_mode: mode,
            days_per_execution: per,
            ..BackfillInput::new(Days {
                first: from.parse().unwrap(),
                last: to.parse().unwrap(),
            })
        };
        Ok(input
            .chunks()?
            .iter()
            .map(|c| format!("{}..{}", c.first, c.last))
            .collect())
    }

    #[test]
    fn a_backfill_cuts_its_range_into_chunks_as_its_state_machine_does() {
        // The same answers as tests/offline/backfill_jsonata.js gets from the
        // definition's JSONata.
        let year = chunks_of("2025-01-01", "2025-12-31", None, DimMode::Merge).unwrap();
        assert_eq!(year.len(), 12);
        assert_eq!(year[0], "2025-01-01..2025-01-31");
        assert_eq!(year[1], "2025-02-01..2025-03-03");
        assert_eq!(year[11], "2025-12-08..2025-12-31");
        assert_eq!(
            chunks_of("2025-03-01", "2025-03-10", Some(7), DimMode::Merge).unwrap(),
            ["2025-03-01..2025-03-07", "2025-03-08..2025-03-10"]
        );
        assert_eq!(
            chunks_of("2025-03-14", "2025-03-15", None, DimMode::Append).unwrap(),
            ["2025-03-14..2025-03-14", "2025-03-15..2025-03-15"]
        );
        assert_eq!(
            chunks_of("2025-01-01", "2025-12-31", Some(3000), DimMode::Merge).unwrap(),
            ["2025-01-01..2025-12-31"]
        );
        for (per, mode, field) in [
            (Some(0), DimMode::Merge, "days_per_execution"),
            (Some(3001), DimMode::Merge, "days_per_execution"),
            (Some(7), DimMode::Append, "days_per_execution"),
        ] {
            let err = chunks_of("2025-03-14", "2025-03-15", per, mode).unwrap_err();
            assert!(
                matches!(&err, TaskError::InvalidParameters { field: f, .. } if f == field),
                "{err}"
            );
        }
        assert!(chunks_of("2025-03-15", "2025-03-14", None, DimMode::Merge).is_err());
        assert!(chunks_of("2015-01-01", "2023-03-20", Some(1), DimMode::Merge).is_err());
        assert_eq!(
            chunks_of("2015-01-01", "2023-03-19", Some(1), DimMode::Merge)
                .unwrap()
                .len(),
            3000
        );
    }
}

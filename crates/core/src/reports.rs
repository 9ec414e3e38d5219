//! What the tasks return and what the daily state machine's execution
//! outputs, as types: the task serialises its report once, and every reader
//! (the Lambda's metrics, `ovom`'s summary and report) deserialises the same
//! type, so a renamed field or `ResultPath` fails loudly instead of reading
//! as zero.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::params::{Check, Days, DimMode, LogicalDate, Model, Source};
use crate::sql::Comparison;

/// What the stage task did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageReport {
    pub source: Source,
    pub logical_date: LogicalDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<LogicalDate>,
    pub files: u64,
    pub lines_read: u64,
    pub staged: u64,
    pub quarantined: u64,
    /// Lines of erased patients, read and not staged (the suppression list).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub suppressed: u64,
    /// The days after the task's days that the warehouse already holds:
    /// they were decided without this run's days (a test whose patient
    /// first came on them, a copy delivered again), so the state machine
    /// runs them again, in order, after this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub later_days: Option<LaterDays>,
}

/// A range of days already loaded after a task's days, `from` through `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaterDays {
    pub from: LogicalDate,
    pub to: LogicalDate,
}

/// What the load task did. For the fact, the day's outcome of every staged
/// test: loaded, rejected by reason, or a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadReport {
    pub model: Model,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DimMode>,
    pub logical_date: LogicalDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<LogicalDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rejected: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<u64>,
    /// Tests of these days still waiting for their patient's first record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    pub check: Check,
    pub got: i64,
    pub comparison: Comparison,
    pub expected: i64,
    pub passed: bool,
}

/// What the quality task did: every check it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityReport {
    pub logical_date: LogicalDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<LogicalDate>,
    pub checks: Vec<CheckResult>,
}

/// Where the lines of some days went, as the warehouse records them
/// (`sql/reports/day_outcomes.sql`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayOutcomes {
    pub loaded: u64,
    pub duplicates: u64,
    /// Rejected tests by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Quarantined lines by source folder.
    pub quarantined: BTreeMap<String, u64>,
    /// Tests waiting for their patient's first record.
    pub pending: u64,
}

/// The last day of a task's days when they are a range (`through`).
pub fn through(days: Days) -> Option<LogicalDate> {
    (days.count() > 1).then_some(days.last)
}

/// A dimension of the `LoadDimensions` Parallel, as its branch's
/// `ResultSelector` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DimensionResult {
    pub model: Model,
    #[serde(default)]
    pub mode: Option<DimMode>,
}

/// The backfill's output when every day succeeded (`BackfillInput::output`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillRange {
    pub from: LogicalDate,
    pub to: LogicalDate,
    pub days: i64,
    pub days_per_execution: u32,
    /// Executions of the daily state machine: one per chunk.
    pub executions: usize,
    pub dim_mode: DimMode,
    pub strict: bool,
    pub rerun_later_days: bool,
}

/// The days after a late day, run again by a backfill (`RerunLaterDays`'s
/// `ResultSelector`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaterDaysRun {
    pub execution: String,
    pub range: BackfillRange,
}

/// The output of a daily execution that succeeded: `$.results`, one field
/// per `ResultPath` of `statemachine/pipeline.asl.json` (a test keeps the
/// two equal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineResults {
    pub stage_patients: StageReport,
    pub dim_patient: LoadReport,
    pub stage_bloodtests: StageReport,
    pub dimensions: Vec<DimensionResult>,
    pub fact_bloodtest: LoadReport,
    pub quality: QualityReport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub later_days: Option<LaterDaysRun>,
}

impl PipelineResults {
    /// The names of its fields: the `$.results.<name>` the state machine writes.
    pub const FIELDS: [&'static str; 7] = [
        "stage_patients",
        "dim_patient",
        "stage_bloodtests",
        "dimensions",
        "fact_bloodtest",
        "quality",
        "later_days",
    ];

    /// Read an execution's output.
    pub fn from_output(output: &serde_json::Value) -> Result<Self, String> {
        let mut track = serde_path_to_error::Track::new();
        let de = serde_path_to_error::Deserializer::new(output, &mut track);
        Self::deserialize(de).map_err(|e| {
            format!(
                "the execution's output does not read as the state machine's results at `{}`: {e}",
                track.path()
            )
        })
    }

    /// Both stage reports.
    pub fn stages(&self) -> [&StageReport; 2] {
        [&self.stage_patients, &self.stage_bloodtests]
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn result_paths(v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if let (true, Some(p)) = (k == "ResultPath", v.as_str()) {
                        if let Some(name) = p.strip_prefix("$.results.") {
                            out.insert(name.to_owned());
                        }
                    }
                    result_paths(v, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| result_paths(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_results_type_mirrors_the_state_machines_result_paths() {
        let definition: serde_json::Value =
            serde_json::from_str(include_str!("../../../statemachine/pipeline.asl.json")).unwrap();
        let mut paths = BTreeSet::new();
        result_paths(&definition, &mut paths);
        let fields: BTreeSet<String> = PipelineResults::FIELDS.map(String::from).into();
        assert_eq!(paths, fields);

        let day: LogicalDate = "2025-03-14".parse().unwrap();
        let stage = |source| StageReport {
            source,
            logical_date: day,
            through: None,
            files: 1,
            lines_read: 3,
            staged: 2,
            quarantined: 1,
            suppressed: 0,
            later_days: None,
        };
        let load = |model| LoadReport {
            model,
            mode: None,
            logical_date: day,
            through: None,
            loaded: Some(2),
            rejected: BTreeMap::new(),
            duplicates: Some(0),
            pending: Some(0),
        };
        let results = PipelineResults {
            stage_patients: stage(Source::PatientData),
            dim_patient: load(Model::DimPatient),
            stage_bloodtests: stage(Source::LogData),
            dimensions: vec![DimensionResult {
                model: Model::DimLab,
                mode: Some(DimMode::Merge),
            }],
            fact_bloodtest: load(Model::FactBloodtest),
            quality: QualityReport {
                logical_date: day,
                through: None,
                checks: vec![CheckResult {
                    check: Check::DayReconciles,
                    got: 0,
                    comparison: Comparison::Eq,
                    expected: 0,
                    passed: true,
                }],
            },
            later_days: Some(LaterDaysRun {
                execution: "backfill-1".into(),
                range: BackfillRange {
                    from: day,
                    to: day,
                    days: 1,
                    days_per_execution: 31,
                    executions: 1,
                    dim_mode: DimMode::Merge,
                    strict: false,
                    rerun_later_days: false,
                },
            }),
        };
        let json = serde_json::to_value(&results).unwrap();
        let keys: BTreeSet<String> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, fields);
        assert_eq!(PipelineResults::from_output(&json).unwrap(), results);

        // A renamed or missing result fails loudly, naming where.
        let mut renamed = json.clone();
        let fact = renamed
            .as_object_mut()
            .unwrap()
            .remove("fact_bloodtest")
            .unwrap();
        renamed["fact"] = fact;
        let e = PipelineResults::from_output(&renamed).unwrap_err();
        assert!(e.contains("fact"), "{e}");
        let mut miscounted = json;
        miscounted["stage_patients"]["staged"] = "two".into();
        let e = PipelineResults::from_output(&miscounted).unwrap_err();
        assert!(e.contains("stage_patients.staged"), "{e}");
    }
}

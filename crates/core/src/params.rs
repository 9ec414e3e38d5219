//! Typed, validated task parameters: the event a Lambda receives, and the
//! `Parameters` the state machine builds for each task.
//!
//! Parsing is the only way in: every field is checked here, unknown fields are
//! errors, and nothing that reaches SQL is a free string.

use chrono::{Datelike, NaiveDate};
use serde::de::Visitor;
use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr};

use crate::TaskError;

pub use crate::backfill::{BackfillInput, NestedStart};

/// Largest accepted event, in bytes: a task's parameters are a few hundred.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;

/// Parse a task's parameters from JSON, mapping every problem to
/// [`TaskError::InvalidParameters`] naming the field at fault (`event` when
/// the problem is the event as a whole, such as a missing field).
pub fn parse<T: for<'de> Deserialize<'de>>(event: &serde_json::Value) -> Result<T, TaskError> {
    let size = event.to_string().len();
    if size > MAX_EVENT_BYTES {
        return Err(TaskError::invalid(
            "event",
            format!("{size} bytes is larger than the {MAX_EVENT_BYTES}-byte limit"),
        ));
    }
    let Some(object) = event.as_object() else {
        return T::deserialize(event)
            .map_err(|e| TaskError::invalid("event", shorten(&e.to_string(), 300)));
    };
    let at_fault = std::cell::Cell::new(None);
    T::deserialize(Fields {
        object,
        at_fault: &at_fault,
    })
    .map_err(|e| {
        // A type's own check ([`ValueError`]) says only why: the field at
        // fault, whichever holds the value, is named here.
        let reason = shorten(&e.to_string(), 300);
        match at_fault.get() {
            Some(field) => TaskError::invalid(shorten(field, 64), reason),
            None => TaskError::invalid("event", reason),
        }
    })
}

/// A field name or reason (which may quote the value) cut to `max` characters.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// An event's fields, deserialized one by one, remembering the field whose
/// name or value was refused.
struct Fields<'a> {
    object: &'a serde_json::Map<String, serde_json::Value>,
    at_fault: &'a std::cell::Cell<Option<&'a str>>,
}

impl<'a> serde::Deserializer<'a> for Fields<'a> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(FieldValues {
            fields: self.object.iter(),
            value: None,
            at_fault: self.at_fault,
        })
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct FieldValues<'a> {
    fields: serde_json::map::Iter<'a>,
    value: Option<(&'a str, &'a serde_json::Value)>,
    at_fault: &'a std::cell::Cell<Option<&'a str>>,
}

impl<'a> serde::de::MapAccess<'a> for FieldValues<'a> {
    type Error = serde_json::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((name, value)) = self.fields.next() else {
            return Ok(None);
        };
        self.value = Some((name, value));
        let key =
            serde::de::IntoDeserializer::<serde_json::Error>::into_deserializer(name.as_str());
        seed.deserialize(key)
            .map(Some)
            .inspect_err(|_| self.at_fault.set(Some(name)))
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'a>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let (name, value) = self.value.take().expect("a value follows its field's name");
        seed.deserialize(value)
            .inspect_err(|_| self.at_fault.set(Some(name)))
    }
}

/// A value a parameter's type refuses: the parameter it is meant for and
/// why (the reason alone is the message, so a parser that knows which field
/// held the value names that field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ValueError {
    pub field: &'static str,
    pub reason: String,
}

impl From<ValueError> for TaskError {
    fn from(e: ValueError) -> Self {
        TaskError::invalid(e.field, e.reason)
    }
}

/// A UTC calendar day, `YYYY-MM-DD`, between 1970 and 2100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogicalDate(NaiveDate);

impl LogicalDate {
    pub fn new(date: NaiveDate) -> Result<Self, ValueError> {
        if !(1970..=2100).contains(&date.year()) {
            return Err(ValueError {
                field: "logical_date",
                reason: format!("{date} is outside 1970..=2100"),
            });
        }
        Ok(Self(date))
    }
    pub fn date(self) -> NaiveDate {
        self.0
    }
    /// `YYYY/MM/DD`, the folder of this day under a source.
    pub fn folder(self) -> String {
        self.0.format("%Y/%m/%d").to_string()
    }
}

impl std::str::FromStr for LogicalDate {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let bad = || {
            let shown: String = s.chars().take(40).collect();
            ValueError {
                field: "logical_date",
                reason: format!("{shown:?} is not a date YYYY-MM-DD"),
            }
        };
        if s.len() != 10 {
            return Err(bad());
        }
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
        Self::new(date)
    }
}

impl TryFrom<String> for LogicalDate {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, ValueError> {
        s.parse()
    }
}

impl From<LogicalDate> for String {
    fn from(d: LogicalDate) -> String {
        d.to_string()
    }
}

impl std::fmt::Display for LogicalDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// The logical days a task covers: `first` through `last`, both included.
/// A range is loaded in one pass, with the result of loading its days one
/// after another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub first: LogicalDate,
    pub last: LogicalDate,
}

impl Days {
    pub fn new(first: LogicalDate, through: Option<LogicalDate>) -> Result<Self, TaskError> {
        let last = through.unwrap_or(first);
        if last < first {
            return Err(TaskError::invalid(
                "through",
                format!("{last} is before logical_date {first}"),
            ));
        }
        Ok(Self { first, last })
    }
    fn spanning(first: LogicalDate, through: Option<LogicalDate>) -> Self {
        Self {
            first,
            last: through.map_or(first, |t| t.max(first)),
        }
    }
    pub fn one(day: LogicalDate) -> Self {
        Self {
            first: day,
            last: day,
        }
    }
    pub fn count(self) -> i64 {
        (self.last.date() - self.first.date()).num_days() + 1
    }
    pub fn contains(self, day: LogicalDate) -> bool {
        (self.first..=self.last).contains(&day)
    }
    /// Each day, in order.
    pub fn iter(self) -> impl Iterator<Item = LogicalDate> {
        self.first
            .date()
            .iter_days()
            .take(self.count() as usize)
            .map(LogicalDate)
    }
}

impl std::fmt::Display for Days {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{} … {}", self.first, self.last)
        }
    }
}

/// The id of the execution a task runs in (a Step Functions execution name):
/// 1 to 80 of `A-Z a-z 0-9 - _ . :`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RunId {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, ValueError> {
        let ok = (1..=80).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if ok {
            Ok(Self(s))
        } else {
            let shown: String = s.chars().take(40).collect();
            Err(ValueError {
                field: "run_id",
                reason: format!("{shown:?} must be 1 to 80 of A-Z a-z 0-9 - _ . :"),
            })
        }
    }
}

impl From<RunId> for String {
    fn from(r: RunId) -> String {
        r.0
    }
}

impl std::str::FromStr for RunId {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        Self::try_from(s.to_owned())
    }
}

/// One of the two raw sources of the data contract.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Source {
    PatientData,
    LogData,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::PatientData, Source::LogData];
    /// The folder under the data root, as in the data contract.
    pub fn folder(self) -> &'static str {
        self.into()
    }
    /// The staging table this source is copied into.
    pub fn staging_table(self) -> &'static str {
        match self {
            Source::PatientData => "staging_patient",
            Source::LogData => "staging_bloodtest",
        }
    }
    /// The day of a key under any source:
    /// `log_data/2025/03/14/part-00000.json` → 2025-03-14.
    pub fn day_of_key(key: &str) -> Option<LogicalDate> {
        Self::locate(key).ok()
    }
    /// The day of a key under any source, or why the key is outside the
    /// layout `<source>/YYYY/MM/DD/<file>` (a file at year or month level,
    /// a folder that is not a day, a day outside 1970 … 2100).
    pub fn locate(key: &str) -> Result<LogicalDate, String> {
        let parts: Vec<&str> = key.split('/').skip(1).collect();
        let [y, m, d, _file, ..] = parts.as_slice() else {
            return Err("a file outside any day folder".into());
        };
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
            return Err(format!("{y}/{m}/{d} is not a YYYY/MM/DD folder"));
        }
        format!("{y}-{m}-{d}")
            .parse()
            .map_err(|_| format!("{y}-{m}-{d} is not a day between 1970 and 2100"))
    }
    /// The prefix holding one day's files: `log_data/2025/03/14/`.
    pub fn day_prefix(self, day: LogicalDate) -> String {
        format!("{}/{}/", self.folder(), day.folder())
    }
}

/// How a dimension is loaded.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Default,
    IntoStaticStr,
    EnumString,
)]
#[strum(serialize_all = "kebab-case")]
pub enum DimMode {
    /// Empty the dimension, then rebuild it from every staged day.
    #[serde(rename = "truncate-insert")]
    TruncateInsert,
    /// Insert the day's new keys; existing rows are never changed.
    #[serde(rename = "append")]
    Append,
    /// Upsert: insert new keys and replace rows the day has a newer version of.
    #[default]
    #[serde(rename = "merge")]
    Merge,
}

impl DimMode {
    pub const ALL: [DimMode; 3] = [DimMode::Merge, DimMode::Append, DimMode::TruncateInsert];

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The fixed set of models the load task can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Model {
    DimPatient,
    DimDoctor,
    DimLab,
    DimDate,
    FactBloodtest,
}

impl Model {
    pub const ALL: [Model; 5] = [
        Model::DimPatient,
        Model::DimDoctor,
        Model::DimLab,
        Model::DimDate,
        Model::FactBloodtest,
    ];
    /// The table the model writes, which is also its SQL file's name.
    pub fn table(self) -> &'static str {
        self.into()
    }
    pub fn is_dimension(self) -> bool {
        self != Model::FactBloodtest
    }
}

/// The named quality checks, one SQL file each under `sql/checks/`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Check {
    FactRulesHold,
    FactJoinsDimensions,
    TestIdUnique,
    DayReconciles,
    PatientDayReconciles,
    DimPatientUnique,
}

impl Check {
    pub const ALL: [Check; 6] = [
        Check::FactRulesHold,
        Check::FactJoinsDimensions,
        Check::TestIdUnique,
        Check::DayReconciles,
        Check::PatientDayReconciles,
        Check::DimPatientUnique,
    ];
    pub fn name(self) -> &'static str {
        self.into()
    }
}

fn default_max_errors() -> u32 {
    StageParams::DEFAULT_MAX_ERRORS
}

/// Parameters of the stage task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageParams {
    pub source: Source,
    pub logical_date: LogicalDate,
    /// The last logical day of a range the task covers, `logical_date`
    /// through `through` (one day when absent or equal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<LogicalDate>,
    pub run_id: RunId,
    /// Fail the day, staging nothing, on the first malformed line.
    #[serde(default)]
    pub strict: bool,
    /// Most malformed lines a day may quarantine before the task fails
    /// (Redshift's `MAXERROR`).
    #[serde(default = "default_max_errors")]
    pub max_errors: u32,
    /// Empty a day with no file even when the warehouse holds rows of it
    /// (otherwise refused: [`crate::TaskError::EmptyDayRefused`]).
    #[serde(default)]
    pub allow_empty: bool,
}

impl StageParams {
    /// The days the task covers (validated: `through` is not before `logical_date`).
    pub fn days(&self) -> Days {
        Days::spanning(self.logical_date, self.through)
    }
    pub const DEFAULT_MAX_ERRORS: u32 = 100_000;

    pub fn validate(self) -> Result<Self, TaskError> {
        Days::new(self.logical_date, self.through)?;
        if self.max_errors > Self::DEFAULT_MAX_ERRORS {
            return Err(TaskError::invalid(
                "max_errors",
                format!("{} is above {}", self.max_errors, Self::DEFAULT_MAX_ERRORS),
            ));
        }
        Ok(self)
    }

    /// Malformed lines tolerated: none when strict.
    pub fn error_budget(&self) -> u32 {
        if self.strict {
            0
        } else {
            self.max_errors
        }
    }
}

/// Parameters of the load task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadParams {
    pub model: Model,
    /// Only for dimensions; the fact is always a replace of its day.
    #[serde(default)]
    pub mode: Option<DimMode>,
    pub logical_date: LogicalDate,
    /// The last logical day of a range the task covers, `logical_date`
    /// through `through` (one day when absent or equal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<LogicalDate>,
    pub run_id: RunId,
    /// Only for the fact: how many days after its delivery day a test waits
    /// for its patient's first record before it is rejected
    /// `unknown_patient` (the data contract's late patient records);
    /// [`PATIENT_WAIT_DAYS`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_wait_days: Option<u32>,
}

/// The data contract's default late patient window, in days.
pub const PATIENT_WAIT_DAYS: u32 = 7;
/// The longest window a load accepts: a day's load reads back this many
/// days of staged tests.
pub const MAX_PATIENT_WAIT_DAYS: u32 = 90;

impl LoadParams {
    /// The days the task covers (validated: `through` is not before `logical_date`).
    pub fn days(&self) -> Days {
        Days::spanning(self.logical_date, self.through)
    }
    /// The late patient window of a fact load.
    pub fn patient_wait_days(&self) -> u32 {
        self.patient_wait_days.unwrap_or(PATIENT_WAIT_DAYS)
    }
    pub fn validate(self) -> Result<Self, TaskError> {
        let days = Days::new(self.logical_date, self.through)?;
        if self.model == Model::FactBloodtest && self.mode.is_some() {
            return Err(TaskError::invalid(
                "mode",
                "fact_bloodtest has no mode: it replaces its logical day",
            ));
        }
        if self.model != Model::FactBloodtest && self.patient_wait_days.is_some() {
            return Err(TaskError::invalid(
                "patient_wait_days",
                "only fact_bloodtest waits for late patient records",
            ));
        }
        if self.patient_wait_days() > MAX_PATIENT_WAIT_DAYS {
            return Err(TaskError::invalid(
                "patient_wait_days",
                format!(
                    "{} is more than {MAX_PATIENT_WAIT_DAYS} days",
                    self.patient_wait_days()
                ),
            ));
        }
        if self.mode == Some(DimMode::Append) && days.count() > 1 {
            return Err(TaskError::invalid(
                "through",
                "append keeps the first version of each key, so it loads one day at a time: give no range",
            ));
        }
        Ok(self)
    }
}

/// Parameters of the quality task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityParams {
    pub logical_date: LogicalDate,
    /// The last logical day of a range the task covers, `logical_date`
    /// through `through` (one day when absent or equal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<LogicalDate>,
    pub run_id: RunId,
    /// The checks to run; all of them when absent.
    #[serde(default)]
    pub checks: Option<Vec<Check>>,
}

impl QualityParams {
    /// The days the task covers (validated: `through` is not before `logical_date`).
    pub fn days(&self) -> Days {
        Days::spanning(self.logical_date, self.through)
    }
    pub fn validate(self) -> Result<Self, TaskError> {
        Days::new(self.logical_date, self.through)?;
        match &self.checks {
            Some(c) if c.is_empty() => Err(TaskError::invalid("checks", "is empty")),
            Some(c) if c.len() > Check::ALL.len() * 2 => Err(TaskError::invalid(
                "checks",
                format!("{} checks is too many", c.len()),
            )),
            _ => Ok(self),
        }
    }
    pub fn checks(&self) -> Vec<Check> {
        self.checks.clone().unwrap_or_else(|| Check::ALL.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name a variant has in events and reports (serde) is the name the
    /// code spells it by (strum): one spelling per variant.
    fn same_names<T: Serialize + Copy + Into<&'static str>>(all: &[T]) {
        for v in all {
            let name: &'static str = (*v).into();
            assert_eq!(serde_json::to_value(v).unwrap(), name, "{name}");
        }
    }

    #[test]
    fn only_the_fact_waits_for_late_patients_and_within_bounds() {
        let load = |model: &str, wait: Option<u32>| {
            let mut event = serde_json::json!({
                "model": model, "logical_date": "2025-03-14", "run_id": "r1"
            });
            if let Some(w) = wait {
                event["patient_wait_days"] = w.into();
            }
            parse::<LoadParams>(&event).and_then(LoadParams::validate)
        };
        assert_eq!(
            load("fact_bloodtest", None).unwrap().patient_wait_days(),
            PATIENT_WAIT_DAYS
        );
        assert_eq!(
            load("fact_bloodtest", Some(0)).unwrap().patient_wait_days(),
            0
        );
        assert_eq!(
            load("fact_bloodtest", Some(90))
                .unwrap()
                .patient_wait_days(),
            90
        );
        for (model, wait) in [("fact_bloodtest", 91), ("dim_patient", 7)] {
            let err = load(model, Some(wait)).unwrap_err().to_string();
            assert!(err.contains("patient_wait_days"), "{err}");
        }
    }

    #[test]
    fn each_enum_has_one_spelling() {
        same_names(&Source::ALL);
        same_names(&DimMode::ALL);
        same_names(&Model::ALL);
        same_names(&Check::ALL);
        for m in DimMode::ALL {
            assert_eq!(m.as_str().parse::<DimMode>().unwrap(), m);
        }
        assert!("Merge".parse::<DimMode>().is_err());
    }
}

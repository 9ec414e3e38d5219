//! The deterministic generator of OVŌM Care's simulated EHR export: patient
//! records and blood tests as JSON Lines, in the layout and format of the data
//! contract (`shared/data-contract.md`).
//!
//! # The model
//!
//! * **The world** is fixed, whatever the seed: 25 clinics with 120 doctors in
//!   12 UK cities, and 40 labs in the same cities. Ids, names, clinics and cities
//!   are stable, so every data set has the same doctors and labs.
//! * **Patients** (ids `1..=patients`, in order of registration) register
//!   during the simulated year, most of them in its first months (the day is
//!   the earliest of three uniform draws, quieter at weekends), in clinic hours.
//!   Sex, age, height and weight follow the public cardiovascular-disease data
//!   set the contract names (about 65 % F, age 29–64 with mean about 53, height
//!   about 161 cm for women and 170 cm for men, weight from a skewed BMI). Each
//!   patient has a usual clinic, doctor and lab in one city, and a baseline:
//!   blood pressure (rising with age, BMI and disease), cholesterol and glucose
//!   (correlated), smoking and alcohol (mostly men), physical activity, and
//!   cardiovascular disease (a latent risk of age, cholesterol, glucose, BMI and
//!   inactivity, for about half of them). About one patient in ten gets one
//!   update record on a later day: a new weight, sometimes a new address.
//! * **Blood tests** are shared out among patients in proportion to a personal
//!   activity level times the days left in the year after registration
//!   (systematic sampling, so there are exactly `tests`). Each falls on a day on
//!   or after the patient's registration (after the registration time on that
//!   day), mostly with the usual doctor and lab. Its measures repeat the
//!   baseline with small variation; pressures are mostly rounded to 10 mmHg as
//!   in that data set, and clean ones always pass the contract's validity rules.
//!   Test ids are `bt-` and 8 digits, numbered in delivery order (day, time,
//!   generation index).
//! * **Dirty data**: each test is dirty with probability `dirty_rate`, the four
//!   kinds equally likely: an implausible pressure (negative, above 300, or below
//!   the rule's bounds), a systolic below the diastolic (both in range), a
//!   duplicate (the byte-identical line delivered again the same day, after the
//!   day's regular lines: in its last part when the day has several, else in a
//!   part of its own), or an unknown patient (an id above every patient's).
//! * **Malformed lines**: each test line, except a duplicate's, is replaced with
//!   probability `malformed_rate` by a broken one, the kinds in turn: cut in the
//!   middle, a field with a value of the wrong type, a field left out. Patient
//!   records are never malformed.
//!
//! The [`Summary`] counts what is in the files: a dirty test whose line was
//! replaced by a malformed one counts as malformed only, so the warehouse's
//! rejects by reason equal the dirty counts.
//!
//! Every number comes from the crate's own SplitMix64 streams, one per patient
//! and per test, and only integer and basic floating-point arithmetic, so the
//! output is byte-identical for the same [`Options`] on every platform.

use std::path::{Component, Path, PathBuf};

mod calendar;
mod json;
mod model;
mod rng;
mod world;
mod write;

#[cfg(test)]
mod tests;

/// Most lines in one part file; a day with more is split into several parts.
pub const MAX_LINES_PER_PART: usize = 50_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Number of patients, ids `1..=patients`.
    pub patients: u32,
    /// Number of blood tests (a duplicate adds one more line).
    pub tests: u32,
    /// The simulated calendar year.
    pub year: i32,
    /// Probability that a test is dirty.
    pub dirty_rate: f64,
    /// Probability that a test line is replaced by a malformed one.
    pub malformed_rate: f64,
    /// Probability that a patient with no update has its record delivered
    /// late: 1 to 10 days after it registered, while its tests of those days
    /// are delivered on time (the data contract's late patient records; with
    /// the default 7-day window, some of those tests load late and some are
    /// rejected `unknown_patient`).
    pub late_patient_rate: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 42,
            patients: 7000,
            tests: 70_000,
            year: 2025,
            dirty_rate: 0.01,
            malformed_rate: 0.0,
            late_patient_rate: 0.0,
        }
    }
}

impl Options {
    /// Check every option's range.
    pub fn validate(&self) -> Result<(), GenerateError> {
        fn bad(
            option: &'static str,
            value: impl ToString,
            expected: &'static str,
        ) -> Result<(), GenerateError> {
            Err(GenerateError::InvalidOption {
                option,
                value: value.to_string(),
                expected,
            })
        }
        if !(1..=10_000_000).contains(&self.patients) {
            return bad("patients", self.patients, "an integer from 1 to 10000000");
        }
        if self.tests > 100_000_000 {
            return bad("tests", self.tests, "an integer from 0 to 100000000");
        }
        if !(1970..=2100).contains(&self.year) {
            return bad("year", self.year, "a year from 1970 to 2100");
        }
        for (option, rate) in [
            ("dirty_rate", self.dirty_rate),
            ("malformed_rate", self.malformed_rate),
            ("late_patient_rate", self.late_patient_rate),
        ] {
            if !(rate.is_finite() && (0.0..=1.0).contains(&rate)) {
                return bad(option, rate, "a number from 0 to 1");
            }
        }
        Ok(())
    }
}

/// Where files go: a local folder now, an S3 prefix later. Paths are relative,
/// `/`-separated, e.g. `log_data/2025/03/14/part-00000.json`.
pub trait Sink {
    fn write_file(&mut self, relative_path: &str, contents: &[u8]) -> std::io::Result<()>;
}

/// Files under a local folder, creating folders as needed.
#[derive(Debug)]
pub struct DirSink {
    root: PathBuf,
    /// The last folder created, to skip creating it again.
    last_dir: Option<PathBuf>,
}

impl DirSink {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirSink {
            root: root.into(),
            last_dir: None,
        }
    }
}

impl Sink for DirSink {
    fn write_file(&mut self, relative_path: &str, contents: &[u8]) -> std::io::Result<()> {
        let rel = Path::new(relative_path);
        let plain = relative_path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'))
            && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{relative_path:?} is not a plain relative path"),
            ));
        }
        let path = self.root.join(rel);
        if let Some(dir) = path.parent() {
            if self.last_dir.as_deref() != Some(dir) {
                std::fs::create_dir_all(dir)?;
                self.last_dir = Some(dir.to_path_buf());
            }
        }
        std::fs::write(&path, contents)
    }
}

/// How far generation has got, in lines written (patient records and test
/// lines).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Lines in `patient_data`: registrations and updates.
    pub patient_records: u64,
    pub patient_updates: u64,
    /// Registrations delivered after the day the patient registered.
    pub late_patient_records: u64,
    pub patient_files: u64,
    /// Lines in `log_data`, duplicates and malformed lines included.
    pub test_lines: u64,
    pub test_files: u64,
    pub days_with_tests: u64,
    /// Well-formed test lines with a pressure outside the plausible range.
    pub dirty_implausible_pressure: u64,
    /// Well-formed test lines with both pressures in range but `ap_hi < ap_lo`.
    pub dirty_systolic_below_diastolic: u64,
    /// Extra deliveries of a test line (each a copy of a line of the same day).
    pub dirty_duplicates: u64,
    /// Well-formed test lines whose patient has no record.
    pub dirty_unknown_patient: u64,
    /// Test lines that are not a valid record.
    pub malformed_lines: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("invalid option {option} = {value}: expected {expected}")]
    InvalidOption {
        option: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Generate the data set described by `opts` into `sink`, files in sorted path
/// order, calling `progress` a few hundred times at most.
pub fn generate(
    opts: &Options,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(Progress),
) -> Result<Summary, GenerateError> {
    generate_parts(opts, MAX_LINES_PER_PART, sink, progress)
}

/// `generate` with another limit of lines per part file.
pub(crate) fn generate_parts(
    opts: &Options,
    part_lines: usize,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(Progress),
) -> Result<Summary, GenerateError> {
    opts.validate()?;
    let cal = calendar::Calendar::new(opts.year);
    let world = world::World::build();
    let patients = model::patients(opts, &cal, &world);
    let (tests, day_starts) = model::tests(opts, &patients, &cal, &world);
    write::write_all(
        &patients,
        &tests,
        &day_starts,
        &cal,
        &world,
        part_lines.max(1),
        sink,
        progress,
    )
}

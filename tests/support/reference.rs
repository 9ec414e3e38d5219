//! The data contract's rules computed independently of the pipeline, straight
//! from the raw files: which tests the warehouse must hold, which it must
//! reject and why, and how many lines are duplicates or malformed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value};

#[derive(Debug, Default, PartialEq)]
pub struct Expected {
    pub accepted: BTreeSet<String>,
    pub rejected: BTreeMap<String, u64>,
    pub duplicates: u64,
    pub quarantined_tests: u64,
    pub quarantined_patients: u64,
    pub test_lines: u64,
    pub patients: BTreeSet<i64>,
    /// Tests still waiting for their patient's first record after the last
    /// day: valid, with no patient record by now, and delivered less than
    /// the wait window before the last day.
    pub pending: u64,
    /// Each accepted test's patient version in force when it was taken: the
    /// version's number and its registered_at (`YYYY-MM-DD HH:MM:SS`).
    pub versions: BTreeMap<String, (i64, String)>,
}

/// The late patient window of the state machine's `LoadFact`.
pub const PATIENT_WAIT_DAYS: i64 = 7;

/// Files of one source, grouped by their day folder, in order.
fn files_by_day(root: &Path, source: &str) -> BTreeMap<String, Vec<std::path::PathBuf>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    let base = root.join(source);
    let Ok(years) = std::fs::read_dir(&base) else {
        return out;
    };
    for y in years.flatten() {
        for m in std::fs::read_dir(y.path()).unwrap().flatten() {
            for d in std::fs::read_dir(m.path()).unwrap().flatten() {
                let day = format!(
                    "{}-{}-{}",
                    y.file_name().to_string_lossy(),
                    m.file_name().to_string_lossy(),
                    d.file_name().to_string_lossy()
                );
                let mut files: Vec<_> = std::fs::read_dir(d.path())
                    .unwrap()
                    .flatten()
                    .map(|f| f.path())
                    .collect();
                files.sort();
                out.entry(day).or_default().extend(files);
            }
        }
    }
    out
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if bytes.is_empty() {
        return vec![];
    }
    bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect()
}

fn object(line: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn int(m: &Map<String, Value>, k: &str, wide: bool) -> Option<i64> {
    let v = m.get(k)?.as_i64()?;
    (wide || i32::try_from(v).is_ok()).then_some(v)
}

fn text<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k)?.as_str()
}

fn timestamp(m: &Map<String, Value>, k: &str) -> Option<chrono::NaiveDateTime> {
    chrono::DateTime::parse_from_rfc3339(text(m, k)?)
        .ok()
        .map(|t| t.naive_utc())
}

/// A valid patient record's id and registered_at.
fn valid_patient(m: &Map<String, Value>) -> Option<(i64, chrono::NaiveDateTime)> {
    let id = int(m, "patient_id", true).filter(|i| *i > 0)?;
    for k in ["first_name", "last_name", "address"] {
        text(m, k)?;
    }
    matches!(text(m, "sex")?, "F" | "M").then_some(())?;
    int(m, "age", false)?;
    int(m, "height", false)?;
    m.get("weight")?.as_f64()?;
    Some((id, timestamp(m, "registered_at")?))
}

struct Test {
    id: String,
    patient: i64,
    ts: chrono::NaiveDateTime,
    m: [i64; 8],
}

fn valid_test(m: &Map<String, Value>) -> Option<Test> {
    let id = text(m, "test_id").filter(|s| !s.is_empty() && s.len() <= 64)?;
    for k in ["doc_name", "clinic", "lab_name", "city"] {
        text(m, k)?;
    }
    int(m, "doc_id", true)?;
    int(m, "lab_id", true)?;
    let ts = timestamp(m, "ts")?;
    let patient = int(m, "patient_id", true)?;
    let mut measures = [0; 8];
    for (i, k) in [
        "ap_hi",
        "ap_lo",
        "cholesterol",
        "gluc",
        "smoke",
        "alco",
        "active",
        "cardio",
    ]
    .iter()
    .enumerate()
    {
        measures[i] = int(m, k, false)?;
    }
    Some(Test {
        id: id.to_owned(),
        patient,
        ts,
        m: measures,
    })
}

fn date(day: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap()
}

/// Apply the contract to every file under `root`, day by day in date order,
/// as the warehouse holds it once its last day (of either source) is loaded.
pub fn compute(root: &Path) -> Expected {
    let mut e = Expected::default();
    let mut first_seen: HashMap<i64, String> = HashMap::new();
    // Each patient's versions: one per registered_at, the first day's record
    // on a tie (the last of that day's lines).
    let mut versions: HashMap<i64, BTreeMap<chrono::NaiveDateTime, String>> = HashMap::new();
    let patient_days = files_by_day(root, "patient_data");
    let test_days = files_by_day(root, "log_data");
    let last = patient_days
        .keys()
        .chain(test_days.keys())
        .max()
        .map(|d| date(d));
    for (day, files) in patient_days {
        for f in files {
            for line in lines(&std::fs::read(f).unwrap()) {
                match object(line).as_ref().and_then(valid_patient) {
                    Some((id, at)) => {
                        e.patients.insert(id);
                        first_seen.entry(id).or_insert_with(|| day.clone());
                        let v = versions.entry(id).or_default();
                        if v.get(&at).is_none_or(|d| *d == day) {
                            v.insert(at, day.clone());
                        }
                    }
                    None => e.quarantined_patients += 1,
                }
            }
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    for (day, files) in test_days {
        let mut today: HashSet<String> = HashSet::new();
        for f in files {
            for line in lines(&std::fs::read(f).unwrap()) {
                e.test_lines += 1;
                let Some(t) = object(line).as_ref().and_then(valid_test) else {
                    e.quarantined_tests += 1;
                    continue;
                };
                if seen.contains(&t.id) || !today.insert(t.id.clone()) {
                    e.duplicates += 1;
                    continue;
                }
                let [hi, lo, chol, gluc, smoke, alco, active, cardio] = t.m;
                let reason = if !((60..=250).contains(&hi) && (30..=200).contains(&lo)) {
                    Some("implausible_pressure")
                } else if hi < lo {
                    Some("systolic_below_diastolic")
                } else if ![chol, gluc].iter().all(|v| (1..=3).contains(v))
                    || ![smoke, alco, active, cardio]
                        .iter()
                        .all(|v| (0..=1).contains(v))
                {
                    Some("out_of_domain")
                } else {
                    // A test waits for its patient's first record until
                    // `wait_until`; it is rejected once that day is loaded.
                    let wait_until = date(&day) + chrono::Days::new(PATIENT_WAIT_DAYS as u64);
                    let arrives = first_seen.get(&t.patient).map(|d| date(d));
                    match arrives {
                        Some(p) if p <= wait_until => None,
                        _ if last.is_some_and(|l| wait_until <= l) => Some("unknown_patient"),
                        _ => Some("pending"),
                    }
                };
                if reason == Some("pending") {
                    e.pending += 1;
                    continue;
                }
                match reason {
                    Some(r) => *e.rejected.entry(r.to_owned()).or_default() += 1,
                    None => {
                        e.accepted.insert(t.id.clone());
                        // The last version from at or before the test, else
                        // the first.
                        let v = &versions[&t.patient];
                        let (no, at) = v
                            .keys()
                            .enumerate()
                            .rfind(|(_, at)| **at <= t.ts)
                            .unwrap_or((0, v.keys().next().unwrap()));
                        e.versions.insert(
                            t.id.clone(),
                            (no as i64 + 1, at.format("%Y-%m-%d %H:%M:%S").to_string()),
                        );
                    }
                }
            }
        }
        seen.extend(today);
    }
    e
}

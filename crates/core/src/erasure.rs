//! Erasure on request: a patient who withdraws consent is removed from every
//! table the warehouse keeps and from the raw export files, and is never
//! loaded again.
//!
//! [`forget`] removes the patients table family by table family, each family
//! in one transaction (what was loaded: the fact, the patient dimension and
//! its history; what was decided about tests: rejects, pending tests,
//! duplicates; what was read: staging, quarantined lines and the stage audit's
//! line counts), then rewrites the raw objects that hold their lines without
//! those lines. Each family records what it removed in the `erasures` log,
//! which names a patient only by a keyed hash ([`ErasureKey::hash`]); those
//! hashes are the suppression list the stage task applies to every later
//! delivery ([`Suppression`]). An erasure is re-runnable: a second run finds
//! nothing left and logs zeros.
//!
//! Every statement is set-based over working rows (`erasure_requests`,
//! `erasure_lines`) written and removed in the same transaction, and every
//! read happens before a transaction opens: on the Data API a transaction is
//! one batch of at most 40 statements that cannot read its own writes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::params::{Days, LogicalDate, Model, RunId, Source};
use crate::ports::{in_transaction, CopyRequest, ObjectStore, Param, Value, Warehouse};
use crate::sql;
use crate::TaskError;

/// The secret the erasure log's and the suppression list's hashes are keyed
/// with: HMAC-SHA256 of the patient id's decimal text. Kept outside the
/// warehouse (a file beside the embedded warehouse, a secret on AWS), so the
/// log cannot be matched to ids by hashing candidates.
#[derive(Clone)]
pub struct ErasureKey(Vec<u8>);

impl std::fmt::Debug for ErasureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErasureKey(…)")
    }
}

impl ErasureKey {
    /// The shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key from its text (surrounding whitespace ignored).
    pub fn new(secret: &str) -> Result<Self, TaskError> {
        let secret = secret.trim();
        if secret.len() < Self::MIN_LEN {
            return Err(TaskError::invalid(
                "erasure_key",
                format!(
                    "the erasure key is {} bytes; it must be at least {}",
                    secret.len(),
                    Self::MIN_LEN
                ),
            ));
        }
        Ok(Self(secret.as_bytes().to_vec()))
    }

    /// The keyed hash of a patient id, as 64 lowercase hex digits.
    pub fn hash(&self, patient: PatientId) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("any key length");
        mac.update(patient.0.to_string().as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A patient id of the data contract: an integer > 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "i64")]
pub struct PatientId(i64);

impl PatientId {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl From<PatientId> for i64 {
    fn from(p: PatientId) -> i64 {
        p.0
    }
}

impl TryFrom<i64> for PatientId {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, String> {
        if n > 0 {
            Ok(Self(n))
        } else {
            Err(format!("{n} is not a patient id (an integer > 0)"))
        }
    }
}

impl std::str::FromStr for PatientId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let shown: String = s.chars().take(24).collect();
        let digits = !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
        match s.parse::<i64>() {
            Ok(n) if digits => Self::try_from(n),
            _ => Err(format!("{shown:?} is not a patient id (an integer > 0)")),
        }
    }
}

impl TryFrom<serde_json::Value> for PatientId {
    type Error = String;
    fn try_from(v: serde_json::Value) -> Result<Self, String> {
        match &v {
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(n) => Self::try_from(n),
                None => Err(format!("{n} is not a patient id (an integer > 0)")),
            },
            serde_json::Value::String(s) => s.parse(),
            other => Err(format!("{other} is not a patient id (an integer > 0)")),
        }
    }
}

impl std::fmt::Display for PatientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An erasure request: the patients, and the id the log records it under
/// (the execution's name on AWS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureParams {
    pub patients: Vec<PatientId>,
    pub erasure_id: RunId,
}

impl ErasureParams {
    /// Most patients one request erases (each costs a few statements per
    /// table: on the Data API a round trip each).
    pub const MAX_PATIENTS: usize = 50;

    pub fn validate(mut self) -> Result<Self, TaskError> {
        if self.patients.is_empty() || self.patients.len() > Self::MAX_PATIENTS {
            return Err(TaskError::invalid(
                "patients",
                format!(
                    "{} patients given; a request erases 1 to {}",
                    self.patients.len(),
                    Self::MAX_PATIENTS
                ),
            ));
        }
        let unique: BTreeSet<PatientId> = self.patients.iter().copied().collect();
        self.patients = unique.into_iter().collect();
        Ok(self)
    }
}

/// What an erasure removed: rows per table, lines per source's raw files,
/// objects rewritten and earlier object versions removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    pub erasure_id: String,
    pub patients: usize,
    /// Of them, those an earlier erasure had already removed entirely.
    pub already_erased: usize,
    /// Rows removed per table, and (`patient_data files`, `log_data files`)
    /// lines removed from the raw export.
    pub removed: BTreeMap<String, u64>,
    pub objects_rewritten: u64,
    pub object_versions_removed: u64,
}

/// The place name the log gives a source's raw files.
fn files_place(folder: &str) -> String {
    format!("{folder} files")
}

/// The folders of the data root an erasure rewrites: both sources, and the
/// COPY manifests the Redshift adapter writes (each holds a copy of the
/// lines it loaded).
const FOLDERS: [&str; 3] = ["patient_data", "log_data", "manifests"];

/// The table families, each erased in one transaction, in this order
/// (duplicates are found through the staged lines, so staging goes last).
const FAMILIES: [&str; 3] = ["erasure/loaded", "erasure/decided", "erasure/read"];

/// A request [`check_request`] found valid: what [`forget`] takes, so the
/// check runs once and cannot be skipped.
#[derive(Debug)]
pub struct CheckedRequest<'a> {
    params: &'a ErasureParams,
    already_erased: usize,
}

/// Refuse a request, before anything changes, when one of its patients is
/// in none of the warehouse's tables and was never erased (a wrong id).
/// Otherwise the checked request, with how many of its patients an earlier
/// erasure already removed (nothing of theirs is left: a repeated or
/// redriven request).
pub fn check_request<'a>(
    p: &'a ErasureParams,
    key: &ErasureKey,
    wh: &mut dyn Warehouse,
) -> Result<CheckedRequest<'a>, TaskError> {
    #[derive(Deserialize)]
    struct Presence {
        held: i64,
        logged: i64,
    }
    let dialect = wh.dialect();
    let mut already_erased = 0;
    for &id in &p.patients {
        let params = [
            ("patient_id", Value::Int(id.get())),
            ("patient_hash", Value::Text(key.hash(id))),
        ];
        let found: Vec<Presence> = wh
            .query_table(sql::file(dialect, "erasure/presence")?, &params)?
            .read()?;
        if found.iter().all(|f| f.held == 0 && f.logged == 0) {
            return Err(TaskError::invalid(
                "patients",
                format!("patient {id} is in none of the warehouse's tables and was never erased: nothing was erased (check the id)"),
            ));
        }
        if found.iter().all(|f| f.held == 0) {
            already_erased += 1;
        }
    }
    Ok(CheckedRequest {
        params: p,
        already_erased,
    })
}

/// Erase the checked request's patients from the warehouse and the raw
/// export.
pub fn forget(
    request: CheckedRequest<'_>,
    key: &ErasureKey,
    erased_at: NaiveDateTime,
    wh: &mut dyn Warehouse,
    store: &dyn ObjectStore,
) -> Result<ErasureReport, TaskError> {
    let CheckedRequest {
        params: p,
        already_erased,
    } = request;
    let dialect = wh.dialect();
    let patients: Vec<(PatientId, String)> =
        p.patients.iter().map(|&id| (id, key.hash(id))).collect();
    let lines = quarantined_lines(&patients, wh)?;
    let family_params = [
        ("erasure_id", Value::Text(p.erasure_id.as_str().into())),
        ("erased_at", Value::Timestamp(erased_at)),
    ];
    for family in FAMILIES {
        in_transaction(wh, |wh| {
            let requests: Vec<Vec<Param>> = patients
                .iter()
                .map(|(id, hash)| {
                    vec![
                        ("erasure_id", Value::Text(p.erasure_id.as_str().into())),
                        ("patient_id", Value::Int(id.get())),
                        ("patient_hash", Value::Text(hash.clone())),
                    ]
                })
                .collect();
            insert_rows(wh, "erasure/request", &requests)?;
            if family == "erasure/read" {
                let rows: Vec<Vec<Param>> = lines
                    .iter()
                    .map(|l| l.params(p.erasure_id.as_str()))
                    .collect();
                insert_rows(wh, "erasure/line", &rows)?;
            }
            wh.execute(sql::file(dialect, family)?, &family_params)?;
            if family == "erasure/read" {
                let scope = [
                    ("logical_date", Value::Text("1970-01-01".into())),
                    ("through", Value::Text("1970-01-01".into())),
                    ("all_days", Value::Bool(true)),
                ];
                for model in [Model::DimDoctor, Model::DimLab, Model::DimDate] {
                    wh.execute(sql::dimension_restore(dialect, model)?, &scope)?;
                }
            }
            Ok(())
        })?;
    }
    let mut objects = RewriteCounts::default();
    for folder in FOLDERS {
        let counts = rewrite_objects(folder, &patients, store)?;
        objects.rewritten += counts.rewritten;
        objects.versions_removed += counts.versions_removed;
        let rows: Vec<Vec<Param>> = patients
            .iter()
            .map(|(id, hash)| {
                vec![
                    ("erasure_id", Value::Text(p.erasure_id.as_str().into())),
                    ("patient_hash", Value::Text(hash.clone())),
                    ("erased_at", Value::Timestamp(erased_at)),
                    ("place", Value::Text(files_place(folder))),
                    (
                        "rows_erased",
                        Value::Int(counts.lines.get(id).copied().unwrap_or(0) as i64),
                    ),
                ]
            })
            .collect();
        in_transaction(wh, |wh| insert_rows(wh, "erasure/log", &rows))?;
    }
    #[derive(Deserialize)]
    struct Logged {
        place: String,
        rows_erased: i64,
    }
    let logged: Vec<Logged> = wh
        .query_table(
            sql::file(dialect, "erasure/logged")?,
            &[("erasure_id", Value::Text(p.erasure_id.as_str().into()))],
        )?
        .read()?;
    let report = ErasureReport {
        erasure_id: p.erasure_id.as_str().into(),
        patients: patients.len(),
        already_erased,
        removed: logged
            .into_iter()
            .map(|l| (l.place, l.rows_erased.max(0) as u64))
            .collect(),
        objects_rewritten: objects.rewritten,
        object_versions_removed: objects.versions_removed,
    };
    tracing::info!(
        task = "erase",
        erasure_id = %report.erasure_id,
        patients = report.patients,
        rows = report.removed.values().sum::<u64>(),
        objects_rewritten = report.objects_rewritten,
        object_versions_removed = report.object_versions_removed,
        "erased"
    );
    Ok(report)
}

/// A line of the raw export to erase or suppress: where it is, and whose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineOf {
    pub source: Source,
    pub logical_date: LogicalDate,
    pub source_file: String,
    pub line_no: i64,
    pub patient_hash: String,
}

impl LineOf {
    fn params(&self, id: &str) -> Vec<Param> {
        vec![
            ("erasure_id", Value::Text(id.into())),
            ("patient_hash", Value::Text(self.patient_hash.clone())),
            ("source", Value::Text(self.source.folder().into())),
            ("logical_date", Value::Text(self.logical_date.to_string())),
            ("source_file", Value::Text(self.source_file.clone())),
            ("line_no", Value::Int(self.line_no)),
        ]
    }
}

/// Insert working rows with one `INSERT … VALUES` file, up to
/// [`sql::VALUES_ROWS`] rows a statement.
fn insert_rows(wh: &mut dyn Warehouse, file: &str, rows: &[Vec<Param>]) -> Result<(), TaskError> {
    let one = sql::file(wh.dialect(), file)?;
    for chunk in rows.chunks(sql::VALUES_ROWS) {
        wh.execute(sql::values_rows(one, chunk.len())?, &sql::row_params(chunk))?;
    }
    Ok(())
}

/// The quarantined lines that are the patients' ([`patient_of_line`] of
/// their raw text, as the raw files' rewrite decides).
fn quarantined_lines(
    patients: &[(PatientId, String)],
    wh: &mut dyn Warehouse,
) -> Result<Vec<LineOf>, TaskError> {
    #[derive(Deserialize)]
    struct Quarantined {
        logical_date: LogicalDate,
        source: Source,
        source_file: String,
        line_no: i64,
        raw: String,
    }
    let dialect = wh.dialect();
    let mut out = vec![];
    for (id, hash) in patients {
        let candidates: Vec<Quarantined> = wh
            .query_table(
                sql::file(dialect, "erasure/quarantine_candidates")?,
                &[("pattern", Value::Text(format!("%{id}%")))],
            )?
            .read()?;
        out.extend(
            candidates
                .into_iter()
                .filter(|q| line_of_patient(q.raw.as_bytes(), *id))
                .map(|q| LineOf {
                    source: q.source,
                    logical_date: q.logical_date,
                    source_file: q.source_file,
                    line_no: q.line_no,
                    patient_hash: hash.clone(),
                }),
        );
    }
    Ok(out)
}

#[derive(Default)]
struct RewriteCounts {
    rewritten: u64,
    versions_removed: u64,
    /// Lines removed per patient.
    lines: BTreeMap<PatientId, u64>,
}

/// Rewrite each object of a folder of the data root that holds a line of the patients
/// without those lines (every other byte kept), removing the versions a
/// versioned store keeps of it.
fn rewrite_objects(
    folder: &str,
    patients: &[(PatientId, String)],
    store: &dyn ObjectStore,
) -> Result<RewriteCounts, TaskError> {
    let mut counts = RewriteCounts::default();
    let needles: Vec<(PatientId, String)> = patients
        .iter()
        .map(|(id, _)| (*id, id.to_string()))
        .collect();
    for object in store.list(&format!("{folder}/"))? {
        let bytes = store.get(&object.key)?;
        // Most objects hold none of the ids: no line is parsed then.
        if !needles.iter().any(|(_, n)| contains(&bytes, n.as_bytes())) {
            continue;
        }
        let mut kept = Vec::with_capacity(bytes.len());
        let mut removed = 0u64;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            match needles.iter().find(|(id, _)| line_of_patient(text, *id)) {
                Some((id, _)) => {
                    *counts.lines.entry(*id).or_default() += 1;
                    removed += 1;
                }
                None => kept.extend_from_slice(line),
            }
        }
        if removed > 0 {
            counts.versions_removed += store.replace(&object.key, &kept)?;
            counts.rewritten += 1;
        }
    }
    Ok(counts)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether a raw line (as delivered, valid or not) is the patient's (see
/// [`patient_of_line`]).
pub fn line_of_patient(line: &[u8], id: PatientId) -> bool {
    patient_of_line(line) == Some(id)
}

/// Whose a raw line is: for a JSON object, its `patient_id` (a number, or a
/// string of digits); for a line that is not a JSON object (truncated, say),
/// the digits after the first `"patient_id":` of its text.
pub fn patient_of_line(line: &[u8]) -> Option<PatientId> {
    if let Ok(serde_json::Value::Object(record)) = serde_json::from_slice(line) {
        return match record.get("patient_id") {
            Some(serde_json::Value::Number(n)) => n.as_i64().and_then(|n| n.try_into().ok()),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
    }
    let text = String::from_utf8_lossy(line);
    let key = "\"patient_id\"";
    let mut rest = text.as_ref();
    while let Some(at) = rest.find(key) {
        rest = &rest[at + key.len()..];
        let Some(value) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let value = value.trim_start();
        let value = value.strip_prefix('"').unwrap_or(value).trim_start();
        let digits: &str = &value[..value.bytes().take_while(u8::is_ascii_digit).count()];
        let tail = &value[digits.len()..];
        if tail.starts_with('.') {
            return None;
        }
        return digits.parse().ok();
    }
    None
}

/// The suppression list, as the stage task applies it: the erased
/// patients' keyed hashes, and the key to hash the ids of a delivery with.
pub struct Suppression {
    key: ErasureKey,
    hashes: BTreeSet<String>,
}

impl Suppression {
    /// Read the list (one query, before the stage's transaction opens);
    /// none when no patient was ever erased. A list without a key is
    /// refused: its lines could not be recognised.
    pub fn read(
        key: Option<&ErasureKey>,
        wh: &mut dyn Warehouse,
    ) -> Result<Option<Self>, TaskError> {
        #[derive(Deserialize)]
        struct Hash {
            patient_hash: String,
        }
        let hashes: BTreeSet<String> = wh
            .query_table(sql::file(wh.dialect(), "erasure/suppression_list")?, &[])?
            .read::<Hash>()?
            .into_iter()
            .map(|h| h.patient_hash)
            .collect();
        if hashes.is_empty() {
            return Ok(None);
        }
        let key = key.ok_or_else(|| {
            TaskError::invalid(
                "erasure_key",
                "the warehouse has erased patients but the task was given no erasure key: their lines could not be suppressed, so nothing was staged",
            )
        })?;
        Ok(Some(Self {
            key: key.clone(),
            hashes,
        }))
    }

    /// The lines of the requests' files that are erased patients' (valid or
    /// not), numbered as the adapters number them.
    pub fn lines(
        &self,
        requests: &[CopyRequest],
        store: &dyn ObjectStore,
    ) -> Result<Vec<LineOf>, TaskError> {
        let mut hashed: BTreeMap<PatientId, Option<String>> = BTreeMap::new();
        let mut out = vec![];
        for r in requests {
            for file in &r.files {
                let bytes = store.get(&file.key)?;
                for (line_no, line) in crate::contract::lines(&bytes) {
                    let Some(id) = patient_of_line(line) else {
                        continue;
                    };
                    let hash = hashed.entry(id).or_insert_with(|| {
                        let h = self.key.hash(id);
                        self.hashes.contains(&h).then_some(h)
                    });
                    if let Some(hash) = hash {
                        out.push(LineOf {
                            source: r.source,
                            logical_date: r.logical_date,
                            source_file: file.key.clone(),
                            line_no: line_no as i64,
                            patient_hash: hash.clone(),
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Remove, in the stage's open transaction and after its copy, the staged
/// and quarantined rows of `lines` (the erased patients' lines the task's
/// days delivered, [`Suppression::lines`]); return how many each day had.
pub fn suppress(
    source: Source,
    days: Days,
    run_id: &RunId,
    lines: &[LineOf],
    wh: &mut dyn Warehouse,
) -> Result<BTreeMap<LogicalDate, u64>, TaskError> {
    let mut per_day = BTreeMap::new();
    if lines.is_empty() {
        return Ok(per_day);
    }
    for l in lines {
        *per_day.entry(l.logical_date).or_insert(0) += 1;
    }
    let rows: Vec<Vec<Param>> = lines.iter().map(|l| l.params(run_id.as_str())).collect();
    insert_rows(wh, "erasure/line", &rows)?;
    wh.execute(
        sql::file(wh.dialect(), "stage/suppress")?,
        &[
            ("erasure_id", Value::Text(run_id.as_str().into())),
            ("source", Value::Text(source.folder().into())),
            ("logical_date", Value::Text(days.first.to_string())),
            ("through", Value::Text(days.last.to_string())),
        ],
    )?;
    Ok(per_day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> PatientId {
        PatientId::try_from(n).unwrap()
    }

    #[test]
    fn lines_of_a_patient() {
        let cases: [(&str, bool); 9] = [
            (r#"{"patient_id": 12, "first_name": "Ann"}"#, true),
            (r#"{"patient_id": 123, "first_name": "Ann"}"#, false),
            (r#"{"patient_id": "12", "age": "x"}"#, true),
            (r#"{"test_id": "bt-12", "patient_id": 5}"#, false),
            (r#"{"test_id": "bt-1", "patient_id": 12, "ap_hi": 1"#, true),
            (r#"{"test_id": "bt-1", "patient_id" :  12}, "x"#, true),
            (r#"{"test_id": "bt-1", "patient_id": 12.5, "ap_hi"#, false),
            (r#"{"patient_id": 120, "ap_hi"#, false),
            ("not json at all 12", false),
        ];
        for (line, theirs) in cases {
            assert_eq!(line_of_patient(line.as_bytes(), id(12)), theirs, "{line}");
        }
    }

    #[test]
    fn ids_are_integers_above_zero() {
        for bad in ["0", "-3", "1.5", "", "12a", " 12", "99999999999999999999"] {
            assert!(bad.parse::<PatientId>().is_err(), "{bad:?}");
        }
        assert_eq!("42".parse::<PatientId>(), Ok(id(42)));
        let p: Result<ErasureParams, _> =
            serde_json::from_value(serde_json::json!({"patients": [1, 2.5], "erasure_id": "e"}));
        assert!(p.is_err());
    }

    #[test]
    fn hashes_are_keyed() {
        let a = ErasureKey::new(&"a".repeat(32)).unwrap();
        let b = ErasureKey::new(&"b".repeat(32)).unwrap();
        assert_eq!(a.hash(id(7)).len(), 64);
        assert_ne!(a.hash(id(7)), b.hash(id(7)));
        assert_ne!(a.hash(id(7)), a.hash(id(8)));
        assert!(ErasureKey::new("short").is_err());
    }
}

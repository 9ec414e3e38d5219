//! Erasure on request: after `forget`, no table of the warehouse (run
//! history and the erasure log included) and no raw file holds an erased
//! patient's id, name or address; re-running every day leaves everything
//! else as a clean run of the export without them; a later delivery of
//! their lines is suppressed and counted; bad requests change nothing.

use std::path::Path;

use ovom_awspath::{input, AwsPath};
use ovom_core::erasure::{line_of_patient, PatientId};
use ovom_core::params::Days;
use ovom_local::pipeline::{Pipeline, RunOptions};
use serde_json::json;

use crate::aws_path::{
    assert_tables_equal, aws_tables, dirty_weeks, duck_tables, run_ok as aws_run_ok,
};
use crate::support::*;

/// What identifies a patient: the id, and each name and address any of
/// their records held.
#[derive(Debug, Clone)]
struct Who {
    id: PatientId,
    names: Vec<(String, String)>,
    addresses: Vec<String>,
}

fn who(p: &Pipeline, id: i64) -> Who {
    let records = rows(
        p,
        &format!("SELECT DISTINCT first_name, last_name, address FROM staging_patient WHERE patient_id = {id}"),
    );
    Who {
        id: PatientId::try_from(id).unwrap(),
        names: records
            .iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect(),
        addresses: records.iter().map(|r| r[2].clone()).collect(),
    }
}

/// Patients whose every name and address no other patient shares (so a
/// search for them finds them only), in id order.
fn unique_patients(p: &Pipeline, candidates: &str) -> Vec<i64> {
    rows(
        p,
        &format!(
            "SELECT DISTINCT c.patient_id FROM ({candidates}) AS c
             WHERE c.patient_id IN (SELECT patient_id FROM staging_patient)
               AND NOT EXISTS (
                 SELECT 1 FROM staging_patient AS mine JOIN staging_patient AS other
                   ON other.patient_id <> mine.patient_id
                  AND (other.address = mine.address
                       OR (other.first_name = mine.first_name AND other.last_name = mine.last_name))
                 WHERE mine.patient_id = c.patient_id)
             ORDER BY 1"
        ),
    )
    .into_iter()
    .map(|r| r[0].parse().unwrap())
    .collect()
}

/// A table's name, columns and rows (each value as text).
type Dump = Vec<(String, Vec<String>, Vec<Vec<String>>)>;

/// Every base table of the embedded warehouse, whole.
fn duck_dump(p: &Pipeline) -> Dump {
    let tables = rows(
        p,
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1",
    );
    tables
        .into_iter()
        .map(|t| {
            let table = t[0].clone();
            let columns = rows(
                p,
                &format!("SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position"),
            )
            .into_iter()
            .map(|c| c[0].clone())
            .collect();
            let all = rows(p, &format!("SELECT * FROM \"{table}\""));
            (table, columns, all)
        })
        .collect()
}

/// Every place the patients still are: `table: row` or `file: line`.
fn traces(dump: &Dump, objects: &[(String, Vec<u8>)], patients: &[Who]) -> Vec<String> {
    // A cell that is the id (in a patient_id column), a name or the address,
    // or a raw line that is theirs or quotes their address or both names.
    let in_line = |line: &str, w: &Who| -> bool {
        let quoted = |v: &str| line.contains(&format!("\"{v}\""));
        line_of_patient(line.as_bytes(), w.id)
            || w.addresses.iter().any(|a| quoted(a))
            || w.names
                .iter()
                .any(|(first, last)| quoted(first) && quoted(last))
    };
    let hit = |cells: &[String], columns: &[String], w: &Who| -> bool {
        let id = w.id.to_string();
        cells.iter().zip(columns).any(|(cell, column)| {
            (column == "patient_id" && *cell == id)
                || w.addresses.contains(cell)
                || in_line(cell, w)
        }) || w.names.iter().any(|(first, last)| {
            cells.iter().any(|c| c == first) && cells.iter().any(|c| c == last)
        })
    };
    let mut found = vec![];
    for (table, columns, all) in dump {
        for row in all {
            if patients.iter().any(|w| hit(row, columns, w)) {
                found.push(format!("{table}: {row:?}"));
            }
        }
    }
    let raw = ["raw".to_owned()];
    for (object, bytes) in objects {
        for line in String::from_utf8_lossy(bytes).lines() {
            if patients.iter().any(|w| hit(&[line.to_owned()], &raw, w)) {
                found.push(format!("{object}: {line}"));
            }
        }
    }
    found
}

/// The traces counted by table, or by source for the export's lines.
fn by_place(found: &[String]) -> String {
    let mut places = std::collections::BTreeMap::<&str, usize>::new();
    for trace in found {
        let place = trace.split(':').next().unwrap_or_default();
        let place = if place.contains("manifests/") {
            "manifest objects"
        } else if place.contains("log_data/") {
            "log_data objects"
        } else if place.contains("patient_data/") {
            "patient_data objects"
        } else {
            place
        };
        *places.entry(place).or_default() += 1;
    }
    let each: Vec<String> = places.iter().map(|(p, n)| format!("{p} {n}")).collect();
    format!("{} traces ({})", found.len(), each.join(", "))
}

fn local_objects(root: &Path) -> Vec<(String, Vec<u8>)> {
    files(root).into_iter().collect()
}

fn all_days(p: &Pipeline) -> Days {
    let days = p.days().unwrap();
    Days::new(days[0], days.last().copied()).unwrap()
}

/// Run one day and leave the days after it as they are.
fn run_day_alone(p: &Pipeline, day: &str) {
    let opts = RunOptions {
        leave_later_days: true,
        ..RunOptions::default()
    };
    let run = p.run_day(day.parse().unwrap(), opts, &clock()).unwrap();
    if let Err(f) = run.result {
        panic!("{day} failed in {}: {}: {}", f.state, f.error, f.cause);
    }
}

fn run_range_ok(p: &Pipeline) {
    let run = p
        .run_range(all_days(p), RunOptions::default(), &clock())
        .unwrap();
    if let Err(f) = run.result {
        panic!("the range failed in {}: {}: {}", f.state, f.error, f.cause);
    }
}

/// A patient of each kind the warehouse treats apart: updated (several
/// versions), delivered late (a test loaded after its delivery day), with a
/// rejected test, with a test delivered twice, with a quarantined line.
fn chosen(p: &Pipeline) -> Vec<i64> {
    let kinds = [
        "SELECT patient_id FROM dim_patient_history GROUP BY patient_id HAVING COUNT(*) > 1",
        "SELECT patient_id FROM fact_bloodtest WHERE decided_on > logical_date",
        "SELECT patient_id FROM rejects WHERE reason <> 'unknown_patient'",
        "SELECT s.patient_id FROM duplicates AS d JOIN staging_bloodtest AS s
           ON s.source_file = d.source_file AND s.line_no = d.line_no",
        "SELECT CAST(regexp_extract(\"raw\", '\"patient_id\": *([0-9]+)', 1) AS BIGINT) AS patient_id
           FROM quarantine WHERE regexp_matches(\"raw\", '\"patient_id\": *[0-9]+')",
    ];
    let mut chosen: Vec<i64> = vec![];
    for kind in kinds {
        let pick = unique_patients(p, kind)
            .into_iter()
            .find(|id| !chosen.contains(id))
            .unwrap_or_else(|| panic!("no patient of the kind: {kind}"));
        chosen.push(pick);
    }
    chosen
}

/// No byte of an erased patient is left in the warehouse's file (DuckDB
/// does not clear the blocks a delete frees) or in its write-ahead log (a
/// day's run leaves its commits there): the erasure rewrites the file.
#[test]
fn an_erased_patient_leaves_no_byte_in_the_warehouse_file_or_its_log() {
    let data = tempfile::tempdir().unwrap();
    generate(data.path(), 700, 7000);
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("ovom.duckdb");
    let p = Pipeline::open(&warehouse, data.path()).unwrap();
    run_range_ok(&p);
    // A range checkpoints when it closes: its rows are in the file.
    drop(p);
    let mut p = Pipeline::open(&warehouse, data.path()).unwrap();
    let last = rows(
        &p,
        "SELECT CAST(MAX(logical_date) AS VARCHAR) FROM staging_patient",
    )[0][0]
        .clone();
    run_day_alone(&p, &last);
    let wal = dir.path().join("ovom.duckdb.wal");
    let held_in = |file: &Path, who: &Who| {
        let bytes = std::fs::read(file).unwrap_or_default();
        let holds = |text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
        who.addresses.iter().any(|a| holds(a))
    };
    // One patient whose record only the log holds (the day's), one whose
    // record the file holds as plain bytes (the range's, checkpointed).
    let in_log = who(
        &p,
        unique_patients(
            &p,
            &format!("SELECT patient_id FROM staging_patient WHERE logical_date = DATE '{last}'"),
        )[0],
    );
    assert!(
        held_in(&wal, &in_log),
        "the day's run left its writes in the log"
    );
    let in_file = unique_patients(&p, "SELECT patient_id FROM dim_patient")
        .into_iter()
        .filter(|&id| id != in_log.id.get())
        .map(|id| who(&p, id))
        .find(|w| held_in(&warehouse, w))
        .expect("a patient's address in the warehouse file as plain bytes");
    let erased = [in_log, in_file];
    p.forget(&warehouse, erased.iter().map(|w| w.id).collect(), &clock())
        .unwrap();
    for w in &erased {
        assert!(
            !held_in(&wal, w),
            "patient {} is in the write-ahead log",
            w.id
        );
        assert!(
            !held_in(&warehouse, w),
            "patient {} is in the warehouse file",
            w.id
        );
        assert_eq!(
            scalar(
                &p,
                &format!(
                    "SELECT COUNT(*) FROM dim_patient WHERE patient_id = {}",
                    w.id
                )
            ),
            0
        );
    }
    // The rewritten file is the warehouse: it holds the rest and runs on.
    assert!(scalar(&p, "SELECT COUNT(*) FROM fact_bloodtest") > 0);
    drop(p);
    let p = Pipeline::open(&warehouse, data.path()).unwrap();
    run_range_ok(&p);
    let clean = pipeline(data.path());
    run_range_ok(&clean);
    assert_eq!(fingerprints(&p), fingerprints(&clean));
}

#[test]
fn erased_patients_leave_no_trace_and_stay_out() {
    let data = dirty_year();
    let original = files(data.path());
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("ovom.duckdb");
    let mut p = Pipeline::open(&warehouse, data.path()).unwrap();
    run_range_ok(&p);
    let ids = chosen(&p);
    let patients: Vec<Who> = ids.iter().map(|&id| who(&p, id)).collect();
    let before = traces(&duck_dump(&p), &local_objects(data.path()), &patients);
    println!("search before the erasure: {}", by_place(&before));
    assert!(
        before.len() > 20,
        "the search finds the patients before the erasure"
    );

    let report = p
        .forget(
            &warehouse,
            patients.iter().map(|w| w.id).collect(),
            &clock(),
        )
        .unwrap();
    let found = traces(&duck_dump(&p), &local_objects(data.path()), &patients);
    println!("search after the erasure: {} traces", found.len());
    assert!(found.is_empty(), "after the erasure: {found:#?}");
    for place in [
        "fact_bloodtest",
        "dim_patient",
        "dim_patient_history",
        "rejects",
        "duplicates",
        "quarantine",
        "staging_patient",
        "staging_bloodtest",
        "log_data files",
        "patient_data files",
    ] {
        assert!(
            report.removed.get(place).copied().unwrap_or(0) > 0,
            "nothing removed from {place}: {report:?}"
        );
    }
    assert!(report.objects_rewritten > 0);
    assert_eq!(report.already_erased, 0);
    // The same request again (a repeat, or a redrive): answered, nothing
    // left to remove, nothing changed.
    let erased = fingerprints(&p);
    let later = clock();
    later.advance(std::time::Duration::from_secs(60));
    let again = p
        .forget(&warehouse, patients.iter().map(|w| w.id).collect(), &later)
        .unwrap();
    assert_eq!(again.already_erased, ids.len());
    assert_eq!(again.removed.values().sum::<u64>(), 0, "{again:?}");
    assert_eq!(fingerprints(&p), erased);
    // The log: the patients' keyed hashes, per place, and nothing else of them.
    assert_eq!(
        scalar(&p, "SELECT COUNT(DISTINCT patient_hash) FROM erasures"),
        ids.len() as i64
    );
    // The key is beside the warehouse, not in it.
    assert!(ovom_local::erasure::key_path(&warehouse).is_file());

    // Every day again: still absent, and the rest as a clean run of the
    // export without them (the files the erasure rewrote).
    run_range_ok(&p);
    assert!(traces(&duck_dump(&p), &local_objects(data.path()), &patients).is_empty());
    let clean = pipeline(data.path());
    run_range_ok(&clean);
    assert_eq!(fingerprints(&p), fingerprints(&clean));

    // Their lines delivered again (the original files back, as a re-sent
    // export would): suppressed at stage, counted, never loaded.
    for (file, bytes) in &original {
        data.bytes(file, bytes);
    }
    drop(p);
    let p = Pipeline::open(&warehouse, data.path()).unwrap();
    run_range_ok(&p);
    let in_tables = traces(&duck_dump(&p), &[], &patients);
    assert!(
        in_tables.is_empty(),
        "after the re-delivery: {in_tables:#?}"
    );
    let suppressed = scalar(&p, "SELECT SUM(suppressed) FROM stage_audit");
    let erased_lines: u64 = ["log_data files", "patient_data files"]
        .iter()
        .map(|place| report.removed[*place])
        .sum();
    // Every line of theirs, valid or malformed, is suppressed.
    assert_eq!(suppressed as u64, erased_lines);
}

#[test]
fn bad_requests_change_nothing() {
    let data = dirty_year();
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("ovom.duckdb");
    let mut p = Pipeline::open(&warehouse, data.path()).unwrap();
    run_range_ok(&p);
    let before = fingerprints(&p);
    let raw = files(data.path());
    let known = scalar(&p, "SELECT MIN(patient_id) FROM dim_patient");
    let unknown = scalar(&p, "SELECT MAX(patient_id) FROM staging_patient") + 1000;

    let err = p
        .forget(
            &warehouse,
            vec![
                PatientId::try_from(known).unwrap(),
                PatientId::try_from(unknown).unwrap(),
            ],
            &clock(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "patient {unknown} is in none of the warehouse's tables"
        )),
        "{err}"
    );
    let err = p
        .forget(&warehouse, vec![], &clock())
        .unwrap_err()
        .to_string();
    assert!(err.contains("a request erases 1 to 50"), "{err}");
    assert_eq!(fingerprints(&p), before);
    assert_eq!(scalar(&p, "SELECT COUNT(*) FROM erasures"), 0);
    assert_eq!(files(data.path()), raw);
    assert!(!ovom_local::erasure::key_path(&warehouse).exists());
}

/// Every base table of the AWS path's warehouse (PostgreSQL behind the Data
/// API test server), whole.
fn pg_dump(path: &AwsPath) -> Dump {
    let tables = path
        .query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1")
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let table = t[0].clone();
            let columns = path
                .query(&format!("SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{table}' ORDER BY ordinal_position"))
                .unwrap()
                .into_iter()
                .map(|c| c[0].clone())
                .collect();
            let all = path.query(&format!("SELECT * FROM \"{table}\"")).unwrap();
            (table, columns, all)
        })
        .collect()
}

/// Every version of every object of the bucket, named `key@version`.
fn s3_objects(path: &AwsPath) -> Vec<(String, Vec<u8>)> {
    path.object_versions()
        .unwrap()
        .into_iter()
        .map(|(key, version, bytes)| (format!("{key}@{version}"), bytes))
        .collect()
}

/// Every version of the export's objects (the COPY manifests the stage
/// writes left out).
fn s3_exports(path: &AwsPath) -> Vec<(String, Vec<u8>)> {
    s3_objects(path)
        .into_iter()
        .filter(|(k, _)| !k.contains("/manifests/"))
        .collect()
}

/// The current objects of the bucket, by key under the data root.
fn s3_current(path: &AwsPath) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut latest = std::collections::BTreeMap::new();
    for (key, _, bytes) in path.object_versions().unwrap() {
        latest.entry(key).or_insert(bytes);
    }
    latest
        .into_iter()
        .filter_map(|(k, b)| Some((k.strip_prefix("ehr/")?.to_owned(), b)))
        .filter(|(k, _)| !k.starts_with("manifests/"))
        .collect()
}

/// A handler in front of the functions that, when the daily execution's
/// first task runs, starts the erasure state machine and keeps its result.
struct EraseDuringRun<'a> {
    path: &'a AwsPath,
    patients: serde_json::Value,
    outcome: std::sync::Mutex<Option<Result<serde_json::Value, ovom_asl::ExecutionFailure>>>,
}

impl ovom_asl::TaskHandler for EraseDuringRun<'_> {
    fn invoke(
        &self,
        resource: &str,
        input: &serde_json::Value,
        ctx: &serde_json::Value,
    ) -> Result<serde_json::Value, ovom_asl::TaskFailure> {
        let mut outcome = self.outcome.lock().unwrap();
        if outcome.is_none() {
            *outcome = Some(
                self.path
                    .erase("erase-during-a-run", json!({ "patients": self.patients })),
            );
        }
        drop(outcome);
        self.path.lambdas.invoke(resource, input, ctx)
    }
}

#[test]
fn on_aws_the_erasure_state_machine_erases_as_the_embedded_warehouse_does() {
    let (data, days) = dirty_weeks();
    let (first, last) = (days[0].as_str(), days.last().unwrap().as_str());
    // The embedded twin, on its own copy of the export.
    let twin = Data::new();
    for (file, bytes) in files(data.path()) {
        twin.bytes(&file, &bytes);
    }
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("ovom.duckdb");
    let mut duck = Pipeline::open(&warehouse, twin.path()).unwrap();
    run_range_ok(&duck);
    // The AWS path on a versioned bucket, each object delivered twice (two
    // versions of it).
    let path = AwsPath::start(None).unwrap();
    path.version_bucket().unwrap();
    path.upload(data.path()).unwrap();
    path.upload(data.path()).unwrap();
    aws_run_ok(&path, "range", input(first, Some(last)));
    assert_tables_equal(
        &aws_tables(&path),
        &duck_tables(&duck),
        "before the erasure",
    );

    // 9001 (late, updated) and 9002 (its test rejected when its window
    // closed), and a generated patient with a rejected or duplicated test.
    let other = unique_patients(
        &duck,
        "SELECT patient_id FROM rejects WHERE patient_id < 9000
         UNION ALL
         SELECT s.patient_id FROM duplicates AS d JOIN staging_bloodtest AS s
           ON s.source_file = d.source_file AND s.line_no = d.line_no
         WHERE s.patient_id < 9000",
    );
    let ids = [9001, 9002, other[0]];
    let patients: Vec<Who> = ids.iter().map(|&id| who(&duck, id)).collect();
    let versions_before = s3_exports(&path);
    let before = traces(&pg_dump(&path), &versions_before, &patients);
    println!("on AWS, search before the erasure: {}", by_place(&before));
    assert!(before.len() > 10);

    // Refused while a daily execution runs, unknown and malformed ids
    // refused: nothing changes.
    let during = EraseDuringRun {
        path: &path,
        patients: json!(ids),
        outcome: Default::default(),
    };
    let mut again = input(first, None);
    again["rerun_later_days"] = json!(false);
    path.execute_with("day-again", again, &during, &ovom_asl::NoopObserver)
        .unwrap();
    let refused = during.outcome.into_inner().unwrap().unwrap().unwrap_err();
    assert_eq!(refused.error, "ExecutionRunning", "{}", refused.cause);
    for (name, bad, what) in [
        (
            "erase-unknown",
            json!([9001, 99_999_999]),
            "patient 99999999 is in none",
        ),
        ("erase-malformed", json!(["9001x"]), "is not a patient id"),
        ("erase-none", json!([]), "a request erases 1 to 50"),
    ] {
        let f = path.erase(name, json!({ "patients": bad })).unwrap_err();
        assert_eq!(f.error, "InvalidParameters", "{name}: {}", f.cause);
        assert!(f.cause.contains(what), "{name}: {}", f.cause);
    }
    assert_eq!(
        path.query("SELECT COUNT(*) FROM erasures").unwrap()[0][0],
        "0"
    );
    assert_eq!(s3_exports(&path), versions_before);
    assert_tables_equal(
        &aws_tables(&path),
        &duck_tables(&duck),
        "after the refusals",
    );

    // The erasure: the same tables and the same export as the embedded
    // one's; no table and no object version holds the patients.
    let report = path
        .erase("erase-1", json!({ "patients": ids }))
        .unwrap_or_else(|f| panic!("{}: {}", f.error, f.cause));
    let local = duck
        .forget(
            &warehouse,
            patients.iter().map(|w| w.id).collect(),
            &clock(),
        )
        .unwrap();
    // The same counts, and on AWS the COPY manifests' copies of their lines.
    let mut removed = report["removed"].as_object().unwrap().clone();
    assert!(removed.remove("manifests files").unwrap().as_u64().unwrap() > 0);
    let mut local_removed = json!(local.removed).as_object().unwrap().clone();
    assert_eq!(local_removed.remove("manifests files"), Some(json!(0)));
    assert_eq!(removed, local_removed);
    // Each rewritten export object had two versions, both with their lines
    // (and each rewritten manifest one).
    assert!(report["object_versions_removed"].as_u64().unwrap() >= 2 * local.objects_rewritten);
    assert_tables_equal(&aws_tables(&path), &duck_tables(&duck), "after the erasure");
    assert_eq!(s3_current(&path), files(twin.path()));
    let found = traces(&pg_dump(&path), &s3_objects(&path), &patients);
    println!("on AWS, search after the erasure: {} traces", found.len());
    assert!(found.is_empty(), "on AWS after the erasure: {found:#?}");

    // Every day again, then a day whose original file comes again: the
    // same on both, their lines suppressed.
    aws_run_ok(&path, "range-again", input(first, Some(last)));
    run_range_ok(&duck);
    let day = "2025-02-05";
    let key = format!("patient_data/{}/part-00099.json", folder(day));
    let original = std::fs::read(data.path().join(&key)).unwrap();
    path.put_object(&key, original.clone()).unwrap();
    twin.bytes(&key, &original);
    let mut redelivered = input(day, None);
    redelivered["rerun_later_days"] = json!(false);
    aws_run_ok(&path, "redelivered", redelivered);
    drop(duck);
    let duck = Pipeline::open(&warehouse, twin.path()).unwrap();
    run_day_alone(&duck, day);
    assert_tables_equal(
        &aws_tables(&path),
        &duck_tables(&duck),
        "after the re-delivery",
    );
    let suppressed = path
        .query("SELECT SUM(suppressed) FROM stage_audit")
        .unwrap();
    assert_eq!(suppressed[0][0], "1");
    assert!(traces(&pg_dump(&path), &[], &patients).is_empty());
}

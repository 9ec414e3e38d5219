//! `copy_day` against the fake Data API: the files COPY reads, the statements
//! it sends, the error budget.

use super::*;
use ovom_core::contract::LineError;

/// An object store in memory, addressed as `s3://ovom-data/export/<key>`.
#[derive(Default)]
struct MemStore {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemStore {
    fn with(files: &[(&str, &str)]) -> Self {
        let store = Self::default();
        for (k, v) in files {
            store.put(k, v.as_bytes()).unwrap();
        }
        store
    }
    fn text(&self, key: &str) -> String {
        String::from_utf8(self.objects.lock().unwrap()[key].clone()).unwrap()
    }
    fn meta(&self, key: &str) -> ObjectMeta {
        ObjectMeta {
            key: key.into(),
            size: self.objects.lock().unwrap()[key].len() as u64,
        }
    }
}

impl ObjectStore for MemStore {
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TaskError> {
        let keys: Vec<String> = self
            .objects
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        Ok(keys.iter().map(|k| self.meta(k)).collect())
    }
    fn get(&self, key: &str) -> Result<Vec<u8>, TaskError> {
        self.objects
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or_else(|| TaskError::StoreError {
                key: key.into(),
                detail: "no such key".into(),
            })
    }
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), TaskError> {
        self.objects
            .lock()
            .unwrap()
            .insert(key.into(), bytes.to_vec());
        Ok(())
    }
    fn replace(&self, key: &str, bytes: &[u8]) -> Result<u64, TaskError> {
        self.put(key, bytes).map(|()| 0)
    }
    fn url(&self, key: &str) -> String {
        format!("s3://ovom-data/export/{key}")
    }
}

fn test_line(id: u32) -> String {
    serde_json::json!({
        "test_id": format!("bt-{id:08}"), "patient_id": 7, "doc_id": 3, "doc_name": "Dr A",
        "clinic": "North", "lab_id": 2, "lab_name": "Lab B", "city": "Lyon",
        "ts": "2025-03-14T09:12:00Z", "ap_hi": 120, "ap_lo": 80, "cholesterol": 1,
        "gluc": 1, "smoke": 0, "alco": 0, "active": 1, "cardio": 0
    })
    .to_string()
}

const PART0: &str = "log_data/2025/03/14/part-00000.json";
const PART1: &str = "log_data/2025/03/14/part-00001.json";
const MALFORMED: &str = r#"{"test_id": "bt-00000002", "ap_hi": "high"}"#;
const LOAD_FAILED: &str = "Load into table 'ovom_copy_log_data' failed. Check 'sys_load_error_detail' system table for details.";

/// The URL of the copy COPY reads of a day's file `index`.
fn copy_url(index: usize) -> String {
    format!("s3://ovom-data/export/manifests/log_data/2025-03-14/run-1/{index:05}.json")
}

fn request(store: &MemStore, files: &[&str], max_errors: u32) -> CopyRequest {
    CopyRequest {
        source: Source::LogData,
        logical_date: "2025-03-14".parse().unwrap(),
        run_id: "run-1".parse().unwrap(),
        files: files.iter().map(|f| store.meta(f)).collect(),
        max_errors,
    }
}

fn error_rows(lines: &[(i64, &str, &str)]) -> Plan {
    result(
        &[
            ("line_number", "int8"),
            ("column_name", "bpchar"),
            ("error_message", "bpchar"),
        ],
        vec![lines
            .iter()
            .map(|(l, c, m)| {
                vec![
                    Field::LongValue(*l),
                    Field::StringValue((*c).into()),
                    Field::StringValue((*m).into()),
                ]
            })
            .collect()],
    )
}

/// Answers a two-file day: part 0 holds four lines (the second
/// malformed, the third one COPY rejects), part 1 two (the second blank).
fn day_planner() -> impl FnMut(&Exec) -> Plan + Send {
    move |e| {
        let sql = e.sql.as_str();
        if sql.starts_with("COPY") {
            let first = sql.contains("/00000.manifest");
            Plan {
                query_id: if first { 101 } else { 102 },
                // The rows each COPY loaded (its ResultRows).
                affected: Some(if first { 2 } else { 1 }),
                ..Plan::default()
            }
        } else if sql == COPY_ERRORS_SQL {
            let mut p = e.params.clone();
            p.sort();
            if p == params(&[("copy_file", &copy_url(0)), ("copy_pid", "4242")]) {
                error_rows(&[(3, "ts", "Invalid timestamp format or value")])
            } else {
                error_rows(&[])
            }
        } else {
            finished()
        }
    }
}

#[test]
fn copy_day_copies_each_file_through_a_manifest_and_quarantines_rejected_lines() {
    let rt = runtime();
    let fake = fake(day_planner());
    let store = MemStore::with(&[
        (
            PART0,
            &format!(
                "{}\n{MALFORMED}\n{}\n{}\n",
                test_line(1),
                test_line(3),
                test_line(5)
            ),
        ),
        (PART1, &format!("{}\n\n", test_line(4))),
    ]);
    let mut wh = warehouse(&rt, &fake);
    let req = request(&store, &[PART0, PART1], 10);
    // The day's rows wait in the session; the batch is the commit's
    // (the real server's tests send it).
    wh.begin().unwrap();
    let lines = wh.copy_day(&req, &store).unwrap();
    wh.rollback().unwrap();
    assert_eq!(lines, 6);

    // The day's jsonpaths and one manifest per file, beside each other.
    let base = "manifests/log_data/2025-03-14/run-1";
    let jsonpaths: serde_json::Value =
        serde_json::from_str(&store.text(&format!("{base}/jsonpaths.json"))).unwrap();
    assert_eq!(jsonpaths["jsonpaths"][0], "$['test_id']");
    assert_eq!(jsonpaths["jsonpaths"][16], "$['cardio']");
    assert_eq!(jsonpaths["jsonpaths"][17], "$['ovom_line_no']");
    assert_eq!(jsonpaths["jsonpaths"].as_array().unwrap().len(), 18);
    // COPY reads a copy of each file: refused lines emptied, records
    // numbered.
    let copy0 = format!("{base}/00000.json");
    assert_eq!(
        store.text(&copy0),
        format!(
            "{}\n\n{}\n{}\n",
            numbered_line(&test_line(1), 1),
            numbered_line(&test_line(3), 3),
            numbered_line(&test_line(5), 4)
        )
    );
    let copy1 = format!("{base}/00001.json");
    assert_eq!(
        store.text(&copy1),
        format!("{}\n\n", numbered_line(&test_line(4), 1))
    );
    for (i, copied) in [copy0.as_str(), copy1.as_str()].into_iter().enumerate() {
        let m: serde_json::Value =
            serde_json::from_str(&store.text(&format!("{base}/{i:05}.manifest"))).unwrap();
        assert_eq!(
            m,
            serde_json::json!({ "entries": [{
                "url": format!("s3://ovom-data/export/{copied}"),
                "mandatory": true,
                "meta": { "content_length": store.meta(copied).size }
            }]})
        );
    }

    let layout = Layout::of(Source::LogData);
    let copy = |i: usize, max: u32| {
        layout.copy(
            &S3Literal(format!("'s3://ovom-data/export/{base}/{i:05}.manifest'")),
            ROLE,
            &S3Literal(format!("'s3://ovom-data/export/{base}/jsonpaths.json'")),
            max,
        )
    };
    let row = Malformed {
        file_index: 0,
        file: String::new(),
        line: 0,
        error: LineError::line(""),
        raw: "x".into(),
    };
    let quarantine_one = quarantine_insert(std::slice::from_ref(&row)).0;
    let quarantine_two = quarantine_insert(&[row.clone(), row]).0;
    let sent = executed(&fake);
    let texts: Vec<&str> = sent.iter().map(|e| e.sql.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "CREATE TEMP TABLE ovom_pending_staging_bloodtest (LIKE staging_bloodtest)",
            &layout.create_temp(),
            // Part 0: the budget less the refused line, plus one (a load
            // fails when its errors reach MAXERROR); COPY rejects one (its
            // ResultRows, 2 loaded, leave one of the 3 lines to find).
            &copy(0, 10),
            COPY_ERRORS_SQL,
            &layout.insert_staging(),
            // The first quarantined lines make the session's table for them.
            "CREATE TEMP TABLE ovom_pending_quarantine (LIKE quarantine)",
            &quarantine_two,
            // Part 1: COPY's table emptied of part 0's rows; the budget less
            // part 0's two lines and the blank one.
            "DELETE FROM ovom_copy_log_data",
            &copy(1, 8),
            &layout.insert_staging(),
            &quarantine_one.replace(":raw_0", "''"),
        ]
    );
    // The first statement opens the task's session; the rest run in it.
    assert_eq!(sent[0].keep_alive, Some(60));
    assert_eq!(sent[0].workgroup.as_deref(), Some("ovom"));
    assert!(sent[1..]
        .iter()
        .all(|e| e.session.as_deref() == Some(SESSION)));
    assert!(sent[2].params.is_empty(), "COPY takes no parameters");
    let mut lookup = sent[3].params.clone();
    lookup.sort();
    assert_eq!(
        lookup,
        params(&[("copy_file", &copy_url(0)), ("copy_pid", "4242")])
    );
    let lineage = |file: &str| {
        let mut p = params(&[
            ("logical_date", "2025-03-14"),
            ("source_file", file),
            ("run_id", "run-1"),
        ]);
        p.sort();
        p
    };
    let sorted = |e: &Exec| {
        let mut p = e.params.clone();
        p.sort();
        p
    };
    assert_eq!(sorted(&sent[4]), lineage(PART0));
    assert_eq!(sorted(&sent[9]), lineage(PART1));

    // The refused line: its text, and the contract's reason; the line
    // COPY rejected: its text, and Redshift's reason.
    let reason = contract::parse_test(MALFORMED.as_bytes())
        .unwrap_err()
        .to_string();
    let mut q0 = params(&[
        ("logical_date", "2025-03-14"),
        ("source", "log_data"),
        ("source_file", PART0),
        ("line_0", "2"),
        ("error_0", &reason),
        ("raw_0", MALFORMED),
        ("line_1", "3"),
        ("error_1", "ts: Invalid timestamp format or value"),
        ("raw_1", &test_line(3)),
        ("run_id", "run-1"),
    ]);
    q0.sort();
    assert_eq!(sorted(&sent[6]), q0);
    // The blank line: no raw parameter (an empty value is written as '').
    let mut q1 = params(&[
        ("logical_date", "2025-03-14"),
        ("source", "log_data"),
        ("source_file", PART1),
        ("line_0", "2"),
        ("error_0", "empty line"),
        ("run_id", "run-1"),
    ]);
    q1.sort();
    assert_eq!(sorted(&sent[10]), q1);
}

#[test]
fn copy_day_over_the_budget_names_the_first_malformed_line_and_rolls_back() {
    let rt = runtime();
    let fake = fake(|e| {
        if e.sql.starts_with("COPY") {
            Plan {
                outcome: Outcome::Failed(LOAD_FAILED.into()),
                query_id: 77,
                ..Plan::default()
            }
        } else if e.sql == COPY_ERRORS_SQL {
            error_rows(&[
                (2, "city", "String length exceeds DDL length"),
                (3, "ts", "Invalid timestamp"),
            ])
        } else {
            finished()
        }
    });
    // Lines the contract accepts, which COPY rejects.
    let store = MemStore::with(&[(
        PART0,
        &format!("{}\n{}\n{}\n", test_line(1), test_line(2), test_line(3)),
    )]);
    let mut wh = warehouse(&rt, &fake);
    let req = request(&store, &[PART0], 0);
    let err = in_transaction(&mut wh, |wh| wh.copy_day(&req, &store)).unwrap_err();
    assert!(!wh.in_transaction());
    let reason = "city: String length exceeds DDL length";
    match err {
        TaskError::MalformedInput {
            file,
            line,
            error,
            budget: None,
        } => {
            assert_eq!((file.as_str(), line), (PART0, 2));
            assert_eq!(error.to_string(), reason, "strict: the line's own reason");
        }
        other => panic!("{other:?}"),
    }
    let sent = executed(&fake);
    let copy = sent.iter().find(|e| e.sql.starts_with("COPY")).unwrap();
    assert!(copy.sql.contains("MAXERROR 1"), "strict: {}", copy.sql);
    // The load errors are read on their own, by the COPY's process and file.
    let lookup = sent.iter().find(|e| e.sql == COPY_ERRORS_SQL).unwrap();
    assert_eq!(lookup.session, None);
    assert_eq!(lookup.workgroup.as_deref(), Some("ovom"));
    let mut p = lookup.params.clone();
    p.sort();
    assert_eq!(
        p,
        params(&[("copy_file", &copy_url(0)), ("copy_pid", "4242")])
    );
    // Nothing is written to a table of the warehouse before a commit.
    assert!(!sent
        .iter()
        .any(|e| e.sql.starts_with("INSERT INTO staging")));
}

#[test]
fn copy_day_refuses_lines_that_copy_neither_loaded_nor_rejected() {
    let rt = runtime();
    // Three lines, two rows loaded, nothing in the error view.
    let fake = fake(|e| {
        if e.sql.starts_with("COPY") {
            Plan {
                query_id: 5,
                affected: Some(2),
                ..Plan::default()
            }
        } else if e.sql == COPY_ERRORS_SQL {
            error_rows(&[])
        } else {
            finished()
        }
    });
    let store = MemStore::with(&[(
        PART0,
        &format!("{}\n{}\n{}\n", test_line(1), test_line(2), test_line(3)),
    )]);
    let mut wh = warehouse(&rt, &fake);
    let req = request(&store, &[PART0], 10);
    let err = in_transaction(&mut wh, |wh| wh.copy_day(&req, &store)).unwrap_err();
    assert!(
        matches!(&err, TaskError::WarehouseBusy(m) if m.contains("1 of the file's 3 lines are not accounted for")),
        "{err:?}"
    );
    let looks = executed(&fake)
        .iter()
        .filter(|e| e.sql == COPY_ERRORS_SQL)
        .count();
    assert_eq!(looks, ERROR_VIEW_ATTEMPTS);
}

#[test]
fn copy_day_needs_a_transaction_and_an_s3_store() {
    let rt = runtime();
    let fake = fake(|_| finished());
    let store = MemStore::with(&[(PART0, &test_line(1))]);
    let mut wh = warehouse(&rt, &fake);
    let req = request(&store, &[PART0], 0);
    assert!(matches!(
        wh.copy_day(&req, &store),
        Err(TaskError::WarehouseError(_))
    ));
    assert!(sqls(&fake).is_empty());
}

#[test]
fn lines_the_contract_refuses_count_against_the_budget_before_any_copy() {
    let rt = runtime();
    let fake = fake(|_| finished());
    let long = format!(
        "{{\"notes\": \"{}\"}}",
        "x".repeat(contract::MAX_LINE_BYTES)
    );
    let store = MemStore::with(&[(PART0, &format!("{}\n{long}\n{MALFORMED}\n", test_line(1)))]);
    let mut wh = warehouse(&rt, &fake);
    let req = request(&store, &[PART0], 0);
    let err = in_transaction(&mut wh, |wh| wh.copy_day(&req, &store)).unwrap_err();
    match err {
        TaskError::MalformedInput {
            file, line, error, ..
        } => {
            assert_eq!((file.as_str(), line), (PART0, 2));
            assert!(
                error.reason.contains("longer than the 1 MiB limit"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    let sent = sqls(&fake);
    assert!(!sent.iter().any(|s| s.starts_with("COPY")), "{sent:?}");
    assert!(!wh.in_transaction());
}

/// A record as the copy COPY reads holds it: numbered after the brace.
fn numbered_line(line: &str, n: u64) -> String {
    format!("{{\"ovom_line_no\":{n},{}", &line[1..])
}

#[test]
fn the_copy_empties_refused_lines_and_numbers_every_record() {
    let layout = Layout::of(Source::LogData);
    let (a, b) = (test_line(1), test_line(2));
    // Blank lines and CRLF line ends: blanks stay blank, records numbered.
    let plain = FileLines::read(format!("{a}\r\n\r\n \t\n{b}").as_bytes(), layout);
    assert_eq!(plain.count, 4);
    assert_eq!(
        plain.refused,
        vec![
            (2, LineError::line("empty line")),
            (3, LineError::line("empty line"))
        ]
    );
    assert_eq!(
        String::from_utf8(plain.copy).unwrap(),
        format!("{}\n\n\n{}\n", numbered_line(&a, 1), numbered_line(&b, 4))
    );
    // A byte-order mark: gone from the copy.
    let bom = FileLines::read(format!("\u{FEFF}{a}\r\n{b}\r\n").as_bytes(), layout);
    assert!(bom.refused.is_empty());
    assert_eq!(
        String::from_utf8(bom.copy).unwrap(),
        format!("{}\n{}\n", numbered_line(&a, 1), numbered_line(&b, 2))
    );
    // Refused lines emptied in place, the other lines keep their numbers;
    // a form feed is not JSON whitespace.
    let ap_hi = a.replace("\"ap_hi\":120", "\"ap_hi\":\"120\"");
    let bad = FileLines::read(format!("{ap_hi}\n\u{c}\n[{a}]\n\n{b}\n").as_bytes(), layout);
    assert_eq!(
        bad.refused.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(bad.refused[0].1.field == Some("ap_hi"), "{:?}", bad.refused);
    assert_eq!(
        String::from_utf8(bad.copy).unwrap(),
        format!("\n\n\n\n{}\n", numbered_line(&b, 5))
    );
}

#[test]
fn a_record_with_a_member_named_like_the_line_number_gets_the_real_number() {
    let layout = Layout::of(Source::LogData);
    let spoof = test_line(1).replacen('{', "{\"ovom_line_no\":99,", 1);
    let lines = FileLines::read(format!("{}\n{spoof}\n", test_line(2)).as_bytes(), layout);
    assert!(lines.refused.is_empty(), "{:?}", lines.refused);
    let copy = String::from_utf8(lines.copy).unwrap();
    let second: serde_json::Value = serde_json::from_str(copy.lines().nth(1).unwrap()).unwrap();
    assert_eq!(second["ovom_line_no"], 2);
    assert_eq!(
        second["test_id"],
        serde_json::from_str::<serde_json::Value>(&test_line(1)).unwrap()["test_id"]
    );
    assert_eq!(copy.matches("ovom_line_no").count(), 2);
}

#[test]
fn a_rejected_line_takes_the_contracts_reason_and_text_when_the_file_has_it() {
    let rt = runtime();
    let fake = fake(|_| finished());
    let store = MemStore::with(&[(PART0, &format!("{}\n{MALFORMED}\n", test_line(1)))]);
    let wh = warehouse(&rt, &fake);
    let req = request(&store, &[PART0], 5);
    let day = CopyDay::new(&wh, &req, &store).unwrap();
    let lines = FileLines::read(store.text(PART0).as_bytes(), Layout::of(Source::LogData));
    assert_eq!(lines.count, 2);
    assert_eq!(
        lines.refused.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![2]
    );
    let contract = contract::parse_test(MALFORMED.as_bytes())
        .unwrap_err()
        .to_string();
    let m = day.malformed(0, PART0, &lines, 2, "ap_hi: Invalid digit");
    assert_eq!(
        (m.line, m.error.to_string(), m.raw.as_str()),
        (2, contract, MALFORMED)
    );
    // A valid line COPY refused (say, too long for its column): Redshift's reason.
    let m = day.malformed(
        0,
        PART0,
        &lines,
        1,
        "city: String length exceeds DDL length",
    );
    assert_eq!(
        m.error,
        LineError::line("city: String length exceeds DDL length")
    );
    assert_eq!(m.raw, test_line(1));
    // A line number the file does not have: Redshift's reason, no text.
    let m = day.malformed(0, PART0, &lines, 9, "ts: Invalid timestamp");
    assert_eq!(
        (m.error.to_string().as_str(), m.raw.as_str()),
        ("ts: Invalid timestamp", "")
    );
}

#[test]
fn only_safe_s3_urls_reach_a_copy_statement() {
    assert_eq!(
        S3Literal::new("s3://ovom-data/export/manifests/log_data/2025-03-14/exec:1/00000.manifest")
            .unwrap(),
        S3Literal(
            "'s3://ovom-data/export/manifests/log_data/2025-03-14/exec:1/00000.manifest'".into()
        )
    );
    for bad in [
        "s3://ovom-data/it's/a.manifest",
        "s3://ovom-data/a\\b",
        "s3://ovom-data/a b",
        "s3://Ovom/a",
        "s3://ovom-data/",
        "s3://ovom-data",
        "https://ovom-data/a",
        "/var/data/a.manifest",
        "s3://ovom-data/a%27b",
    ] {
        assert!(S3Literal::new(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_budget_counts_like_the_embedded_warehouse() {
    let m = |i: usize, line: u64| Malformed {
        file_index: i,
        file: format!("f{i}"),
        line,
        error: LineError::line(format!("bad {i}:{line}")),
        raw: String::new(),
    };
    let mut b = Budget {
        max: 2,
        count: 0,
        first: None,
    };
    b.add(&m(1, 5));
    b.add(&m(0, 9));
    assert_eq!((b.remaining(), b.exceeded()), (0, false));
    b.add(&m(1, 1));
    assert!(b.exceeded());
    assert!(matches!(
        b.error(),
        TaskError::MalformedInput { ref file, line: 9, ref error, budget: Some(2) } if file == "f0" && error.reason == "bad 0:9"
    ));
    assert!(b
        .error()
        .to_string()
        .ends_with("bad 0:9 (more than 2 malformed lines)"));
}

//! The generator against the data contract: layout, format, determinism,
//! marginals, dirty and malformed data, options.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::json::{push_json_string, push_tenths, push_timestamp, push_u64_padded};
use crate::rng::{Rng, Tag};
use crate::*;

/// Files in memory, in the order they were written.
#[derive(Default)]
struct MemSink {
    files: Vec<(String, Vec<u8>)>,
}

impl Sink for MemSink {
    fn write_file(&mut self, relative_path: &str, contents: &[u8]) -> std::io::Result<()> {
        self.files
            .push((relative_path.to_owned(), contents.to_vec()));
        Ok(())
    }
}

struct Run {
    summary: Summary,
    files: Vec<(String, Vec<u8>)>,
    progress: Vec<Progress>,
}

impl Run {
    fn lines<'a>(&'a self, source: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.files
            .iter()
            .filter(move |(p, _)| p.starts_with(source))
            .flat_map(|(p, c)| {
                c.strip_suffix(b"\n")
                    .unwrap()
                    .split(|b| *b == b'\n')
                    .map(move |l| (p.as_str(), l))
            })
    }
}

fn run_parts(opts: &Options, part_lines: usize) -> Run {
    let mut sink = MemSink::default();
    let mut progress = vec![];
    let summary = generate_parts(opts, part_lines, &mut sink, &mut |p| progress.push(p)).unwrap();
    Run {
        summary,
        files: sink.files,
        progress,
    }
}

fn run(opts: &Options) -> Run {
    run_parts(opts, MAX_LINES_PER_PART)
}

fn default_run() -> &'static Run {
    static RUN: std::sync::OnceLock<Run> = std::sync::OnceLock::new();
    RUN.get_or_init(|| run(&Options::default()))
}

fn small(seed: u64) -> Options {
    Options {
        seed,
        patients: 300,
        tests: 4000,
        dirty_rate: 0.05,
        malformed_rate: 0.02,
        ..Options::default()
    }
}

const PATIENT_FIELDS: [&str; 9] = [
    "patient_id",
    "first_name",
    "last_name",
    "sex",
    "age",
    "height",
    "weight",
    "address",
    "registered_at",
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Str,
    Int,
    Number,
    Timestamp,
}

fn test_kind(field: &str) -> Kind {
    match field {
        "test_id" | "doc_name" | "clinic" | "lab_name" | "city" => Kind::Str,
        "ts" => Kind::Timestamp,
        _ => Kind::Int,
    }
}

fn patient_kind(field: &str) -> Kind {
    match field {
        "first_name" | "last_name" | "sex" | "address" => Kind::Str,
        "weight" => Kind::Number,
        "registered_at" => Kind::Timestamp,
        _ => Kind::Int,
    }
}

/// A contract timestamp: RFC 3339, UTC with `Z`, whole seconds.
fn timestamp(s: &str) -> Option<chrono::NaiveDateTime> {
    let b = s.as_bytes();
    let shape = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    shape
        .then(|| {
            chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.naive_utc())
        })
        .flatten()
}

/// The line as an object with exactly `fields`, in that order, of the right
/// types; else why not.
fn check_line(
    line: &[u8],
    fields: &[&str],
    kind: fn(&str) -> Kind,
) -> Result<serde_json::Map<String, Value>, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8: {e}"))?;
    let Value::Object(m) =
        serde_json::from_str::<Value>(text).map_err(|e| format!("not JSON: {e}"))?
    else {
        return Err("not an object".into());
    };
    if m.len() != fields.len() {
        return Err(format!("{} fields", m.len()));
    }
    let mut at = 0;
    for f in fields {
        let v = m.get(*f).ok_or_else(|| format!("missing {f}"))?;
        let ok = match kind(f) {
            Kind::Str => v.as_str().is_some_and(|s| !s.is_empty()),
            Kind::Int => v.is_i64(),
            Kind::Number => v.is_number(),
            Kind::Timestamp => v.as_str().and_then(timestamp).is_some(),
        };
        if !ok {
            return Err(format!("{f} has the wrong type: {v}"));
        }
        let key = format!("\"{f}\":");
        at = at
            + text[at..]
                .find(&key)
                .ok_or_else(|| format!("{f} out of order"))?
            + key.len();
    }
    Ok(m)
}

fn int(m: &serde_json::Map<String, Value>, k: &str) -> i64 {
    m[k].as_i64().unwrap()
}

fn text<'a>(m: &'a serde_json::Map<String, Value>, k: &str) -> &'a str {
    m[k].as_str().unwrap()
}

/// `YYYY/MM/DD` of a path `source/YYYY/MM/DD/part-NNNNN.json`.
fn folder_day(path: &str) -> &str {
    let rest = path.split_once('/').unwrap().1;
    &rest[..10]
}

#[derive(Clone, Debug)]
struct PatientRow {
    id: i64,
    sex: String,
    age: i64,
    height: i64,
    weight: f64,
    first_name: String,
    last_name: String,
    address: String,
    at: chrono::NaiveDateTime,
}

#[derive(Clone, Debug)]
struct TestRow {
    id: String,
    patient: i64,
    doc: i64,
    lab: i64,
    at: chrono::NaiveDateTime,
    hi: i64,
    lo: i64,
    chol: i64,
    gluc: i64,
    smoke: i64,
    alco: i64,
    active: i64,
    cardio: i64,
}

fn patients_of(r: &Run) -> Vec<PatientRow> {
    r.lines("patient_data/")
        .map(|(_, l)| {
            let m = check_line(l, &PATIENT_FIELDS, patient_kind).unwrap();
            PatientRow {
                id: int(&m, "patient_id"),
                sex: text(&m, "sex").into(),
                age: int(&m, "age"),
                height: int(&m, "height"),
                weight: m["weight"].as_f64().unwrap(),
                first_name: text(&m, "first_name").into(),
                last_name: text(&m, "last_name").into(),
                address: text(&m, "address").into(),
                at: timestamp(text(&m, "registered_at")).unwrap(),
            }
        })
        .collect()
}

fn test_row(m: &serde_json::Map<String, Value>) -> TestRow {
    TestRow {
        id: text(m, "test_id").into(),
        patient: int(m, "patient_id"),
        doc: int(m, "doc_id"),
        lab: int(m, "lab_id"),
        at: timestamp(text(m, "ts")).unwrap(),
        hi: int(m, "ap_hi"),
        lo: int(m, "ap_lo"),
        chol: int(m, "cholesterol"),
        gluc: int(m, "gluc"),
        smoke: int(m, "smoke"),
        alco: int(m, "alco"),
        active: int(m, "active"),
        cardio: int(m, "cardio"),
    }
}

/// Every well-formed test line, with its file.
fn tests_of(r: &Run) -> Vec<(String, TestRow)> {
    r.lines("log_data/")
        .filter_map(|(p, l)| {
            check_line(l, &write::TEST_FIELDS, test_kind)
                .ok()
                .map(|m| (p.to_owned(), test_row(&m)))
        })
        .collect()
}

/// The contract's rules, in order: the first that fails.
fn reject_reason(t: &TestRow, patients: i64) -> Option<&'static str> {
    if !((60..=250).contains(&t.hi) && (30..=200).contains(&t.lo)) {
        Some("implausible_pressure")
    } else if t.hi < t.lo {
        Some("systolic_below_diastolic")
    } else if ![t.chol, t.gluc].iter().all(|v| (1..=3).contains(v))
        || ![t.smoke, t.alco, t.active, t.cardio]
            .iter()
            .all(|v| (0..=1).contains(v))
    {
        Some("out_of_domain")
    } else if t.patient < 1 || t.patient > patients {
        Some("unknown_patient")
    } else {
        None
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

fn median(v: &[i64]) -> i64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v[v.len() / 2]
}

fn share(v: impl Iterator<Item = bool>) -> f64 {
    let (mut yes, mut all) = (0usize, 0usize);
    for b in v {
        all += 1;
        yes += usize::from(b);
    }
    yes as f64 / all as f64
}

fn fnv1a(files: &[(String, Vec<u8>)]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (p, c) in files {
        for b in p.as_bytes().iter().chain([0u8].iter()).chain(c.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    h
}

#[test]
fn the_same_options_give_byte_identical_files_and_another_seed_differs() {
    let a = run(&small(7));
    let b = run(&small(7));
    assert!(a.files == b.files, "two runs differ");
    assert_eq!(a.summary, b.summary);
    let c = run(&small(8));
    assert!(a.files != c.files, "another seed gives the same files");
    let d = run(&Options {
        dirty_rate: 0.0,
        ..small(7)
    });
    assert!(a.files != d.files);
}

#[test]
fn the_output_is_pinned_so_a_change_to_it_is_deliberate() {
    // The bytes of a small data set: a change here changes every data set
    // generated from the same options, which is a breaking change for anyone
    // who relies on regenerating them.
    let r = run(&small(2025));
    assert_eq!(fnv1a(&r.files), 14735665029366252932, "output hash changed");
}

#[test]
fn rates_change_only_the_records_they_hit() {
    let clean = run(&Options {
        dirty_rate: 0.0,
        malformed_rate: 0.0,
        ..small(3)
    });
    let dirty = run(&Options {
        dirty_rate: 0.1,
        malformed_rate: 0.05,
        ..small(3)
    });
    let lines =
        |r: &Run| -> BTreeSet<Vec<u8>> { r.lines("log_data/").map(|(_, l)| l.to_vec()).collect() };
    let (a, b) = (lines(&clean), lines(&dirty));
    let changed = a.difference(&b).count();
    let hit = dirty.summary.dirty_implausible_pressure
        + dirty.summary.dirty_systolic_below_diastolic
        + dirty.summary.dirty_unknown_patient
        + dirty.summary.malformed_lines;
    assert!(changed as u64 <= hit, "{changed} lines changed, {hit} hit");
    assert!(
        changed as u64 * 10 >= hit * 9,
        "{changed} lines changed, {hit} hit"
    );
    let patients = |r: &Run| {
        r.files
            .iter()
            .filter(|(p, _)| p.starts_with("patient_data/"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        patients(&clean) == patients(&dirty),
        "patient records depend on the rates"
    );
}

#[test]
fn files_follow_the_layout_in_sorted_path_order() {
    let r = default_run();
    let paths: Vec<&str> = r.files.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        paths.windows(2).all(|w| w[0] < w[1]),
        "not written in strictly sorted path order"
    );
    let mut parts: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (path, contents) in &r.files {
        let b = path.as_bytes();
        let (source, rest) = path.split_once('/').unwrap();
        assert!(source == "log_data" || source == "patient_data", "{path}");
        let rest = rest.as_bytes();
        let shape = rest.len() == 26
            && rest.iter().enumerate().all(|(i, c)| match i {
                4 | 7 | 10 => *c == b'/',
                11..=15 => *c == b"part-"[i - 11],
                21..=25 => *c == b".json"[i - 21],
                _ => c.is_ascii_digit(),
            });
        assert!(shape, "{path}");
        let day = folder_day(path);
        chrono::NaiveDate::parse_from_str(day, "%Y/%m/%d")
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(day.starts_with("2025/"), "{path}");
        let part: usize = std::str::from_utf8(&b[b.len() - 10..b.len() - 5])
            .unwrap()
            .parse()
            .unwrap();
        parts.entry((source, day)).or_default().push(part);
        assert!(
            !contents.is_empty() && contents.ends_with(b"\n"),
            "{path} does not end with a line end"
        );
        assert!(!contents.contains(&b'\r'), "{path} has a carriage return");
        assert!(
            !contents.windows(2).any(|w| w == b"\n\n"),
            "{path} has an empty line"
        );
        std::str::from_utf8(contents).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(!contents.starts_with(b"\xEF\xBB\xBF"));
        let lines = contents.iter().filter(|b| **b == b'\n').count();
        assert!(lines <= MAX_LINES_PER_PART);
    }
    for ((source, day), p) in &parts {
        assert_eq!(
            *p,
            (0..p.len()).collect::<Vec<_>>(),
            "{source}/{day}: parts not numbered from 00000"
        );
    }
    let s = &r.summary;
    let count = |source: &str| parts.keys().filter(|(s, _)| *s == source).count() as u64;
    let files = |source: &str| {
        parts
            .iter()
            .filter(|((s, _), _)| *s == source)
            .map(|(_, p)| p.len() as u64)
            .sum::<u64>()
    };
    assert_eq!(count("log_data"), s.days_with_tests);
    assert_eq!(files("log_data"), s.test_files);
    assert_eq!(files("patient_data"), s.patient_files);
    assert_eq!(r.lines("log_data/").count() as u64, s.test_lines);
    assert_eq!(r.lines("patient_data/").count() as u64, s.patient_records);
    assert!(s.days_with_tests >= 300, "{s:?}");
}

#[test]
fn every_line_has_exactly_the_contract_fields_types_and_day() {
    let r = default_run();
    assert_eq!(r.summary.malformed_lines, 0);
    let mut n = 0;
    for (path, line) in r.lines("log_data/") {
        let m = check_line(line, &write::TEST_FIELDS, test_kind)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let ts = text(&m, "ts");
        assert_eq!(ts[..10].replace('-', "/"), folder_day(path), "{path}: {ts}");
        let id = text(&m, "test_id");
        assert!(
            id.len() == 11 && id.starts_with("bt-") && id[3..].bytes().all(|b| b.is_ascii_digit()),
            "{id}"
        );
        n += 1;
    }
    assert_eq!(n, 70_000 + r.summary.dirty_duplicates);
    for (path, line) in r.lines("patient_data/") {
        let m = check_line(line, &PATIENT_FIELDS, patient_kind)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let at = text(&m, "registered_at");
        assert_eq!(at[..10].replace('-', "/"), folder_day(path), "{path}: {at}");
        assert!(matches!(text(&m, "sex"), "F" | "M"));
        assert!(int(&m, "patient_id") > 0);
        // The weight with exactly one decimal, as written.
        let raw = std::str::from_utf8(line).unwrap();
        let w = raw
            .split("\"weight\":")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        let (whole, tenth) = w.split_once('.').unwrap_or_else(|| panic!("{w}"));
        assert!(
            !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) && tenth.len() == 1,
            "{w}"
        );
        assert!(text(&m, "address").contains(", "));
    }
}

#[test]
fn patients_and_tests_follow_the_cardiovascular_data_set() {
    let r = default_run();
    let mut first: BTreeMap<i64, PatientRow> = BTreeMap::new();
    for p in patients_of(r) {
        first.entry(p.id).or_insert(p);
    }
    assert_eq!(
        first.keys().copied().collect::<Vec<_>>(),
        (1..=7000).collect::<Vec<_>>()
    );
    let ps: Vec<&PatientRow> = first.values().collect();
    let age: Vec<f64> = ps.iter().map(|p| p.age as f64).collect();
    assert!(ps.iter().all(|p| (29..=64).contains(&p.age)));
    assert!(
        (52.0..54.5).contains(&mean(&age)),
        "age mean {}",
        mean(&age)
    );
    assert!((5.8..7.8).contains(&sd(&age)), "age sd {}", sd(&age));
    let female = share(ps.iter().map(|p| p.sex == "F"));
    assert!((0.62..0.68).contains(&female), "F {female}");
    let height: Vec<f64> = ps.iter().map(|p| p.height as f64).collect();
    assert!(
        (163.0..166.0).contains(&mean(&height)),
        "height {}",
        mean(&height)
    );
    assert!(
        (6.5..9.5).contains(&sd(&height)),
        "height sd {}",
        sd(&height)
    );
    let by_sex = |s: &str| {
        mean(
            &ps.iter()
                .filter(|p| p.sex == s)
                .map(|p| p.height as f64)
                .collect::<Vec<_>>(),
        )
    };
    assert!((159.5..163.5).contains(&by_sex("F")) && (168.0..172.0).contains(&by_sex("M")));
    let weight: Vec<f64> = ps.iter().map(|p| p.weight).collect();
    assert!(
        (72.0..76.5).contains(&mean(&weight)),
        "weight {}",
        mean(&weight)
    );
    assert!(
        (11.5..16.5).contains(&sd(&weight)),
        "weight sd {}",
        sd(&weight)
    );

    let tests: Vec<TestRow> = tests_of(r)
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| reject_reason(t, 7000).is_none())
        .collect();
    assert!(tests.len() > 69_000);
    let hi: Vec<i64> = tests.iter().map(|t| t.hi).collect();
    let lo: Vec<i64> = tests.iter().map(|t| t.lo).collect();
    assert_eq!((median(&hi), median(&lo)), (120, 80));
    let tens = share(tests.iter().map(|t| t.hi % 10 == 0 && t.lo % 10 == 0));
    assert!((0.75..0.95).contains(&tens), "rounded to 10 mmHg: {tens}");
    let dist = |f: fn(&TestRow) -> i64, v: i64| share(tests.iter().map(|t| f(t) == v));
    let near = |got: f64, want: f64, tol: f64| {
        assert!((got - want).abs() <= tol, "{got} is not {want} ± {tol}")
    };
    near(dist(|t| t.chol, 1), 0.75, 0.03);
    near(dist(|t| t.chol, 2), 0.14, 0.025);
    near(dist(|t| t.chol, 3), 0.11, 0.025);
    near(dist(|t| t.gluc, 1), 0.85, 0.03);
    near(dist(|t| t.gluc, 2), 0.07, 0.02);
    near(dist(|t| t.gluc, 3), 0.08, 0.02);
    near(dist(|t| t.smoke, 1), 0.09, 0.02);
    near(dist(|t| t.alco, 1), 0.05, 0.015);
    near(dist(|t| t.active, 1), 0.80, 0.03);
    near(dist(|t| t.cardio, 1), 0.50, 0.04);

    // Cardiovascular disease goes with age, pressure and cholesterol.
    let cardio_where =
        |f: &dyn Fn(&TestRow) -> bool| share(tests.iter().filter(|t| f(t)).map(|t| t.cardio == 1));
    let age_of = |t: &TestRow| first[&t.patient].age;
    assert!(cardio_where(&|t| age_of(t) >= 58) > cardio_where(&|t| age_of(t) < 48) + 0.2);
    assert!(cardio_where(&|t| t.chol == 3) > cardio_where(&|t| t.chol == 1) + 0.2);
    let hi_where = |c: i64| {
        mean(
            &tests
                .iter()
                .filter(|t| t.cardio == c)
                .map(|t| t.hi as f64)
                .collect::<Vec<_>>(),
        )
    };
    assert!(
        hi_where(1) > hi_where(0) + 8.0,
        "{} vs {}",
        hi_where(1),
        hi_where(0)
    );
    // Smoking and alcohol mostly men.
    let smoke_by = |s: &str| {
        share(
            tests
                .iter()
                .filter(|t| first[&t.patient].sex == s)
                .map(|t| t.smoke == 1),
        )
    };
    assert!(smoke_by("M") > 3.0 * smoke_by("F"));
}

#[test]
fn tests_repeat_the_patients_baseline_mostly_with_the_usual_doctor_and_lab() {
    let r = default_run();
    let mut by_patient: BTreeMap<i64, Vec<TestRow>> = BTreeMap::new();
    for (_, t) in tests_of(r) {
        if t.patient <= 7000 {
            by_patient.entry(t.patient).or_default().push(t);
        }
    }
    assert!(
        by_patient.len() > 6500,
        "{} patients have tests",
        by_patient.len()
    );
    let (mut same, mut all) = ([0usize; 8], 0usize);
    for tests in by_patient.values().filter(|t| t.len() >= 3) {
        let mode = |f: &dyn Fn(&TestRow) -> i64| {
            let mut c: BTreeMap<i64, usize> = BTreeMap::new();
            tests.iter().for_each(|t| *c.entry(f(t)).or_default() += 1);
            c.into_iter().max_by_key(|(_, n)| *n).unwrap().0
        };
        let fs: [&dyn Fn(&TestRow) -> i64; 8] = [
            &|t| t.chol,
            &|t| t.gluc,
            &|t| t.smoke,
            &|t| t.alco,
            &|t| t.active,
            &|t| t.cardio,
            &|t| t.doc,
            &|t| t.lab,
        ];
        for (i, f) in fs.iter().enumerate() {
            let m = mode(f);
            same[i] += tests.iter().filter(|t| f(t) == m).count();
        }
        all += tests.len();
    }
    for (i, s) in same.iter().enumerate() {
        let s = *s as f64 / all as f64;
        assert!(
            s > 0.8 && s < 1.0,
            "measure {i}: {s} of tests repeat the patient's usual value"
        );
    }
    let doctors: BTreeSet<i64> = by_patient.values().flatten().map(|t| t.doc).collect();
    let labs: BTreeSet<i64> = by_patient.values().flatten().map(|t| t.lab).collect();
    assert_eq!(doctors, (1..=120).collect());
    assert_eq!(labs, (1..=40).collect());
}

#[test]
fn doctors_and_labs_keep_their_names_and_places_across_data_sets() {
    let mut doctor: HashMap<i64, (String, String)> = HashMap::new();
    let mut lab: HashMap<i64, (String, String)> = HashMap::new();
    for r in [
        default_run(),
        &run(&small(1)),
        &run(&Options {
            year: 2030,
            ..small(99)
        }),
    ] {
        for (_, l) in r.lines("log_data/") {
            let Ok(m) = check_line(l, &write::TEST_FIELDS, test_kind) else {
                continue;
            };
            let d = (
                text(&m, "doc_name").to_owned(),
                text(&m, "clinic").to_owned(),
            );
            assert_eq!(
                doctor.entry(int(&m, "doc_id")).or_insert_with(|| d.clone()),
                &d
            );
            let b = (text(&m, "lab_name").to_owned(), text(&m, "city").to_owned());
            assert_eq!(
                lab.entry(int(&m, "lab_id")).or_insert_with(|| b.clone()),
                &b
            );
        }
    }
    let clinics: BTreeSet<&str> = doctor.values().map(|(_, c)| c.as_str()).collect();
    let cities: BTreeSet<&str> = lab.values().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        (doctor.len(), clinics.len(), lab.len(), cities.len()),
        (120, 25, 40, 12)
    );
    assert!(cities.contains("London") && cities.contains("Glasgow"));
    let names: BTreeSet<&String> = doctor.values().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 120, "doctor names are unique");
}

#[test]
fn tests_never_precede_their_patients_registration() {
    for r in [default_run(), &run(&small(5))] {
        let mut registered: HashMap<i64, chrono::NaiveDateTime> = HashMap::new();
        for p in patients_of(r) {
            let at = registered.entry(p.id).or_insert(p.at);
            *at = (*at).min(p.at);
        }
        let mut same_day = 0;
        for (_, t) in tests_of(r) {
            if let Some(reg) = registered.get(&t.patient) {
                assert!(
                    t.at > *reg,
                    "{} at {} before patient {} registered at {reg}",
                    t.id,
                    t.at,
                    t.patient
                );
                same_day += usize::from(t.at.date() == reg.date());
            }
        }
        assert!(same_day > 0, "no test on a registration day");
    }
    // Registrations are early in the year, mostly.
    let r = default_run();
    let regs: Vec<_> = patients_of(r)
        .into_iter()
        .filter(|p| p.at.format("%Y").to_string() == "2025")
        .collect();
    let first_quarter = share(
        regs.iter()
            .map(|p| p.at.format("%m").to_string().as_str() <= "03"),
    );
    assert!(first_quarter > 0.45, "{first_quarter}");
}

#[test]
fn late_patient_records_come_one_to_ten_days_after_their_first_tests() {
    let opts = Options {
        late_patient_rate: 0.3,
        dirty_rate: 0.0,
        ..small(11)
    };
    let late = run(&opts);
    let on_time = run(&Options {
        late_patient_rate: 0.0,
        ..opts.clone()
    });
    // Only the registration records move: the tests are the same lines.
    assert_eq!(
        late.lines("log_data/").map(|(_, l)| l).collect::<Vec<_>>(),
        on_time
            .lines("log_data/")
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
    );
    let at = |r: &Run| -> HashMap<i64, chrono::NaiveDateTime> {
        patients_of(r).into_iter().map(|p| (p.id, p.at)).collect()
    };
    let (late_at, on_time_at) = (at(&late), at(&on_time));
    let mut first_test: HashMap<i64, chrono::NaiveDateTime> = HashMap::new();
    for (_, t) in tests_of(&late) {
        let e = first_test.entry(t.patient).or_insert(t.at);
        *e = (*e).min(t.at);
    }
    let mut moved = 0u64;
    let mut before_record = 0;
    for (id, at) in &late_at {
        let delay = (*at - on_time_at[id]).num_seconds();
        if delay == 0 {
            continue;
        }
        moved += 1;
        assert!(
            delay % 86_400 == 0 && (1..=10).contains(&(delay / 86_400)),
            "patient {id} moved by {delay} s"
        );
        before_record += usize::from(first_test.get(id).is_some_and(|t| t < at));
    }
    assert_eq!(moved, late.summary.late_patient_records);
    let share = moved as f64 / late_at.len() as f64;
    assert!((0.15..0.35).contains(&share), "{share}");
    assert!(
        before_record > 0,
        "no test comes before its patient's late record"
    );
    assert_eq!(on_time.summary.late_patient_records, 0);
}

#[test]
fn patient_updates_are_later_records_of_the_same_patient() {
    let r = default_run();
    let mut records: BTreeMap<i64, Vec<PatientRow>> = BTreeMap::new();
    for p in patients_of(r) {
        records.entry(p.id).or_default().push(p);
    }
    let updated: Vec<&Vec<PatientRow>> = records.values().filter(|v| v.len() > 1).collect();
    assert_eq!(updated.len() as u64, r.summary.patient_updates);
    assert_eq!(
        records.len() as u64 + r.summary.patient_updates,
        r.summary.patient_records
    );
    let rate = updated.len() as f64 / records.len() as f64;
    assert!((0.07..0.12).contains(&rate), "{rate}");
    let mut moved = 0;
    for v in updated {
        assert_eq!(v.len(), 2);
        let (a, b) = (&v[0], &v[1]);
        assert!(
            b.at.date() > a.at.date(),
            "update of {} not on a later day",
            a.id
        );
        assert_eq!(
            (&a.first_name, &a.last_name, &a.sex, a.age, a.height),
            (&b.first_name, &b.last_name, &b.sex, b.age, b.height)
        );
        moved += usize::from(a.address != b.address);
    }
    assert!(moved > 0);
    // Ids follow registration order.
    let firsts: Vec<_> = records.values().map(|v| v[0].at).collect();
    assert!(firsts.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn test_ids_are_unique_and_in_delivery_order_except_the_redeliveries() {
    let r = default_run();
    let mut seen: HashMap<String, (String, Vec<u8>)> = HashMap::new();
    let mut duplicates = 0u64;
    let mut last_number = 0u64;
    let mut dup_parts: BTreeSet<String> = BTreeSet::new();
    for (path, line) in r.lines("log_data/") {
        let m = check_line(line, &write::TEST_FIELDS, test_kind).unwrap();
        let id = text(&m, "test_id").to_owned();
        if let Some((first_path, first_line)) = seen.get(&id) {
            assert_eq!(first_line.as_slice(), line, "{id}: re-delivery differs");
            assert_eq!(
                folder_day(first_path),
                folder_day(path),
                "{id}: re-delivered on another day"
            );
            assert_ne!(
                first_path, path,
                "{id}: a single-part day's re-delivery shares its file"
            );
            dup_parts.insert(path.to_owned());
            duplicates += 1;
        } else {
            let number: u64 = id[3..].parse().unwrap();
            assert_eq!(number, last_number + 1, "{id} out of order");
            last_number = number;
            seen.insert(id, (path.to_owned(), line.to_vec()));
        }
    }
    assert_eq!(last_number, 70_000);
    assert_eq!(duplicates, r.summary.dirty_duplicates);
    assert!(duplicates > 100, "{duplicates}");
    // The re-deliveries are in parts of their own after part-00000.
    assert!(dup_parts.iter().all(|p| !p.ends_with("part-00000.json")));
}

#[test]
fn a_day_over_the_part_limit_is_split_and_redeliveries_follow_its_regular_lines() {
    let part = 40;
    let opts = Options {
        seed: 9,
        patients: 300,
        tests: 30_000,
        dirty_rate: 0.08,
        ..Options::default()
    };
    let r = run_parts(&opts, part);
    let mut by_day: BTreeMap<&str, Vec<&(String, Vec<u8>)>> = BTreeMap::new();
    for f in r.files.iter().filter(|(p, _)| p.starts_with("log_data/")) {
        assert!(
            f.1.iter().filter(|b| **b == b'\n').count() <= part,
            "{}",
            f.0
        );
        by_day.entry(folder_day(&f.0)).or_default().push(f);
    }
    let mut crossing = 0;
    let mut same_file = 0;
    let mut own_part = 0;
    for files in by_day.values() {
        let mut first_file: HashMap<String, usize> = HashMap::new();
        let mut redelivered_in: Vec<usize> = vec![];
        let mut regular_parts = 0;
        let mut last_regular_lines = 0;
        for (i, (_, contents)) in files.iter().enumerate() {
            let mut regular = 0;
            for line in contents.strip_suffix(b"\n").unwrap().split(|b| *b == b'\n') {
                let m = check_line(line, &write::TEST_FIELDS, test_kind).unwrap();
                let id = text(&m, "test_id").to_owned();
                match first_file.get(&id) {
                    Some(&f) => {
                        redelivered_in.push(i);
                        if f == i {
                            same_file += 1;
                        } else {
                            crossing += 1;
                        }
                    }
                    None => {
                        assert!(
                            redelivered_in.is_empty(),
                            "a regular line after a re-delivery"
                        );
                        first_file.insert(id, i);
                        regular += 1;
                    }
                }
            }
            if regular > 0 {
                regular_parts += 1;
                last_regular_lines = regular;
            }
        }
        if let Some(&first) = redelivered_in.first() {
            // In the last regular part if the day has several and it has room,
            // else in the next.
            let expected = if regular_parts > 1 && last_regular_lines < part {
                regular_parts - 1
            } else {
                regular_parts
            };
            assert_eq!(
                first, expected,
                "re-deliveries not right after the regular lines"
            );
            own_part += usize::from(regular_parts == 1);
        }
    }
    assert!(
        crossing > 0 && same_file > 0 && own_part > 0,
        "{crossing} {same_file} {own_part}"
    );
    let duplicates = crossing + same_file;
    assert_eq!(duplicates as u64, r.summary.dirty_duplicates);
    // Patient days over the limit are split too.
    let big = run_parts(
        &Options {
            patients: 20_000,
            tests: 10,
            ..opts
        },
        part,
    );
    let patient_files = big
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("patient_data/") && p.ends_with("part-00001.json"));
    assert!(patient_files.count() > 0);
    assert!(big
        .files
        .iter()
        .all(|(_, c)| c.iter().filter(|b| **b == b'\n').count() <= part));
}

#[test]
fn dirty_counts_in_the_summary_match_the_files() {
    let opts = Options {
        seed: 4,
        patients: 500,
        tests: 20_000,
        dirty_rate: 0.2,
        ..Options::default()
    };
    let r = run(&opts);
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut duplicates = 0;
    let mut implausible = [0u64; 3];
    for (_, t) in tests_of(&r) {
        if !seen.insert(t.id.clone()) {
            duplicates += 1;
            continue;
        }
        let reason = reject_reason(&t, 500).unwrap_or("clean");
        *reasons.entry(reason).or_default() += 1;
        if reason == "implausible_pressure" {
            implausible[0] += u64::from(t.hi < 0 || t.lo < 0);
            implausible[1] += u64::from(t.hi > 300 || t.lo > 300);
            implausible[2] += u64::from(t.hi >= 0 && t.lo >= 0 && (t.hi < 60 || t.lo < 30));
        }
        if reason == "unknown_patient" {
            assert!(t.patient > 500);
        }
        if reason == "systolic_below_diastolic" {
            assert!(t.hi < t.lo && (60..=250).contains(&t.hi) && (30..=200).contains(&t.lo));
        }
    }
    let s = &r.summary;
    assert_eq!(reasons.get("out_of_domain"), None);
    assert_eq!(
        reasons["implausible_pressure"],
        s.dirty_implausible_pressure
    );
    assert_eq!(
        reasons["systolic_below_diastolic"],
        s.dirty_systolic_below_diastolic
    );
    assert_eq!(reasons["unknown_patient"], s.dirty_unknown_patient);
    assert_eq!(duplicates, s.dirty_duplicates);
    assert!(implausible.iter().all(|n| *n > 0), "{implausible:?}");
    // The kinds are about equally likely.
    for n in [
        s.dirty_implausible_pressure,
        s.dirty_systolic_below_diastolic,
        s.dirty_unknown_patient,
        s.dirty_duplicates,
    ] {
        assert!((800..1200).contains(&n), "{s:?}");
    }
    assert_eq!(
        reasons["clean"]
            + s.dirty_implausible_pressure
            + s.dirty_systolic_below_diastolic
            + s.dirty_unknown_patient,
        20_000
    );
    // With no dirt, every test passes every rule.
    let clean = run(&Options {
        dirty_rate: 0.0,
        ..opts
    });
    assert!(tests_of(&clean)
        .iter()
        .all(|(_, t)| reject_reason(t, 500).is_none()));
    let s = &clean.summary;
    assert_eq!(
        (
            s.dirty_implausible_pressure,
            s.dirty_systolic_below_diastolic,
            s.dirty_duplicates,
            s.dirty_unknown_patient
        ),
        (0, 0, 0, 0)
    );
}

#[test]
fn malformed_lines_are_broken_in_every_way_and_counted() {
    let opts = Options {
        seed: 12,
        patients: 400,
        tests: 9_000,
        dirty_rate: 0.1,
        malformed_rate: 0.06,
        ..Options::default()
    };
    let r = run(&opts);
    let (mut truncated, mut mistyped, mut missing) = (0u64, 0u64, 0u64);
    let mut good = vec![];
    for (path, line) in r.lines("log_data/") {
        match check_line(line, &write::TEST_FIELDS, test_kind) {
            Ok(m) => good.push(test_row(&m)),
            Err(e) => {
                std::str::from_utf8(line)
                    .unwrap_or_else(|_| panic!("{path}: a malformed line is not UTF-8"));
                if e.starts_with("not JSON") {
                    truncated += 1;
                } else if e.starts_with("missing") || e.ends_with(" fields") {
                    missing += 1;
                } else {
                    assert!(e.contains("wrong type"), "{e}");
                    mistyped += 1;
                }
            }
        }
    }
    assert_eq!(truncated + mistyped + missing, r.summary.malformed_lines);
    let n = r.summary.malformed_lines;
    assert!((400..700).contains(&n), "{n}");
    assert!(
        truncated.abs_diff(mistyped) <= 1 && mistyped.abs_diff(missing) <= 1,
        "{truncated} {mistyped} {missing}"
    );
    // The rest still count as the summary says.
    let mut seen = BTreeSet::new();
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    let mut duplicates = 0;
    for t in &good {
        if !seen.insert(t.id.clone()) {
            duplicates += 1;
        } else if let Some(reason) = reject_reason(t, 400) {
            *reasons.entry(reason).or_default() += 1;
        }
    }
    let s = &r.summary;
    assert_eq!(duplicates, s.dirty_duplicates);
    assert_eq!(
        reasons["implausible_pressure"],
        s.dirty_implausible_pressure
    );
    assert_eq!(
        reasons["systolic_below_diastolic"],
        s.dirty_systolic_below_diastolic
    );
    assert_eq!(reasons["unknown_patient"], s.dirty_unknown_patient);
    assert_eq!(good.len() as u64 + n, s.test_lines);
    // Every line is malformed at rate 1, duplicates aside.
    let all = run(&Options {
        malformed_rate: 1.0,
        dirty_rate: 0.0,
        ..opts
    });
    assert_eq!(all.summary.malformed_lines, 9_000);
    assert_eq!(tests_of(&all).len(), 0);
}

#[test]
fn progress_is_reported_a_few_hundred_times_up_to_the_total() {
    for r in [default_run(), &run(&small(1))] {
        let p = &r.progress;
        let total = r.summary.patient_records + r.summary.test_lines;
        assert!(p.len() >= 2 && p.len() <= 300, "{} calls", p.len());
        assert!(p.iter().all(|x| x.total == total && x.done <= total));
        assert!(p.windows(2).all(|w| w[0].done <= w[1].done));
        assert_eq!((p[0].done, p[p.len() - 1].done), (0, total));
    }
}

#[test]
fn edge_sizes_and_years_work() {
    let none = run(&Options {
        tests: 0,
        patients: 1,
        ..Options::default()
    });
    assert_eq!(none.summary.test_lines, 0);
    assert_eq!(none.summary.test_files, 0);
    assert_eq!(
        none.summary.patient_records,
        none.lines("patient_data/").count() as u64
    );
    assert!(none
        .files
        .iter()
        .all(|(p, _)| p.starts_with("patient_data/")));

    let one = run(&Options {
        patients: 1,
        tests: 50,
        dirty_rate: 0.0,
        ..Options::default()
    });
    assert!(tests_of(&one).iter().all(|(_, t)| t.patient == 1));
    assert_eq!(one.summary.test_lines, 50);

    for year in [1970, 2024, 2100] {
        let r = run(&Options {
            year,
            patients: 3000,
            tests: 30_000,
            ..Options::default()
        });
        let prefix = format!("{year}/");
        assert!(
            r.files
                .iter()
                .all(|(p, _)| folder_day(p).starts_with(&prefix)),
            "{year}"
        );
        for (p, l) in r.lines("log_data/") {
            let m = check_line(l, &write::TEST_FIELDS, test_kind).unwrap();
            assert_eq!(text(&m, "ts")[..10].replace('-', "/"), folder_day(p));
        }
        let leap_day = r
            .files
            .iter()
            .any(|(p, _)| folder_day(p).ends_with("/02/29"));
        assert_eq!(leap_day, year == 2024, "{year}");
    }
}

#[test]
fn validate_rejects_out_of_range_options_naming_them() {
    assert!(Options::default().validate().is_ok());
    let max = Options {
        patients: 10_000_000,
        tests: 100_000_000,
        year: 2100,
        dirty_rate: 1.0,
        malformed_rate: 1.0,
        ..Options::default()
    };
    assert!(max.validate().is_ok());
    let min = Options {
        patients: 1,
        tests: 0,
        year: 1970,
        dirty_rate: 0.0,
        malformed_rate: 0.0,
        ..Options::default()
    };
    assert!(min.validate().is_ok());
    let d = Options::default;
    let bad = [
        (Options { patients: 0, ..d() }, "patients", "0"),
        (
            Options {
                patients: 10_000_001,
                ..d()
            },
            "patients",
            "10000001",
        ),
        (
            Options {
                tests: 100_000_001,
                ..d()
            },
            "tests",
            "100000001",
        ),
        (Options { year: 1969, ..d() }, "year", "1969"),
        (Options { year: 2101, ..d() }, "year", "2101"),
        (
            Options {
                dirty_rate: -0.1,
                ..d()
            },
            "dirty_rate",
            "-0.1",
        ),
        (
            Options {
                dirty_rate: 1.5,
                ..d()
            },
            "dirty_rate",
            "1.5",
        ),
        (
            Options {
                dirty_rate: f64::NAN,
                ..d()
            },
            "dirty_rate",
            "NaN",
        ),
        (
            Options {
                malformed_rate: f64::INFINITY,
                ..d()
            },
            "malformed_rate",
            "inf",
        ),
        (
            Options {
                malformed_rate: 2.0,
                ..d()
            },
            "malformed_rate",
            "2",
        ),
    ];
    for (opts, option, value) in bad {
        let e = opts.validate().unwrap_err();
        let GenerateError::InvalidOption {
            option: o,
            value: v,
            ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!((*o, v.as_str()), (option, value));
        let message = e.to_string();
        assert!(
            message.contains(option) && message.contains(value),
            "{message}"
        );
        // And generate refuses it without writing a thing.
        let mut sink = MemSink::default();
        assert!(matches!(
            generate(&opts, &mut sink, &mut |_| {}),
            Err(GenerateError::InvalidOption { .. })
        ));
        assert!(sink.files.is_empty());
    }
}

#[test]
fn dir_sink_writes_folders_and_refuses_paths_outside_its_root() {
    let root = std::env::temp_dir().join(format!("ovom-generate-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut sink = DirSink::new(&root);
    sink.write_file("log_data/2025/03/14/part-00000.json", b"{}\n")
        .unwrap();
    sink.write_file("log_data/2025/03/14/part-00001.json", b"{}\n{}\n")
        .unwrap();
    sink.write_file("patient_data/2025/03/15/part-00000.json", b"x\n")
        .unwrap();
    assert_eq!(
        std::fs::read(root.join("log_data/2025/03/14/part-00001.json")).unwrap(),
        b"{}\n{}\n"
    );
    assert_eq!(
        std::fs::read(root.join("patient_data/2025/03/15/part-00000.json")).unwrap(),
        b"x\n"
    );
    for bad in [
        "",
        "../x.json",
        "/etc/x.json",
        "a/../../x.json",
        "a/./b.json",
        "a\\b.json",
    ] {
        let e = sink.write_file(bad, b"").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
    }
    // A generated data set in a folder is the same as in memory.
    let opts = small(21);
    let mut progress = 0;
    let s = generate(&opts, &mut DirSink::new(root.join("data")), &mut |_| {
        progress += 1
    })
    .unwrap();
    let mem = run(&opts);
    assert_eq!(s, mem.summary);
    for (path, contents) in &mem.files {
        assert_eq!(
            &std::fs::read(root.join("data").join(path)).unwrap(),
            contents,
            "{path}"
        );
    }
    // A write that fails names the file.
    std::fs::write(root.join("blocker"), b"").unwrap();
    let mut blocked = DirSink::new(root.join("blocker"));
    let e = generate(&opts, &mut blocked, &mut |_| {}).unwrap_err();
    assert!(
        matches!(&e, GenerateError::Io { path, .. } if path.starts_with("log_data/")),
        "{e}"
    );
    assert!(e.to_string().contains("part-00000.json"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn json_strings_numbers_and_timestamps_are_written_by_the_book() {
    let mut out = vec![];
    let tricky = "a \"quoted\" back\\slash\n\t\r\u{8}\u{c}\u{1}\u{1f} OVŌM Zoë \u{2028} end";
    push_json_string(&mut out, tricky);
    let back: String = serde_json::from_slice(&out).unwrap();
    assert_eq!(back, tricky);
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        "\"a \\\"quoted\\\" back\\\\slash\\n\\t\\r\\b\\f\\u0001\\u001f OVŌM Zoë \u{2028} end\""
    );
    let mut out = vec![];
    push_u64_padded(&mut out, 42, 8);
    out.push(b' ');
    push_u64_padded(&mut out, 123_456_789, 8);
    out.push(b' ');
    push_tenths(&mut out, 745);
    out.push(b' ');
    push_tenths(&mut out, 1800);
    out.push(b' ');
    crate::json::push_i64(&mut out, -1200);
    assert_eq!(out, b"00000042 123456789 74.5 180.0 -1200");
    let cal = calendar::Calendar::new(2024);
    assert_eq!(cal.days(), 366);
    let mut rng = Rng::stream(1, Tag::Test, 0);
    for _ in 0..1000 {
        let t = rng.below(366 * 86_400) as u32;
        let mut out = vec![];
        push_timestamp(&mut out, &cal.dates[(t / 86_400) as usize], t % 86_400);
        let want = chrono::DateTime::from_timestamp(cal.epoch + i64::from(t), 0)
            .unwrap()
            .format("\"%Y-%m-%dT%H:%M:%SZ\"")
            .to_string();
        assert_eq!(std::str::from_utf8(&out).unwrap(), want);
        assert_eq!(cal.folder(t / 86_400), want[1..11].replace('-', "/"));
    }
    // 2024-01-01 was a Monday, 2025-01-01 a Wednesday.
    assert_eq!(
        (cal.weekday(0), calendar::Calendar::new(2025).weekday(0)),
        (0, 2)
    );
}

#[test]
fn the_random_numbers_are_pinned_and_well_spread() {
    let mut r = Rng::stream(42, Tag::Patient, 1);
    let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
    assert_eq!(
        first,
        vec![
            17370929923237416358,
            5564764816103998779,
            12113083579822117110
        ],
        "the streams changed: every data set would change"
    );
    let mut r = Rng::stream(42, Tag::Test, 7);
    let n = 200_000;
    let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
    assert!(mean(&xs).abs() < 0.01 && (sd(&xs) - 1.0).abs() < 0.01);
    let us: Vec<f64> = (0..n).map(|_| r.f64()).collect();
    assert!((mean(&us) - 0.5).abs() < 0.005 && us.iter().all(|u| (0.0..1.0).contains(u)));
    let mut counts = [0usize; 7];
    (0..70_000).for_each(|_| counts[r.below(7) as usize] += 1);
    assert!(
        counts.iter().all(|c| (9_500..10_500).contains(c)),
        "{counts:?}"
    );
    // Streams of neighbouring entities are unrelated.
    let a: Vec<u64> = (0..4)
        .map(|i| Rng::stream(42, Tag::Test, i).next_u64())
        .collect();
    let b: Vec<u64> = (0..4)
        .map(|i| Rng::stream(43, Tag::Test, i).next_u64())
        .collect();
    assert!(a.iter().chain(&b).collect::<BTreeSet<_>>().len() == 8);
}

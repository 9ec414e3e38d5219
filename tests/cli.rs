//! The `ovom` command as a newcomer runs it: in an empty folder, on the
//! default data set.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::*;

fn ovom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ovom"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running ovom")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn ovom_run_in_an_empty_folder_builds_the_warehouse_the_contract_describes_and_a_second_run_changes_nothing(
) {
    let dir = tempfile::tempdir().unwrap();
    let first = ovom(dir.path(), &["run"]);
    assert!(
        first.status.success(),
        "{}\n{}",
        stdout(&first),
        String::from_utf8_lossy(&first.stderr)
    );
    let text = stdout(&first);
    for needle in [
        "generating the default data set",
        "days        365 run, 365 succeeded",
        "checks      6 of 6 passed",
        "LoadFact",
    ] {
        assert!(text.contains(needle), "summary lacks `{needle}`:\n{text}");
    }
    let data = dir.path().join("data");
    let warehouse = dir.path().join("ovom.duckdb");
    let check = |label: &str| {
        let p = ovom_local::pipeline::Pipeline::open(&warehouse, &data).unwrap();
        crate::pipeline::assert_matches_reference(&p, &data);
        assert_eq!(
            scalar(&p, "SELECT COUNT(*) FROM dim_patient"),
            7000,
            "{label}"
        );
        fingerprints(&p)
    };
    let once = check("first run");

    let second = ovom(dir.path(), &["run"]);
    assert!(second.status.success());
    assert!(!stdout(&second).contains("generating"));
    assert_eq!(check("second run"), once);

    // Each run is one execution over the year's range of days.
    let q = ovom(
        dir.path(),
        &[
            "query",
            "SELECT string_agg(execution_id, ',' ORDER BY execution_id) AS ids FROM executions",
        ],
    );
    assert!(
        stdout(&q).contains("pipeline-20250101-20251231-1,pipeline-20250101-20251231-2"),
        "{}",
        stdout(&q)
    );

    // A backfill of the year, day by day, into another warehouse loads
    // exactly the same.
    let backfill = ovom(
        dir.path(),
        &[
            "backfill",
            "--from",
            "2025-01-01",
            "--to",
            "2025-12-31",
            "--warehouse",
            "backfill.duckdb",
        ],
    );
    let text = stdout(&backfill);
    assert!(backfill.status.success(), "{text}");
    assert!(
        text.contains(": 365 days in 12 executions, 12 run\n"),
        "{text}"
    );
    let p =
        ovom_local::pipeline::Pipeline::open(&dir.path().join("backfill.duckdb"), &data).unwrap();
    assert_eq!(fingerprints(&p), once);
}

#[test]
fn generate_is_byte_deterministic_for_a_seed_and_differs_for_another() {
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &str, seed: &str| {
        [
            "generate",
            "--out",
            out,
            "--seed",
            seed,
            "--patients",
            "300",
            "--tests",
            "3000",
            "--malformed-rate",
            "0.01",
        ]
        .map(str::to_owned)
    };
    for (out, seed) in [("a", "9"), ("b", "9"), ("c", "10")] {
        let o = Command::new(env!("CARGO_BIN_EXE_ovom"))
            .args(args(out, seed))
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (a, b, c) = (
        files(&dir.path().join("a")),
        files(&dir.path().join("b")),
        files(&dir.path().join("c")),
    );
    assert!(a.len() > 300);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn run_refuses_a_bad_date_and_reports_a_failed_day_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let o = ovom(dir.path(), &["run", "--date", "2025-13-01"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"2025-13-01\" is not a date YYYY-MM-DD"));

    let data = Data::new();
    let d = "2025-03-14";
    data.file(
        &format!("patient_data/{}/part-00000.json", folder(d)),
        &[patient(1, d)],
    );
    data.file(
        &format!("log_data/{}/part-00000.json", folder(d)),
        &["not json".to_owned()],
    );
    let root = data.path().to_str().unwrap();
    let o = ovom(dir.path(), &["run", "--data", root, "--strict"]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("failed in state StageBloodTests: MalformedInput"),
        "{text}"
    );
    assert!(text.contains("line 1"), "{text}");
}

#[test]
fn generate_uploads_the_same_data_set_to_an_s3_data_root() {
    use ovom_aws::s3::{DataRoot, S3Store};
    use ovom_core::ports::ObjectStore;

    let moto = crate::moto::Moto::start();
    let rt = ovom_aws::tokio::runtime::Runtime::new().unwrap();
    rt.block_on(moto.client().create_bucket().bucket("ovom-ehr").send())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = [
        "--seed",
        "4",
        "--patients",
        "40",
        "--tests",
        "300",
        "--malformed-rate",
        "0.02",
    ];
    let local = Command::new(env!("CARGO_BIN_EXE_ovom"))
        .args(["generate", "--out", "local"])
        .args(opts)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(local.status.success());
    let upload = Command::new(env!("CARGO_BIN_EXE_ovom"))
        .args(["generate", "--out", "s3://ovom-ehr/ehr/v1"])
        .args(opts)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(
        upload.status.success(),
        "{}",
        String::from_utf8_lossy(&upload.stderr)
    );

    let store = S3Store::new(
        moto.client(),
        DataRoot::parse("s3://ovom-ehr/ehr/v1").unwrap(),
        rt.handle().clone(),
    );
    let expected = files(&dir.path().join("local"));
    let mut uploaded = BTreeMap::new();
    for source in ["patient_data", "log_data"] {
        for object in store.list(&format!("{source}/")).unwrap() {
            uploaded.insert(object.key.clone(), store.get(&object.key).unwrap());
        }
    }
    assert!(expected.len() > 100);
    assert_eq!(uploaded, expected);

    let bad = ovom(dir.path(), &["generate", "--out", "s3://ovom-ehr/../etc"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("data_root"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

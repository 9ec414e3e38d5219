//! The S3 object store against a real S3 endpoint: moto's server on
//! 127.0.0.1 (see `moto/mod.rs`), one server a test.

#[allow(dead_code)]
mod moto;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use ovom_aws::s3::{DataRoot, S3Store};
use ovom_core::ports::{ObjectMeta, ObjectStore};
use ovom_core::TaskError;
use serde_json::json;
use tokio::runtime::Runtime;

use moto::Moto;

/// A moto server with one bucket, and a runtime for the store to block on.
struct Bucket {
    // Fields drop in order: the runtime before the server.
    rt: Runtime,
    client: Client,
    name: &'static str,
    _moto: Moto,
}

impl Bucket {
    fn new(name: &'static str) -> Bucket {
        let moto = Moto::start();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let client = moto.client();
        rt.block_on(client.create_bucket().bucket(name).send())
            .unwrap_or_else(|e| panic!("creating bucket {name} on moto: {e:?}"));
        Bucket {
            rt,
            client,
            name,
            _moto: moto,
        }
    }

    /// A store over `s3://BUCKET/prefix` (`prefix` may be empty).
    fn store(&self, prefix: &str) -> S3Store {
        let root = DataRoot::parse(&format!("s3://{}/{prefix}", self.name)).unwrap();
        S3Store::new(self.client.clone(), root, self.rt.handle().clone())
    }

    /// Write an object at a full key, bypassing the store.
    fn put_raw(&self, key: &str, bytes: &[u8]) {
        self.rt
            .block_on(
                self.client
                    .put_object()
                    .bucket(self.name)
                    .key(key)
                    .body(ByteStream::from(bytes.to_vec()))
                    .send(),
            )
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }

    /// Read an object at a full key, bypassing the store.
    fn get_raw(&self, key: &str) -> Vec<u8> {
        self.rt.block_on(async {
            let out = self
                .client
                .get_object()
                .bucket(self.name)
                .key(key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
            out.body.collect().await.unwrap().into_bytes().to_vec()
        })
    }

    /// Every full key in the bucket, bypassing the store.
    fn all_keys(&self) -> Vec<String> {
        self.rt.block_on(async {
            let mut keys = vec![];
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(self.name)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.unwrap();
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key())
                        .map(String::from),
                );
            }
            keys
        })
    }
}

fn patient_line(id: u32) -> String {
    json!({
        "patient_id": id, "first_name": "Ana", "last_name": "Lima", "sex": "F",
        "age": 52, "height": 164, "weight": 71.5, "address": "1 Rua Augusta, Lisboa",
        "registered_at": "2025-03-14T09:12:00Z"
    })
    .to_string()
}

fn test_line(n: u32, day: u32) -> String {
    json!({
        "test_id": format!("bt-{n:06}"), "patient_id": 1 + n % 3, "doc_id": 7,
        "doc_name": "Dr. Sousa", "clinic": "Clínica Norte", "lab_id": 3,
        "lab_name": "Lab Central", "city": "Porto", "ts": format!("2025-03-{day:02}T10:{:02}:00Z", n % 60),
        "ap_hi": 120, "ap_lo": 80, "cholesterol": 1, "gluc": 1, "smoke": 0, "alco": 0,
        "active": 1, "cardio": n % 2
    })
    .to_string()
}

/// JSON Lines: one object a line, `\n` line ends.
fn jsonl(lines: impl IntoIterator<Item = String>) -> Vec<u8> {
    lines
        .into_iter()
        .flat_map(|l| (l + "\n").into_bytes())
        .collect()
}

fn keys(objects: &[ObjectMeta]) -> Vec<&str> {
    objects.iter().map(|o| o.key.as_str()).collect()
}

#[test]
fn lists_a_day_across_pages() {
    let b = Bucket::new("ovom-days");
    let store = b.store("export").with_page_size(2);
    let mut expected = vec![];
    for part in 0..7u32 {
        let key = format!("log_data/2025/03/14/part-{part:05}.json");
        let bytes = jsonl((0..=part).map(|n| test_line(n, 14)));
        store.put(&key, &bytes).unwrap();
        expected.push(ObjectMeta {
            key,
            size: bytes.len() as u64,
        });
    }
    store
        .put(
            "log_data/2025/03/15/part-00000.json",
            &jsonl([test_line(99, 15)]),
        )
        .unwrap();
    store
        .put(
            "patient_data/2025/03/14/part-00000.json",
            &jsonl([patient_line(1)]),
        )
        .unwrap();

    // Seven objects at two a page: four pages, as S3 itself says.
    let first =
        b.rt.block_on(
            b.client
                .list_objects_v2()
                .bucket(b.name)
                .prefix("export/log_data/2025/03/14/")
                .max_keys(2)
                .send(),
        )
        .unwrap();
    assert_eq!(first.is_truncated(), Some(true));
    assert_eq!(first.contents().len(), 2);

    assert_eq!(store.list("log_data/2025/03/14/").unwrap(), expected);
    assert_eq!(store.list("log_data/2025/03/14").unwrap(), expected);
    assert_eq!(
        keys(&store.list("log_data/").unwrap()).len(),
        8,
        "both days of log_data"
    );
    assert!(store.list("log_data/2025/03/16/").unwrap().is_empty());
}

#[test]
fn lists_more_than_a_thousand_objects_with_the_default_page_size() {
    let b = Bucket::new("ovom-many");
    let store = b.store("raw");
    const N: usize = 1003;
    b.rt.block_on(async {
        let mut uploads = tokio::task::JoinSet::new();
        for i in 0..N {
            let store = store.clone();
            uploads.spawn(async move {
                let key = format!("log_data/2025/06/01/part-{i:05}.json");
                store.upload(&key, format!("{i}\n")).await
            });
            // Keep a bounded number of requests in flight.
            while uploads.len() >= 32 {
                uploads.join_next().await.unwrap().unwrap().unwrap();
            }
        }
        while let Some(done) = uploads.join_next().await {
            done.unwrap().unwrap();
        }
    });
    let listed = store.list("log_data/2025/06/01/").unwrap();
    assert_eq!(listed.len(), N, "a listing stopped at the first page?");
    let expected: Vec<String> = (0..N)
        .map(|i| format!("log_data/2025/06/01/part-{i:05}.json"))
        .collect();
    assert_eq!(keys(&listed), expected);
    assert_eq!(listed[1002].size, "1002\n".len() as u64);
}

#[test]
fn get_put_round_trip() {
    let b = Bucket::new("ovom-round-trip");
    let store = b.store("ehr/export");
    let key = "log_data/2025/03/14/part-00000.json";
    let bytes = jsonl((0..50).map(|n| test_line(n, 14)));
    store.put(key, &bytes).unwrap();
    assert_eq!(store.get(key).unwrap(), bytes);
    // The object lives under the data root's prefix.
    assert_eq!(b.get_raw(&format!("ehr/export/{key}")), bytes);
    assert_eq!(
        store.url(key),
        format!("s3://ovom-round-trip/ehr/export/{key}")
    );

    // Overwrite, binary content, an empty object.
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    store.put(key, &binary).unwrap();
    assert_eq!(store.get(key).unwrap(), binary);
    store.put("empty.json", b"").unwrap();
    assert_eq!(store.get("empty.json").unwrap(), Vec::<u8>::new());

    // A store on the bucket's root addresses the same objects.
    let whole = b.store("");
    assert_eq!(whole.get(&format!("ehr/export/{key}")).unwrap(), binary);
    assert_eq!(whole.url("a.json"), "s3://ovom-round-trip/a.json");
}

#[test]
fn a_copy_manifest_is_written_and_read_back() {
    let b = Bucket::new("ovom-manifest");
    let store = b.store("warehouse/input");
    for part in 0..3u32 {
        let key = format!("log_data/2025/03/14/part-{part:05}.json");
        store
            .put(&key, &jsonl((0..5 + part).map(|n| test_line(n, 14))))
            .unwrap();
    }
    let files = store.list("log_data/2025/03/14/").unwrap();
    assert_eq!(files.len(), 3);
    let manifest = json!({
        "entries": files.iter().map(|f| json!({
            "url": store.url(&f.key),
            "mandatory": true,
            "meta": { "content_length": f.size },
        })).collect::<Vec<_>>()
    });
    let key = "manifests/run-2025-03-14T02-00-00Z/log_data.manifest";
    store
        .put(
            key,
            serde_json::to_vec_pretty(&manifest).unwrap().as_slice(),
        )
        .unwrap();

    let back: serde_json::Value = serde_json::from_slice(&store.get(key).unwrap()).unwrap();
    assert_eq!(back, manifest);
    let entries = back["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for (entry, file) in entries.iter().zip(&files) {
        assert_eq!(
            entry["url"],
            format!("s3://ovom-manifest/warehouse/input/{}", file.key)
        );
        assert_eq!(entry["meta"]["content_length"], file.size);
        // Each URL names an object that is there, with that size.
        let full = entry["url"]
            .as_str()
            .unwrap()
            .strip_prefix("s3://ovom-manifest/")
            .unwrap();
        assert_eq!(b.get_raw(full).len() as u64, file.size);
    }
    // The manifest is an object of the data root like any other.
    assert_eq!(
        keys(&store.list("manifests/").unwrap()),
        vec![key],
        "the manifest is listed under its folder"
    );
}

#[test]
fn missing_keys_and_buckets_are_store_errors() {
    let b = Bucket::new("ovom-missing");
    let store = b.store("raw");
    let key = "log_data/2025/01/01/part-00000.json";
    match store.get(key) {
        Err(TaskError::StoreError { key: k, detail }) => {
            assert_eq!(k, key);
            assert!(detail.contains("NoSuchKey"), "{detail}");
        }
        other => panic!("a missing key gave {other:?}"),
    }

    let root = DataRoot::parse("s3://ovom-no-such-bucket/raw").unwrap();
    let nowhere = S3Store::new(b.client.clone(), root, b.rt.handle().clone());
    match nowhere.list("log_data/2025/01/01/") {
        Err(TaskError::StoreError { detail, .. }) => {
            assert!(detail.contains("NoSuchBucket"), "{detail}")
        }
        other => panic!("listing a missing bucket gave {other:?}"),
    }
    match nowhere.put(key, b"x") {
        Err(e @ TaskError::StoreError { .. }) => assert_eq!(e.name(), "StoreError"),
        other => panic!("writing to a missing bucket gave {other:?}"),
    }
}

#[test]
fn an_unreachable_endpoint_is_unavailable() {
    // No server: a port that was free a moment ago.
    let port = moto::free_port();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = moto::client_for(&format!("http://127.0.0.1:{port}"), 1);
    let store = S3Store::new(
        client,
        DataRoot::parse("s3://ovom-unreachable/raw").unwrap(),
        rt.handle().clone(),
    );
    for result in [
        store.list("log_data/").map(|_| ()),
        store.get("log_data/a.json").map(|_| ()),
        store.put("log_data/a.json", b"{}"),
    ] {
        match result {
            Err(e @ TaskError::StoreUnavailable(_)) => {
                assert_eq!(e.retry(), ovom_core::error::Retry::Transient)
            }
            other => panic!("an unreachable S3 gave {other:?}"),
        }
    }
}

#[test]
fn hostile_data_roots_are_refused_and_keys_stay_inside_the_root() {
    for root in [
        "s3:///x",
        "s3://b/../c",
        "s3://ovom-jail/../c",
        "s3://ovom-jail/raw/../../c",
        "s3://b/%2e%2e/",
        "s3://ovom-jail/%2e%2e/",
        "https://ovom-jail.s3.amazonaws.com/raw",
        "s3://AKIAEXAMPLE:secret@ovom-jail/raw",
        "s3://ovom-jail/raw?versionId=1",
        "s3://ovom-jail//raw",
        "s3://ovom-jail/raw\\..\\x",
        "s3://ovom-jail/raw\u{7}",
        "s3://127.0.0.1/raw",
    ] {
        match DataRoot::parse(root) {
            Err(TaskError::InvalidParameters { field, .. }) => assert_eq!(field, "data_root"),
            other => panic!("{root:?} was not refused: {other:?}"),
        }
    }

    let b = Bucket::new("ovom-jail");
    b.put_raw("secret.json", b"{\"secret\": true}\n");
    let store = b.store("jail/inner");
    for key in [
        "../secret.json",
        "../../secret.json",
        "/secret.json",
        "log_data/../../../secret.json",
        "./secret.json",
        "log_data//x.json",
        "log_data\\x.json",
        "",
    ] {
        for result in [
            store.get(key).map(|_| ()),
            store.put(key, b"overwritten"),
            store.list(key).map(|_| ()),
        ] {
            match result {
                Err(TaskError::StoreError { detail, .. }) => {
                    assert!(detail.contains("relative path"), "{key:?}: {detail}")
                }
                other => panic!("{key:?} was not refused: {other:?}"),
            }
        }
    }
    // Nothing was written, nor overwritten.
    assert_eq!(b.all_keys(), vec!["secret.json"]);
    assert_eq!(b.get_raw("secret.json"), b"{\"secret\": true}\n");
}

#[test]
fn a_generated_tree_is_uploaded_under_a_prefix_and_listed() {
    let b = Bucket::new("ovom-generated");
    let store = b.store("ehr/v1");
    // What the generator writes: patients and tests per UTC day, in parts.
    let mut tree: Vec<(String, Vec<u8>)> = vec![
        (
            "patient_data/2025/03/14/part-00000.json".into(),
            jsonl((1..=3).map(patient_line)),
        ),
        (
            "patient_data/2025/03/15/part-00000.json".into(),
            jsonl([patient_line(4)]),
        ),
    ];
    for (day, parts) in [(14u32, 2u32), (15, 1), (17, 3)] {
        for part in 0..parts {
            tree.push((
                format!("log_data/2025/03/{day}/part-{part:05}.json"),
                jsonl((0..10 + part).map(|n| test_line(n + 100 * part, day))),
            ));
        }
    }
    b.rt.block_on(async {
        for (key, bytes) in &tree {
            store.upload(key, bytes.clone()).await.unwrap();
        }
    });
    // Neighbours the listing must not pick up: a look-alike prefix, the
    // parent prefix, a folder marker.
    b.put_raw("ehr/v1x/log_data/2025/03/14/part-00000.json", b"{}\n");
    b.put_raw("ehr/log_data/2025/03/14/part-00000.json", b"{}\n");
    b.put_raw("ehr/v1/log_data/2025/03/14/", b"");

    tree.sort();
    let expect = |folder: &str| -> Vec<ObjectMeta> {
        tree.iter()
            .filter(|(k, _)| k.starts_with(folder))
            .map(|(k, v)| ObjectMeta {
                key: k.clone(),
                size: v.len() as u64,
            })
            .collect()
    };
    let logs = store.list("log_data/").unwrap();
    assert_eq!(logs, expect("log_data/"));
    assert_eq!(logs.len(), 6);
    assert_eq!(
        store.list("log_data/2025/03/14/").unwrap(),
        expect("log_data/2025/03/14/")
    );
    assert_eq!(
        store.list("patient_data/").unwrap(),
        expect("patient_data/")
    );
    assert!(store.list("log_data/2025/03/16/").unwrap().is_empty());
    for (key, bytes) in &tree {
        assert_eq!(&store.get(key).unwrap(), bytes, "{key}");
        assert!(b.all_keys().contains(&format!("ehr/v1/{key}")));
    }
}

#[test]
fn the_store_runs_inside_spawn_blocking() {
    let b = Bucket::new("ovom-blocking");
    let store = b.store("raw");
    let listed = b.rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            store.put(
                "log_data/2025/03/14/part-00000.json",
                &jsonl([test_line(1, 14)]),
            )?;
            store.list("log_data/2025/03/14/")
        })
        .await
        .unwrap()
    });
    assert_eq!(
        keys(&listed.unwrap()),
        vec!["log_data/2025/03/14/part-00000.json"]
    );
}

//! The object store on S3: the data root is an S3 prefix, `s3://BUCKET/PREFIX`,
//! holding `patient_data/` and `log_data/` as the local folder does.
//!
//! [`S3Store`] implements the synchronous [`ObjectStore`] port by blocking on
//! a Tokio runtime handle, so the tasks stay free of async code. Callers that
//! are themselves on the runtime (a Lambda handler) run the task inside
//! [`tokio::task::spawn_blocking`]; blocking on the handle from a thread that
//! drives async tasks panics. The async methods ([`S3Store::list_async`],
//! [`S3Store::get_async`], [`S3Store::upload`]) are there for async callers.
//!
//! Objects are written without an explicit server-side encryption header: the
//! bucket's default encryption applies (SSE-S3 at least, which S3 applies to
//! every new object; SSE-KMS when the bucket is configured so), and a bucket
//! policy that demands a particular key is not contradicted by the client.
//!
//! Errors map into [`TaskError`] by one function, [`map_sdk_error`]:
//! throttling, timeouts, server errors and failures to reach S3 are
//! [`TaskError::StoreUnavailable`] (retried by the state machine); everything
//! else, such as a missing key or bucket or a denied request, is
//! [`TaskError::StoreError`].

use std::fmt;
use std::str::FromStr;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use ovom_core::ports::{ObjectMeta, ObjectStore};
use ovom_core::TaskError;
use tokio::runtime::Handle;

use crate::names::{Bucket, NameError};

mod versions;

/// The parameter name data-root errors report.
const FIELD: &str = "data_root";

/// S3's limit on the length of a key, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// ListObjectsV2 returns at most this many keys a page.
pub const MAX_PAGE_SIZE: i32 = 1000;

/// A data root on S3: a bucket and a prefix inside it.
///
/// Parsed from `s3://BUCKET` or `s3://BUCKET/PREFIX` (a trailing `/` is
/// optional). The bucket must follow S3's naming rules for general purpose
/// buckets; the prefix is one or more `/`-separated segments of letters,
/// digits and `! - _ . * ' ( ) =`, with no empty, `.` or `..` segment. Anything
/// else (another scheme, credentials, a port, a query string, a fragment,
/// percent-encoding, backslashes, control characters) is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataRoot {
    bucket: Bucket,
    /// Without leading or trailing `/`; empty for the bucket's root.
    prefix: String,
}

impl DataRoot {
    /// Parse `s3://BUCKET/PREFIX`; errors are
    /// [`TaskError::InvalidParameters`] naming the field `data_root`. The
    /// reason never repeats the input, which may hold a secret.
    pub fn parse(url: &str) -> Result<Self, TaskError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| TaskError::invalid(FIELD, "must start with `s3://`"))?;
        let (bucket, prefix) = match rest.split_once('/') {
            Some((bucket, prefix)) => (bucket, prefix),
            None => (rest, ""),
        };
        if bucket.contains('@') {
            return Err(TaskError::invalid(
                FIELD,
                "must not contain credentials; the store uses the environment's",
            ));
        }
        let bucket: Bucket = bucket
            .parse()
            .map_err(|e: NameError| TaskError::invalid(FIELD, format!("bucket name {e}")))?;
        let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
        if !prefix.is_empty() {
            check_prefix(prefix)?;
        }
        Ok(Self {
            bucket,
            prefix: prefix.to_owned(),
        })
    }

    pub fn bucket(&self) -> &str {
        self.bucket.as_str()
    }

    /// The prefix inside the bucket, without leading or trailing `/`; empty
    /// when the data root is the whole bucket.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full S3 key of a key relative to the data root.
    pub fn object_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// The `s3://` URL of a key relative to the data root.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.object_key(key))
    }
}

impl FromStr for DataRoot {
    type Err = TaskError;
    fn from_str(s: &str) -> Result<Self, TaskError> {
        Self::parse(s)
    }
}

impl fmt::Display for DataRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// S3's rules for general purpose bucket names.
/// The prefix of a data root: plain segments of S3's safe characters.
fn check_prefix(prefix: &str) -> Result<(), TaskError> {
    let bad = |reason: &str| Err(TaskError::invalid(FIELD, format!("prefix {reason}")));
    if prefix.len() > MAX_KEY_BYTES / 2 {
        return bad("is too long");
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "!-_.*'()=".contains(c);
    if let Some(c) = prefix.chars().find(|&c| c != '/' && !safe(c)) {
        return match c {
            '?' | '#' => bad("must not hold a query string or fragment"),
            '%' => bad("must not be percent-encoded"),
            '\\' => bad("must not hold a backslash"),
            c if c.is_control() => bad("must not hold control characters"),
            _ => bad("may hold only letters, digits, `/` and `! - _ . * ' ( ) =`"),
        };
    }
    for segment in prefix.split('/') {
        match segment {
            "" => return bad("must not begin with `/` or hold an empty segment"),
            "." | ".." => return bad("must not hold `.` or `..` segments"),
            _ => {}
        }
    }
    Ok(())
}

/// A key relative to the data root, refused (as [`TaskError::StoreError`],
/// like the local folder's) when it is empty, absolute, holds an empty, `.`
/// or `..` segment, a backslash or a control character.
fn check_key(key: &str) -> Result<(), TaskError> {
    let safe = !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && !key.contains('\\')
        && !key.chars().any(char::is_control)
        && key
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."));
    if safe {
        Ok(())
    } else {
        Err(TaskError::StoreError {
            key: key.chars().take(200).collect(),
            detail: "a key must be a relative path inside the data root".into(),
        })
    }
}

/// Error codes S3 (and the AWS SDKs) report for conditions that go away by
/// waiting: throttling, overload, internal errors and timeouts.
const TRANSIENT_CODES: [&str; 12] = [
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "RequestTimeoutException",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "OperationAborted",
];

/// HTTP statuses that mean "try again later".
fn transient_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// Map an SDK error of an operation on `key` into the tasks' error contract.
///
/// * [`TaskError::StoreUnavailable`] (transient): timeouts; dispatch failures
///   (S3 not reached, connection reset, credentials not loaded), except a
///   request the connector itself refused as invalid; throttling and
///   overload codes (`SlowDown`, `ServiceUnavailable`, `InternalError`,
///   `RequestTimeout`, `Throttling…`, …); any response with status 429, 500,
///   502, 503 or 504, parseable or not.
/// * [`TaskError::StoreError`] with `key` and the service's code and message:
///   everything else — `NoSuchKey`, `NoSuchBucket`, `AccessDenied`, other
///   service errors, requests that could not be built, unparseable responses
///   with another status.
pub fn map_sdk_error<E>(key: &str, err: &SdkError<E>) -> TaskError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let transient = match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(d) => !d.is_user(),
        SdkError::ResponseError(_) => status.is_some_and(transient_status),
        SdkError::ServiceError(_) => {
            err.code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
                || status.is_some_and(transient_status)
        }
        _ => false,
    };
    let detail = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(err).to_string(),
    };
    let detail = match status {
        Some(status) => format!("{detail} (HTTP {status})"),
        None => detail,
    };
    if transient {
        TaskError::StoreUnavailable(format!("`{key}`: {detail}"))
    } else {
        TaskError::StoreError {
            key: key.chars().take(200).collect(),
            detail,
        }
    }
}

/// The object store on an S3 prefix.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    root: DataRoot,
    handle: Handle,
    page_size: i32,
}

impl S3Store {
    /// A store over `root`, sending requests with `client` on the runtime of
    /// `handle`.
    pub fn new(client: Client, root: DataRoot, handle: Handle) -> Self {
        Self {
            client,
            root,
            handle,
            page_size: MAX_PAGE_SIZE,
        }
    }

    /// A store with a client configured from the environment (region,
    /// credentials: the Lambda execution role, a profile, …), on the current
    /// runtime.
    pub async fn from_env(root: DataRoot) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(Client::new(&config), root, Handle::current())
    }

    /// At most how many keys each ListObjectsV2 page returns (1 to 1000;
    /// 1000 by default).
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        self
    }

    pub fn root(&self) -> &DataRoot {
        &self.root
    }

    pub fn bucket(&self) -> &str {
        self.root.bucket()
    }

    pub fn prefix(&self) -> &str {
        self.root.prefix()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every object under the folder `prefix` (`log_data/2025/03/14/`; the
    /// trailing `/` is implied, as for the local folder), with keys relative
    /// to the data root, sorted by key. Zero-byte folder markers (keys ending
    /// in `/`) are left out.
    pub async fn list_async(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TaskError> {
        let folder = prefix.trim_end_matches('/');
        check_key(folder)?;
        let full = format!("{}/", self.root.object_key(folder));
        let strip = match self.root.prefix() {
            "" => 0,
            p => p.len() + 1,
        };
        let mut out = vec![];
        let mut token: Option<String> = None;
        let mut pages = 0u32;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(self.root.bucket())
                .prefix(&full)
                .max_keys(self.page_size)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| map_sdk_error(prefix, &e))?;
            pages += 1;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if key.ends_with('/') {
                    continue;
                }
                let Some(rel) = key.get(strip..).filter(|_| key.starts_with(&full)) else {
                    return Err(TaskError::StoreError {
                        key: key.chars().take(200).collect(),
                        detail: format!("listed outside the requested prefix `{full}`"),
                    });
                };
                out.push(ObjectMeta {
                    key: rel.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                });
            }
            match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(next)) if !next.is_empty() => token = Some(next.to_owned()),
                (Some(true), _) => {
                    return Err(TaskError::StoreError {
                        key: prefix.chars().take(200).collect(),
                        detail: "a truncated listing came without a continuation token".into(),
                    })
                }
                _ => break,
            }
        }
        tracing::debug!(bucket = self.root.bucket(), prefix = %full, pages, objects = out.len(), "listed");
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// An object's bytes.
    pub async fn get_async(&self, key: &str) -> Result<Vec<u8>, TaskError> {
        check_key(key)?;
        let object = self
            .client
            .get_object()
            .bucket(self.root.bucket())
            .key(self.root.object_key(key))
            .send()
            .await
            .map_err(|e| map_sdk_error(key, &e))?;
        let body = object.body.collect().await.map_err(|e| {
            TaskError::StoreUnavailable(format!(
                "`{key}`: reading the body failed: {}",
                DisplayErrorContext(&e)
            ))
        })?;
        Ok(body.into_bytes().to_vec())
    }

    /// Write an object under the data root (a generated file, a COPY
    /// manifest). Encryption is the bucket's default.
    pub async fn upload(&self, key: &str, bytes: impl Into<Vec<u8>>) -> Result<(), TaskError> {
        check_key(key)?;
        let bytes: Vec<u8> = bytes.into();
        let size = bytes.len();
        self.client
            .put_object()
            .bucket(self.root.bucket())
            .key(self.root.object_key(key))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| map_sdk_error(key, &e))?;
        tracing::debug!(url = %self.root.url(key), size, "uploaded");
        Ok(())
    }
}

impl ObjectStore for S3Store {
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TaskError> {
        self.handle.block_on(self.list_async(prefix))
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, TaskError> {
        self.handle.block_on(self.get_async(key))
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), TaskError> {
        self.handle.block_on(self.upload(key, bytes))
    }

    fn replace(&self, key: &str, bytes: &[u8]) -> Result<u64, TaskError> {
        self.handle.block_on(self.replace_async(key, bytes))
    }

    fn url(&self, key: &str) -> String {
        self.root.url(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_s3::operation::get_object::GetObjectError;
    use aws_sdk_s3::types::error::NoSuchKey;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use ovom_core::error::Retry;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
    }

    fn service(code: &str, status: u16) -> SdkError<GetObjectError> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("told so by the service")
            .build();
        SdkError::service_error(GetObjectError::generic(meta), response(status))
    }

    fn unavailable(e: TaskError) -> bool {
        assert_eq!(
            e.retry() == Retry::Transient,
            e.name() == "StoreUnavailable"
        );
        matches!(e, TaskError::StoreUnavailable(_))
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        for (code, status) in [
            ("SlowDown", 503),
            ("SlowDown", 400),
            ("ServiceUnavailable", 503),
            ("InternalError", 500),
            ("RequestTimeout", 400),
            ("ThrottlingException", 400),
            ("TooManyRequestsException", 429),
            ("SomethingNew", 503),
            ("SomethingNew", 502),
            ("SomethingNew", 504),
        ] {
            let e = map_sdk_error("log_data/x.json", &service(code, status));
            assert!(unavailable(e), "{code} {status}");
        }
    }

    #[test]
    fn timeouts_and_dispatch_failures_are_transient() {
        let timeout: SdkError<GetObjectError> = SdkError::timeout_error("operation timed out");
        assert!(unavailable(map_sdk_error("k", &timeout)));
        let io: SdkError<GetObjectError> =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        assert!(unavailable(map_sdk_error("k", &io)));
        let connect_timeout: SdkError<GetObjectError> =
            SdkError::dispatch_failure(ConnectorError::timeout("connect timed out".into()));
        assert!(unavailable(map_sdk_error("k", &connect_timeout)));
        let other: SdkError<GetObjectError> =
            SdkError::dispatch_failure(ConnectorError::other("no credentials".into(), None));
        assert!(unavailable(map_sdk_error("k", &other)));
        let garbled: SdkError<GetObjectError> =
            SdkError::response_error("truncated body", response(503));
        assert!(unavailable(map_sdk_error("k", &garbled)));
    }

    #[test]
    fn refusals_are_store_errors_naming_the_key() {
        let modeled = NoSuchKey::builder()
            .message("The specified key does not exist.")
            .meta(
                ErrorMetadata::builder()
                    .code("NoSuchKey")
                    .message("The specified key does not exist.")
                    .build(),
            )
            .build();
        let missing: SdkError<GetObjectError> =
            SdkError::service_error(GetObjectError::NoSuchKey(modeled), response(404));
        let cases = [
            missing,
            service("AccessDenied", 403),
            service("NoSuchBucket", 404),
            service("InvalidObjectState", 403),
            SdkError::construction_failure("bad input"),
            SdkError::response_error("not XML", response(200)),
            SdkError::dispatch_failure(ConnectorError::user("invalid URI".into())),
        ];
        let codes = [
            "NoSuchKey",
            "AccessDenied",
            "NoSuchBucket",
            "InvalidObjectState",
        ];
        for (i, err) in cases.iter().enumerate() {
            match map_sdk_error("log_data/2025/03/14/part-00000.json", err) {
                e @ TaskError::StoreError { .. } => {
                    assert_eq!(e.retry(), Retry::Never);
                    let TaskError::StoreError { key, detail } = e else {
                        unreachable!()
                    };
                    assert_eq!(key, "log_data/2025/03/14/part-00000.json");
                    if let Some(code) = codes.get(i) {
                        assert!(detail.starts_with(code), "{detail}");
                        assert!(detail.contains("HTTP 40"), "{detail}");
                    }
                }
                other => panic!("case {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn data_roots_parse() {
        let root = DataRoot::parse("s3://ovom-ehr-export").unwrap();
        assert_eq!((root.bucket(), root.prefix()), ("ovom-ehr-export", ""));
        assert_eq!(
            root.url("log_data/a.json"),
            "s3://ovom-ehr-export/log_data/a.json"
        );
        assert_eq!(root.to_string(), "s3://ovom-ehr-export");
        let root: DataRoot = "s3://ovom.ehr.v2/raw/export-2025/".parse().unwrap();
        assert_eq!(
            (root.bucket(), root.prefix()),
            ("ovom.ehr.v2", "raw/export-2025")
        );
        assert_eq!(root.object_key("a/b.json"), "raw/export-2025/a/b.json");
        assert_eq!(root.to_string(), "s3://ovom.ehr.v2/raw/export-2025");
        assert_eq!(DataRoot::parse("s3://abc/").unwrap().prefix(), "");
        assert!(DataRoot::parse("s3://abc/dt=2025-03-14").is_ok());
        assert!(DataRoot::parse(&format!("s3://{}", "a".repeat(63))).is_ok());
    }

    /// Each hostile root, and the words its refusal must hold.
    const HOSTILE_ROOTS: [(&str, &str); 34] = [
        ("", "s3://"),
        ("ovom-bucket/raw", "s3://"),
        ("https://ovom-bucket.s3.amazonaws.com/raw", "s3://"),
        ("S3://ovom-bucket/raw", "s3://"),
        (" s3://ovom-bucket/raw", "s3://"),
        ("s3:/ovom-bucket/raw", "s3://"),
        ("s3://", "missing"),
        ("s3:///x", "missing"),
        ("s3://b/../c", "3 to 63"),
        ("s3://ab", "3 to 63"),
        ("s3://ovom-bucket/../c", "`..`"),
        ("s3://ovom-bucket/raw/../../c", "`..`"),
        ("s3://ovom-bucket/raw/./c", "`.`"),
        ("s3://ovom-bucket/..", "`..`"),
        ("s3://b/%2e%2e/", "3 to 63"),
        ("s3://ovom-bucket/%2e%2e/", "percent"),
        ("s3://ovom-bucket//etc", "begin with `/`"),
        ("s3://ovom-bucket/raw//x", "empty segment"),
        ("s3://ovom-bucket/raw\\..\\x", "backslash"),
        ("s3://ovom-bucket/raw\nx", "control"),
        ("s3://ovom-bucket/raw\u{0}", "control"),
        ("s3://ovom-bucket/raw?versionId=1", "query"),
        ("s3://ovom-bucket/raw#frag", "fragment"),
        ("s3://ovom-bucket/r aw", "may hold only"),
        ("s3://AKIAEXAMPLE:secret@ovom-bucket/raw", "credentials"),
        ("s3://ovom-bucket:9000/raw", "lowercase"),
        ("s3://Ovom-Bucket/raw", "lowercase"),
        ("s3://ovom_bucket/raw", "lowercase"),
        ("s3://-ovom-bucket/raw", "begin and end"),
        ("s3://ovom..bucket/raw", "adjacent periods"),
        ("s3://192.168.1.10/raw", "IP address"),
        ("s3://xn--ovom/raw", "reserves"),
        ("s3://ovom-bucket-s3alias/raw", "reserves"),
        ("s3://ovom-bucket/raw/ünïcode", "may hold only"),
    ];

    #[test]
    fn hostile_data_roots_are_refused() {
        for (root, words) in HOSTILE_ROOTS {
            match DataRoot::parse(root) {
                Err(TaskError::InvalidParameters { field, reason }) => {
                    assert_eq!(field, "data_root", "{root:?}");
                    assert!(reason.contains(words), "{root:?}: {reason}");
                    assert!(!reason.contains("secret"), "{reason}");
                }
                other => panic!("{root:?} was not refused: {other:?}"),
            }
        }
        let long = format!("s3://{}", "a".repeat(64));
        assert!(DataRoot::parse(&long).is_err());
    }

    #[test]
    fn keys_are_checked_like_the_local_folder() {
        for good in [
            "log_data/2025/03/14/part-00000.json",
            "manifest.json",
            "a/b c/d",
        ] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "log_data/../../x",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "a\nb",
            &"k".repeat(1025),
        ] {
            match check_key(bad) {
                Err(TaskError::StoreError { detail, .. }) => {
                    assert!(detail.contains("relative path"))
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}

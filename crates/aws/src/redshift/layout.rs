//! What a COPY reads and how: each source's fields as the `COPY` target
//! types them, the statements around it, the manifest, and the `s3://`
//! literals a statement may hold.

use super::*;
use ovom_core::contract::{Field, Kind, LineError};

/// What a `COPY` of one source reads: the contract's fields of the source
/// (`ovom_core::contract`, the one declaration), into a temporary table.
pub(super) struct Layout {
    pub(super) source: Source,
    pub(super) temp: &'static str,
}

pub(super) const PATIENT_LAYOUT: Layout = Layout {
    source: Source::PatientData,
    temp: "ovom_copy_patient_data",
};

pub(super) const TEST_LAYOUT: Layout = Layout {
    source: Source::LogData,
    temp: "ovom_copy_log_data",
};

/// The type a field has in the `COPY` target: the staging column's, except
/// that a timestamp is read with its offset (`TIMESTAMPTZ`, `TIMEFORMAT
/// 'auto'`) and converted to UTC on the way to staging.
fn copy_type(kind: Kind) -> String {
    match kind {
        Kind::Timestamp => "TIMESTAMPTZ".into(),
        other => other.sql_type(),
    }
}

/// The rows `sys_load_error_detail` holds for one `COPY`: those of the
/// process that ran it (`session_id`, "the process identifier of the process
/// running the copy", is DescribeStatement's `RedshiftPid`) and of the file
/// it read (`file_name`, CHAR(256)). Each run's `COPY` reads a file of its
/// own (`manifests/<source>/<day>/<run_id>/NNNNN.json`), and one task's
/// session copies a file once. The view's `query_id` is not the Data API's
/// `RedshiftQueryId` (the SYS views number queries their own way), so it
/// cannot be matched.
pub(super) const COPY_ERRORS_SQL: &str =
    "SELECT line_number, TRIM(column_name) AS column_name, TRIM(error_message) AS error_message
FROM sys_load_error_detail
WHERE session_id = CAST(:copy_pid AS INTEGER) AND TRIM(file_name) = LEFT(:copy_file, 256)
ORDER BY line_number";

/// Quarantine rows written a statement at a time, and the parameter bytes
/// one statement carries at most (the raw lines are the bulk).
pub(super) const QUARANTINE_BATCH_ROWS: usize = 50;
pub(super) const QUARANTINE_BATCH_BYTES: usize = 48 * 1024;

/// How often the load error view is read before lines still unaccounted
/// for fail the task.
pub(super) const ERROR_VIEW_ATTEMPTS: usize = 6;

/// Redshift's largest `MAXERROR` (COPY parameter reference).
pub(super) const MAX_MAXERROR: u32 = 100_000;

/// Length of `quarantine.error`, in bytes.
pub(super) const MAX_ERROR_BYTES: usize = 1024;

impl Layout {
    pub(super) fn of(source: Source) -> &'static Layout {
        match source {
            Source::PatientData => &PATIENT_LAYOUT,
            Source::LogData => &TEST_LAYOUT,
        }
    }

    fn fields(&self) -> &'static [Field] {
        contract::fields(self.source)
    }

    pub(super) fn names(&self) -> String {
        self.fields()
            .iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The columns `COPY` fills: the contract's fields, then the line number.
    pub(super) fn copy_columns(&self) -> String {
        format!("{}, line_no", self.names())
    }

    pub(super) fn create_temp(&self) -> String {
        let columns: Vec<String> = self
            .fields()
            .iter()
            .map(|f| format!("{} {} NOT NULL", f.name, copy_type(f.kind)))
            .collect();
        format!(
            "CREATE TEMP TABLE {} ({}, line_no BIGINT NOT NULL)",
            self.temp,
            columns.join(", ")
        )
    }

    pub(super) fn insert_staging(&self) -> String {
        let select: Vec<String> = self
            .fields()
            .iter()
            .map(|f| match f.kind {
                Kind::Timestamp => format!("{} AT TIME ZONE 'UTC'", f.name),
                _ => f.name.to_owned(),
            })
            .collect();
        format!(
            "INSERT INTO {} (logical_date, source_file, line_no, {}, run_id)\nSELECT CAST(:logical_date AS DATE), :source_file, line_no, {}, :run_id\nFROM {}",
            transaction::pending_table(self.source.staging_table()),
            self.names(),
            select.join(", "),
            self.temp
        )
    }

    pub(super) fn copy(
        &self,
        manifest: &S3Literal,
        role: &str,
        jsonpaths: &S3Literal,
        max_errors: u32,
    ) -> String {
        format!(
            "COPY {} ({})\nFROM {}\nIAM_ROLE '{}'\nFORMAT AS JSON {}\nMANIFEST\nTIMEFORMAT 'auto'\nMAXERROR {}\nCOMPUPDATE OFF\nSTATUPDATE OFF",
            self.temp,
            self.copy_columns(),
            manifest.0,
            role,
            jsonpaths.0,
            max_errors
        )
    }

    pub(super) fn count(&self) -> String {
        format!("SELECT COUNT(*) FROM {}", self.temp)
    }

    pub(super) fn clear(&self) -> String {
        format!("DELETE FROM {}", self.temp)
    }

    pub(super) fn jsonpaths(&self) -> Vec<u8> {
        let paths: Vec<String> = self
            .fields()
            .iter()
            .map(|f| f.name)
            .chain([LINE_MEMBER])
            .map(|n| format!("$['{n}']"))
            .collect();
        serde_json::to_vec_pretty(&serde_json::json!({ "jsonpaths": paths }))
            .expect("JSON of strings")
    }

    /// The contract's reason a line is malformed, if it is.
    pub(super) fn contract_error(&self, line: &[u8]) -> Option<LineError> {
        match self.source {
            Source::PatientData => contract::parse_patient(line).err(),
            Source::LogData => contract::parse_test(line).err(),
        }
    }
}

/// Whether an S3 key may be written into a `COPY` statement between single
/// quotes: 1 to 1024 bytes of letters, digits and `/ - _ . ! * ( ) = :`. The
/// deployment template's `DataPrefix` pattern allows a subset of these.
pub fn is_copy_key(key: &str) -> bool {
    (1..=1024).contains(&key.len())
        && key.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'/' | b'-' | b'_' | b'.' | b'!' | b'*' | b'(' | b')' | b'=' | b':'
                )
        })
}

/// A one-entry COPY manifest.
pub(super) fn manifest(url: &str, size: u64) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "entries": [{ "url": url, "mandatory": true, "meta": { "content_length": size } }]
    }))
    .expect("JSON of strings and numbers")
}

/// An `s3://` URL checked to be safe between single quotes, quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct S3Literal(pub(super) String);

impl S3Literal {
    pub(super) fn new(url: &str) -> Result<Self, TaskError> {
        let refuse = |why: &str| {
            let shown: String = url.chars().take(120).collect();
            Err(TaskError::WarehouseError(format!(
                "{shown:?} cannot be given to COPY: {why}"
            )))
        };
        let Some(rest) = url.strip_prefix("s3://") else {
            return refuse("not an s3:// URL (COPY reads S3)");
        };
        let Some((bucket, key)) = rest.split_once('/') else {
            return refuse("no key");
        };
        if bucket.parse::<Bucket>().is_err() {
            return refuse("not an S3 bucket name");
        }
        if !is_copy_key(key) {
            return refuse("the key may hold only letters, digits and / - _ . ! * ( ) = :");
        }
        Ok(Self(format!("'{url}'")))
    }
}

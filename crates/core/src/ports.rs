//! The two ports the tasks run over. Adapters: DuckDB and a local folder for
//! the embedded warehouse; the Redshift Data API and S3 on AWS.

use chrono::{NaiveDate, NaiveDateTime};

use crate::params::{LogicalDate, RunId, Source};
use crate::TaskError;

/// A value bound to a named SQL parameter (`:name`), or read back from a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
}

impl Value {
    /// The value as JSON, for reading a row into a struct: a date as
    /// `YYYY-MM-DD`, a timestamp as `YYYY-MM-DDTHH:MM:SS[.f]`, a whole
    /// float (an engine's SUM) as an integer, as [`Value::as_i64`] reads it.
    pub fn into_json(self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => b.into(),
            Value::Int(i) => i.into(),
            Value::Float(f) => match self.as_i64() {
                Some(i) if f.abs() < 9.0e15 => i.into(),
                _ => f.into(),
            },
            Value::Text(t) => t.into(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string().into(),
            Value::Timestamp(t) => t.format("%Y-%m-%dT%H:%M:%S%.f").to_string().into(),
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
            Value::Date(d) => write!(f, "{d}"),
            Value::Timestamp(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%SZ")),
        }
    }
}

/// A named parameter: the name is one of the fixed names the SQL files use.
pub type Param = (&'static str, Value);

/// A row read back from the warehouse.
pub type Row = Vec<Value>;

/// A query's result: its columns' names and its rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

impl Table {
    /// Each row as a `T` whose fields are the columns, by name: a column
    /// that is missing or of another type fails, naming it. Dates and
    /// timestamps read as their ISO text (`LogicalDate` reads a date).
    pub fn read<T: serde::de::DeserializeOwned>(self) -> Result<Vec<T>, TaskError> {
        let Table { columns, rows } = self;
        rows.into_iter()
            .map(|row| {
                let object: serde_json::Map<String, serde_json::Value> = columns
                    .iter()
                    .cloned()
                    .zip(row.into_iter().map(Value::into_json))
                    .collect();
                let object = serde_json::Value::Object(object);
                let mut track = serde_path_to_error::Track::new();
                T::deserialize(serde_path_to_error::Deserializer::new(&object, &mut track)).map_err(
                    |e| {
                        TaskError::WarehouseError(format!(
                            "a result row does not read at column `{}`: {e} (columns: {})",
                            track.path(),
                            columns.join(", ")
                        ))
                    },
                )
            })
            .collect()
    }
}

pub use crate::sql::Sql;

/// One file of a day's delivery, as the object store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Key relative to the data root: `log_data/2025/03/14/part-00000.json`.
    pub key: String,
    pub size: u64,
}

/// The data root: a local folder, or an S3 prefix. Shared by reference
/// with the threads an adapter reads files on.
pub trait ObjectStore: Sync {
    /// Every object whose key starts with `prefix`, sorted by key.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TaskError>;
    /// An object's bytes.
    fn get(&self, key: &str) -> Result<Vec<u8>, TaskError>;
    /// Write an object (a COPY manifest, a generated file).
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), TaskError>;
    /// Replace an object's bytes (an erasure's rewrite of a raw export
    /// file), as one write, and remove every earlier version of it the
    /// store keeps (a versioned bucket's non-current versions); return how
    /// many versions were removed.
    fn replace(&self, key: &str, bytes: &[u8]) -> Result<u64, TaskError>;
    /// How the warehouse addresses `key` (a file path, an `s3://` URL).
    fn url(&self, key: &str) -> String;
    /// Whether the data root holds the folder `prefix` (`log_data/`): on S3
    /// any object under it; a local store says whether the folder exists,
    /// even empty.
    fn holds(&self, prefix: &str) -> Result<bool, TaskError> {
        Ok(!self.list(prefix)?.is_empty())
    }
}

/// What the stage task asks the warehouse to copy: one source's files of
/// one logical day.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    pub source: Source,
    pub logical_date: LogicalDate,
    pub run_id: RunId,
    pub files: Vec<ObjectMeta>,
    /// Malformed lines tolerated before the copy fails (0 when strict).
    pub max_errors: u32,
}

/// The warehouse.
///
/// A task's writes happen between [`Warehouse::begin`] and
/// [`Warehouse::commit`], so a failed task leaves nothing behind.
pub trait Warehouse {
    /// Which SQL dialect the warehouse speaks, to pick the SQL files.
    fn dialect(&self) -> crate::sql::Dialect;
    fn begin(&mut self) -> Result<(), TaskError>;
    fn commit(&mut self) -> Result<(), TaskError>;
    fn rollback(&mut self) -> Result<(), TaskError>;
    /// Run the statements of one SQL file (separated by `;`) with bound
    /// parameters.
    fn execute(&mut self, sql: Sql, params: &[Param]) -> Result<(), TaskError>;
    /// Run one query and return its columns and rows.
    fn query_table(&mut self, sql: Sql, params: &[Param]) -> Result<Table, TaskError>;
    /// Run one query and return its rows.
    fn query(&mut self, sql: Sql, params: &[Param]) -> Result<Vec<Row>, TaskError> {
        Ok(self.query_table(sql, params)?.rows)
    }

    /// Copy the request's files into the source's staging table, and the
    /// lines that are not valid records into `quarantine`, within the open
    /// transaction, and return how many lines the files hold. Fails with
    /// [`TaskError::MalformedInput`] when there are more malformed lines than
    /// `max_errors`.
    fn copy_day(
        &mut self,
        request: &CopyRequest,
        store: &dyn ObjectStore,
    ) -> Result<u64, TaskError>;
    /// Copy several days, in order, as [`Warehouse::copy_day`] copies each
    /// (each with its own error budget), and return each day's line count.
    /// An adapter may read and parse ahead while it writes.
    fn copy_days(
        &mut self,
        requests: &[CopyRequest],
        store: &dyn ObjectStore,
    ) -> Result<Vec<u64>, TaskError> {
        requests.iter().map(|r| self.copy_day(r, store)).collect()
    }
}

/// Run `f` in one transaction: commit when it succeeds, roll back otherwise.
pub fn in_transaction<T>(
    wh: &mut dyn Warehouse,
    f: impl FnOnce(&mut dyn Warehouse) -> Result<T, TaskError>,
) -> Result<T, TaskError> {
    wh.begin()?;
    match f(wh) {
        Ok(v) => {
            wh.commit()?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rb) = wh.rollback() {
                tracing::warn!(error = %rb, "rollback failed");
            }
            Err(e)
        }
    }
}

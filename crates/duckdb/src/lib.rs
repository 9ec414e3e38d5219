//! The embedded warehouse: [`ovom_core::ports::Warehouse`] on DuckDB.
//!
//! Statements are the SQL files of `ovom_core::sql`, prepared once per
//! connection and bound by position; `copy_day` (in `copy.rs`) parses the
//! day's JSON Lines with the contract's parser and appends Arrow batches
//! through DuckDB's appender.

mod copy;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use duckdb::types::{TimeUnit, Value as DuckValue};
use duckdb::Connection;
use ovom_core::ports::{CopyRequest, ObjectStore, Param, Sql, Table, Value, Warehouse};
use ovom_core::sql::{self, Dialect};
use ovom_core::TaskError;

pub use duckdb;

/// What the next statements cover: one day, or a range of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Day,
    Range,
}

/// A DuckDB database file (or an in-memory database) as the warehouse.
pub struct DuckWarehouse {
    conn: Connection,
    /// The database file, when opened from one for writing.
    path: Option<PathBuf>,
}

impl DuckWarehouse {
    /// Open (creating if needed) a database file. A file another process
    /// holds open for writing is [`TaskError::WarehouseBusy`].
    pub fn open(path: &Path) -> Result<Self, TaskError> {
        let conn = Connection::open(path).map_err(map_error)?;
        let mut wh = Self::with(conn)?;
        wh.path = Some(path.to_owned());
        Ok(wh)
    }

    /// Open an existing database file read-only (reports and status): it
    /// can be read while no other process writes it.
    pub fn open_read_only(path: &Path) -> Result<Self, TaskError> {
        let config = duckdb::Config::default()
            .access_mode(duckdb::AccessMode::ReadOnly)
            .map_err(map_error)?;
        let conn = Connection::open_with_flags(path, config).map_err(map_error)?;
        Self::with(conn)
    }

    pub fn in_memory() -> Result<Self, TaskError> {
        Self::with(Connection::open_in_memory().map_err(map_error)?)
    }

    fn with(conn: Connection) -> Result<Self, TaskError> {
        conn.set_prepared_statement_cache_capacity(256);
        let mut wh = Self { conn, path: None };
        wh.size_for(Scope::Day)?;
        Ok(wh)
    }

    /// Size DuckDB for the statements to come. A day's statements touch a
    /// few hundred rows: handing them to DuckDB's thread pool costs more than
    /// it gains (a third of the CPU of a day's run on two cores), so a day
    /// runs on one thread. A range's scans and joins gain from every core
    /// (DuckDB's default), with its buffers held to 1.5 GB, beyond which it
    /// spills to the warehouse's `.tmp` folder: a range of any size runs in
    /// a few GB.
    ///
    /// A day's commits stay in the write-ahead log (`<warehouse>.wal`, about
    /// 80 kB a day) when the process ends: checkpointing them at close
    /// rewrote the fact's touched row groups, about 70–100 ms a day, more
    /// than replaying the log costs the next open. DuckDB still checkpoints
    /// at a commit once the log passes its `checkpoint_threshold` (16 MB by
    /// default, some 200 days), and a range checkpoints when it closes.
    pub fn size_for(&mut self, scope: Scope) -> Result<(), TaskError> {
        let settings = match scope {
            Scope::Day => {
                "SET threads = 1; RESET memory_limit; PRAGMA disable_checkpoint_on_shutdown"
            }
            Scope::Range => {
                "RESET threads; SET memory_limit = '1500MB'; PRAGMA enable_checkpoint_on_shutdown"
            }
        };
        self.conn.execute_batch(settings).map_err(map_error)
    }

    /// Rewrite the database file with only what it holds now, then open it
    /// again. An erasure needs it:
    /// DuckDB reuses the blocks a delete frees but does not clear them, and
    /// a daily run leaves its commits in the write-ahead log, so the bytes of
    /// erased rows outlive the delete in both until they are overwritten.
    /// The copy (`<path>.compact`) replaces the file by a rename, so a crash
    /// leaves either file whole; the write-ahead log is checkpointed first.
    pub fn compact(&mut self) -> Result<(), TaskError> {
        let path = self.path.clone().ok_or_else(|| {
            TaskError::WarehouseError(
                "only a warehouse file opened for writing is compacted".into(),
            )
        })?;
        let copy = beside(&path, ".compact");
        let io = |what: &str, e: std::io::Error| {
            TaskError::WarehouseError(format!("{what} {}: {e}", copy.display()))
        };
        let copy_log = beside(&copy, ".wal");
        for stale in [&copy, &copy_log] {
            if stale.exists() {
                std::fs::remove_file(stale).map_err(|e| io("removing the stale", e))?;
            }
        }
        self.conn.execute_batch("CHECKPOINT").map_err(map_error)?;
        let database: String = self
            .conn
            .query_row("SELECT current_database()", [], |r| r.get(0))
            .map_err(map_error)?;
        let target = copy.to_string_lossy().replace('\'', "''");
        let source = database.replace('"', "\"\"");
        self.conn
            .execute_batch(&format!(
                "ATTACH '{target}' AS ovom_compact; \
                 COPY FROM DATABASE \"{source}\" TO ovom_compact; \
                 CHECKPOINT ovom_compact; \
                 DETACH ovom_compact"
            ))
            .map_err(map_error)?;
        // The copy is whole in its file (no log of its own to carry over).
        if copy_log.exists() {
            return Err(TaskError::WarehouseError(format!(
                "the compacted copy {} kept a write-ahead log: the warehouse is left as it was",
                copy.display()
            )));
        }
        // Close the file before it is replaced, then open the copy.
        let old = std::mem::replace(
            &mut self.conn,
            Connection::open_in_memory().map_err(map_error)?,
        );
        old.close().map_err(|(_, e)| map_error(e))?;
        // The checkpoint emptied the file's own log: none may be replayed
        // onto the copy.
        let log = beside(&path, ".wal");
        if std::fs::metadata(&log).is_ok_and(|m| m.len() > 0) {
            return Err(TaskError::WarehouseError(format!(
                "{} is not empty after a checkpoint: the warehouse is left as it was",
                log.display()
            )));
        }
        if log.exists() {
            std::fs::remove_file(&log).map_err(|e| io("removing the empty log beside", e))?;
        }
        std::fs::rename(&copy, &path).map_err(|e| io("renaming", e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("syncing the folder of", e))?;
        }
        *self = Self::open(&path)?;
        Ok(())
    }

    /// The connection, for read-only use by the CLI (`ovom query`).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// The file named as `path` with `suffix` appended (DuckDB's write-ahead
/// log is `<database>.wal`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Map a DuckDB error to the task error contract: lock and write conflicts
/// are transient, everything else is not.
pub fn map_error(e: duckdb::Error) -> TaskError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("could not set lock")
        || lower.contains("conflicting lock")
        || lower.contains("conflict on")
    {
        TaskError::WarehouseBusy(text)
    } else {
        TaskError::WarehouseError(text)
    }
}

fn to_duck(v: &Value) -> DuckValue {
    match v {
        Value::Null => DuckValue::Null,
        Value::Bool(b) => DuckValue::Boolean(*b),
        Value::Int(i) => DuckValue::BigInt(*i),
        Value::Float(f) => DuckValue::Double(*f),
        Value::Text(s) => DuckValue::Text(s.clone()),
        Value::Date(d) => DuckValue::Text(d.to_string()),
        Value::Timestamp(t) => {
            DuckValue::Timestamp(TimeUnit::Microsecond, t.and_utc().timestamp_micros())
        }
    }
}

/// Read a DuckDB value back as a port value.
pub fn from_duck(v: DuckValue) -> Value {
    match v {
        DuckValue::Null => Value::Null,
        DuckValue::Boolean(b) => Value::Bool(b),
        DuckValue::TinyInt(i) => Value::Int(i.into()),
        DuckValue::SmallInt(i) => Value::Int(i.into()),
        DuckValue::Int(i) => Value::Int(i.into()),
        DuckValue::BigInt(i) => Value::Int(i),
        DuckValue::HugeInt(i) => i64::try_from(i)
            .map(Value::Int)
            .unwrap_or(Value::Text(i.to_string())),
        DuckValue::UTinyInt(i) => Value::Int(i.into()),
        DuckValue::USmallInt(i) => Value::Int(i.into()),
        DuckValue::UInt(i) => Value::Int(i.into()),
        DuckValue::UBigInt(i) => i64::try_from(i)
            .map(Value::Int)
            .unwrap_or(Value::Text(i.to_string())),
        DuckValue::Float(f) => Value::Float(f.into()),
        DuckValue::Double(f) => Value::Float(f),
        DuckValue::Decimal(d) => Value::Text(d.to_string()),
        DuckValue::Text(s) => Value::Text(s),
        DuckValue::Date32(days) => NaiveDate::from_num_days_from_ce_opt(days + 719_163)
            .map(Value::Date)
            .unwrap_or(Value::Null),
        DuckValue::Timestamp(unit, n) => {
            let micros = match unit {
                TimeUnit::Second => n * 1_000_000,
                TimeUnit::Millisecond => n * 1_000,
                TimeUnit::Microsecond => n,
                TimeUnit::Nanosecond => n / 1_000,
            };
            chrono::DateTime::from_timestamp_micros(micros)
                .map(|t| Value::Timestamp(t.naive_utc()))
                .unwrap_or(Value::Null)
        }
        other => Value::Text(format!("{other:?}")),
    }
}

/// A statement's time, at trace level, named by its first words (the SQL
/// files' text; values are bound, so no data is logged).
fn traced(stmt: &str, started: std::time::Instant) {
    if tracing::enabled!(tracing::Level::TRACE) {
        let words: Vec<&str> = stmt
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .flat_map(str::split_whitespace)
            .take(6)
            .collect();
        tracing::trace!(
            statement = words.join(" "),
            micros = started.elapsed().as_micros() as u64,
            "statement"
        );
    }
}

fn bind(stmt: &str, params: &[Param]) -> Result<(String, Vec<DuckValue>), TaskError> {
    let (text, names) = sql::to_positional(stmt);
    let values = names
        .iter()
        .map(|name| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| to_duck(v))
                .ok_or_else(|| {
                    TaskError::WarehouseError(format!("no value bound for parameter :{name}"))
                })
        })
        .collect::<Result<_, _>>()?;
    Ok((text, values))
}

impl Warehouse for DuckWarehouse {
    fn dialect(&self) -> Dialect {
        Dialect::DuckDb
    }

    fn begin(&mut self) -> Result<(), TaskError> {
        // A prepared statement keeps the plan DuckDB made for the tables as
        // they were (an empty dimension's join planned away): statements are
        // reused within a task's transaction, never across tasks, whose
        // writes change what a plan may assume.
        self.conn.flush_prepared_statement_cache();
        self.conn
            .execute_batch("BEGIN TRANSACTION")
            .map_err(map_error)
    }

    fn commit(&mut self) -> Result<(), TaskError> {
        let started = std::time::Instant::now();
        let done = self.conn.execute_batch("COMMIT").map_err(map_error);
        traced("COMMIT", started);
        done
    }

    fn rollback(&mut self) -> Result<(), TaskError> {
        self.conn.execute_batch("ROLLBACK").map_err(map_error)
    }

    fn execute(&mut self, text: Sql, params: &[Param]) -> Result<(), TaskError> {
        for stmt in sql::statements(&text) {
            let (positional, values) = bind(stmt, params)?;
            let started = std::time::Instant::now();
            let mut prepared = self.conn.prepare_cached(&positional).map_err(map_error)?;
            prepared
                .execute(duckdb::params_from_iter(values))
                .map_err(map_error)?;
            traced(stmt, started);
        }
        Ok(())
    }

    fn query_table(&mut self, text: Sql, params: &[Param]) -> Result<Table, TaskError> {
        let statements = sql::statements(&text);
        let [stmt] = statements.as_slice() else {
            return Err(TaskError::WarehouseError(
                "a query must be one statement".into(),
            ));
        };
        let (positional, values) = bind(stmt, params)?;
        let started = std::time::Instant::now();
        // Not cached: a read's plan must see the tables as they are now
        // (a cached plan made while a dimension was empty kept joining it
        // as empty).
        let mut prepared = self.conn.prepare(&positional).map_err(map_error)?;
        let mut rows = prepared
            .query(duckdb::params_from_iter(values))
            .map_err(map_error)?;
        let mut out = vec![];
        while let Some(row) = rows.next().map_err(map_error)? {
            let n = row.as_ref().column_count();
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(from_duck(row.get::<_, DuckValue>(i).map_err(map_error)?));
            }
            out.push(values);
        }
        drop(rows);
        traced(stmt, started);
        Ok(Table {
            columns: prepared.column_names(),
            rows: out,
        })
    }

    fn copy_day(
        &mut self,
        request: &CopyRequest,
        store: &dyn ObjectStore,
    ) -> Result<u64, TaskError> {
        copy::copy_day(&self.conn, request, store)
    }

    fn copy_days(
        &mut self,
        requests: &[CopyRequest],
        store: &dyn ObjectStore,
    ) -> Result<Vec<u64>, TaskError> {
        copy::copy_days(&self.conn, requests, store)
    }
}

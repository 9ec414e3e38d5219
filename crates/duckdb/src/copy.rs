//! `copy_day` on DuckDB: each line of a day's files is parsed with the
//! contract's parser; valid records are gathered column by column into Arrow
//! arrays and appended to the staging table a batch at a time (DuckDB copies
//! whole vectors, rather than taking a call per value); malformed lines go
//! to `quarantine` with their file, line, error and raw text. Files are read
//! and parsed on a thread of their own while the caller's thread appends.

use chrono::{NaiveDate, NaiveDateTime};
use duckdb::arrow::array::{
    ArrayRef, Date32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::{params, Appender, Connection};
use ovom_core::contract::{self, LineError, PatientRecord, TestRecord};
use ovom_core::params::Source;
use ovom_core::ports::{CopyRequest, ObjectStore};
use ovom_core::TaskError;

use crate::map_error;

/// Rows gathered before they are appended: bounds the memory a copy holds,
/// whatever the size of a file.
const BATCH_ROWS: usize = 8 * 1024;

/// The columns of one staging table, in its column order, for one day.
trait Batch: Default {
    type Record<'a>;
    fn parse(line: &[u8]) -> Result<Self::Record<'_>, LineError>;
    fn push(&mut self, at: &Where<'_>, record: &Self::Record<'_>);
    fn rows(&self) -> usize;
    /// The gathered rows as one batch; the builders start again empty.
    fn finish(&mut self) -> Vec<ArrayRef>;
}

/// What every row of a day carries besides its record.
struct Where<'a> {
    day: i32,
    file: &'a str,
    line: i64,
    run_id: &'a str,
}

struct Malformed {
    file: String,
    line: u64,
    error: LineError,
    raw: String,
}

/// Copy one day's files of one source; see [`ovom_core::ports::Warehouse::copy_day`].
pub fn copy_day(
    conn: &Connection,
    request: &CopyRequest,
    store: &dyn ObjectStore,
) -> Result<u64, TaskError> {
    Ok(copy_days(conn, std::slice::from_ref(request), store)?[0])
}

/// Copy several days of one source, in order; see
/// [`ovom_core::ports::Warehouse::copy_days`]. A reader thread reads and
/// parses the files while this one appends what it has parsed, so the
/// parsing and DuckDB's append run side by side.
pub fn copy_days(
    conn: &Connection,
    requests: &[CopyRequest],
    store: &dyn ObjectStore,
) -> Result<Vec<u64>, TaskError> {
    let Some(first) = requests.first() else {
        return Ok(vec![]);
    };
    if requests.iter().any(|r| r.source != first.source) {
        return Err(TaskError::WarehouseError(
            "a copy of several days takes one source".into(),
        ));
    }
    match first.source {
        Source::PatientData => copy::<Patients>(conn, requests, store),
        Source::LogData => copy::<Tests>(conn, requests, store),
    }
}

/// What the reader thread sends, in file and line order.
enum Parsed {
    Rows(Vec<ArrayRef>),
    Malformed(Malformed),
    /// A day's files are read: how many lines they held.
    DayRead(u64),
    Failed(TaskError),
}

/// Messages in flight between the reader and the writer: bounds the memory
/// the copy holds, as does the batch size.
const IN_FLIGHT: usize = 8;

fn copy<B: Batch + Send>(
    conn: &Connection,
    requests: &[CopyRequest],
    store: &dyn ObjectStore,
) -> Result<Vec<u64>, TaskError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Parsed>(IN_FLIGHT);
    std::thread::scope(|scope| {
        scope.spawn(move || read::<B>(requests, store, &tx));
        // The writer owns the receiver: whatever way it returns (an error
        // included), the receiver is dropped before the scope waits for the
        // reader, so a reader blocked on a full channel gets an error and
        // stops instead of waiting forever.
        write(conn, requests, rx)
    })
}

/// The reader: every file of every day, parsed into batches of rows and
/// malformed lines.
fn read<B: Batch>(
    requests: &[CopyRequest],
    store: &dyn ObjectStore,
    tx: &std::sync::mpsc::SyncSender<Parsed>,
) {
    let mut batch = B::default();
    for request in requests {
        let day = days_since_epoch(request.logical_date.date());
        let mut lines_read = 0u64;
        for file in &request.files {
            let bytes = match store.get(&file.key) {
                Ok(bytes) => bytes,
                Err(e) => {
                    let _ = tx.send(Parsed::Failed(e));
                    return;
                }
            };
            for (line_no, line) in contract::lines(&bytes) {
                lines_read += 1;
                let sent = match B::parse(line) {
                    Ok(record) => {
                        let at = Where {
                            day,
                            file: &file.key,
                            line: line_no as i64,
                            run_id: request.run_id.as_str(),
                        };
                        batch.push(&at, &record);
                        if batch.rows() < BATCH_ROWS {
                            continue;
                        }
                        tx.send(Parsed::Rows(batch.finish()))
                    }
                    Err(e) => tx.send(Parsed::Malformed(Malformed {
                        file: file.key.clone(),
                        line: line_no,
                        error: e,
                        raw: contract::raw_text(line),
                    })),
                };
                if sent.is_err() {
                    return; // the writer stopped
                }
            }
        }
        // A batch spans days: a day's rows may follow its `DayRead`, which
        // orders only the malformed lines (each day's error budget).
        if tx.send(Parsed::DayRead(lines_read)).is_err() {
            return;
        }
    }
    if batch.rows() > 0 {
        let _ = tx.send(Parsed::Rows(batch.finish()));
    }
}

/// The writer: appends the reader's batches to the staging table, and each
/// day's malformed lines to `quarantine`, failing a day that has more than
/// its budget of them.
fn write(
    conn: &Connection,
    requests: &[CopyRequest],
    rx: std::sync::mpsc::Receiver<Parsed>,
) -> Result<Vec<u64>, TaskError> {
    let source = requests[0].source;
    let mut app = conn.appender(source.staging_table()).map_err(map_error)?;
    let mut lines = Vec::with_capacity(requests.len());
    let mut quarantined: Vec<(NaiveDate, Malformed)> = vec![];
    let mut malformed: Vec<Malformed> = vec![];
    for message in rx.iter() {
        let day = lines.len();
        let request = || {
            requests.get(day).ok_or_else(|| {
                TaskError::WarehouseError("the file reader sent more days than it was given".into())
            })
        };
        match message {
            Parsed::Rows(columns) => append(&mut app, columns)?,
            Parsed::Malformed(m) => {
                let request = request()?;
                malformed.push(m);
                if malformed.len() as u64 > u64::from(request.max_errors) {
                    let first = malformed.swap_remove(0);
                    return Err(TaskError::MalformedInput {
                        file: first.file,
                        line: first.line,
                        error: first.error,
                        budget: (request.max_errors > 0).then_some(request.max_errors),
                    });
                }
            }
            Parsed::DayRead(n) => {
                let request = request()?;
                tracing::debug!(
                    source = source.folder(),
                    logical_date = %request.logical_date,
                    files = request.files.len(),
                    lines_read = n,
                    quarantined = malformed.len(),
                    "copied day"
                );
                let day = request.logical_date.date();
                quarantined.extend(malformed.drain(..).map(|m| (day, m)));
                lines.push(n);
            }
            Parsed::Failed(e) => return Err(e),
        }
    }
    if lines.len() != requests.len() {
        return Err(TaskError::WarehouseError(
            "the file reader stopped before the last day".into(),
        ));
    }
    app.flush().map_err(map_error)?;
    drop(app);
    if !quarantined.is_empty() {
        let mut app = conn.appender("quarantine").map_err(map_error)?;
        for (day, m) in &quarantined {
            app.append_row(params![
                day,
                source.folder(),
                m.file,
                m.line as i64,
                m.error.to_string(),
                m.raw,
                requests[0].run_id.as_str()
            ])
            .map_err(map_error)?;
        }
        app.flush().map_err(map_error)?;
    }
    Ok(lines)
}

fn append(app: &mut Appender<'_>, columns: Vec<ArrayRef>) -> Result<(), TaskError> {
    let named = columns
        .into_iter()
        .enumerate()
        .map(|(i, c)| (format!("c{i}"), c));
    let record_batch = RecordBatch::try_from_iter(named)
        .map_err(|e| TaskError::WarehouseError(format!("building a staging batch: {e}")))?;
    app.append_record_batch(record_batch).map_err(map_error)
}

fn days_since_epoch(day: NaiveDate) -> i32 {
    (day - NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch")).num_days() as i32
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn done<T: duckdb::arrow::array::ArrayBuilder>(b: &mut T) -> ArrayRef {
    b.finish()
}

/// `staging_patient`'s columns.
#[derive(Default)]
struct Patients {
    day: Date32Builder,
    file: StringBuilder,
    line: Int64Builder,
    patient_id: Int64Builder,
    first_name: StringBuilder,
    last_name: StringBuilder,
    sex: StringBuilder,
    age: Int32Builder,
    height: Int32Builder,
    weight: Float64Builder,
    address: StringBuilder,
    registered_at: TimestampMicrosecondBuilder,
    run_id: StringBuilder,
    rows: usize,
}

impl Batch for Patients {
    type Record<'a> = PatientRecord<'a>;
    fn parse(line: &[u8]) -> Result<PatientRecord<'_>, LineError> {
        contract::parse_patient(line)
    }
    fn push(&mut self, at: &Where<'_>, r: &PatientRecord<'_>) {
        self.day.append_value(at.day);
        self.file.append_value(at.file);
        self.line.append_value(at.line);
        self.patient_id.append_value(r.patient_id);
        self.first_name.append_value(&r.first_name);
        self.last_name.append_value(&r.last_name);
        self.sex.append_value(&r.sex);
        self.age.append_value(r.age);
        self.height.append_value(r.height);
        self.weight.append_value(r.weight);
        self.address.append_value(&r.address);
        self.registered_at.append_value(micros(r.registered_at));
        self.run_id.append_value(at.run_id);
        self.rows += 1;
    }
    fn rows(&self) -> usize {
        self.rows
    }
    fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        vec![
            done(&mut self.day),
            done(&mut self.file),
            done(&mut self.line),
            done(&mut self.patient_id),
            done(&mut self.first_name),
            done(&mut self.last_name),
            done(&mut self.sex),
            done(&mut self.age),
            done(&mut self.height),
            done(&mut self.weight),
            done(&mut self.address),
            done(&mut self.registered_at),
            done(&mut self.run_id),
        ]
    }
}

/// `staging_bloodtest`'s columns.
#[derive(Default)]
struct Tests {
    day: Date32Builder,
    file: StringBuilder,
    line: Int64Builder,
    test_id: StringBuilder,
    patient_id: Int64Builder,
    doc_id: Int64Builder,
    doc_name: StringBuilder,
    clinic: StringBuilder,
    lab_id: Int64Builder,
    lab_name: StringBuilder,
    city: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    /// ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio.
    measures: [Int32Builder; 8],
    run_id: StringBuilder,
    rows: usize,
}

impl Batch for Tests {
    type Record<'a> = TestRecord<'a>;
    fn parse(line: &[u8]) -> Result<TestRecord<'_>, LineError> {
        contract::parse_test(line)
    }
    fn push(&mut self, at: &Where<'_>, r: &TestRecord<'_>) {
        self.day.append_value(at.day);
        self.file.append_value(at.file);
        self.line.append_value(at.line);
        self.test_id.append_value(&r.test_id);
        self.patient_id.append_value(r.patient_id);
        self.doc_id.append_value(r.doc_id);
        self.doc_name.append_value(&r.doc_name);
        self.clinic.append_value(&r.clinic);
        self.lab_id.append_value(r.lab_id);
        self.lab_name.append_value(&r.lab_name);
        self.city.append_value(&r.city);
        self.ts.append_value(micros(r.ts));
        let measures = [
            r.ap_hi,
            r.ap_lo,
            r.cholesterol,
            r.gluc,
            r.smoke,
            r.alco,
            r.active,
            r.cardio,
        ];
        for (b, v) in self.measures.iter_mut().zip(measures) {
            b.append_value(v);
        }
        self.run_id.append_value(at.run_id);
        self.rows += 1;
    }
    fn rows(&self) -> usize {
        self.rows
    }
    fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        let mut columns = vec![
            done(&mut self.day),
            done(&mut self.file),
            done(&mut self.line),
            done(&mut self.test_id),
            done(&mut self.patient_id),
            done(&mut self.doc_id),
            done(&mut self.doc_name),
            done(&mut self.clinic),
            done(&mut self.lab_id),
            done(&mut self.lab_name),
            done(&mut self.city),
            done(&mut self.ts),
        ];
        columns.extend(self.measures.iter_mut().map(done));
        columns.push(done(&mut self.run_id));
        columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(
            days_since_epoch(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()),
            0
        );
        assert_eq!(
            days_since_epoch(NaiveDate::from_ymd_opt(2025, 3, 14).unwrap()),
            20161
        );
    }

    /// The Arrow columns a batch appends, by position, are the staging
    /// table's: the day, file and line, then the contract's fields in the
    /// declaration's order and types, then the run.
    fn assert_columns_follow_the_contract<B: Batch>(line: &str, fields: &[contract::Field]) {
        use duckdb::arrow::datatypes::{DataType, TimeUnit};
        let mut batch = B::default();
        let record = B::parse(line.as_bytes()).unwrap();
        let at = Where {
            day: 0,
            file: "f",
            line: 1,
            run_id: "r",
        };
        batch.push(&at, &record);
        let types: Vec<DataType> = batch
            .finish()
            .iter()
            .map(|a| a.data_type().clone())
            .collect();
        let mut expected = vec![DataType::Date32, DataType::Utf8, DataType::Int64];
        expected.extend(fields.iter().map(|f| match f.kind {
            contract::Kind::Text(_) => DataType::Utf8,
            contract::Kind::Int32 => DataType::Int32,
            contract::Kind::Int64 => DataType::Int64,
            contract::Kind::Number => DataType::Float64,
            contract::Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        }));
        expected.push(DataType::Utf8);
        assert_eq!(types, expected);
    }

    #[test]
    fn each_batch_appends_the_contracts_fields_in_order() {
        assert_columns_follow_the_contract::<Patients>(
            r#"{"patient_id": 1, "first_name": "A", "last_name": "B", "sex": "F", "age": 30, "height": 170, "weight": 60.5, "address": "x", "registered_at": "2025-03-14T08:00:00Z"}"#,
            contract::PATIENT_FIELDS,
        );
        assert_columns_follow_the_contract::<Tests>(
            r#"{"test_id": "t", "patient_id": 1, "doc_id": 2, "doc_name": "d", "clinic": "c", "lab_id": 3, "lab_name": "l", "city": "x", "ts": "2025-03-14T08:00:00Z", "ap_hi": 120, "ap_lo": 80, "cholesterol": 1, "gluc": 1, "smoke": 0, "alco": 0, "active": 1, "cardio": 0}"#,
            contract::TEST_FIELDS,
        );
    }
}

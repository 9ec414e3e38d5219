//! `copy_day`: a day's files through COPY, each from a manifest, its
//! malformed lines quarantined, its rows and lines numbered.

use super::*;
use ovom_core::contract::LineError;

/// Where a `COPY`'s rejected lines are found in `sys_load_error_detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Load {
    /// `RedshiftPid` of the `COPY`.
    pub(super) pid: i64,
    /// The URL of the file it read.
    pub(super) file: String,
}

/// A malformed line of the day.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Malformed {
    pub(super) file_index: usize,
    pub(super) file: String,
    pub(super) line: u64,
    pub(super) error: LineError,
    pub(super) raw: String,
}

/// The day's error budget, as the embedded warehouse counts it: the task
/// fails when more lines than `max` are malformed, naming the first one.
pub(super) struct Budget {
    pub(super) max: u32,
    pub(super) count: u64,
    pub(super) first: Option<Malformed>,
}

impl Budget {
    pub(super) fn remaining(&self) -> u32 {
        u64::from(self.max)
            .saturating_sub(self.count)
            .try_into()
            .unwrap_or(0)
    }

    /// The `MAXERROR` of the next `COPY`. A load fails when its errors
    /// reach `MAXERROR` (COPY parameter reference: "If the load returns the
    /// error_count number of errors or greater, the load fails"; 0 and 1
    /// both fail at the first), so it is one more than the lines the budget
    /// still tolerates, within Redshift's maximum of 100,000. At that bound
    /// (a budget of 100,000 with none used) a file with 100,000 lines that
    /// `COPY` rejects fails one line early.
    pub(super) fn maxerror(&self) -> u32 {
        self.remaining().saturating_add(1).min(MAX_MAXERROR)
    }

    pub(super) fn note_first(&mut self, m: &Malformed) {
        let earlier = match &self.first {
            None => true,
            Some(f) => (m.file_index, m.line) < (f.file_index, f.line),
        };
        if earlier {
            self.first = Some(m.clone());
        }
    }

    pub(super) fn add(&mut self, m: &Malformed) {
        self.count += 1;
        self.note_first(m);
    }

    pub(super) fn exceeded(&self) -> bool {
        self.count > u64::from(self.max)
    }

    pub(super) fn error(&self) -> TaskError {
        let Some(first) = &self.first else {
            return TaskError::WarehouseError("malformed input, but no line is known".into());
        };
        TaskError::MalformedInput {
            file: first.file.clone(),
            line: first.line,
            error: first.error.clone(),
            budget: (self.max > 0).then_some(self.max),
        }
    }
}

/// A quarantine row of line `line` of file `key`, its reason cut to
/// [`MAX_ERROR_BYTES`].
fn quarantine_row(
    index: usize,
    key: &str,
    line: u64,
    mut error: LineError,
    raw: String,
) -> Malformed {
    error.reason = truncate_bytes(error.reason, MAX_ERROR_BYTES);
    Malformed {
        file_index: index,
        file: key.to_owned(),
        line,
        error,
        raw,
    }
}

/// Cut text to at most `max` bytes, at a character boundary.
pub(super) fn truncate_bytes(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// One `copy_day`.
pub(super) struct CopyDay<'a> {
    pub(super) wh: &'a RedshiftWarehouse,
    pub(super) request: &'a CopyRequest,
    pub(super) store: &'a dyn ObjectStore,
    pub(super) layout: &'static Layout,
    /// `manifests/<source>/<YYYY-MM-DD>/<run_id>`.
    pub(super) base: String,
    pub(super) role: String,
    pub(super) budget: Budget,
}

/// The member each line of the copy `COPY` reads carries its line number in,
/// mapped to the temporary table's `line_no` by the jsonpaths file.
pub(super) const LINE_MEMBER: &str = "ovom_line_no";

/// One file's lines, as the contract numbers them, and what `COPY` reads.
pub(super) struct FileLines {
    pub(super) count: u64,
    /// Line number → text.
    pub(super) lines: HashMap<u64, Vec<u8>>,
    /// The lines the contract refuses, with its reason, in order.
    pub(super) refused: Vec<(u64, LineError)>,
    /// The bytes `COPY` reads: the file with each refused line emptied (`COPY`
    /// skips a blank line as whitespace between objects, so every other line
    /// keeps its number), without a byte-order mark, and each record given
    /// its line number as the member [`LINE_MEMBER`].
    pub(super) copy: Vec<u8>,
}

impl FileLines {
    pub(super) fn read(bytes: &[u8], layout: &Layout) -> Self {
        let mut lines = HashMap::new();
        let mut refused = vec![];
        let mut count = 0;
        let mut copy = Vec::with_capacity(bytes.len() + bytes.len() / 8);
        for (n, line) in contract::lines(bytes) {
            count = n;
            match layout.contract_error(line) {
                Some(error) => refused.push((n, error)),
                None => numbered(line, n, &mut copy),
            }
            copy.push(b'\n');
            lines.insert(n, line.to_vec());
        }
        Self {
            count,
            lines,
            refused,
            copy,
        }
    }
}

/// Append a record the contract accepted, with its line number as the
/// member [`LINE_MEMBER`]: written right after the opening brace, or, when
/// the record has a member of that name itself, the record written anew
/// without it (its values are unchanged: JSON numbers round-trip).
pub(super) fn numbered(line: &[u8], n: u64, out: &mut Vec<u8>) {
    let mut record: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(line).unwrap_or_default();
    // An integer field given as `-0` is 0 to the contract: written as 0,
    // so that COPY reads what the embedded warehouse loads.
    let mut zeroed = false;
    for (name, value) in record.iter_mut() {
        if contract::negative_zero(value) && contract::is_integer_field(name) {
            *value = 0.into();
            zeroed = true;
        }
    }
    if record.remove(LINE_MEMBER).is_some() || zeroed {
        record.insert(LINE_MEMBER.to_owned(), n.into());
        out.extend_from_slice(&serde_json::to_vec(&record).unwrap_or_default());
        return;
    }
    let brace = line.iter().position(|b| *b == b'{').unwrap_or(0);
    out.extend_from_slice(&line[..=brace]);
    out.extend_from_slice(format!("\"{LINE_MEMBER}\":{n},").as_bytes());
    out.extend_from_slice(&line[brace + 1..]);
}

impl<'a> CopyDay<'a> {
    pub(super) fn new(
        wh: &'a RedshiftWarehouse,
        request: &'a CopyRequest,
        store: &'a dyn ObjectStore,
    ) -> Result<Self, TaskError> {
        let role = wh.api.config.copy_role_arn.to_string();
        Ok(Self {
            wh,
            request,
            store,
            layout: Layout::of(request.source),
            base: format!(
                "manifests/{}/{}/{}",
                request.source.folder(),
                request.logical_date,
                request.run_id.as_str()
            ),
            role,
            budget: Budget {
                max: request.max_errors,
                count: 0,
                first: None,
            },
        })
    }

    /// Wait the next delay of the poll backoff (the sleep is made on the
    /// runtime: a timer needs its context).
    pub(super) fn pause(&self, delays: &mut impl Iterator<Item = Duration>) {
        let delay = delays.next().unwrap_or(self.wh.api.config.poll.max);
        self.wh
            .block(async move { tokio::time::sleep(delay).await });
    }

    /// The `s3://` URL of a key of the store, checked for `COPY`.
    pub(super) fn url_of(&self, key: &str) -> Result<S3Literal, TaskError> {
        let url = self.store.url(key);
        if !url.ends_with(key) {
            return Err(TaskError::WarehouseError(format!(
                "the object store addresses {key:?} as {url:?}"
            )));
        }
        S3Literal::new(&url)
    }

    pub(super) fn exec(&self, stmt: &str, params: &[(&str, Value)]) -> Result<Done, TaskError> {
        self.wh.statement(stmt, |name| {
            params.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
        })
    }

    pub(super) fn rows(&self, stmt: &str, params: &[(&str, Value)]) -> Result<Vec<Row>, TaskError> {
        self.wh
            .rows_of(stmt, |name| {
                params.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
            })
            .map(|t| t.rows)
    }

    pub(super) fn run(mut self) -> Result<u64, TaskError> {
        let jsonpaths_key = format!("{}/jsonpaths.json", self.base);
        self.store.put(&jsonpaths_key, &self.layout.jsonpaths())?;
        let jsonpaths = self.url_of(&jsonpaths_key)?;
        // The rows wait in the session until the task's batch moves them.
        // (Quarantined lines wait in theirs too, made when the first one
        // comes: most days have none.)
        self.wh.pend(self.request.source.staging_table())?;
        // COPY's table, once per transaction: a range copies many days.
        self.wh
            .session_table(self.layout.temp, &self.layout.create_temp())?;
        let mut lines_read = 0;
        for (index, file) in self.request.files.iter().enumerate() {
            lines_read += self.file(index, &file.key, &jsonpaths)?;
        }
        tracing::debug!(
            source = self.request.source.folder(),
            logical_date = %self.request.logical_date,
            files = self.request.files.len(),
            lines_read,
            quarantined = self.budget.count,
            "copied day"
        );
        Ok(lines_read)
    }

    /// A rejected line as a quarantine row: the contract's reason when it
    /// rejects the line too, else Redshift's.
    pub(super) fn malformed(
        &self,
        index: usize,
        key: &str,
        lines: &FileLines,
        line: u64,
        redshift: &str,
    ) -> Malformed {
        let redshift = || LineError::line(redshift);
        let (error, raw) = match lines.lines.get(&line) {
            Some(text) => (
                self.layout.contract_error(text).unwrap_or_else(redshift),
                contract::raw_text(text),
            ),
            // A line number the file does not have: Redshift's word only.
            None => (redshift(), String::new()),
        };
        quarantine_row(index, key, line, error, raw)
    }

    /// The rejected lines of one `COPY`, one per line number, as
    /// `(line, Redshift's reason)`.
    pub(super) fn copy_errors(
        &self,
        load: &Load,
        in_session: bool,
    ) -> Result<Vec<(u64, String)>, TaskError> {
        let params = [
            ("copy_pid", Value::Int(load.pid)),
            ("copy_file", Value::Text(load.file.clone())),
        ];
        let rows = if in_session {
            self.rows(COPY_ERRORS_SQL, &params)?
        } else {
            let bound = bind(COPY_ERRORS_SQL, |n| {
                params.iter().find(|(p, _)| *p == n).map(|(_, v)| v)
            })?;
            let api = &self.wh.api;
            self.wh
                .block(async {
                    let done = api.run(&bound.sql, bound.parameters, Session::None).await?;
                    api.table(&done.id).await.map(|t| t.rows)
                })
                .map_err(|f| classify(&f))?
        };
        let mut errors: BTreeMap<u64, String> = BTreeMap::new();
        for row in rows {
            let line = row.first().and_then(Value::as_i64).unwrap_or(0).max(0) as u64;
            let column = row.get(1).map(Value::to_string).unwrap_or_default();
            let message = row.get(2).map(Value::to_string).unwrap_or_default();
            errors.entry(line).or_insert_with(|| {
                if column.is_empty() || column == "NULL" {
                    message
                } else {
                    format!("{column}: {message}")
                }
            });
        }
        Ok(errors.into_iter().collect())
    }

    /// Copy one file; how many lines it holds.
    pub(super) fn file(
        &mut self,
        index: usize,
        key: &str,
        jsonpaths: &S3Literal,
    ) -> Result<u64, TaskError> {
        let lines = FileLines::read(&self.store.get(key)?, self.layout);
        let mut quarantined: Vec<Malformed> = vec![];
        for (line, error) in &lines.refused {
            let raw = lines
                .lines
                .get(line)
                .map_or_else(String::new, |t| contract::raw_text(t));
            let m = quarantine_row(index, key, *line, error.clone(), raw);
            self.budget.add(&m);
            quarantined.push(m);
        }
        if self.budget.exceeded() {
            return Err(self.budget.error());
        }

        // COPY reads the copy: refused lines emptied, lines numbered.
        let copy_key = format!("{}/{index:05}.json", self.base);
        self.store.put(&copy_key, &lines.copy)?;
        let url = self.store.url(&copy_key);
        let size = lines.copy.len() as u64;
        let manifest_key = format!("{}/{index:05}.manifest", self.base);
        self.store.put(&manifest_key, &manifest(&url, size))?;
        let copy = self.layout.copy(
            &self.url_of(&manifest_key)?,
            &self.role,
            jsonpaths,
            self.budget.maxerror(),
        );
        let (session, holds_rows) = self
            .wh
            .tx
            .borrow()
            .as_ref()
            .and_then(|t| {
                let session = t.session.clone()?;
                Some((session, t.filled.contains(self.layout.temp)))
            })
            .ok_or_else(|| TaskError::WarehouseError("COPY runs in the task's session".into()))?;
        // COPY's table holds an earlier file's rows (moved already): emptied
        // first. A task's first COPY finds it new and empty.
        if holds_rows {
            self.exec(&self.layout.clear(), &[])?;
        }
        let done = match self
            .wh
            .block(self.wh.api.run(&copy, vec![], Session::In(&session)))
        {
            Ok(done) => done,
            Err(Failure::Statement { error, pid, .. }) if is_load_failure(&error) => {
                let load = pid.map(|pid| Load {
                    pid,
                    file: url.clone(),
                });
                return Err(self.over_budget(index, key, &lines, &error, load));
            }
            Err(f) => return Err(classify(&f)),
        };

        if let Some(tx) = self.wh.tx.borrow_mut().as_mut() {
            tx.filled.insert(self.layout.temp.to_owned());
        }
        // The rows COPY loaded: the statement's ResultRows ("the number of
        // rows affected by SQL statements such as INSERT, UPDATE, DELETE,
        // COPY", DescribeStatement), else counted.
        let loaded = if done.result_rows >= 0 {
            done.result_rows as u64
        } else {
            self.rows(&self.layout.count(), &[])?
                .first()
                .and_then(|r| r.first())
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .max(0) as u64
        };
        let load = done.pid.map(|pid| Load {
            pid,
            file: url.clone(),
        });
        let errors = self.accounted(key, &lines, loaded, load)?;
        for (line, reason) in &errors {
            let m = self.malformed(index, key, &lines, *line, reason);
            self.budget.add(&m);
            quarantined.push(m);
        }

        let day = Value::Text(self.request.logical_date.to_string());
        let run_id = Value::Text(self.request.run_id.as_str().to_owned());
        let source_file = Value::Text(key.to_owned());
        self.exec(
            &self.layout.insert_staging(),
            &[
                ("logical_date", day.clone()),
                ("source_file", source_file.clone()),
                ("run_id", run_id.clone()),
            ],
        )?;
        quarantined.sort_by_key(|m| m.line);
        self.quarantine(&quarantined, &day, &source_file, &run_id)?;
        Ok(lines.count)
    }

    /// The lines `COPY` rejected, once rows loaded + lines it rejected +
    /// lines the contract refused make up the file.
    pub(super) fn accounted(
        &self,
        key: &str,
        lines: &FileLines,
        loaded: u64,
        load: Option<Load>,
    ) -> Result<Vec<(u64, String)>, TaskError> {
        let refused = lines.refused.len() as u64;
        let mut delays = self.wh.api.config.poll.delays();
        for attempt in 1..=ERROR_VIEW_ATTEMPTS {
            if loaded + refused == lines.count {
                return Ok(vec![]);
            }
            let Some(load) = &load else {
                return Err(TaskError::WarehouseError(format!(
                    "COPY of {key} loaded {loaded} of {} lines and the Data API gave no process id to find the others by",
                    lines.count
                )));
            };
            let errors = self.copy_errors(load, true)?;
            let accounted = loaded + refused + errors.len() as u64;
            if accounted == lines.count {
                return Ok(errors);
            }
            if accounted > lines.count {
                return Err(TaskError::WarehouseError(format!(
                    "COPY of {key} loaded {loaded} rows and rejected {} lines, more than the file's {} lines",
                    errors.len(),
                    lines.count
                )));
            }
            if attempt == ERROR_VIEW_ATTEMPTS {
                return Err(TaskError::WarehouseBusy(format!(
                    "COPY of {key} loaded {loaded} rows, sys_load_error_detail lists {} rejected lines, and {} of the file's {} lines are not accounted for",
                    errors.len(),
                    lines.count - accounted,
                    lines.count
                )));
            }
            self.pause(&mut delays);
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// The error of a `COPY` that failed on more malformed lines than the
    /// budget: the day's first malformed line. The transaction is aborted,
    /// so the load errors are read outside it.
    pub(super) fn over_budget(
        &mut self,
        index: usize,
        key: &str,
        lines: &FileLines,
        copy_error: &str,
        load: Option<Load>,
    ) -> TaskError {
        let mut first = None;
        if let Some(load) = &load {
            let mut delays = self.wh.api.config.poll.delays();
            for attempt in 1..=ERROR_VIEW_ATTEMPTS {
                match self.copy_errors(load, false) {
                    Ok(errors) if !errors.is_empty() => {
                        first = errors.into_iter().next();
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the COPY's load errors failed");
                        break;
                    }
                }
                if attempt < ERROR_VIEW_ATTEMPTS {
                    self.pause(&mut delays);
                }
            }
        }
        match first {
            Some((line, reason)) => {
                let m = self.malformed(index, key, lines, line, &reason);
                self.budget.add(&m);
            }
            None if self.budget.first.is_none() => {
                self.budget.first = Some(Malformed {
                    file_index: index,
                    file: key.to_owned(),
                    line: 0,
                    error: LineError::line(copy_error),
                    raw: String::new(),
                });
            }
            None => {}
        }
        self.budget.error()
    }

    /// Insert quarantine rows, a batch a statement, every value a parameter.
    pub(super) fn quarantine(
        &self,
        rows: &[Malformed],
        day: &Value,
        source_file: &Value,
        run_id: &Value,
    ) -> Result<(), TaskError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.wh.pend(QUARANTINE)?;
        let mut start = 0;
        while start < rows.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < rows.len()
                && end - start < QUARANTINE_BATCH_ROWS
                && (end == start
                    || bytes + rows[end].raw.len() + rows[end].error.reason.len()
                        <= QUARANTINE_BATCH_BYTES)
            {
                bytes += rows[end].raw.len() + rows[end].error.reason.len();
                end += 1;
            }
            let (stmt, values) = quarantine_insert(&rows[start..end]);
            let mut values: HashMap<String, Value> = values;
            values.insert("logical_date".into(), day.clone());
            values.insert(
                "source".into(),
                Value::Text(self.request.source.folder().into()),
            );
            values.insert("source_file".into(), source_file.clone());
            values.insert("run_id".into(), run_id.clone());
            self.wh.statement(&stmt, |name| values.get(name))?;
            start = end;
        }
        Ok(())
    }
}

/// The table of malformed lines.
pub(super) const QUARANTINE: &str = "quarantine";

/// `INSERT INTO quarantine` of some rows, and the rows' own parameters
/// (`line_<i>`, `error_<i>`, `raw_<i>`).
pub(super) fn quarantine_insert(rows: &[Malformed]) -> (String, HashMap<String, Value>) {
    let mut tuples = vec![];
    let mut values = HashMap::new();
    for (i, m) in rows.iter().enumerate() {
        tuples.push(format!(
            "(CAST(:logical_date AS DATE), :source, :source_file, CAST(:line_{i} AS BIGINT), :error_{i}, :raw_{i}, :run_id)"
        ));
        values.insert(format!("line_{i}"), Value::Int(m.line as i64));
        values.insert(format!("error_{i}"), Value::Text(m.error.to_string()));
        values.insert(format!("raw_{i}"), Value::Text(m.raw.clone()));
    }
    (
        format!(
            "INSERT INTO {} (logical_date, source, source_file, line_no, error, \"raw\", run_id)\nVALUES {}",
            transaction::pending_table(QUARANTINE),
            tuples.join(",\n")
        ),
        values,
    )
}

/// Whether a `COPY` failed because of its input's lines.
pub(super) fn is_load_failure(error: &str) -> bool {
    let lower = error.to_ascii_lowercase();
    lower.contains("sys_load_error_detail") || lower.contains("stl_load_errors")
}

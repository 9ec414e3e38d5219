//! The SQL models, compiled in from the repository's `sql/` folder.
//!
//! * `sql/<layer>/<name>.sql` is the model, written in the SQL both engines
//!   share; `sql/overrides/<dialect>/<layer>/<name>.sql` replaces it for one
//!   dialect where the two differ in meaning.
//! * A table's Redshift physical design (distribution and sort keys) is a
//!   `-- redshift-design: …` line of its shared DDL, appended to the
//!   statement on Redshift: one DDL per table.
//! * A DDL's `{{contract:<source>}}` (or `{{contract:<source>:<first>..<last>}}`)
//!   stands for the data contract's fields of that source (from `first`
//!   through `last`), typed from [`crate::contract`]: the fields are declared
//!   once, in Rust.
//! * `sql/macros/dimension_<mode>.sql` are the three dimension load modes,
//!   expanded once per dimension with its table, key and version column, which
//!   come from the fixed [`Model`] list, never from input.
//! * Values are bound as `:name` parameters; [`to_positional`] turns them
//!   into `?` for engines that bind by position.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::contract;
use crate::params::{DimMode, Model, Source};
use crate::ports::Param;
use crate::TaskError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/sql_files.rs"));
}

/// A statement (or a few, separated by `;`) the warehouse may run. Only this
/// module makes one, from text compiled into the binary: the files under
/// `sql/` (rendered by [`file`], [`schema`] and [`dimension`]) or another
/// crate's embedded folder ([`Library`]). Values never become part of it;
/// they are bound as `:name` parameters. So no text read at run time (an
/// event, a file, a command line) can reach the warehouse as SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sql(&'static str);

impl Sql {
    /// The statement's text.
    pub fn text(self) -> &'static str {
        self.0
    }
}

impl std::ops::Deref for Sql {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl std::fmt::Display for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Another crate's SQL folder, compiled in with `include_str!`: (name
/// without `.sql`, text), sorted by name. The local runtime keeps its run
/// history's SQL this way.
#[derive(Debug, Clone, Copy)]
pub struct Library {
    /// Where the files are, for messages (`crates/local/sql`).
    pub folder: &'static str,
    pub files: &'static [(&'static str, &'static str)],
}

impl Library {
    /// The statement of file `name` (e.g. `audit/state_run`).
    pub fn file(&self, name: &str) -> Result<Sql, TaskError> {
        self.text(name).map(Sql).ok_or_else(|| {
            TaskError::WarehouseError(format!("no SQL file `{name}` in {}", self.folder))
        })
    }

    /// The text of file `name`, when the folder has it.
    fn text(&self, name: &str) -> Option<&'static str> {
        self.files
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| self.files[i].1)
    }

    /// The files whose names start with `prefix`, in name order.
    pub fn under(&self, prefix: &'static str) -> impl Iterator<Item = Sql> {
        self.files
            .iter()
            .filter(move |(n, _)| n.starts_with(prefix))
            .map(|(_, text)| Sql(text))
    }
}

/// A SQL dialect: which overrides apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    DuckDb,
    Redshift,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::DuckDb => "duckdb",
            Dialect::Redshift => "redshift",
        }
    }
}

/// Every embedded file: (name without `.sql`, text).
pub fn files() -> &'static [(&'static str, &'static str)] {
    embedded::FILES
}

/// The repository's `sql/` folder, before overrides and rendering.
const SHARED: Library = Library {
    folder: "sql",
    files: embedded::FILES,
};

fn raw(name: &str) -> Option<&'static str> {
    SHARED.text(name)
}

/// The text of model `name` (e.g. `facts/fact_bloodtest`) in `dialect`.
pub fn file(dialect: Dialect, name: &str) -> Result<Sql, TaskError> {
    rendered(dialect, name).map(Sql)
}

fn rendered(dialect: Dialect, name: &str) -> Result<&'static str, TaskError> {
    let (shared, is_override) = match raw(&format!("overrides/{}/{name}", dialect.name())) {
        Some(text) => (text, true),
        None => (
            raw(name)
                .ok_or_else(|| TaskError::WarehouseError(format!("no SQL model named `{name}`")))?,
            false,
        ),
    };
    let is_schema = name.starts_with("schema/") && !is_override;
    if !is_schema && !shared.contains(WAIT_UNTIL) {
        return Ok(shared);
    }
    type Rendered = HashMap<(Dialect, String), &'static str>;
    static CACHE: OnceLock<Mutex<Rendered>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .expect("SQL cache");
    if let Some(text) = cache.get(&(dialect, name.to_owned())) {
        return Ok(text);
    }
    let mut text = if is_schema {
        expand_contract(name, shared)?
    } else {
        expand_wait_until(dialect, name, shared)?
    };
    if let (true, Dialect::Redshift, Some(design)) = (is_schema, dialect, design(shared)) {
        text = with_design(name, &text, design)?;
    }
    let text: &'static str = Box::leak(text.into_boxed_str());
    cache.insert((dialect, name.to_owned()), text);
    Ok(text)
}

/// The one date macro: `{{wait_until:<column>}}` is that day plus the
/// bound `:wait_days` (the late patient window), as a `DATE`. Date
/// arithmetic is where the dialects differ: DuckDB adds an integer to a
/// date; Redshift documents `DATEADD` (which returns a timestamp).
const WAIT_UNTIL: &str = "{{wait_until:";

fn expand_wait_until(dialect: Dialect, name: &str, text: &str) -> Result<String, TaskError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(WAIT_UNTIL) {
        out.push_str(&rest[..at]);
        let after = &rest[at + WAIT_UNTIL.len()..];
        let end = after.find("}}").ok_or_else(|| {
            TaskError::WarehouseError(format!("{name}: `{WAIT_UNTIL}` is not closed"))
        })?;
        let column = &after[..end];
        if column.is_empty()
            || !column
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return Err(TaskError::WarehouseError(format!(
                "{name}: `{WAIT_UNTIL}{column}}}}}` names no column"
            )));
        }
        out.push_str(&match dialect {
            Dialect::DuckDb => format!("CAST({column} + CAST(:wait_days AS INTEGER) AS DATE)"),
            Dialect::Redshift => {
                format!("CAST(DATEADD(day, CAST(:wait_days AS INTEGER), {column}) AS DATE)")
            }
        });
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A DDL with each `{{contract:<source>[:<first>..<last>]}}` line replaced
/// by the contract's fields as columns, one a line, indented as the marker.
fn expand_contract(name: &str, ddl: &str) -> Result<String, TaskError> {
    let bad = |why: String| TaskError::WarehouseError(format!("`{name}`: {why}"));
    let mut out = String::with_capacity(ddl.len() * 2);
    for line in ddl.split_inclusive('\n') {
        let body = line.trim_start();
        let Some(rest) = body.strip_prefix("{{contract:") else {
            out.push_str(line);
            continue;
        };
        let indent = &line[..line.len() - body.len()];
        let (spec, tail) = rest
            .split_once("}}")
            .ok_or_else(|| bad(format!("unclosed contract marker: {body:?}")))?;
        let (source, range) = match spec.split_once(':') {
            Some((source, range)) => (source, Some(range)),
            None => (spec, None),
        };
        let source: Source = source
            .parse()
            .map_err(|_| bad(format!("no source `{source}`")))?;
        let fields = contract::fields(source);
        let position = |f: &str| {
            fields
                .iter()
                .position(|x| x.name == f)
                .ok_or_else(|| bad(format!("no field `{f}` in {}", source.folder())))
        };
        let (first, last) = match range.map(|r| r.split_once("..")) {
            None => (0, fields.len() - 1),
            Some(Some((a, b))) => (position(a)?, position(b)?),
            Some(None) => return Err(bad(format!("a range is `first..last`: {spec:?}"))),
        };
        if first > last {
            return Err(bad(format!("`{spec}` runs backwards")));
        }
        let columns: Vec<String> = fields[first..=last]
            .iter()
            .map(|f| format!("{indent}{} {} NOT NULL", f.name, f.kind.sql_type()))
            .collect();
        out.push_str(&columns.join(",\n"));
        out.push_str(tail);
    }
    Ok(out)
}

/// The marker of a DDL's Redshift physical design line.
pub const DESIGN_MARKER: &str = "-- redshift-design:";

/// A shared DDL's Redshift physical design: the rest of its
/// `-- redshift-design:` line.
pub fn design(ddl: &str) -> Option<&str> {
    ddl.lines()
        .find_map(|l| l.trim().strip_prefix(DESIGN_MARKER))
        .map(str::trim)
}

/// The DDL with its design appended to its one statement.
fn with_design(name: &str, ddl: &str, design: &str) -> Result<String, TaskError> {
    let body = ddl
        .trim_end()
        .strip_suffix(';')
        .filter(|_| statements(ddl).len() == 1)
        .ok_or_else(|| {
            TaskError::WarehouseError(format!(
                "`{name}` states a Redshift design but is not one statement ending in `;`"
            ))
        })?;
    Ok(format!("{body}\n{design};\n"))
}

/// The files that create the schema, in the order they run: tables under
/// `schema/`, then the staging views under `staging/`.
pub fn schema(dialect: Dialect) -> Result<Vec<Sql>, TaskError> {
    let mut names: Vec<&str> = embedded::FILES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.starts_with("schema/"))
        .collect();
    names.extend(
        embedded::FILES
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| n.starts_with("staging/")),
    );
    names.into_iter().map(|n| file(dialect, n)).collect()
}

/// The fingerprint of the schema in a dialect: a 64-bit FNV-1a hash of the
/// DDL [`schema`] runs, as 16 hex digits. A change to any table or view
/// changes it, and the next connection runs the DDL again.
pub fn schema_fingerprint(dialect: Dialect) -> Result<String, TaskError> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for ddl in schema(dialect)? {
        for byte in ddl.text().bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(format!("{hash:016x}"))
}

/// `CREATE OR REPLACE VIEW ovom_schema` with the schema's fingerprint: run
/// after the schema's DDL, read by `meta/schema_version`.
pub fn schema_marker(dialect: Dialect) -> Result<Sql, TaskError> {
    static CACHE: OnceLock<Mutex<HashMap<Dialect, Sql>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .expect("SQL cache");
    if let Some(sql) = cache.get(&dialect) {
        return Ok(*sql);
    }
    // The fingerprint is hex digits made here, never a value from outside.
    let text = format!(
        "CREATE OR REPLACE VIEW ovom_schema AS\nSELECT CAST('{}' AS VARCHAR(16)) AS fingerprint",
        schema_fingerprint(dialect)?
    );
    let sql = Sql(Box::leak(text.into_boxed_str()));
    cache.insert(dialect, sql);
    Ok(sql)
}

/// Key and version column of a dimension: a row is replaced by a merge only
/// when the incoming version is newer.
fn dimension_columns(model: Model) -> (&'static str, &'static str) {
    match model {
        Model::DimPatient => ("patient_id", "registered_at"),
        Model::DimDoctor => ("doc_id", "last_seen_at"),
        Model::DimLab => ("lab_id", "last_seen_at"),
        Model::DimDate => ("date_key", "date_key"),
        Model::FactBloodtest => unreachable!("the fact is not a dimension"),
    }
}

/// Expanded dimension macros, by dialect, model and macro file.
type Expanded = HashMap<(Dialect, Model, &'static str), Sql>;

/// The load SQL of a dimension in a mode: the mode's macro around the
/// dimension's source query.
pub fn dimension(dialect: Dialect, model: Model, mode: DimMode) -> Result<Sql, TaskError> {
    let file = match mode {
        DimMode::TruncateInsert => "macros/dimension_truncate_insert",
        DimMode::Append => "macros/dimension_append",
        DimMode::Merge => "macros/dimension_merge",
    };
    expand_dimension(dialect, model, file)
}

/// The restore of a dimension after an erasure removed the keys its erased
/// tests named: each key the table lacks that a staged test still names, as
/// of every staged day (`sql/macros/dimension_restore.sql`).
pub fn dimension_restore(dialect: Dialect, model: Model) -> Result<Sql, TaskError> {
    expand_dimension(dialect, model, "macros/dimension_restore")
}

fn expand_dimension(
    dialect: Dialect,
    model: Model,
    macro_file: &'static str,
) -> Result<Sql, TaskError> {
    static CACHE: OnceLock<Mutex<Expanded>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().expect("SQL cache");
    if let Some(sql) = cache.get(&(dialect, model, macro_file)) {
        return Ok(*sql);
    }
    let template = rendered(dialect, macro_file)?;
    let source = rendered(dialect, &format!("dimensions/{}", model.table()))?;
    let source = source.trim().trim_end_matches(';');
    let (key, version) = dimension_columns(model);
    let text = template
        .replace("{{source}}", source)
        .replace("{{table}}", model.table())
        .replace("{{key}}", key)
        .replace("{{version}}", version);
    let text = Sql(Box::leak(text.into_boxed_str()));
    cache.insert((dialect, model, macro_file), text);
    Ok(text)
}

/// Most rows one [`values_rows`] statement carries: a range of a month is
/// one statement, and no statement grows with the range.
pub const VALUES_ROWS: usize = 32;

/// A one-row `INSERT … VALUES (…)` statement for `rows` rows (1 ..=
/// [`VALUES_ROWS`]): its tuple repeated, each placeholder `:p` of row `i`
/// renamed `:p_i`; [`row_params`] names the rows' values to match. One
/// statement instead of one per row (each statement costs a round trip on
/// the Data API, and a fixed cost on DuckDB).
pub fn values_rows(one: Sql, rows: usize) -> Result<Sql, TaskError> {
    if rows == 0 || rows > VALUES_ROWS {
        return Err(TaskError::WarehouseError(format!(
            "a VALUES statement takes 1 to {VALUES_ROWS} rows, not {rows}"
        )));
    }
    static CACHE: OnceLock<Mutex<HashMap<(&'static str, usize), Sql>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .expect("SQL cache");
    if let Some(sql) = cache.get(&(one.text(), rows)) {
        return Ok(*sql);
    }
    let [stmt] = statements(one.text())[..] else {
        return Err(TaskError::WarehouseError(
            "a VALUES statement is one statement".into(),
        ));
    };
    let at = values_keyword(stmt)
        .ok_or_else(|| TaskError::WarehouseError(format!("no VALUES in the statement {stmt:?}")))?;
    let (head, tuple) = stmt.split_at(at);
    let tuple = tuple.trim();
    let mut text = head.trim_end().to_owned();
    for i in 0..rows {
        text.push_str(if i == 0 { "\n" } else { ",\n" });
        let mut last = 0;
        for (_, end) in placeholders(tuple) {
            text.push_str(&tuple[last..end]);
            text.push_str(&format!("_{i}"));
            last = end;
        }
        text.push_str(&tuple[last..]);
    }
    let sql = Sql(Box::leak(text.into_boxed_str()));
    cache.insert((one.text(), rows), sql);
    Ok(sql)
}

/// The values of the rows of a [`values_rows`] statement: each row's
/// parameter `p` as `p_<row>`.
pub fn row_params(rows: &[Vec<Param>]) -> Vec<Param> {
    static NAMES: OnceLock<Mutex<HashMap<(&'static str, usize), &'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .expect("parameter names");
    let mut out = vec![];
    for (i, row) in rows.iter().enumerate() {
        for (name, value) in row {
            // Bounded: the SQL files' names times VALUES_ROWS.
            let named = *names
                .entry((name, i))
                .or_insert_with(|| Box::leak(format!("{name}_{i}").into_boxed_str()));
            out.push((named, value.clone()));
        }
    }
    out
}

/// Where the code after the `VALUES` keyword of a statement starts.
fn values_keyword(stmt: &str) -> Option<usize> {
    let b = stmt.as_bytes();
    let mut found = None;
    scan(stmt, |i, _| {
        let word = stmt
            .get(i..i + 6)
            .is_some_and(|w| w.eq_ignore_ascii_case("VALUES"));
        let before = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b"_:".contains(&b[i - 1]));
        let after = b
            .get(i + 6)
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
        if word && before && after {
            found = Some(i + 6);
            return false;
        }
        true
    });
    found
}

/// How a check compares what it got with what it expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Comparison {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">=")]
    Ge,
}

impl Comparison {
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Eq => "=",
            Comparison::Le => "<=",
            Comparison::Ge => ">=",
        }
    }
    pub fn holds(self, got: i64, expected: i64) -> bool {
        match self {
            Comparison::Eq => got == expected,
            Comparison::Le => got <= expected,
            Comparison::Ge => got >= expected,
        }
    }
}

/// A check file's comparison, from its `-- compare: <op>` header (default `=`).
pub fn comparison(check_sql: &str) -> Result<Comparison, TaskError> {
    for line in check_sql.lines() {
        if let Some(op) = line.trim().strip_prefix("-- compare:") {
            return match op.trim() {
                "=" => Ok(Comparison::Eq),
                "<=" => Ok(Comparison::Le),
                ">=" => Ok(Comparison::Ge),
                other => Err(TaskError::WarehouseError(format!(
                    "unknown comparison `{other}`"
                ))),
            };
        }
    }
    Ok(Comparison::Eq)
}

#[derive(Clone, Copy, PartialEq)]
enum Scan {
    Code,
    Quote(u8),
    LineComment,
    BlockComment,
}

/// Walk SQL text, calling `code` for each byte outside strings and comments.
fn scan(sql: &str, mut code: impl FnMut(usize, u8) -> bool) {
    let b = sql.as_bytes();
    let mut state = Scan::Code;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match state {
            Scan::Code => match c {
                b'\'' | b'"' => state = Scan::Quote(c),
                b'-' if b.get(i + 1) == Some(&b'-') => state = Scan::LineComment,
                b'/' if b.get(i + 1) == Some(&b'*') => state = Scan::BlockComment,
                _ => {
                    if !code(i, c) {
                        return;
                    }
                }
            },
            Scan::Quote(q) if c == q => state = Scan::Code,
            Scan::LineComment if c == b'\n' => state = Scan::Code,
            Scan::BlockComment if c == b'*' && b.get(i + 1) == Some(&b'/') => {
                state = Scan::Code;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
}

/// The statements of a SQL file, split at `;` outside strings and comments,
/// without empty ones.
pub fn statements(sql: &str) -> Vec<&str> {
    let mut cuts = vec![];
    scan(sql, |i, c| {
        if c == b';' {
            cuts.push(i);
        }
        true
    });
    let mut out = vec![];
    let mut start = 0;
    for cut in cuts.into_iter().chain(std::iter::once(sql.len())) {
        let stmt = &sql[start..cut];
        if has_code(stmt) {
            out.push(stmt.trim());
        }
        start = cut + 1;
    }
    out
}

fn has_code(stmt: &str) -> bool {
    let mut any = false;
    scan(stmt, |_, c| {
        any = !c.is_ascii_whitespace();
        !any
    });
    any
}

/// The byte ranges of the `:name` placeholders of a statement, colon
/// included, outside strings and comments, in order. A `::` cast is not one.
pub fn placeholders(stmt: &str) -> Vec<(usize, usize)> {
    let b = stmt.as_bytes();
    let mut marks: Vec<(usize, usize)> = vec![];
    scan(stmt, |i, c| {
        let inside_previous = marks.last().is_some_and(|&(_, end)| i < end);
        let prev_colon = i > 0 && b[i - 1] == b':';
        let next = b.get(i + 1).copied().unwrap_or(b' ');
        if c == b':'
            && !inside_previous
            && !prev_colon
            && (next.is_ascii_lowercase() || next == b'_')
        {
            let end = (i + 1..b.len())
                .find(|&j| !(b[j].is_ascii_alphanumeric() || b[j] == b'_'))
                .unwrap_or(b.len());
            marks.push((i, end));
        }
        true
    });
    marks
}

/// The `:name` parameters of one statement, in order of appearance (a name
/// may repeat), and the statement with each one replaced by `?`.
pub fn to_positional(stmt: &str) -> (String, Vec<&str>) {
    let mut out = String::with_capacity(stmt.len());
    let mut names = vec![];
    let mut last = 0;
    for (start, end) in placeholders(stmt) {
        out.push_str(&stmt[last..start]);
        out.push('?');
        names.push(&stmt[start + 1..end]);
        last = end;
    }
    out.push_str(&stmt[last..]);
    (out, names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Value;

    #[test]
    fn the_schema_fingerprint_is_the_ddls_own_in_each_dialect() {
        let duck = schema_fingerprint(Dialect::DuckDb).unwrap();
        assert_eq!(duck, schema_fingerprint(Dialect::DuckDb).unwrap());
        assert_eq!(duck.len(), 16);
        assert!(duck.bytes().all(|b| b.is_ascii_hexdigit()));
        // Redshift's DDL states its physical design: another fingerprint.
        assert_ne!(duck, schema_fingerprint(Dialect::Redshift).unwrap());
        let marker = schema_marker(Dialect::DuckDb).unwrap();
        assert!(marker.text().contains(&format!("'{duck}'")), "{marker}");
    }

    #[test]
    fn a_values_statement_repeats_its_tuple_with_each_rows_parameters() {
        let one = Sql("-- the VALUES word in a comment\nINSERT INTO t (a, b)\nVALUES (:a, CAST(:b AS DATE), 'x:y');");
        let two = values_rows(one, 2).unwrap();
        assert_eq!(
            two.text(),
            "-- the VALUES word in a comment\nINSERT INTO t (a, b)\nVALUES\n(:a_0, CAST(:b_0 AS DATE), 'x:y'),\n(:a_1, CAST(:b_1 AS DATE), 'x:y')"
        );
        assert_eq!(values_rows(one, 2).unwrap(), two, "cached");
        let rows = [
            vec![("a", Value::Int(1)), ("b", Value::Int(2))],
            vec![("a", Value::Int(3)), ("b", Value::Int(4))],
        ];
        let names: Vec<&str> = row_params(&rows).iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["a_0", "b_0", "a_1", "b_1"]);
        let (_, bound) = to_positional(two.text());
        assert_eq!(bound, ["a_0", "b_0", "a_1", "b_1"]);
        for bad in [0, VALUES_ROWS + 1] {
            assert!(values_rows(one, bad).is_err(), "{bad} rows");
        }
        assert!(values_rows(Sql("DELETE FROM t WHERE v = :values"), 1).is_err());
    }

    #[test]
    fn splits_outside_strings_and_comments() {
        let sql = "SELECT ';' AS a; -- one; two\nSELECT 2 /* ; */;\n\n-- only a comment;\n";
        assert_eq!(
            statements(sql),
            vec!["SELECT ';' AS a", "-- one; two\nSELECT 2 /* ; */"]
        );
    }

    #[test]
    fn named_parameters_become_positional() {
        let (sql, names) = to_positional("SELECT x::INT, ':no' FROM t WHERE d = :logical_date AND r = :run_id OR d > :logical_date");
        assert_eq!(
            sql,
            "SELECT x::INT, ':no' FROM t WHERE d = ? AND r = ? OR d > ?"
        );
        assert_eq!(names, vec!["logical_date", "run_id", "logical_date"]);
    }

    #[test]
    fn a_tables_redshift_design_is_appended_on_redshift_only() {
        let ddl = "-- A table.\n-- redshift-design: DISTSTYLE ALL SORTKEY (k)\nCREATE TABLE t (\n    k INT\n);\n";
        assert_eq!(design(ddl), Some("DISTSTYLE ALL SORTKEY (k)"));
        assert_eq!(
            with_design("t", ddl, "DISTSTYLE ALL SORTKEY (k)").unwrap(),
            "-- A table.\n-- redshift-design: DISTSTYLE ALL SORTKEY (k)\nCREATE TABLE t (\n    k INT\n)\nDISTSTYLE ALL SORTKEY (k);\n"
        );
        assert!(with_design(
            "t",
            "CREATE TABLE a (k INT); CREATE TABLE b (k INT);",
            "DISTSTYLE ALL"
        )
        .is_err());
        for (name, shared) in files().iter().filter(|(n, _)| n.starts_with("schema/")) {
            let design =
                design(shared).unwrap_or_else(|| panic!("{name} states no Redshift design"));
            assert!(
                design.contains("DISTSTYLE") || design.contains("DISTKEY"),
                "{name}"
            );
            assert!(design.contains("SORTKEY"), "{name}");
            let duckdb = file(Dialect::DuckDb, name).unwrap();
            assert_eq!(duckdb.text(), expand_contract(name, shared).unwrap());
            assert!(!duckdb.contains("{{"), "{duckdb}");
            let redshift = file(Dialect::Redshift, name).unwrap();
            assert!(
                redshift.trim_end().ends_with(&format!("{design};")),
                "{redshift}"
            );
            assert_eq!(statements(&redshift).len(), 1);
        }
    }

    #[test]
    fn a_contract_marker_becomes_the_contracts_columns() {
        let ddl = "CREATE TABLE t (\n    id INT NOT NULL,\n    {{contract:log_data:ts..ap_lo}},\n    run_id INT NOT NULL\n);\n";
        assert_eq!(
            expand_contract("t", ddl).unwrap(),
            "CREATE TABLE t (\n    id INT NOT NULL,\n    ts TIMESTAMP NOT NULL,\n    ap_hi INTEGER NOT NULL,\n    ap_lo INTEGER NOT NULL,\n    run_id INT NOT NULL\n);\n"
        );
        let all = expand_contract("t", "    {{contract:patient_data}}\n").unwrap();
        assert_eq!(all.lines().count(), contract::PATIENT_FIELDS.len());
        assert!(all
            .starts_with("    patient_id BIGINT NOT NULL,\n    first_name VARCHAR(256) NOT NULL,"));
        for bad in [
            "{{contract:nothing}}",
            "{{contract:log_data:ts..height}}",
            "{{contract:log_data:ts}}",
            "{{contract:log_data:cardio..ts}}",
            "{{contract:log_data",
        ] {
            assert!(expand_contract("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_wait_window_is_each_dialects_date_arithmetic() {
        let text = "SELECT {{wait_until:s.logical_date}} FROM t";
        assert_eq!(
            expand_wait_until(Dialect::DuckDb, "t", text).unwrap(),
            "SELECT CAST(s.logical_date + CAST(:wait_days AS INTEGER) AS DATE) FROM t"
        );
        assert_eq!(
            expand_wait_until(Dialect::Redshift, "t", text).unwrap(),
            "SELECT CAST(DATEADD(day, CAST(:wait_days AS INTEGER), s.logical_date) AS DATE) FROM t"
        );
        for bad in [
            "{{wait_until:}}",
            "{{wait_until:a; DROP}}",
            "{{wait_until:a",
        ] {
            assert!(
                expand_wait_until(Dialect::DuckDb, "t", bad).is_err(),
                "{bad}"
            );
        }
        // Every model that uses it renders without a marker left.
        for dialect in [Dialect::DuckDb, Dialect::Redshift] {
            let fact = file(dialect, "facts/fact_bloodtest").unwrap();
            assert!(!fact.contains("{{"), "{fact}");
            assert!(fact.contains(":wait_days") && fact.contains(":window_from"));
        }
    }

    #[test]
    fn every_dimension_expands_in_every_mode() {
        for dialect in [Dialect::DuckDb, Dialect::Redshift] {
            for model in Model::ALL.into_iter().filter(|m| m.is_dimension()) {
                for mode in [DimMode::TruncateInsert, DimMode::Append, DimMode::Merge] {
                    let sql = dimension(dialect, model, mode).unwrap();
                    assert!(!sql.contains("{{"), "{model:?} {mode:?}: {sql}");
                    assert!(sql.contains(model.table()));
                }
            }
        }
    }
}

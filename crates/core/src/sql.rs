//! The SQL models, compiled in from the repository's `sql/` folder.
//!
//! * `sql/<layer>/<name>.sql` is the model, written in the SQL both engines
//!   share; `sql/overrides/<dialect>/<layer>/<name>.sql` replaces it for one
//!   dialect where the two differ.
//! * `sql/macros/dimension_<mode>.sql` are the three dimension load modes,
//!   expanded once per dimension with its table, key and version column, which
//!   come from the fixed [`Model`] list, never from input.
//! * Values are bound as `:name` parameters; [`to_positional`] turns them
//!   into `?` for engines that bind by position.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::params::{DimMode, Model};
use crate::TaskError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/sql_files.rs"));
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

fn raw(name: &str) -> Option<&'static str> {
    embedded::FILES
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| embedded::FILES[i].1)
}

/// The text of model `name` (e.g. `facts/fact_bloodtest`) in `dialect`.
pub fn file(dialect: Dialect, name: &str) -> Result<&'static str, TaskError> {
    raw(&format!("overrides/{}/{name}", dialect.name()))
        .or_else(|| raw(name))
        .ok_or_else(|| TaskError::WarehouseError(format!("no SQL model named `{name}`")))
}

/// The files that create the schema, in the order they run: tables under
/// `schema/`, then the staging views under `staging/`.
pub fn schema(dialect: Dialect) -> Result<Vec<&'static str>, TaskError> {
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

/// Expanded dimension loads, by dialect, model and mode.
type Expanded = HashMap<(Dialect, Model, DimMode), &'static str>;

/// The load SQL of a dimension in a mode: the mode's macro around the
/// dimension's source query.
pub fn dimension(dialect: Dialect, model: Model, mode: DimMode) -> Result<&'static str, TaskError> {
    static CACHE: OnceLock<Mutex<Expanded>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().expect("SQL cache");
    if let Some(sql) = cache.get(&(dialect, model, mode)) {
        return Ok(sql);
    }
    let template = file(
        dialect,
        &format!("macros/dimension_{}", mode.as_str().replace('-', "_")),
    )?;
    let source = file(dialect, &format!("dimensions/{}", model.table()))?;
    let source = source.trim().trim_end_matches(';');
    let (key, version) = dimension_columns(model);
    let text = template
        .replace("{{source}}", source)
        .replace("{{table}}", model.table())
        .replace("{{key}}", key)
        .replace("{{version}}", version);
    let text: &'static str = Box::leak(text.into_boxed_str());
    cache.insert((dialect, model, mode), text);
    Ok(text)
}

/// How a check compares what it got with what it expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Le,
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

//! A task's transaction on the Data API: its writes are one
//! `BatchExecuteStatement`.
//!
//! The Data API documents `BatchExecuteStatement` as one transaction, rolled
//! back whole when one of its statements fails, and sessions as reusable
//! connections in which temporary tables persist and statements run one at
//! a time. It documents no transaction that spans calls. So between
//! [`Warehouse::begin`](ovom_core::ports::Warehouse::begin) and `commit` the
//! adapter sends no write to a table of the warehouse:
//!
//! * a statement that reads or changes tables (a day's `DELETE`, an
//!   `INSERT … SELECT`, a dimension's merge) is added to the batch, its
//!   values bound into the batch's one set of parameters;
//! * what needs values bound row by row, or results read first, is done in
//!   the task's session beforehand, into session temporary tables: a `COPY`
//!   into `ovom_copy_<source>`, its rows with their lineage into
//!   `ovom_pending_staging_<source>`, quarantined lines and each
//!   `INSERT … VALUES` of the task into `ovom_pending_<table>` (`CREATE TEMP
//!   TABLE … (LIKE <table>)`); the batch then moves each pending table's rows
//!   into its table with one `INSERT INTO <table> SELECT * FROM
//!   ovom_pending_<table>`, placed where the task first wrote to it;
//! * `commit` sends the batch, in the session when the task opened one;
//!   `rollback` sends nothing: the temporary tables end with the session.
//!
//! Atomicity then rests on the documented behaviour alone: a task that fails
//! before its commit, or whose batch fails, changed no table of the
//! warehouse.

use std::collections::{BTreeMap, BTreeSet};

use ovom_core::ports::Value;
use ovom_core::TaskError;

use super::{parameter_text, substitute};

/// Most statements one `BatchExecuteStatement` takes (API reference,
/// `Sqls`: "Array Members: Minimum number of 1 item. Maximum number of 40
/// items.").
pub(super) const MAX_BATCH: usize = 40;

/// The open transaction.
#[derive(Debug, Default)]
pub(super) struct Transaction {
    /// The task's session, once a statement needed one.
    pub session: Option<String>,
    /// The batch, each statement with `:name` placeholders of `params`.
    pub batch: Vec<String>,
    /// The batch's parameters, by name, as the Data API takes them.
    pub params: BTreeMap<String, String>,
    /// The session temporary tables the transaction created: the
    /// `ovom_pending_<table>` whose rows the batch moves, COPY's tables.
    pub temps: BTreeSet<String>,
    /// COPY's tables that hold the rows of a file already moved on.
    pub filled: BTreeSet<String>,
}

impl Transaction {
    /// Add a statement to the batch. Its values join the batch's parameters:
    /// a name already bound to another value is renamed in this statement
    /// (`:name_2`, …); values without data are written in place (see
    /// `super::inline`).
    pub fn push<'v>(
        &mut self,
        stmt: &str,
        value_of: impl Fn(&str) -> Option<&'v Value>,
    ) -> Result<(), TaskError> {
        let params = &mut self.params;
        let sql = substitute(stmt, value_of, |name, value| {
            let text = parameter_text(value);
            let mut bound = name.to_owned();
            let mut n = 1;
            while params.get(&bound).is_some_and(|v| *v != text) {
                n += 1;
                bound = format!("{name}_{n}");
            }
            params.insert(bound.clone(), text);
            Ok(bound)
        })?;
        self.batch.push(sql);
        Ok(())
    }

    /// The batch, or an error when it is more than one call can take.
    pub fn checked_batch(&self) -> Result<&[String], TaskError> {
        if self.batch.len() > MAX_BATCH {
            return Err(TaskError::WarehouseError(format!(
                "a task's writes are {} statements, more than the {MAX_BATCH} one BatchExecuteStatement takes",
                self.batch.len()
            )));
        }
        Ok(&self.batch)
    }
}

/// The session temporary table whose rows the batch moves into `table`.
pub(super) fn pending_table(table: &str) -> String {
    format!("ovom_pending_{table}")
}

pub(super) fn create_pending(table: &str) -> String {
    format!("CREATE TEMP TABLE {} (LIKE {table})", pending_table(table))
}

pub(super) fn move_pending(table: &str) -> String {
    format!("INSERT INTO {table} SELECT * FROM {}", pending_table(table))
}

/// The statement without its leading comments and blanks.
fn code(stmt: &str) -> &str {
    let mut rest = stmt.trim_start();
    while let Some(comment) = rest.strip_prefix("--") {
        rest = comment
            .split_once('\n')
            .map(|(_, after)| after)
            .unwrap_or("")
            .trim_start();
    }
    rest
}

/// The table of a statement that only inserts values, `INSERT INTO <table>
/// (<columns>) VALUES …`, and the statement writing into its pending table
/// instead.
pub(super) fn values_insert(stmt: &str) -> Option<(String, String)> {
    let code = code(stmt);
    let head = code.get(..12)?;
    if !head.eq_ignore_ascii_case("INSERT INTO ") {
        return None;
    }
    let rest = &code[12..];
    let name_end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    let (table, after) = rest.split_at(name_end);
    let after = after.trim_start().strip_prefix('(')?;
    let (_, after_columns) = after.split_once(')')?;
    let values = after_columns.trim_start().get(..6)?;
    if table.is_empty() || !values.eq_ignore_ascii_case("VALUES") {
        return None;
    }
    let retargeted = format!("INSERT INTO {}{}", pending_table(table), &rest[name_end..]);
    Some((table.to_owned(), retargeted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(list: &'a [(&'static str, Value)]) -> impl Fn(&str) -> Option<&'a Value> + 'a {
        move |n| list.iter().find(|(k, _)| *k == n).map(|(_, v)| v)
    }

    #[test]
    fn a_name_bound_to_another_value_is_renamed_in_the_later_statement() {
        let mut tx = Transaction::default();
        let day1 = [
            ("d", Value::Text("2025-01-01".into())),
            ("n", Value::Int(3)),
        ];
        let day2 = [
            ("d", Value::Text("2025-01-02".into())),
            ("n", Value::Int(3)),
        ];
        tx.push("DELETE FROM t WHERE d = :d AND n = :n", values(&day1))
            .unwrap();
        tx.push("INSERT INTO t SELECT :d, :n, :d", values(&day2))
            .unwrap();
        assert_eq!(
            tx.batch,
            [
                "DELETE FROM t WHERE d = :d AND n = :n",
                "INSERT INTO t SELECT :d_2, :n, :d_2"
            ]
        );
        let params: Vec<_> = tx
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            params,
            [("d", "2025-01-01"), ("d_2", "2025-01-02"), ("n", "3")]
        );
    }

    #[test]
    fn values_without_data_are_written_in_place_and_a_missing_one_is_an_error() {
        let mut tx = Transaction::default();
        let list = [("b", Value::Bool(true)), ("e", Value::Text(String::new()))];
        tx.push("SELECT :b, :e", values(&list)).unwrap();
        assert_eq!(tx.batch, ["SELECT TRUE, ''"]);
        assert!(tx.params.is_empty());
        assert!(tx.push("SELECT :missing", values(&list)).is_err());
    }

    #[test]
    fn only_a_plain_values_insert_goes_to_a_pending_table() {
        let audit = "-- comment\n-- another\nINSERT INTO stage_audit (a, b)\nVALUES (:a, :b)";
        assert_eq!(
            values_insert(audit),
            Some((
                "stage_audit".into(),
                "INSERT INTO ovom_pending_stage_audit (a, b)\nVALUES (:a, :b)".into()
            ))
        );
        for other in [
            "INSERT INTO t (a) SELECT a FROM s",
            "DELETE FROM t",
            "INSERT INTO t SELECT * FROM s",
            "insert into t (a) values (1)",
        ] {
            let expected = other.starts_with("insert").then(|| {
                (
                    "t".to_owned(),
                    "INSERT INTO ovom_pending_t (a) values (1)".to_owned(),
                )
            });
            assert_eq!(values_insert(other), expected, "{other}");
        }
    }

    #[test]
    fn more_statements_than_one_batch_takes_are_refused() {
        let mut tx = Transaction::default();
        for _ in 0..MAX_BATCH {
            tx.push("SELECT 1", |_| None).unwrap();
        }
        assert!(tx.checked_batch().is_ok());
        tx.push("SELECT 1", |_| None).unwrap();
        assert!(tx.checked_batch().is_err());
    }
}

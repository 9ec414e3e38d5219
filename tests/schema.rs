//! The schema's DDL runs once per fingerprint: a connection that finds the
//! fingerprint of its own DDL in `ovom_schema` runs none of it; a changed
//! schema (another fingerprint) runs it again.

use ovom_core::sql::{self, Dialect};
use ovom_core::tasks::ensure_schema;
use ovom_duckdb::DuckWarehouse;

fn relations(wh: &DuckWarehouse) -> Vec<String> {
    let mut stmt = wh
        .connection()
        .prepare("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1")
        .unwrap();
    let names = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    names.map(Result::unwrap).collect()
}

fn recorded(wh: &DuckWarehouse) -> String {
    wh.connection()
        .query_row("SELECT fingerprint FROM ovom_schema", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn the_ddl_runs_on_a_new_or_changed_schema_and_not_on_one_that_holds_its_fingerprint() {
    let mut wh = DuckWarehouse::in_memory().unwrap();
    ensure_schema(&mut wh).unwrap();
    let made = relations(&wh);
    for table in [
        "fact_bloodtest",
        "dim_patient",
        "stg_bloodtest",
        "ovom_schema",
    ] {
        assert!(made.iter().any(|t| t == table), "{table} in {made:?}");
    }
    assert_eq!(
        recorded(&wh),
        sql::schema_fingerprint(Dialect::DuckDb).unwrap()
    );

    // Its own fingerprint: no DDL runs (a view dropped behind its back stays
    // dropped, which shows that nothing ran).
    wh.connection()
        .execute_batch("DROP VIEW stg_bloodtest")
        .unwrap();
    ensure_schema(&mut wh).unwrap();
    assert!(!relations(&wh).contains(&"stg_bloodtest".to_owned()));

    // Another fingerprint (a schema of another release): the DDL runs again
    // and records this one.
    wh.connection()
        .execute_batch("CREATE OR REPLACE VIEW ovom_schema AS SELECT 'older' AS fingerprint")
        .unwrap();
    ensure_schema(&mut wh).unwrap();
    assert_eq!(relations(&wh), made);
    assert_eq!(
        recorded(&wh),
        sql::schema_fingerprint(Dialect::DuckDb).unwrap()
    );
}

#[test]
fn a_warehouse_made_before_decided_on_and_the_history_gains_both() {
    let mut wh = DuckWarehouse::in_memory().unwrap();
    ensure_schema(&mut wh).unwrap();
    // The fact and rejects as an earlier release made them, with a row each.
    wh.connection()
        .execute_batch(
            "ALTER TABLE fact_bloodtest DROP COLUMN decided_on;
             ALTER TABLE fact_bloodtest DROP COLUMN patient_version_key;
             ALTER TABLE rejects DROP COLUMN decided_on;
             INSERT INTO staging_patient (logical_date, source_file, line_no, patient_id, first_name,
                 last_name, sex, age, height, weight, address, registered_at, run_id)
             VALUES (DATE '2025-02-01', 'patient_data/p.json', 1, 1, 'A', 'B', 'F', 40, 160, 60.5,
                 '1 Main Street, Leeds, LS1 1AA', TIMESTAMP '2025-02-01 08:00:00', 'r1');
             INSERT INTO fact_bloodtest (test_id, patient_id, doc_id, lab_id, date_key, ts,
                 ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio,
                 logical_date, source_file, line_no, run_id)
             VALUES ('bt-1', 1, 7, 3, 20250301, TIMESTAMP '2025-03-01 10:00:00',
                 120, 80, 1, 1, 0, 0, 1, 0, DATE '2025-03-01', 'log_data/x.json', 1, 'r1');
             INSERT INTO rejects (logical_date, reason, source_file, line_no, test_id, patient_id,
                 doc_id, lab_id, ts, ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio, run_id)
             VALUES (DATE '2025-03-02', 'unknown_patient', 'log_data/y.json', 2, 'bt-2', 9,
                 7, 3, TIMESTAMP '2025-03-02 10:00:00', 120, 80, 1, 1, 0, 0, 1, 0, 'r1');
             CREATE OR REPLACE VIEW ovom_schema AS SELECT 'older' AS fingerprint;",
        )
        .unwrap();
    ensure_schema(&mut wh).unwrap();
    fn decided(wh: &DuckWarehouse, table: &str) -> String {
        wh.connection()
            .query_row(
                &format!("SELECT CAST(decided_on AS VARCHAR) FROM {table}"),
                [],
                |r| r.get(0),
            )
            .unwrap()
    }
    assert_eq!(decided(&wh, "fact_bloodtest"), "2025-03-01");
    assert_eq!(decided(&wh, "rejects"), "2025-03-02");
    // The patients' history is built from the staged records, and each test
    // references its version.
    let key: i64 = wh
        .connection()
        .query_row("SELECT patient_version_key FROM fact_bloodtest", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(key, 100_001);
    // Run again on the new schema: nothing to add.
    wh.connection()
        .execute_batch("CREATE OR REPLACE VIEW ovom_schema AS SELECT 'older' AS fingerprint")
        .unwrap();
    ensure_schema(&mut wh).unwrap();
    assert_eq!(decided(&wh, "fact_bloodtest"), "2025-03-01");
}

use super::*;
use ovom_core::local_dir::LocalDir;
use ovom_core::ports::{CopyRequest, Param, Sql, Table};
use ovom_core::sql::Dialect;
use serde_json::json;
use std::collections::BTreeMap;

fn every_error() -> Vec<TaskError> {
    vec![
        TaskError::invalid("logical_date", "\"2025-13-01\" is not a date YYYY-MM-DD"),
        TaskError::MalformedInput {
            file: "log_data/2025/03/14/part-00000.json".into(),
            line: 7,
            error: ovom_core::contract::LineError {
                field: Some("ap_hi"),
                reason: "expected an integer".into(),
            },
            budget: None,
        },
        TaskError::WarehouseBusy("serialisable isolation violation".into()),
        TaskError::WarehouseError("relation does not exist".into()),
        TaskError::StoreUnavailable("throttled".into()),
        TaskError::StoreError {
            key: "log_data/2025/03/14/part-00000.json".into(),
            detail: "access denied".into(),
        },
        TaskError::QualityCheckFailed {
            check: ovom_core::params::Check::DayReconciles,
            logical_date: "2025-03-14".into(),
            got: 3,
            comparison: ovom_core::sql::Comparison::Eq,
            expected: 0,
        },
        TaskError::EmptyDayRefused {
            source_folder: "log_data",
            logical_date: "2025-03-14".into(),
            rows: 12,
        },
        TaskError::OutsideLayout {
            key: "log_data/2025/02/30/part-00000.json".into(),
            reason: "2025-02-30 is not a day between 1970 and 2100".into(),
        },
    ]
}

#[test]
fn every_task_error_reports_its_name_as_the_error_type() {
    let errors = every_error();
    let types: Vec<String> = errors.iter().map(|e| diagnostic(e).error_type).collect();
    assert_eq!(types, TaskError::NAMES.map(String::from).to_vec());
    for e in &errors {
        let d = diagnostic(e);
        assert_eq!(d.error_type, e.name());
        assert_eq!(d.error_message, e.to_string());
    }
}

#[test]
fn a_long_message_is_cut_on_a_character_boundary() {
    let d = diagnostic(&TaskError::WarehouseError("é".repeat(10_000)));
    assert!(
        d.error_message.len() <= MAX_ERROR_MESSAGE_BYTES,
        "{}",
        d.error_message.len()
    );
    assert!(d.error_message.starts_with("warehouse statement failed: é"));
    assert!(d.error_message.ends_with('…'));
    assert_eq!(d.error_type, "WarehouseError");
}

#[test]
fn the_diagnostic_serialises_as_lambda_reports_errors() {
    let d = diagnostic(&TaskError::WarehouseBusy("locked".into()));
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({"errorType": "WarehouseBusy", "errorMessage": "warehouse busy: locked"})
    );
}

const ROLE: &str = "arn:aws:iam::123456789012:role/ovom-copy";

fn base() -> Vec<(&'static str, &'static str)> {
    vec![
        ("DATA_ROOT", "s3://ovom-data/ehr"),
        ("REDSHIFT_WORKGROUP", "ovom"),
        ("REDSHIFT_DATABASE", "ovom"),
        ("COPY_ROLE_ARN", ROLE),
        ("PATH", "/usr/bin"),
        ("AWS_REGION", "eu-west-1"),
    ]
}

fn with(over: &[(&'static str, Option<&'static str>)]) -> Result<LambdaConfig, ConfigError> {
    let mut env: BTreeMap<&str, &str> = base().into_iter().collect();
    for (k, v) in over {
        match v {
            Some(v) => env.insert(k, v),
            None => env.remove(k),
        };
    }
    LambdaConfig::from_vars(env)
}

#[test]
fn a_workgroup_configuration_is_read() {
    let c = with(&[]).unwrap();
    assert_eq!(c.data_root.bucket(), "ovom-data");
    assert_eq!(c.data_root.prefix(), "ehr");
    assert_eq!(c.target, Target::Workgroup("ovom".parse().unwrap()));
    assert_eq!(c.database.as_str(), "ovom");
    assert_eq!(c.copy_role_arn.as_str(), ROLE);
    assert_eq!(c.warehouse_role_arn, None);
    let c = with(&[(
        "WAREHOUSE_ROLE_ARN",
        Some("arn:aws:iam::123456789012:role/service/ovom-warehouse"),
    )])
    .unwrap();
    assert_eq!(
        c.warehouse_role_arn.as_ref().map(|r| r.as_str()),
        Some("arn:aws:iam::123456789012:role/service/ovom-warehouse")
    );
}

#[test]
fn a_cluster_configuration_needs_its_database_user() {
    let c = with(&[
        ("REDSHIFT_WORKGROUP", None),
        ("REDSHIFT_CLUSTER_ID", Some("ovom-cluster")),
        ("REDSHIFT_DB_USER", Some("ovom_etl")),
    ])
    .unwrap();
    assert_eq!(
        c.target,
        Target::Cluster {
            cluster_id: "ovom-cluster".parse().unwrap(),
            db_user: "ovom_etl".parse().unwrap()
        }
    );
    assert_eq!(
        with(&[
            ("REDSHIFT_WORKGROUP", None),
            ("REDSHIFT_CLUSTER_ID", Some("ovom-cluster"))
        ]),
        Err(ConfigError::Missing("REDSHIFT_DB_USER"))
    );
}

#[test]
fn missing_variables_are_named() {
    for var in ["DATA_ROOT", "REDSHIFT_DATABASE", "COPY_ROLE_ARN"] {
        assert_eq!(
            with(&[(var, None)]),
            Err(ConfigError::Missing(var)),
            "{var}"
        );
    }
    let e = with(&[("REDSHIFT_WORKGROUP", None)]).unwrap_err();
    assert!(e.to_string().contains("REDSHIFT_WORKGROUP"), "{e}");
}

#[test]
fn conflicting_and_unknown_variables_are_refused() {
    let e = with(&[
        ("REDSHIFT_CLUSTER_ID", Some("c1")),
        ("REDSHIFT_DB_USER", Some("u")),
    ])
    .unwrap_err();
    assert!(matches!(e, ConfigError::Conflict(_)), "{e}");
    let e = with(&[("REDSHIFT_DB_USER", Some("u"))]).unwrap_err();
    assert!(matches!(e, ConfigError::Conflict(_)), "{e}");
    assert_eq!(
        with(&[("REDSHIFT_WORKGRUOP", Some("ovom"))]),
        Err(ConfigError::Unknown("REDSHIFT_WORKGRUOP".into()))
    );
    assert_eq!(
        with(&[("WAREHOUSE_ROLE", Some(ROLE))]),
        Err(ConfigError::Unknown("WAREHOUSE_ROLE".into()))
    );
    assert!(with(&[("REDSHIFT_WORKGRUOP", Some("x"))])
        .unwrap_err()
        .to_string()
        .contains("REDSHIFT_WORKGROUP"));
}

#[test]
fn invalid_values_are_refused_naming_the_variable() {
    let cases: [(&'static str, &'static str); 15] = [
        ("DATA_ROOT", "ovom-data/ehr"),
        ("DATA_ROOT", "s3://Bad_Bucket/ehr"),
        ("DATA_ROOT", "s3://ovom-data/../ehr"),
        ("DATA_ROOT", ""),
        ("DATA_ROOT", " s3://ovom-data"),
        ("REDSHIFT_WORKGROUP", "Ovom"),
        ("REDSHIFT_WORKGROUP", "ov"),
        ("REDSHIFT_WORKGROUP", "ovom;drop"),
        ("REDSHIFT_DATABASE", "Ovom"),
        ("REDSHIFT_DATABASE", "ovom-db"),
        ("REDSHIFT_DATABASE", "1ovom"),
        ("COPY_ROLE_ARN", "arn:aws:iam::123:role/x"),
        ("COPY_ROLE_ARN", "arn:aws:s3:::bucket"),
        ("COPY_ROLE_ARN", "arn:aws:iam::123456789012:user/x"),
        ("WAREHOUSE_ROLE_ARN", "role/x"),
    ];
    for (var, value) in cases {
        match with(&[(var, Some(value))]) {
            Err(ConfigError::Invalid { var: v, .. }) => assert_eq!(v, var, "{value:?}"),
            other => panic!("{var}={value:?} gave {other:?}"),
        }
    }
    let e = with(&[("DATA_ROOT", Some("https://ovom-data/ehr"))]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("environment variable DATA_ROOT is invalid: "),
        "{e}"
    );
}

/// A warehouse that records statements and fails as told.
#[derive(Default)]
struct Fake {
    executed: usize,
    rollbacks: usize,
    fail_schema: Option<TaskError>,
    panic_on_query: bool,
}

impl Warehouse for Fake {
    fn dialect(&self) -> Dialect {
        Dialect::Redshift
    }
    fn begin(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
    fn commit(&mut self) -> Result<(), TaskError> {
        Ok(())
    }
    fn rollback(&mut self) -> Result<(), TaskError> {
        self.rollbacks += 1;
        Ok(())
    }
    fn execute(&mut self, _sql: Sql, _params: &[Param]) -> Result<(), TaskError> {
        if let Some(e) = self.fail_schema.take() {
            return Err(e);
        }
        self.executed += 1;
        Ok(())
    }
    fn query_table(&mut self, _sql: Sql, _params: &[Param]) -> Result<Table, TaskError> {
        assert!(!self.panic_on_query, "scripted panic");
        Ok(Table::default())
    }
    fn copy_day(&mut self, _r: &CopyRequest, _s: &dyn ObjectStore) -> Result<u64, TaskError> {
        Ok(0)
    }
}

fn store() -> LocalDir {
    LocalDir::new(std::path::Path::new("/nonexistent-ovom-data-root"))
}

fn schema_statements(task: &Task<Fake, LocalDir>) -> usize {
    task.warehouse.lock().unwrap().wh.executed
}

#[test]
fn the_schema_is_ensured_once_per_container_then_each_event_is_handled() {
    let task = Task::new(TaskKind::Load, Fake::default(), store());
    // An event that is not valid touches nothing, the schema included.
    let bad = json!({"model": "dim_nothing", "logical_date": "2025-03-14", "run_id": "r1"});
    assert_eq!(task.run(&bad).unwrap_err().name(), "InvalidParameters");
    assert_eq!(schema_statements(&task), 0);
    let good = json!({"model": "dim_doctor", "logical_date": "2025-03-14", "run_id": "r1"});
    task.run(&good).unwrap();
    let after_first = schema_statements(&task);
    assert!(after_first > 1, "the first valid event creates the schema");
    task.run(&good).unwrap();
    assert_eq!(
        schema_statements(&task),
        after_first + 1,
        "the schema is ensured once; the second event runs its one statement"
    );
}

#[test]
fn a_failed_schema_creation_is_the_events_error_and_is_tried_again() {
    let wh = Fake {
        fail_schema: Some(TaskError::WarehouseBusy("starting".into())),
        ..Fake::default()
    };
    let task = Task::new(TaskKind::Load, wh, store());
    let event = json!({"model": "dim_lab", "logical_date": "2025-03-14", "run_id": "r1"});
    assert_eq!(task.run(&event).unwrap_err().name(), "WarehouseBusy");
    assert_eq!(schema_statements(&task), 0);
    task.run(&event).unwrap();
    assert!(schema_statements(&task) > 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn invoke_maps_errors_and_panics_for_the_state_machine() {
    let task = Arc::new(Task::new(TaskKind::Stage, Fake::default(), store()));
    let d = invoke(Arc::clone(&task), json!({"source": "log_data"}))
        .await
        .unwrap_err();
    assert_eq!(d.error_type, "InvalidParameters");

    let wh = Fake {
        panic_on_query: true,
        ..Fake::default()
    };
    let task = Arc::new(Task::new(TaskKind::Quality, wh, store()));
    let event = json!({"logical_date": "2025-03-14", "run_id": "r1", "checks": ["test_id_unique"]});
    let (response, metrics) = run_measured(Arc::clone(&task), event.clone()).await;
    assert_eq!(response.unwrap_err().error_type, PANIC_ERROR);
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0]["error"], PANIC_ERROR);
    assert_eq!(metrics[0]["TaskFailures"], 1);
    assert_eq!(metrics[0]["Task"], "quality");
    assert_eq!(metrics[0]["logical_date"], "2025-03-14");
    // The next event finds the warehouse rolled back and usable.
    task.warehouse
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .wh
        .panic_on_query = false;
    let _ = invoke(Arc::clone(&task), event).await;
    assert!(task.warehouse.lock().unwrap().wh.rollbacks >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn each_invocation_measures_itself_with_validated_parameters_only() {
    // Parameters that validate are properties, also when the task fails.
    let task = Arc::new(Task::new(TaskKind::Quality, Fake::default(), store()));
    let event = json!({"logical_date": "2025-03-14", "run_id": "r1"});
    let (response, metrics) = run_measured(task, event).await;
    assert_eq!(response.unwrap_err().error_type, "WarehouseError");
    assert_eq!(metrics.len(), 1);
    let doc = &metrics[0];
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        emf::NAMESPACE
    );
    assert_eq!(doc["Task"], "quality");
    assert_eq!(doc["TaskFailures"], 1);
    assert!(doc["DurationMs"].is_u64());
    assert_eq!(doc["error"], "WarehouseError");
    assert_eq!(doc["logical_date"], "2025-03-14");
    assert_eq!(doc["run_id"], "r1");
    assert!(doc.get("CheckFailures").is_none(), "{doc}");

    // An event that does not validate leaves none of its values behind.
    let task = Arc::new(Task::new(TaskKind::Stage, Fake::default(), store()));
    let event = json!({
        "source": "log_data",
        "logical_date": "2025-03-14",
        "run_id": "secret-run",
        "note": "<injected value>"
    });
    let (response, metrics) = run_measured(task, event).await;
    assert_eq!(response.unwrap_err().error_type, "InvalidParameters");
    let text = serde_json::to_string(&metrics).unwrap();
    for raw in ["2025-03-14", "secret-run", "injected", "log_data", "note"] {
        assert!(!text.contains(raw), "{raw} echoed in {text}");
    }
    assert_eq!(metrics[0]["error"], "InvalidParameters");

    // A load of the fact reports its counts.
    let task = Arc::new(Task::new(TaskKind::Load, Fake::default(), store()));
    let event = json!({"model": "fact_bloodtest", "logical_date": "2025-03-14", "run_id": "r2"});
    let (response, metrics) = run_measured(task, event).await;
    let report = response.unwrap();
    assert_eq!(report["loaded"], 0);
    let doc = &metrics[0];
    assert_eq!(doc["Task"], "load");
    assert_eq!(doc["model"], "fact_bloodtest");
    assert_eq!(doc["TaskFailures"], 0);
    assert_eq!(doc["RowsLoaded"], 0);
    assert_eq!(doc["RowsRejected"], 0);
    assert_eq!(doc["Duplicates"], 0);
    assert!(doc.get("error").is_none());
}

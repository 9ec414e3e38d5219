//! The erase function: erasure on request (see [`ovom_core::erasure`]) over
//! the Redshift Data API and S3, started by `statemachine/erasure.asl.json`
//! once it has found no daily or backfill execution running.
//!
//! Its event is `{"patients": [ids], "erasure_id": <the execution's name>}`;
//! its errors are [`TaskError`]s, reported by name as the tasks' are.

use std::sync::{Arc, Mutex};

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use ovom_core::erasure::{self, ErasureKey, ErasureParams, ErasureReport};
use ovom_core::ports::{ObjectStore, Warehouse};
use ovom_core::{params, tasks, TaskError};
use serde_json::Value;

use super::{diagnostic, init_logging};

/// The erase function's code over its warehouse and object store.
pub struct Eraser<W, S> {
    warehouse: Mutex<W>,
    store: S,
    key: Option<ErasureKey>,
}

impl<W: Warehouse, S: ObjectStore> Eraser<W, S> {
    pub fn new(warehouse: W, store: S, key: Option<ErasureKey>) -> Self {
        Self {
            warehouse: Mutex::new(warehouse),
            store,
            key,
        }
    }

    /// Erase the event's patients, blocking.
    pub fn run(&self, event: &Value) -> Result<Value, TaskError> {
        let p = params::parse::<ErasureParams>(event)?.validate()?;
        let key = self.key.as_ref().ok_or_else(|| {
            TaskError::invalid(
                "erasure_key",
                "the function has no erasure key (ERASURE_KEY_ID): nothing was erased",
            )
        })?;
        let mut wh = self
            .warehouse
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tasks::ensure_schema(&mut *wh)?;
        let request = erasure::check_request(&p, key, &mut *wh)?;
        let report: ErasureReport = erasure::forget(
            request,
            key,
            chrono::Utc::now().naive_utc(),
            &mut *wh,
            &self.store,
        )?;
        serde_json::to_value(report)
            .map_err(|e| TaskError::WarehouseError(format!("report not serialisable: {e}")))
    }
}

/// The erase function: configure, connect once, then serve events.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let c = super::connect("erase").await?;
    let eraser = Arc::new(Eraser::new(c.warehouse, c.store, c.erasure_key));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let eraser = Arc::clone(&eraser);
        async move {
            let outcome = tokio::task::spawn_blocking(move || eraser.run(&event.payload)).await;
            match outcome {
                Ok(Ok(report)) => Ok(report),
                Ok(Err(e)) => {
                    tracing::warn!(task = "erase", error = e.name(), "erasure failed");
                    Err(diagnostic(&e))
                }
                Err(_) => Err(Diagnostic {
                    error_type: super::PANIC_ERROR.to_owned(),
                    error_message: "the erase function panicked".into(),
                }),
            }
        }
    }))
    .await
}

//! The local runtime: what the Step Functions service does on AWS, done
//! in-process for `ovom`. The daily state machine (`statemachine/pipeline.asl.json`)
//! runs on the `ovom-asl` interpreter with its task resources served by the
//! task library over DuckDB and a local folder; every execution and state is
//! recorded in the warehouse's run history, from which a failed execution is
//! redriven; a backfill runs the daily machine day by day.
//!
//! The CLI parses arguments and renders; this crate does the work.

pub use error::{LocalError, Refusal};

pub mod backfill;
pub mod erasure;
pub mod error;
mod history;
pub mod pipeline;
mod resources;
pub mod sql;
pub mod warehouse;

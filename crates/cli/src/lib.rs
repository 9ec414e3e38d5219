//! `ovom`: the OVŌM warehouse on one machine. DuckDB is the warehouse, a
//! local folder is the bucket, and the production state machine
//! (`statemachine/pipeline.asl.json`) runs in-process on the task library
//! (the runtime is the `ovom-local` crate). This crate parses the command
//! line and renders what the runtime returns.

pub mod generate;
pub mod query;
pub mod report;
pub mod status;
pub mod summary;

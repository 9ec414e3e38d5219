//! `ovom`: the OVŌM warehouse on one machine. DuckDB is the warehouse, a
//! local folder is the bucket, and the production state machine
//! (`statemachine/pipeline.asl.json`) runs in-process on the task library.

pub mod backfill;
pub mod generate;
pub mod pipeline;
pub mod query;
pub mod report;
pub mod status;
pub mod summary;
pub mod warehouse;

//! The OVŌM warehouse's task logic, free of any particular engine.
//!
//! Three task types — [`tasks::stage`], [`tasks::load`] and [`tasks::quality`] —
//! are free functions of a typed, validated parameter struct ([`params`]) over
//! two small ports ([`ports::Warehouse`], [`ports::ObjectStore`]). Adapters for
//! DuckDB, Redshift, a local folder and S3 live in other crates; this one never
//! links an engine.
//!
//! Errors a task returns are [`TaskError`]; their [`TaskError::name`]s are the
//! names the state machine's `Retry` and `Catch` match.

pub mod backfill;
pub mod contract;
pub mod erasure;
pub mod error;
pub mod handler;
pub mod local_dir;
pub mod params;
pub mod ports;
pub mod reports;
pub mod sql;
pub mod tasks;

pub use error::TaskError;

//! The OVŌM warehouse's integration tests: one binary, a module per topic.

mod support;

/// A local S3 endpoint (moto), shared with the S3 adapter's tests.
#[allow(dead_code)]
#[path = "../crates/aws/tests/moto/mod.rs"]
mod moto;

mod aws_path;
mod backfill;
mod bad_input;
mod cli;
mod contract_rules;
mod erasure;
mod errors;
mod fast_path;
mod faults;
mod hostile;
mod infra;
mod late_days;
mod late_patients;
mod operator;
mod params;
mod pipeline;
mod privacy;
mod quality;
mod redrive;
mod report;
mod reruns;
mod schema;
mod second_interpreter;
mod slips;
mod statemachine;

//! The OVŌM warehouse's integration tests: one binary, a module per topic.

mod support;

mod cli;
mod contract_rules;
mod errors;
mod infra;
mod params;
mod pipeline;
mod quality;
mod reruns;
mod statemachine;

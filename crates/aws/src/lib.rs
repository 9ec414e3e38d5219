//! OVŌM's ports on AWS: the warehouse on the Redshift Data API
//! ([`redshift`]), the object store on S3 ([`s3`]), the glue the three
//! Lambda functions share ([`lambda`]) and the CloudWatch metrics they write
//! ([`emf`]). No DuckDB in this dependency tree.
//!
//! The Lambda crates depend only on this crate and `ovom-core`; the runtime
//! crates they need are re-exported here so the workspace resolves one set
//! of features.

pub mod emf;
pub mod lambda;
pub mod names;
pub mod redshift;
pub mod s3;
pub mod secrets;

pub use aws_config;
pub use aws_sdk_s3;
pub use lambda_runtime;
pub use tokio;
pub use tracing_subscriber;

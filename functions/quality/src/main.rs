//! The quality task as an AWS Lambda function (see `ovom_aws::lambda`).

use ovom_aws::lambda_runtime::Error;
use ovom_core::handler::TaskKind;

#[ovom_aws::tokio::main(crate = "ovom_aws::tokio")]
async fn main() -> Result<(), Error> {
    ovom_aws::lambda::serve(TaskKind::Quality).await
}

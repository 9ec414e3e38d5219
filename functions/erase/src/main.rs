//! Erasure on request as an AWS Lambda function (see `ovom_aws::lambda::erase`).

use ovom_aws::lambda_runtime::Error;

#[ovom_aws::tokio::main(crate = "ovom_aws::tokio")]
async fn main() -> Result<(), Error> {
    ovom_aws::lambda::erase::serve().await
}

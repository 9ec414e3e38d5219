//! The erasure key, read from Secrets Manager once at a function's cold
//! start (the template generates the secret; no one types it).

use ovom_core::erasure::ErasureKey;
use ovom_core::TaskError;

/// The key held by the secret `id` (an ARN or a name): its string value.
pub async fn erasure_key(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<ErasureKey, TaskError> {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            let e = e.into_service_error();
            TaskError::StoreError {
                key: id.to_owned(),
                detail: format!("reading the erasure key's secret: {e}"),
            }
        })?;
    let text = out.secret_string().ok_or_else(|| TaskError::StoreError {
        key: id.to_owned(),
        detail: "the erasure key's secret holds no string value".into(),
    })?;
    ErasureKey::new(text)
}

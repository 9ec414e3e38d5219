//! Rewriting an object of the export on a versioned bucket (an erasure):
//! the new bytes become the current version and every other version goes.
//! Only the erase function calls this; its role alone may list and delete
//! object versions.

use ovom_core::TaskError;

use super::{map_sdk_error, S3Store};

impl S3Store {
    /// Upload `bytes` as the object's current version, then delete every
    /// other version and delete marker the bucket's versioning keeps of the
    /// key; return how many were deleted.
    pub async fn replace_async(&self, key: &str, bytes: &[u8]) -> Result<u64, TaskError> {
        self.upload(key, bytes.to_vec()).await?;
        let object_key = self.root.object_key(key);
        let mut old: Vec<String> = vec![];
        // ListObjectVersions pages by key and version markers.
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(self.root.bucket())
                .prefix(&object_key)
                .set_key_marker(markers.0.take())
                .set_version_id_marker(markers.1.take())
                .send()
                .await
                .map_err(|e| map_sdk_error(key, &e))?;
            let versions = page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id(), v.is_latest()));
            let deleted = page
                .delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id(), m.is_latest()));
            for (k, version, latest) in versions.chain(deleted) {
                // The current version is the one just written. (An object
                // written before versioning was turned on is version `null`:
                // a version like any other once it is not current.)
                if k == Some(object_key.as_str()) && latest != Some(true) {
                    if let Some(v) = version {
                        old.push(v.to_owned());
                    }
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            markers = (
                page.next_key_marker().map(str::to_owned),
                page.next_version_id_marker().map(str::to_owned),
            );
        }
        for version in &old {
            self.client
                .delete_object()
                .bucket(self.root.bucket())
                .key(&object_key)
                .version_id(version)
                .send()
                .await
                .map_err(|e| map_sdk_error(key, &e))?;
        }
        tracing::debug!(url = %self.root.url(key), versions_removed = old.len(), "replaced");
        Ok(old.len() as u64)
    }
}

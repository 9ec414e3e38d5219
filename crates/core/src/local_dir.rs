//! The object store on a local folder: the embedded stand-in for the bucket.

use std::path::{Component, Path, PathBuf};

use crate::ports::{ObjectMeta, ObjectStore};
use crate::TaskError;

/// A folder holding `patient_data/` and `log_data/`, as a bucket prefix would.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a key, refusing keys that are absolute or climb out of
    /// the root.
    fn path(&self, key: &str) -> Result<PathBuf, TaskError> {
        let rel = Path::new(key);
        let safe = !key.is_empty()
            && !key.contains('\\')
            && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(TaskError::StoreError {
                key: key.chars().take(200).collect(),
                detail: "a key must be a relative path inside the data root".into(),
            });
        }
        Ok(self.root.join(rel))
    }
}

fn io_error(key: &str, e: std::io::Error) -> TaskError {
    TaskError::StoreError {
        key: key.to_owned(),
        detail: e.to_string(),
    }
}

impl ObjectStore for LocalDir {
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TaskError> {
        let dir_key = prefix.trim_end_matches('/');
        let dir = self.path(dir_key)?;
        let mut out = vec![];
        let mut stack = vec![(dir, dir_key.to_owned())];
        while let Some((dir, key)) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&key, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_error(&key, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = format!("{key}/{name}");
                let meta = entry.metadata().map_err(|e| io_error(&child, e))?;
                if meta.is_dir() {
                    stack.push((entry.path(), child));
                } else {
                    out.push(ObjectMeta {
                        key: child,
                        size: meta.len(),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, TaskError> {
        std::fs::read(self.path(key)?).map_err(|e| io_error(key, e))
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), TaskError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(key, e))?;
        }
        std::fs::write(path, bytes).map_err(|e| io_error(key, e))
    }

    fn url(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

//! The object store on a local folder: the embedded stand-in for the bucket.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
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
        Ok(self.root.join(
            rel.components()
                .map(|c| name_of(c.as_os_str()))
                .collect::<PathBuf>(),
        ))
    }
}

/// A file or folder name as a key segment. Names are bytes on a local disk;
/// keys are UTF-8, as S3's are. A name that is UTF-8 without `%` is its own
/// key; any other is percent-encoded (each byte outside ASCII letters,
/// digits and `-_.`), so every file can be read and named.
fn key_of(name: &OsStr) -> String {
    match name.to_str() {
        Some(text) if !text.contains('%') => text.to_owned(),
        _ => name
            .as_bytes()
            .iter()
            .map(|&b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    char::from(b).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect(),
    }
}

/// The name a key segment stands for (the inverse of [`key_of`]).
fn name_of(segment: &OsStr) -> OsString {
    let Some(text) = segment.to_str().filter(|t| t.contains('%')) else {
        return segment.to_owned();
    };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    OsString::from_vec(out)
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
        // Links are followed, a linked folder like a folder; a folder
        // reached twice (a link loop, or two links to one folder) is refused.
        let mut seen = BTreeSet::new();
        let mut stack = vec![(dir, dir_key.to_owned())];
        while let Some((dir, key)) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&key, e)),
            };
            let real = dir.canonicalize().map_err(|e| io_error(&key, e))?;
            if !seen.insert(real) {
                return Err(TaskError::StoreError {
                    key,
                    detail: "this folder is reached twice under the data root (a link loop, or two links to one folder): its files would be read twice".into(),
                });
            }
            for entry in entries {
                let entry = entry.map_err(|e| io_error(&key, e))?;
                let child = format!("{key}/{}", key_of(&entry.file_name()));
                let meta = std::fs::metadata(entry.path()).map_err(|e| {
                    let detail = if e.kind() == std::io::ErrorKind::NotFound {
                        "a link to nothing (its target does not exist)".to_owned()
                    } else {
                        e.to_string()
                    };
                    TaskError::StoreError {
                        key: child.clone(),
                        detail,
                    }
                })?;
                if meta.is_dir() {
                    stack.push((entry.path(), child));
                } else if meta.is_file() {
                    out.push(ObjectMeta {
                        key: child,
                        size: meta.len(),
                    });
                } else {
                    return Err(TaskError::StoreError {
                        key: child,
                        detail: "not a regular file (a FIFO, a socket or a device): nothing can be read from it; move it out of the data root".into(),
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

    /// Written beside the file and renamed over it, so a crash leaves the
    /// old bytes or the new; a folder keeps no earlier versions.
    fn replace(&self, key: &str, bytes: &[u8]) -> Result<u64, TaskError> {
        let path = self.path(key)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = path.with_file_name(format!(".{name}.ovom-rewrite"));
        std::fs::write(&temp, bytes).map_err(|e| io_error(key, e))?;
        std::fs::rename(&temp, &path).map_err(|e| io_error(key, e))?;
        Ok(0)
    }

    fn holds(&self, prefix: &str) -> Result<bool, TaskError> {
        Ok(self.path(prefix.trim_end_matches('/'))?.is_dir())
    }

    fn url(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

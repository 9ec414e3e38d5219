//! Erasure on one machine: `ovom forget` over the embedded warehouse and the
//! local data root, and the erasure key the suppression list is keyed with,
//! kept in a file beside the warehouse (`ovom.duckdb.erasure-key`), never in
//! it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ovom_asl::Clock;
use ovom_core::erasure::{self, ErasureKey, ErasureParams, ErasureReport, PatientId};
use ovom_core::params::RunId;

use crate::error::{LocalError, Refusal};
use crate::pipeline::Pipeline;

/// The erasure key's file: beside the warehouse file, named after it.
pub fn key_path(warehouse: &Path) -> PathBuf {
    let mut name = warehouse.file_name().unwrap_or_default().to_os_string();
    name.push(".erasure-key");
    warehouse.with_file_name(name)
}

/// The warehouse's erasure key, if an erasure made one.
pub fn read_key(warehouse: &Path) -> Result<Option<ErasureKey>, LocalError> {
    let path = key_path(warehouse);
    match std::fs::read_to_string(&path) {
        Ok(text) => ErasureKey::new(&text)
            .map(Some)
            .map_err(|e| key_refusal(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(key_refusal(&path, e)),
    }
}

/// A new key: 32 random bytes, as hex.
fn new_key(warehouse: &Path) -> Result<String, LocalError> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| key_refusal(&key_path(warehouse), e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Write the warehouse's first erasure key, readable by the owner only.
fn save_key(warehouse: &Path, text: &str) -> Result<(), LocalError> {
    let path = key_path(warehouse);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{text}\n").as_bytes()))
        .map_err(|e| key_refusal(&path, e))?;
    Ok(())
}

fn key_refusal(path: &Path, cause: impl std::fmt::Display) -> LocalError {
    LocalError::Refused(Refusal::ErasureKey {
        path: path.to_owned(),
        detail: cause.to_string(),
    })
}

impl Pipeline {
    /// Erase the patients from the warehouse and the data root (see
    /// [`ovom_core::erasure::forget`]); later runs suppress their lines.
    /// The pipeline holds the warehouse file, so no execution runs meanwhile.
    pub fn forget(
        &mut self,
        warehouse: &Path,
        patients: Vec<PatientId>,
        clock: &dyn Clock,
    ) -> Result<ErasureReport, LocalError> {
        let now = clock.now().naive_utc();
        let erasure_id: RunId = format!("erasure-{}", now.format("%Y%m%dT%H%M%S%.6fZ"))
            .parse()
            .map_err(|e: ovom_core::params::ValueError| {
                LocalError::History(format!("an erasure id: {}", e.reason))
            })?;
        let params = ErasureParams {
            patients,
            erasure_id,
        }
        .validate()?;
        // A first erasure's key is written only once the request is found
        // valid: a refused request leaves no file behind.
        let (key, new) = match read_key(warehouse)? {
            Some(key) => (key, None),
            None => {
                let text = new_key(warehouse)?;
                (ErasureKey::new(&text)?, Some(text))
            }
        };
        let request = erasure::check_request(&params, &key, &mut *self.warehouse())?;
        if let Some(text) = new {
            save_key(warehouse, &text)?;
        }
        let report = erasure::forget(request, &key, now, &mut *self.warehouse(), self.store())?;
        // No byte of an erased row may outlive the erasure in the file's
        // freed blocks or in the write-ahead log daily runs leave.
        self.warehouse().compact()?;
        self.set_erasure_key(Some(key));
        Ok(report)
    }
}

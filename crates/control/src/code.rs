//! Deployment packages: checking an upload, storing and extracting it, serving it back, and
//! removing packages no function uses.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use model::CodeRef;
use model::layer::LayerRef;
use model::limits::{UNZIPPED_MAX, ZIP_FILE_MAX};
use package::PackageError;
use store::{CodeStore, StoreError};

use crate::{ControlError, ControlPlane};

/// Lambda's message for an upload that is not a readable zip.
const COULD_NOT_UNZIP: &str =
    "Could not unzip uploaded file. Please check your file, then try to upload again.";

impl ControlPlane {
    /// Checks a package against Lambda's limits, stores it and extracts it, before any
    /// configuration names it.
    pub(crate) async fn store_package(&self, zip: Vec<u8>) -> Result<CodeRef, ControlError> {
        refuse_oversized(&zip)?;
        let code = Arc::clone(&self.inner.code);
        run_blocking("storing a deployment package", move || {
            store_blocking(&code, &zip)
        })
        .await?
    }

    /// Checks a layer archive against Lambda's limits and stores it. Layers are extracted when
    /// a function first runs with them.
    pub(crate) async fn store_layer_package(&self, zip: Vec<u8>) -> Result<CodeRef, ControlError> {
        refuse_oversized(&zip)?;
        let code = Arc::clone(&self.inner.code);
        run_blocking("storing a layer archive", move || {
            let inspected =
                package::inspect(&zip, &package::Limits::lambda()).map_err(package_error)?;
            code.put_zip(&inspected.sha256_hex, &zip)
                .map_err(store_error)?;
            Ok(CodeRef {
                sha256_hex: inspected.sha256_hex,
                size: inspected.size,
                unzipped_size: inspected.unzipped_size,
            })
        })
        .await?
    }

    /// The `/opt` of a function: its layers merged in order, made the first time; `None`
    /// without layers.
    pub(crate) async fn opt_dir(
        &self,
        layers: &[LayerRef],
    ) -> Result<Option<PathBuf>, ControlError> {
        if layers.is_empty() {
            return Ok(None);
        }
        let store = Arc::clone(&self.inner.code);
        let digests: Vec<String> = layers.iter().map(|l| l.code.sha256_hex.clone()).collect();
        run_blocking("merging layers", move || {
            store.merged_layers(&digests).map(Some).map_err(store_error)
        })
        .await?
    }

    /// The extracted code of `code`, extracting it again if it went missing.
    pub(crate) async fn code_dir(&self, code: &CodeRef) -> Result<PathBuf, ControlError> {
        let store = Arc::clone(&self.inner.code);
        let digest = code.sha256_hex.clone();
        run_blocking("extracting a deployment package", move || {
            store.extracted(&digest).map_err(store_error)
        })
        .await?
    }

    /// The zip stored under `sha256_hex` (lower-case hex), for the code download link of
    /// GetFunction.
    pub async fn code_zip(&self, sha256_hex: &str) -> Result<Vec<u8>, ControlError> {
        let valid = sha256_hex.len() == 64
            && sha256_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(ControlError::CodeNotFound {
                digest: sha256_hex.to_string(),
            });
        }
        let store = Arc::clone(&self.inner.code);
        let digest = sha256_hex.to_string();
        run_blocking("reading a deployment package", move || {
            store.read_zip(&digest).map_err(store_error)
        })
        .await?
    }

    /// Removes every stored package that no function version and no layer version refers to,
    /// except those stored less than `grace` ago, and returns how many were removed. At
    /// start-up, when no upload can be between its store write and its database write, the
    /// grace can be zero; while serving it must outlast an upload's way into the database.
    pub async fn collect_unreferenced_code(&self, grace: Duration) -> Result<usize, ControlError> {
        let mut referenced: HashSet<String> = self
            .inner
            .store
            .referenced_code()
            .await
            .map_err(ControlError::Store)?
            .into_iter()
            .collect();
        referenced.extend(
            self.inner
                .layers
                .referenced_layer_code()
                .await
                .map_err(ControlError::Store)?,
        );
        let store = Arc::clone(&self.inner.code);
        run_blocking("removing unreferenced code", move || {
            store
                .retain(&referenced, grace)
                .map_err(ControlError::Store)
        })
        .await?
    }
}

/// Checks a package against Lambda's limits without storing it (UpdateFunctionCode's DryRun).
pub(crate) async fn check_package(zip: Vec<u8>) -> Result<(), ControlError> {
    refuse_oversized(&zip)?;
    run_blocking("checking a deployment package", move || {
        package::inspect(&zip, &package::Limits::lambda())
            .map(drop)
            .map_err(package_error)
    })
    .await?
}

/// A directly uploaded package is at most 50 MB.
fn refuse_oversized(zip: &[u8]) -> Result<(), ControlError> {
    if zip.len() > ZIP_FILE_MAX {
        return Err(ControlError::ZipTooLarge {
            size: zip.len(),
            limit: ZIP_FILE_MAX,
        });
    }
    Ok(())
}

fn store_blocking(code: &CodeStore, zip: &[u8]) -> Result<CodeRef, ControlError> {
    let inspected = package::inspect(zip, &package::Limits::lambda()).map_err(package_error)?;
    code.put_zip(&inspected.sha256_hex, zip)
        .map_err(store_error)?;
    code.extracted(&inspected.sha256_hex).map_err(store_error)?;
    Ok(CodeRef {
        sha256_hex: inspected.sha256_hex,
        size: inspected.size,
        unzipped_size: inspected.unzipped_size,
    })
}

async fn run_blocking<T: Send + 'static>(
    action: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ControlError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|source| ControlError::BackgroundTask { action, source })
}

/// Splits package failures into the caller's (an unusable upload) and flint's own.
fn package_error(err: PackageError) -> ControlError {
    let message = match &err {
        PackageError::NotZip { .. } | PackageError::CorruptEntry { .. } => {
            COULD_NOT_UNZIP.to_string()
        }
        PackageError::UnsafePath { .. }
        | PackageError::UnsafeSymlink { .. }
        | PackageError::UnderSymlink { .. }
        | PackageError::ConflictingEntry { .. } => {
            format!(
                "Could not unzip uploaded file: {err}. Please check your file, then try to upload again."
            )
        }
        PackageError::UnzippedTooLarge { .. } => {
            format!("Unzipped size must be smaller than {UNZIPPED_MAX} bytes")
        }
        PackageError::TooManyEntries { count, limit } => {
            format!("The deployment package has {count} entries; at most {limit} are allowed.")
        }
        _ => return ControlError::InspectPackage(err),
    };
    ControlError::InvalidZip { message }
}

fn store_error(err: StoreError) -> ControlError {
    match err {
        StoreError::ExtractZip { source, .. } => package_error(source),
        StoreError::CodeNotFound { digest } => ControlError::CodeNotFound { digest },
        other => ControlError::Store(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_uploads_are_the_callers_fault() {
        let refused = [
            PackageError::UnsafePath {
                name: "../evil".into(),
            },
            PackageError::UnzippedTooLarge {
                limit: UNZIPPED_MAX,
            },
            PackageError::TooManyEntries {
                count: 200_000,
                limit: 100_000,
            },
        ];
        for err in refused {
            assert!(
                matches!(package_error(err), ControlError::InvalidZip { .. }),
                "an unusable upload is an InvalidZip"
            );
        }
        let local = PackageError::DestinationExists {
            path: "/data/code/x".into(),
        };
        assert!(matches!(
            package_error(local),
            ControlError::InspectPackage(_)
        ));
    }

    #[test]
    fn unsafe_entries_are_named() {
        let err = package_error(PackageError::UnsafePath {
            name: "../evil".into(),
        });
        assert!(err.to_string().contains("\"../evil\""), "{err}");
    }
}

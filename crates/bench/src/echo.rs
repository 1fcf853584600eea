//! The function under test: the `lambda_runtime` echo binary, packaged as a `bootstrap`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;

/// The event every invoke sends; the echo function answers with it unchanged.
pub(crate) const PAYLOAD: &[u8] = br#"{"bench":"flint","n":1}"#;

/// Zips the echo binary as `bootstrap` (mode 0755), ready for CreateFunction.
pub(crate) fn package(echo: &Path) -> anyhow::Result<Vec<u8>> {
    if !echo.is_file() {
        anyhow::bail!(
            "echo function {} not found: build it with `cargo build --release -p test-functions` or pass --echo",
            echo.display()
        );
    }
    let dir = tempfile::tempdir().context("create a directory to package the echo function")?;
    let bootstrap = dir.path().join("bootstrap");
    fs::copy(echo, &bootstrap)
        .with_context(|| format!("copy {} to {}", echo.display(), bootstrap.display()))?;
    fs::set_permissions(&bootstrap, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("make {} executable", bootstrap.display()))?;
    strip(&bootstrap);
    package::zip_dir(dir.path()).context("zip the echo function")
}

/// Strips the copy's debug info and symbols, as release builds of Lambda functions ship: every
/// cold start maps the binary, so its size is part of what a cold start costs. Without a
/// `strip` on the machine the binary is used as it is.
fn strip(binary: &Path) {
    let stripped = std::process::Command::new("strip")
        .arg(binary)
        .status()
        .is_ok_and(|status| status.success());
    if !stripped {
        eprintln!(
            "note: could not strip {}; benchmarking it unstripped",
            binary.display()
        );
    }
}

/// A function name no earlier run left behind, so that `--endpoint` works against a flint
/// that already has functions.
pub(crate) fn function_name() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    format!("flint-bench-echo-{millis}-{}", std::process::id())
}

/// The payload as shared bytes, cloned into every request without copying.
pub(crate) fn payload() -> Bytes {
    Bytes::from_static(PAYLOAD)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use super::*;

    #[test]
    fn the_package_holds_an_executable_bootstrap() {
        let dir = tempfile::tempdir().unwrap();
        let echo = dir.path().join("echo");
        fs::write(&echo, b"\x7fELF fake").unwrap();
        let zip = package(&echo).unwrap();

        let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_name("bootstrap").unwrap();
        assert_eq!(entry.unix_mode().unwrap() & 0o777, 0o755);
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(content, b"\x7fELF fake");
    }

    #[test]
    fn a_missing_echo_binary_is_named() {
        let error = package(Path::new("/nonexistent/echo")).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/echo not found"));
    }

    #[test]
    fn function_names_are_valid_lambda_names() {
        let name = function_name();
        assert!(name.len() <= 64, "{name}");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{name}"
        );
    }

    #[test]
    fn the_payload_is_json() {
        serde_json::from_slice::<serde_json::Value>(PAYLOAD).unwrap();
    }
}

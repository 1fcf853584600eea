//! `provided`, `provided.al2`, `provided.al2023`: the function brings its own runtime, an
//! executable called `bootstrap`, in its code or in a layer.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::{EnvPaths, LaunchPlan, RuntimeError};

/// Lambda runs `bootstrap` from the task root, else from `/opt` (a layer's custom runtime).
pub(crate) fn launch_plan(host: &EnvPaths, inside: &EnvPaths) -> Result<LaunchPlan, RuntimeError> {
    let candidates = [&host.task_root, &host.opt].map(|dir| dir.join("bootstrap"));
    let shown = [&inside.task_root, &inside.opt].map(|dir| dir.join("bootstrap"));
    for (on_host, inside_path) in candidates.iter().zip(&shown) {
        if is_bootstrap_file(on_host, inside_path)? {
            return Ok(LaunchPlan {
                program: inside_path.clone(),
                args: Vec::new(),
                env: Vec::new(),
            });
        }
    }
    Err(RuntimeError::BootstrapNotFound {
        candidates: shown.to_vec(),
    })
}

/// Whether `on_host` is a file Lambda would pick as the bootstrap: the first existing file
/// wins, and one that cannot be executed fails the start instead of falling through to the
/// next candidate.
fn is_bootstrap_file(on_host: &Path, inside_path: &Path) -> Result<bool, RuntimeError> {
    let meta = match on_host.metadata() {
        Ok(meta) => meta,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(false);
        }
        Err(source) => {
            return Err(RuntimeError::InspectBootstrap {
                path: inside_path.to_path_buf(),
                source,
            });
        }
    };
    if !meta.is_file() {
        return Ok(false);
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(RuntimeError::BootstrapNotExecutable {
            path: inside_path.to_path_buf(),
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;

    /// Writes `files` (path under the environment root, mode) and returns the plan's program,
    /// or the error message and type.
    fn check(files: &[(&str, u32)], expect: Result<&str, (&str, &str)>) {
        let root = tempfile::tempdir().unwrap();
        let host = EnvPaths {
            task_root: root.path().join("task"),
            opt: root.path().join("opt"),
            runtime_dir: root.path().join("runtime"),
        };
        fs::create_dir_all(&host.task_root).unwrap();
        fs::create_dir_all(&host.opt).unwrap();
        for (name, mode) in files {
            let path = root.path().join(name);
            if name.ends_with('/') {
                fs::create_dir_all(&path).unwrap();
            } else {
                fs::write(&path, "#!/bin/sh\n").unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).unwrap();
            }
        }
        let inside = EnvPaths {
            task_root: PathBuf::from("/var/task"),
            opt: PathBuf::from("/opt"),
            runtime_dir: PathBuf::from("/var/runtime"),
        };
        let got = launch_plan(&host, &inside);
        match (got, expect) {
            (Ok(plan), Ok(program)) => {
                assert_eq!(plan.program, Path::new(program));
                assert!(plan.args.is_empty() && plan.env.is_empty());
            }
            (Err(e), Err((message, error_type))) => {
                assert_eq!(e.to_string(), message);
                assert_eq!(e.error_type(), error_type);
            }
            (got, expect) => panic!("got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn runs_the_bootstrap_of_the_code_then_of_a_layer() {
        check(&[("task/bootstrap", 0o755)], Ok("/var/task/bootstrap"));
        check(
            &[("task/bootstrap", 0o700), ("opt/bootstrap", 0o755)],
            Ok("/var/task/bootstrap"),
        );
        check(&[("opt/bootstrap", 0o755)], Ok("/opt/bootstrap"));
        check(
            &[("task/bootstrap/", 0), ("opt/bootstrap", 0o755)],
            Ok("/opt/bootstrap"),
        );
    }

    #[test]
    fn reports_a_missing_bootstrap_as_lambda_does() {
        let message = "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]";
        check(&[], Err((message, "Runtime.InvalidEntrypoint")));
        check(
            &[("task/bootstrap/", 0)],
            Err((message, "Runtime.InvalidEntrypoint")),
        );
    }

    #[test]
    fn refuses_a_bootstrap_that_cannot_be_executed() {
        let message = "fork/exec /var/task/bootstrap: permission denied";
        check(
            &[("task/bootstrap", 0o644)],
            Err((message, "Runtime.InvalidEntrypoint")),
        );
        check(
            &[("task/bootstrap", 0o644), ("opt/bootstrap", 0o755)],
            Err((message, "Runtime.InvalidEntrypoint")),
        );
        let message = "fork/exec /opt/bootstrap: permission denied";
        check(
            &[("opt/bootstrap", 0o600)],
            Err((message, "Runtime.InvalidEntrypoint")),
        );
    }
}

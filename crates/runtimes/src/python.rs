//! `python3.x`: the host's python3 running Lambda's official runtime interface client,
//! `awslambdaric`, so handler semantics, the context object, logging and error shapes are the
//! real ones.
//!
//! awslambdaric has a compiled extension, so the interpreter that installs it must be the one
//! that runs it: it is installed by that interpreter into a directory named after its
//! `MAJOR.MINOR`, and imported once by it before the directory is used.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use tokio::process::Command;

use crate::host::{self, ProbeError};
use crate::{EnvPaths, LaunchPlan, RuntimeError, RuntimeSettings, files};

/// Debian's python3; preferred because it lives under `/usr`, which every environment sees.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Asks an interpreter where it really is (not a pyenv shim) and which version it is.
const IDENTIFY: &str =
    r#"import sys; print(sys.executable); print("%d.%d" % sys.version_info[:2])"#;

/// What must import for awslambdaric to start.
const CLIENT_IMPORT: &str = "import awslambdaric.bootstrap";

/// The host's python3, ready to run functions.
#[derive(Debug)]
pub(crate) struct Python {
    pub(crate) interpreter: Interpreter,
    /// The directory holding awslambdaric (the environment's runtime directory).
    pub(crate) client_dir: PathBuf,
}

/// A python3 on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interpreter {
    /// `sys.executable`: the real interpreter behind whatever name found it.
    pub(crate) executable: PathBuf,
    pub(crate) version: Version,
}

/// A Python `MAJOR.MINOR` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version {
    pub(crate) major: u8,
    pub(crate) minor: u8,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Finds the host's python3 and makes sure awslambdaric imports with it, installing it under
/// `root` the first time unless the settings name a directory that already holds it.
pub(crate) async fn prepare(settings: &RuntimeSettings) -> Result<Python, RuntimeError> {
    let candidates = candidates();
    if candidates.is_empty() {
        return Err(RuntimeError::PythonNotFound);
    }
    let python = match &settings.python_client_dir {
        Some(dir) => use_client_dir(&candidates, dir).await?,
        None => use_installed_client(&candidates, &settings.root).await?,
    };
    tracing::info!(
        "python functions run on {} (Python {}) with awslambdaric from {}",
        python.interpreter.executable.display(),
        python.interpreter.version,
        python.client_dir.display()
    );
    Ok(python)
}

/// How to start awslambdaric for a `python3.<minor>` function.
pub(crate) fn launch_plan(
    python: &Python,
    minor: u8,
    handler: &str,
    inside: &EnvPaths,
) -> LaunchPlan {
    let executable = &python.interpreter.executable;
    LaunchPlan {
        program: executable.clone(),
        // awslambdaric takes the handler from argv, the app root from the working directory
        // (the task root) and the Runtime API address from AWS_LAMBDA_RUNTIME_API.
        args: vec![
            "-m".to_string(),
            "awslambdaric".to_string(),
            handler.to_string(),
        ],
        env: vec![
            ("PYTHONPATH".to_string(), python_path(minor, inside)),
            // awslambdaric makes sys.stdout unbuffered once its loop starts, but not before:
            // prints while the handler module is imported, and output of Python processes the
            // function starts, would sit in a buffer and be lost when a timeout kills the
            // environment. Lambda's own interpreters flush each write too.
            ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
            (
                "PATH".to_string(),
                crate::lambda_path(executable, &inside.opt),
            ),
        ],
    }
}

/// Lambda's search path: a layer's packages come before the runtime's, so a layer can bring
/// newer versions of them, as on Lambda. The layer's `site-packages` is named after the
/// function's runtime, which the layer was built for, even when the host's python3 differs.
/// The task root needs no entry: `python -m` puts the working directory first.
fn python_path(minor: u8, inside: &EnvPaths) -> String {
    let layer = inside.opt.join("python");
    let layer_site = layer.join(format!("lib/python3.{minor}/site-packages"));
    [layer_site.as_path(), &layer, &inside.runtime_dir]
        .map(|dir| dir.display().to_string())
        .join(":")
}

/// The python3 programs to try, best first.
fn candidates() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let system = Path::new(SYSTEM_PYTHON);
    if host::is_executable_file(system) {
        found.push(system.to_path_buf());
    }
    if let Some(on_path) = host::find_on_path("python3")
        && !found.contains(&on_path)
    {
        found.push(on_path);
    }
    found
}

/// Uses a directory the user prepared, with the first interpreter it imports with.
async fn use_client_dir(candidates: &[PathBuf], dir: &Path) -> Result<Python, RuntimeError> {
    let mut tried = Vec::new();
    for program in candidates {
        let checked = async {
            let interpreter = identify(program).await?;
            check_client(&interpreter, dir).await?;
            Ok::<_, ProbeError>(interpreter)
        };
        match checked.await {
            Ok(interpreter) => {
                return Ok(Python {
                    interpreter,
                    client_dir: dir.to_path_buf(),
                });
            }
            Err(problem) => tried.push(format!("{}: {problem}", program.display())),
        }
    }
    Err(RuntimeError::PythonClientUnusable {
        dir: dir.to_path_buf(),
        tried: tried.join("; "),
    })
}

/// Uses flint's own copy of awslambdaric for the interpreter, installing it the first time.
async fn use_installed_client(candidates: &[PathBuf], root: &Path) -> Result<Python, RuntimeError> {
    let (interpreter, client_dir) = choose_interpreter(candidates, root).await?;
    if client_dir.is_dir() {
        check_client(&interpreter, &client_dir)
            .await
            .map_err(|problem| RuntimeError::PythonClientUnusable {
                dir: client_dir.clone(),
                tried: format!("{}: {problem}", interpreter.executable.display()),
            })?;
    } else {
        install_client(&interpreter, &client_dir).await?;
    }
    Ok(Python {
        interpreter,
        client_dir,
    })
}

/// The first candidate that can run awslambdaric: its copy is installed already, or it has
/// pip to install one. Returns it with the directory its copy lives in.
async fn choose_interpreter(
    candidates: &[PathBuf],
    root: &Path,
) -> Result<(Interpreter, PathBuf), RuntimeError> {
    let mut tried = Vec::new();
    for program in candidates {
        let interpreter = match identify(program).await {
            Ok(interpreter) => interpreter,
            Err(problem) => {
                tried.push(format!("{}: {problem}", program.display()));
                continue;
            }
        };
        let client_dir = root.join("python").join(interpreter.version.to_string());
        if client_dir.is_dir() {
            return Ok((interpreter, client_dir));
        }
        match host::probe(&interpreter.executable, &["-m", "pip", "--version"], &[]).await {
            Ok(_) => return Ok((interpreter, client_dir)),
            Err(problem) => {
                tried.push(format!(
                    "{} -m pip: {problem}",
                    interpreter.executable.display()
                ));
            }
        }
    }
    Err(RuntimeError::PipNotFound {
        tried: tried.join("; "),
    })
}

/// Asks `program` which interpreter and version it is.
async fn identify(program: &Path) -> Result<Interpreter, ProbeError> {
    let answer = host::probe(program, &["-c", IDENTIFY], &[]).await?;
    let interpreter = parse_identity(program, &answer)
        .ok_or_else(|| ProbeError::Failed(format!("unexpected answer {answer:?}")))?;
    if interpreter.version.major != 3 {
        let version = interpreter.version;
        return Err(ProbeError::Failed(format!(
            "is Python {version}, not Python 3"
        )));
    }
    Ok(interpreter)
}

fn parse_identity(program: &Path, answer: &str) -> Option<Interpreter> {
    let mut lines = answer.lines().map(str::trim);
    let executable = lines.next()?;
    let (major, minor) = lines.next()?.split_once('.')?;
    let version = Version {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
    };
    // An embedded interpreter may not know its own path; the name that found it still works.
    let executable = if executable.is_empty() {
        program
    } else {
        Path::new(executable)
    };
    Some(Interpreter {
        executable: executable.to_path_buf(),
        version,
    })
}

/// Checks that awslambdaric in `dir` imports with `interpreter`.
async fn check_client(interpreter: &Interpreter, dir: &Path) -> Result<(), ProbeError> {
    // `-s` leaves out the user's site-packages, so only `dir` can provide the client.
    let args = ["-s", "-c", CLIENT_IMPORT];
    host::probe(&interpreter.executable, &args, &[("PYTHONPATH", dir)])
        .await
        .map(drop)
}

/// Installs awslambdaric with `interpreter`'s pip into `client_dir`, through a partial
/// directory that is renamed into place only once the client imports.
async fn install_client(interpreter: &Interpreter, client_dir: &Path) -> Result<(), RuntimeError> {
    if let Some(parent) = client_dir.parent() {
        files::create_shared_dir(parent).await?;
    }
    files::remove_abandoned_partials(client_dir).await;
    let partial = files::partial_path(client_dir);
    tracing::info!(
        "installing awslambdaric for python{} into {} (first Python function; this takes a few \
         seconds)",
        interpreter.version,
        client_dir.display()
    );
    let started = Instant::now();
    let built = build_client(interpreter, &partial, client_dir).await;
    let result = match built {
        Ok(()) => publish(&partial, client_dir).await,
        Err(error) => Err(error),
    };
    if partial.exists() {
        let _ = tokio::fs::remove_dir_all(&partial).await;
    }
    result?;
    let seconds = started.elapsed().as_secs_f32();
    tracing::info!(
        "installed awslambdaric for python{} in {seconds:.1} s",
        interpreter.version
    );
    Ok(())
}

/// Installs awslambdaric into `partial` and checks that it imports.
async fn build_client(
    interpreter: &Interpreter,
    partial: &Path,
    client_dir: &Path,
) -> Result<(), RuntimeError> {
    run_pip(interpreter, partial, client_dir).await?;
    files::open_to_all(partial).await?;
    check_client(interpreter, partial)
        .await
        .map_err(|problem| RuntimeError::PythonClientUnusable {
            dir: client_dir.to_path_buf(),
            tried: format!("{}: {problem}", interpreter.executable.display()),
        })
}

/// Renames the finished `partial` copy to `client_dir`.
async fn publish(partial: &Path, client_dir: &Path) -> Result<(), RuntimeError> {
    match tokio::fs::rename(partial, client_dir).await {
        Ok(()) => Ok(()),
        // Another flint process sharing the directory finished first; its copy is as good.
        Err(_) if client_dir.is_dir() => Ok(()),
        Err(source) => Err(RuntimeError::CreateDir {
            path: client_dir.to_path_buf(),
            source,
        }),
    }
}

/// Runs `pip install --target partial awslambdaric`.
async fn run_pip(
    interpreter: &Interpreter,
    partial: &Path,
    client_dir: &Path,
) -> Result<(), RuntimeError> {
    let python = &interpreter.executable;
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
        ])
        .arg(partial)
        .arg("awslambdaric")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| RuntimeError::RunProgram {
            program: python.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(RuntimeError::InstallPythonClient {
        python: python.clone(),
        dir: client_dir.to_path_buf(),
        output: host::failure_summary(&output),
    })
}

#[cfg(test)]
mod tests {
    use model::Runtime;

    use super::*;
    use crate::test_api::{Event, StubApi, stop};
    use crate::{RuntimeSettings, Runtimes};

    #[track_caller]
    fn check_identity(answer: &str, expect: Option<(&str, u8, u8)>) {
        let got = parse_identity(Path::new("python3"), answer);
        let expect = expect.map(|(executable, major, minor)| Interpreter {
            executable: PathBuf::from(executable),
            version: Version { major, minor },
        });
        assert_eq!(got, expect, "{answer:?}");
    }

    #[test]
    fn reads_what_an_interpreter_says_about_itself() {
        check_identity(
            "/usr/bin/python3\n3.11\n",
            Some(("/usr/bin/python3", 3, 11)),
        );
        check_identity("\n3.12\n", Some(("python3", 3, 12)));
        check_identity("/usr/bin/python3\n", None);
        check_identity("/usr/bin/python3\n3\n", None);
        check_identity("", None);
    }

    #[test]
    fn plan_runs_awslambdaric_with_lambda_search_path() {
        let python = Python {
            interpreter: Interpreter {
                executable: PathBuf::from("/usr/bin/python3"),
                version: Version {
                    major: 3,
                    minor: 11,
                },
            },
            client_dir: PathBuf::from("/data/runtimes/python/3.11"),
        };
        let inside = EnvPaths {
            task_root: PathBuf::from("/var/task"),
            opt: PathBuf::from("/opt"),
            runtime_dir: PathBuf::from("/var/runtime"),
        };
        let plan = launch_plan(&python, 12, "app.handler", &inside);
        assert_eq!(plan.program, Path::new("/usr/bin/python3"));
        assert_eq!(plan.args, ["-m", "awslambdaric", "app.handler"]);
        let expect = [
            (
                "PYTHONPATH",
                "/opt/python/lib/python3.12/site-packages:/opt/python:/var/runtime",
            ),
            ("PYTHONUNBUFFERED", "1"),
            ("PATH", "/usr/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
        ];
        let expect: Vec<_> = expect
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(plan.env, expect);
    }

    /// Installs awslambdaric from PyPI with the host's python3 (the one path that cannot be
    /// tested offline), then runs a handler with it.
    #[tokio::test]
    async fn installs_awslambdaric_once_and_runs_a_handler_with_it() {
        if candidates().is_empty() {
            eprintln!("skipped: no python3 on this host");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("runtimes");
        let runtimes = Runtimes::new(RuntimeSettings {
            root: root.clone(),
            python_client_dir: None,
        });
        let python312 = Runtime::Python { minor: 12 };
        let python311 = Runtime::Python { minor: 11 };
        let (first, second) =
            tokio::join!(runtimes.prepare(python312), runtimes.prepare(python311));
        first.unwrap();
        second.unwrap();
        runtimes.prepare(python312).await.unwrap();

        let client_dir = runtimes.runtime_dir(python312).unwrap();
        assert_eq!(runtimes.runtime_dir(python311).unwrap(), client_dir);
        assert_eq!(client_dir.parent(), Some(root.join("python").as_path()));
        assert!(client_dir.join("awslambdaric").is_dir());
        let installed: Vec<_> = std::fs::read_dir(root.join("python"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(
            installed,
            [client_dir.file_name().unwrap()],
            "one install, nothing partial"
        );

        let task_root = dir.path().join("task");
        std::fs::create_dir_all(&task_root).unwrap();
        let app = "print('importing app')\n\
                   def handler(event, context):\n    \
                       print('handling', event['n'])\n    \
                       return {'n': event['n'] + 1, 'request_id': context.aws_request_id,\n\
                               'function_name': context.function_name}\n";
        std::fs::write(task_root.join("app.py"), app).unwrap();
        let paths = EnvPaths {
            task_root: task_root.clone(),
            opt: dir.path().join("opt"),
            runtime_dir: client_dir.clone(),
        };
        let plan = runtimes
            .launch_plan(python312, "app.handler", &paths, &paths)
            .unwrap();

        let python_path = &plan.env.iter().find(|(k, _)| k == "PYTHONPATH").unwrap().1;
        let env = [("PYTHONPATH", Path::new(python_path))];
        host::probe(&plan.program, &["-c", CLIENT_IMPORT], &env)
            .await
            .unwrap();

        let mut api = StubApi::start().await;
        let child = api
            .command(&plan, &task_root, "app.handler")
            .spawn()
            .unwrap();
        api.invoke(Event::new("r1", r#"{"n": 1}"#));
        api.invoke(Event::new("r2", "{}"));
        let post = api.next_post().await;
        assert_eq!(post.path, "/2018-06-01/runtime/invocation/r1/response");
        let expect = serde_json::json!({"n": 2, "request_id": "r1", "function_name": "echo"});
        assert_eq!(post.json(), expect);
        let post = api.next_post().await;
        assert_eq!(post.path, "/2018-06-01/runtime/invocation/r2/error");
        assert_eq!(post.json()["errorType"], "KeyError");
        let (stdout, _) = stop(child).await;
        assert!(
            stdout.contains("importing app") && stdout.contains("handling 1"),
            "{stdout}"
        );

        // A directory the user prepared is used as it is: nothing is installed.
        let offline_root = dir.path().join("offline");
        let offline = Runtimes::new(RuntimeSettings {
            root: offline_root.clone(),
            python_client_dir: Some(client_dir.clone()),
        });
        offline.prepare(python312).await.unwrap();
        assert_eq!(offline.runtime_dir(python312).unwrap(), client_dir);
        assert!(!offline_root.exists());

        // One without awslambdaric is refused, saying why.
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let broken = Runtimes::new(RuntimeSettings {
            root,
            python_client_dir: Some(empty),
        });
        let error = broken.prepare(python312).await.unwrap_err();
        assert!(
            matches!(error, RuntimeError::PythonClientUnusable { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("No module named 'awslambdaric'"),
            "{error}"
        );
        assert_eq!(error.error_type(), "Runtime.InvalidEntrypoint");
    }
}

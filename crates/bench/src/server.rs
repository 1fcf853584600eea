//! The flint under test: where it listens, and starting and stopping one of our own.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

/// How long `flint serve` may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `flint serve` may take to shut down after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many lines of flint's own log a failure shows.
const LOG_TAIL_LINES: usize = 30;

/// The address of a flint's Lambda API.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The base URL without a trailing slash, e.g. `http://127.0.0.1:9000`.
    pub(crate) url: String,
    /// The socket the load generator connects to.
    pub(crate) addr: SocketAddr,
    /// The `Host` header value, e.g. `127.0.0.1:9000`.
    pub(crate) authority: String,
}

impl Endpoint {
    /// Resolves an `http://host:port` URL (as `--endpoint` checked it).
    pub(crate) async fn resolve(url: &str) -> anyhow::Result<Self> {
        let authority = url
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .filter(|authority| !authority.is_empty())
            .with_context(|| format!("endpoint {url:?} has no host"))?;
        let with_port = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await
            .with_context(|| format!("resolve endpoint {url:?}"))?
            .next()
            .with_context(|| format!("endpoint {url:?} resolves to no address"))?;
        Ok(Self {
            url: url.to_owned(),
            addr,
            authority: authority.to_owned(),
        })
    }

    fn local(addr: SocketAddr) -> Self {
        Self {
            url: format!("http://{addr}"),
            addr,
            authority: addr.to_string(),
        }
    }

    /// The ListFunctions URL, which answers 200 once flint is ready.
    pub(crate) fn functions_url(&self) -> String {
        format!("{}/2015-03-31/functions", self.url)
    }
}

/// A `flint serve` started by the benchmark, with a temporary data directory; stopped with
/// SIGTERM by [`LocalServer::stop`] or, on every other way out, when dropped.
#[derive(Debug)]
pub(crate) struct LocalServer {
    child: Option<Child>,
    endpoint: Endpoint,
    log: PathBuf,
    /// Holds the data directory and the log; removed after flint has stopped.
    _scratch: tempfile::TempDir,
}

impl LocalServer {
    /// Starts `flint serve` on a free loopback port and waits until its API answers.
    pub(crate) async fn start(flint: &Path) -> anyhow::Result<Self> {
        if !flint.is_file() {
            bail!(
                "flint binary {} not found: build it with `cargo build --release -p flint` or pass --flint",
                flint.display()
            );
        }
        let scratch = tempfile::Builder::new()
            .prefix("flint-bench-")
            .tempdir()
            .context("create a temporary directory for flint")?;
        let data_dir = scratch.path().join("data");
        let log = scratch.path().join("flint.log");
        let log_file = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let addr = free_loopback_port()?;
        let child = Command::new(flint)
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().context("share flint's log file")?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("start {} serve", flint.display()))?;
        let mut server = Self {
            child: Some(child),
            endpoint: Endpoint::local(addr),
            log,
            _scratch: scratch,
        };
        if let Err(error) = server.wait_until_ready().await {
            let tail = server.log_tail();
            server.stop_quietly();
            return Err(anyhow!("{error:#}\nflint's log ends:\n{tail}"));
        }
        Ok(server)
    }

    /// Where this flint listens.
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The last lines flint wrote to stdout and stderr.
    pub(crate) fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// Stops flint with SIGTERM (SIGKILL if it takes longer than [`STOP_TIMEOUT`]) and says how
    /// it exited.
    pub(crate) fn stop(mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("flint was already stopped")?;
        terminate(&mut child)
    }

    fn stop_quietly(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Nothing more can be done about a flint that will not stop here; the error has
            // been reported by whatever failed first.
            let _ = terminate(&mut child);
        }
    }

    async fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = self.endpoint.functions_url();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().context("check on flint serve")?
            {
                bail!("flint serve exited with {status} before it was ready");
            }
            if let Ok(response) = http.get(&url).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "flint serve did not answer GET {url} with 200 within {}s",
                    READY_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop_quietly();
    }
}

fn terminate(child: &mut Child) -> anyhow::Result<ExitStatus> {
    let pid = i32::try_from(child.id()).context("flint's process id does not fit a pid")?;
    signal::kill(Pid::from_raw(pid), Signal::SIGTERM).context("send SIGTERM to flint")?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().context("wait for flint to stop")? {
            return Ok(status);
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.kill().context("kill flint")?;
    let status = child.wait().context("wait for flint to die")?;
    bail!(
        "flint did not stop within {}s of SIGTERM and was killed ({status})",
        STOP_TIMEOUT.as_secs()
    )
}

/// A loopback address with a port that was free a moment ago. Another process could take it
/// before flint binds it; flint then fails to start and says so.
fn free_loopback_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    listener.local_addr().context("find a free port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoints_resolve_with_and_without_a_port() {
        let endpoint = Endpoint::resolve("http://127.0.0.1:9000").await.unwrap();
        assert_eq!(endpoint.addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(endpoint.authority, "127.0.0.1:9000");
        assert_eq!(
            endpoint.functions_url(),
            "http://127.0.0.1:9000/2015-03-31/functions"
        );

        let endpoint = Endpoint::resolve("http://127.0.0.1").await.unwrap();
        assert_eq!(endpoint.addr, "127.0.0.1:80".parse().unwrap());
        assert_eq!(endpoint.authority, "127.0.0.1");

        let endpoint = Endpoint::resolve("http://[::1]:9000").await.unwrap();
        assert_eq!(endpoint.addr, "[::1]:9000".parse().unwrap());

        assert!(Endpoint::resolve("http://").await.is_err());
    }

    #[tokio::test]
    async fn a_missing_flint_binary_is_named() {
        let error = LocalServer::start(Path::new("/nonexistent/flint"))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("/nonexistent/flint not found"));
    }

    #[tokio::test]
    async fn a_flint_that_exits_at_once_is_reported_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("flint");
        fs::write(&fake, "#!/bin/sh\necho 'cannot bind' >&2\nexit 3\n").unwrap();
        fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let error = format!("{:#}", LocalServer::start(&fake).await.unwrap_err());
        assert!(error.contains("exited with exit status: 3"), "{error}");
        assert!(error.contains("cannot bind"), "{error}");
    }
}

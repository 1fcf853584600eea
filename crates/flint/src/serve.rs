//! `flint serve`: opens the data directory, wires store, code, logs, runtimes, pool, control
//! plane and API together, and serves until SIGINT or SIGTERM.

use std::future::IntoFuture as _;
use std::io::IsTerminal as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

use crate::event_loops::{Acceptor, HandedConnections, event_loop, raised};

/// How long in-flight requests may take to finish once a stop is asked for; environments still
/// busy after that are stopped with the server.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Options of `flint serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address the Lambda API listens on.
    #[arg(long, env = "FLINT_LISTEN", default_value = "127.0.0.1:9000")]
    pub(crate) listen: SocketAddr,
    /// Where functions, code and logs are kept (default: $XDG_DATA_HOME/flint or ~/.local/share/flint).
    #[arg(long, env = "FLINT_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The account id in every ARN (12 digits).
    #[arg(long, env = "FLINT_ACCOUNT_ID", default_value = "000000000000", value_parser = parse_account_id)]
    pub(crate) account_id: String,
    /// The region of unsigned requests; signed requests name their own.
    #[arg(long, env = "FLINT_REGION", default_value = "us-east-1")]
    pub(crate) region: String,
    /// Seconds an idle execution environment is kept warm.
    #[arg(
        long,
        env = "FLINT_IDLE_TIMEOUT",
        default_value_t = 600,
        value_name = "SECS"
    )]
    pub(crate) idle_timeout: u64,
    /// A directory that already contains awslambdaric (for hosts that cannot install it).
    #[arg(long, env = "FLINT_PYTHON_CLIENT_DIR", value_name = "DIR")]
    pub(crate) python_client_dir: Option<PathBuf>,
    /// How functions are isolated: `auto` (full isolation as root, rootless isolation in user
    /// namespaces otherwise; refuses to start where neither is possible), `full` (root with
    /// outbound connections, or refuse), `none` (plain processes).
    #[arg(long, env = "FLINT_ISOLATION", value_enum, default_value = "auto")]
    pub(crate) isolation: crate::isolation::Isolation,
    /// Deployment packages no function, version or layer uses are removed every SECS, except
    /// those stored (or uploaded again) less than SECS ago, which may be on their way into the
    /// database; at start they are removed at once.
    #[arg(
        long,
        env = "FLINT_CODE_GRACE",
        default_value_t = 600,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) code_grace: u64,
    /// Leave local connections to plain TCP: without this, as root, messages between two
    /// sockets of this host on a connection to the API or an environment's Runtime API skip the
    /// TCP stack (a BPF socket map; the connections stay TCP connections to their ends).
    #[arg(long, env = "FLINT_NO_LOOPBACK_SHORTCUT")]
    pub(crate) no_loopback_shortcut: bool,
    /// Threads that serve the APIs, each with its own event loop (default: one per two CPUs).
    #[arg(long, env = "FLINT_WORKERS", value_name = "N")]
    pub(crate) workers: Option<NonZeroUsize>,
    #[command(flatten)]
    pub(crate) concurrency: crate::limits::ConcurrencyArgs,
    #[command(flatten)]
    pub(crate) async_events: crate::async_events::AsyncArgs,
}

fn parse_account_id(text: &str) -> Result<String, String> {
    if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_string())
    } else {
        Err(format!("an account id is 12 digits, not {text:?}"))
    }
}

/// The directories of a data directory.
#[derive(Debug)]
struct DataDir {
    root: PathBuf,
}

impl DataDir {
    fn database(&self) -> PathBuf {
        self.root.join("flint.db")
    }
    fn code(&self) -> PathBuf {
        self.root.join("code")
    }
    fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    fn runtimes(&self) -> PathBuf {
        self.root.join("runtimes")
    }
    /// An empty directory, the `/opt` of functions without layers.
    fn empty(&self) -> PathBuf {
        self.root.join("empty")
    }
}

/// `$XDG_DATA_HOME/flint`, else `$HOME/.local/share/flint`.
fn default_data_dir(xdg_data_home: Option<&str>, home: Option<&str>) -> anyhow::Result<PathBuf> {
    if let Some(xdg) = xdg_data_home.filter(|dir| Path::new(dir).is_absolute()) {
        return Ok(Path::new(xdg).join("flint"));
    }
    let home = home
        .filter(|dir| !dir.is_empty())
        .context("neither XDG_DATA_HOME nor HOME is set: pass --data-dir")?;
    Ok(Path::new(home).join(".local/share/flint"))
}

/// `AWS_ENDPOINT_URL` for functions: how an environment on this host reaches the API. A server
/// listening on every address is reached on loopback.
fn endpoint_url(local: SocketAddr) -> String {
    let ip = local.ip();
    let reachable = if ip.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        ip
    };
    format!("http://{}", SocketAddr::new(reachable, local.port()))
}

/// Installs the loopback shortcut (see `sandbox::loopback`) when `wanted` and admits the API's
/// listener to it. Without it every local connection is plain TCP, which works the same.
fn loopback_shortcut(wanted: bool, listener: &TcpListener) -> Option<sandbox::loopback::Admission> {
    if !wanted {
        return None;
    }
    match sandbox::loopback::install() {
        Ok(()) => sandbox::loopback::admit(std::os::fd::AsFd::as_fd(listener)),
        Err(error) => {
            tracing::info!(%error, "local connections use plain TCP (no loopback shortcut)");
            None
        }
    }
}

/// Runs the server until SIGINT or SIGTERM, on this thread's event loop and those of the other
/// workers.
pub(crate) fn main(args: ServeArgs) -> anyhow::Result<()> {
    event_loop()
        .context("could not start an event loop")?
        .block_on(run(args))
}

async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A subscriber installed earlier (by a test harness, say) keeps working; this one is then
    // not needed.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();

    let root = match args.data_dir {
        Some(dir) => dir,
        None => default_data_dir(
            std::env::var("XDG_DATA_HOME").ok().as_deref(),
            std::env::var("HOME").ok().as_deref(),
        )?,
    };
    let data = DataDir { root };
    for dir in [data.code(), data.logs(), data.runtimes(), data.empty()] {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let store = Arc::new(
        store::SqliteStore::open(&data.database())
            .with_context(|| format!("could not open the store in {}", data.root.display()))?,
    );
    let code = store::CodeStore::open(&data.code())?;
    let logs = logs::LogStore::open(&data.logs(), logs::LogLimits::default())?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    // Installed before the launcher makes environments ahead, so their listeners are admitted.
    let _api_shortcut = loopback_shortcut(!args.no_loopback_shortcut, &listener);

    let runtimes = runtimes::Runtimes::new(runtimes::RuntimeSettings {
        root: data.runtimes(),
        python_client_dir: args.python_client_dir,
    });
    let (launcher, isolation) = crate::isolation::launcher(args.isolation, local, &data.root)?;
    println!("{isolation}");
    let pool = pool::Pool::new(
        pool::PoolSettings {
            scope: model::Scope {
                region: args.region.clone(),
                account: args.account_id.clone(),
            },
            endpoint_url: endpoint_url(local),
            idle_timeout: Duration::from_secs(args.idle_timeout),
            empty_dir: data.empty(),
            cold_start_gate: Some(Arc::new(control::ScalingGate::new(
                args.concurrency.scaling_rate(),
            ))),
        },
        launcher,
        runtimes.clone(),
        logs.clone(),
    );
    // One database holds functions, layers, the async queue and its configurations.
    let queue = dispatch::AsyncQueue::new(Arc::clone(&store) as Arc<dyn store::EventQueue>);
    let event_configs = Arc::clone(&store) as Arc<dyn store::EventInvokeConfigStore>;
    let clock: Arc<dyn model::Clock> = Arc::new(model::SystemClock);
    let control = control::ControlPlane::new(control::ControlParts {
        layers: Arc::clone(&store) as Arc<dyn store::LayerStore>,
        store,
        code,
        pool,
        runtimes,
        logs,
        clock: Arc::clone(&clock),
        account_id: args.account_id.clone(),
        concurrency: args.concurrency.limits(),
        queue: queue.clone(),
        event_configs: Arc::clone(&event_configs),
    });
    let removed = control
        .collect_unreferenced_code(Duration::ZERO)
        .await
        .context("could not remove unreferenced code")?;
    if removed > 0 {
        tracing::info!(removed, "removed deployment packages no function uses");
    }
    tokio::spawn(collect_code(
        control.clone(),
        Duration::from_secs(args.code_grace),
    ));
    let restored = control
        .restore()
        .await
        .context("could not restore concurrency settings")?;
    tracing::info!(
        reservations = restored.reservations,
        provisioned = restored.provisioned,
        "restored concurrency settings"
    );
    let dispatcher = crate::async_events::start(
        &args.async_events,
        crate::async_events::DispatcherInputs {
            queue,
            configs: event_configs,
            control: control.clone(),
            clock,
            account_id: args.account_id,
        },
    )?;

    let app = api::app(
        control.clone(),
        api::ApiSettings {
            default_region: args.region,
            public_url: None,
        },
    );
    println!(
        "flint listening on http://{local} (data in {})",
        data.root.display()
    );
    let workers = args
        .workers
        .map_or_else(crate::event_loops::default_workers, NonZeroUsize::get);
    let workers = serve_until_stopped(listener, app, workers).await?;
    // Before the pool: attempts still running after the grace are made due again, then their
    // environments stop with the pool.
    dispatcher
        .shutdown(crate::async_events::DISPATCHER_GRACE)
        .await;
    // The workers' loops keep running meanwhile: the environments they started answer the
    // shutdown there.
    control.shutdown().await;
    workers.stop();
    tracing::info!("stopped");
    Ok(())
}

/// Removes the packages of deleted functions, versions and layers and of replaced code every
/// `grace`, sparing those stored less than `grace` ago: an upload is stored before the
/// database refers to it.
async fn collect_code(control: control::ControlPlane, grace: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + grace, grace);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match control.collect_unreferenced_code(grace).await {
            Ok(0) => {}
            Ok(removed) => {
                tracing::info!(removed, "removed deployment packages no function uses");
            }
            Err(error) => tracing::warn!(%error, "could not remove unreferenced code"),
        }
    }
}

/// The worker threads beside the main one, kept until the environments they serve are gone.
#[derive(Debug)]
struct Workers {
    threads: Vec<std::thread::JoinHandle<()>>,
    exit: watch::Sender<bool>,
}

impl Workers {
    /// Ends the workers' event loops and waits for their threads.
    fn stop(self) {
        let _ = self.exit.send(true);
        for thread in self.threads {
            if thread.join().is_err() {
                tracing::warn!("a worker thread panicked");
            }
        }
    }
}

/// Flags that every worker watches.
#[derive(Debug, Clone)]
struct Signals {
    /// Stop accepting; finish the requests in flight.
    stopping: watch::Receiver<bool>,
    /// The grace is over: drop the requests still in flight.
    cut: watch::Receiver<bool>,
}

/// Serves on `workers` event loops (this one and `workers - 1` threads) until SIGINT or
/// SIGTERM, then stops accepting and waits a little for requests in flight.
async fn serve_until_stopped(
    listener: TcpListener,
    app: axum::Router,
    workers: usize,
) -> anyhow::Result<Workers> {
    let (stopping_tx, stopping) = watch::channel(false);
    let (cut_tx, cut) = watch::channel(false);
    let (exit, exit_rx) = watch::channel(false);
    let signals = Signals { stopping, cut };
    let (acceptor, mut shares) =
        Acceptor::new(listener, workers).context("could not set up the workers")?;
    let own_share = shares.remove(0);
    let mut threads = Vec::with_capacity(shares.len());
    let mut served = Vec::with_capacity(workers);
    for (index, share) in shares.into_iter().enumerate() {
        let (done, done_rx) = tokio::sync::oneshot::channel::<()>();
        let (app, signals, exit) = (app.clone(), signals.clone(), exit_rx.clone());
        let thread = std::thread::Builder::new()
            .name(format!("flint-worker-{}", index + 1))
            .spawn(move || match event_loop() {
                Ok(runtime) => runtime.block_on(async move {
                    serve_share(share, app, signals).await;
                    let _ = done.send(());
                    raised(exit).await;
                }),
                Err(error) => tracing::error!(%error, "a worker could not start its event loop"),
            })
            .context("could not start a worker thread")?;
        threads.push(thread);
        served.push(done_rx);
    }
    let accepting = tokio::spawn(acceptor.run(raised(signals.stopping.clone())));
    let own = tokio::spawn(serve_share(own_share, app, signals));

    stop_signal().await;
    let _ = stopping_tx.send(true);
    tracing::info!("stopping: waiting for requests in flight");
    let _ = accepting.await;
    let all_served = async move {
        let _ = own.await;
        for done in served {
            let _ = done.await;
        }
    };
    if tokio::time::timeout(STOP_GRACE, all_served).await.is_err() {
        tracing::warn!(
            grace_secs = STOP_GRACE.as_secs(),
            "requests still running after the grace period are cut off"
        );
        let _ = cut_tx.send(true);
    }
    Ok(Workers { threads, exit })
}

/// Serves one worker's connections until the stop (then finishes what is in flight) or the
/// cut.
async fn serve_share(connections: HandedConnections, app: axum::Router, signals: Signals) {
    let server = axum::serve(connections, app)
        .with_graceful_shutdown(raised(signals.stopping))
        .into_future();
    tokio::select! {
        served = server => {
            if let Err(error) = served {
                tracing::warn!(%error, "a worker stopped serving");
            }
        }
        () = raised(signals.cut) => {}
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM; stop with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        result = interrupt => {
            if let Err(error) = result {
                tracing::warn!(%error, "cannot watch SIGINT");
                std::future::pending::<()>().await;
            }
        }
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_follows_xdg_then_home() {
        let check = |xdg, home, expect: Option<&str>| {
            let got = default_data_dir(xdg, home).ok();
            assert_eq!(got.as_deref(), expect.map(Path::new), "{xdg:?} {home:?}");
        };
        check(Some("/xdg"), Some("/home/u"), Some("/xdg/flint"));
        check(
            Some("relative"),
            Some("/home/u"),
            Some("/home/u/.local/share/flint"),
        );
        check(None, Some("/home/u"), Some("/home/u/.local/share/flint"));
        check(None, None, None);
    }

    #[test]
    fn functions_reach_the_api_on_loopback_when_listening_everywhere() {
        let check = |listen: &str, expect: &str| {
            assert_eq!(endpoint_url(listen.parse().unwrap()), expect, "{listen}");
        };
        check("0.0.0.0:9000", "http://127.0.0.1:9000");
        check("127.0.0.1:9000", "http://127.0.0.1:9000");
        check("127.0.0.2:9000", "http://127.0.0.2:9000");
        check("[::]:9000", "http://127.0.0.1:9000");
        check("[::1]:9000", "http://[::1]:9000");
        check("192.0.2.7:9000", "http://192.0.2.7:9000");
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(parse_account_id("000000000000").is_ok());
        assert!(parse_account_id("12345").is_err());
        assert!(parse_account_id("00000000000a").is_err());
    }
}

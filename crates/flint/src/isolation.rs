//! Choosing how execution environments are isolated (`flint serve --isolation`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

/// `--isolation`: how environments are isolated from the host and from each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Isolation {
    /// Full isolation as root (with outbound connections where the host can give them),
    /// rootless isolation in user namespaces otherwise.
    Auto,
    /// Full isolation including outbound connections; refuses to start otherwise (without
    /// root, for one).
    Full,
    /// No isolation: environments are plain processes of flint's user.
    None,
}

/// argv[0] with which the isolated launcher starts this program as an environment's jailer.
pub(crate) const JAIL_NAME: &str = "flint-jail";

/// Whether this process was started as a jailer rather than as the command line.
pub(crate) fn invoked_as_jail() -> bool {
    std::env::args_os()
        .next()
        .is_some_and(|arg0| arg0 == JAIL_NAME)
}

/// The jailer: a `flint-jail` next to this program if there is one (smaller, so each
/// environment's init costs less memory), else this program itself.
pub(crate) fn jail_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("flint"));
    let beside = exe.with_file_name(JAIL_NAME);
    if beside.is_file() { beside } else { exe }
}

/// The isolated launcher's settings for a server listening on `local` with its data in
/// `data_dir`, running as root or not.
fn settings(local: SocketAddr, data_dir: &Path, root: bool) -> sandbox::IsolationSettings {
    // A server listening on every address is reached on loopback.
    let mut api = local;
    if api.ip().is_unspecified() {
        api.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let mut settings = sandbox::IsolationSettings::new(api);
    settings.jail = jail_path();
    if !root {
        // A rootless server cannot make /run/flint; its environments' roots are mounted (in
        // their own mount namespaces only) on a directory of its data instead.
        settings.root_mount_point = data_dir.join("sandbox-root");
    }
    settings
}

/// The launcher `isolation` asks for, and a line saying what is in effect.
pub(crate) fn launcher(
    isolation: Isolation,
    local: SocketAddr,
    data_dir: &Path,
) -> anyhow::Result<(Arc<dyn sandbox::Launcher>, String)> {
    if isolation == Isolation::None {
        return Ok((
            Arc::new(sandbox::ProcessLauncher),
            "isolation is OFF (--isolation none): functions run as plain processes of this user and can read everything it can".into(),
        ));
    }
    let support = sandbox::probe(&jail_path());
    let settings = settings(local, data_dir, support.root);
    if let Some(blocker) = support.isolation_blocker() {
        anyhow::bail!(
            "cannot isolate functions on this host: {blocker}. Run `flint doctor` for details, or start with `--isolation none` to run functions without isolation"
        );
    }
    if isolation == Isolation::Full
        && let Err(why) = &support.egress_tools
    {
        anyhow::bail!("--isolation full needs outbound connections for functions: {why}");
    }
    let launcher = sandbox::IsolatedLauncher::start_with(settings, &support)
        .context("could not start the isolated launcher")?;
    let description = launcher.describe();
    Ok((Arc::new(launcher), description))
}

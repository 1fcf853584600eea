//! The reaper: a small process that outlives a killed server just long enough to end its
//! environments.
//!
//! Idle environments are frozen, and a frozen process cannot act on any signal, its parent's
//! death included; so when the server dies without cleaning up (`kill -9`, a crash), something
//! else must thaw and kill them. Each isolated launcher starts `flint-jail --reap <instance>`
//! holding the read end of a pipe whose write end only the server has. The kernel closes that
//! end however the server ends, the reaper reads end-of-file, and kills and removes every
//! environment cgroup of the instance. After a clean stop it finds nothing left to do.

use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;

use crate::cgroup::{Cgroups, HostCgroupSys};

/// The argument that starts `flint-jail` as a reaper.
pub(crate) const FLAG: &str = "--reap";

/// The server's side of the reaper: dropping it (or the server dying) releases the reaper.
#[derive(Debug)]
pub(crate) struct Reaper {
    _pipe: ChildStdin,
    _child: Child,
}

/// Starts the reaper of instance `name` through the jail program at `jail`.
pub(crate) fn start(jail: &Path, name: &str) -> std::io::Result<Reaper> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(jail)
        .arg(FLAG)
        .arg(name)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        // Its own process group: a Ctrl-C at the terminal is for the server, not for it.
        .process_group(0)
        .spawn()?;
    let pipe = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no pipe to the reaper"))?;
    Ok(Reaper {
        _pipe: pipe,
        _child: child,
    })
}

/// The reaper's life: wait for the server to go, then end what it left. Returns the exit code.
pub(crate) fn run(name: &str) -> i32 {
    let mut buffer = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    loop {
        match stdin.read(&mut buffer) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let Ok(layout) = crate::support::probe_cgroups() else {
        return 1;
    };
    let cgroups = Cgroups::observe(layout, Arc::new(HostCgroupSys));
    cgroups.reap_instance(name);
    0
}

//! The isolation-off launcher: each environment is a plain child process in its own process
//! group, with a cleared environment and its Runtime API on a loopback port of its own.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::process::Stdio;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use crate::{ExitReason, LaunchSpec, Launcher, Mounts, Prepared, Sandbox, SandboxError};

/// Runs environments as ordinary processes of the server's user.
#[derive(Debug, Default)]
pub struct ProcessLauncher;

#[async_trait::async_trait]
impl Launcher for ProcessLauncher {
    fn inside(&self, mounts: &Mounts) -> Mounts {
        mounts.clone()
    }

    async fn prepare(&self) -> Result<Prepared, SandboxError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(SandboxError::BindRuntimeApi)?;
        let local_addr = listener
            .local_addr()
            .map_err(SandboxError::BindRuntimeApi)?;
        let shortcut = crate::loopback::admit(std::os::fd::AsFd::as_fd(&listener));
        Ok(Prepared {
            listener,
            runtime_api: local_addr.to_string(),
            local_addr,
            endpoint_url: None,
            network: None,
            shortcut,
        })
    }

    async fn launch(&self, spec: LaunchSpec) -> Result<Box<dyn Sandbox>, SandboxError> {
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let server = std::process::id();
        // SAFETY: the closure runs in the child between fork and exec and calls only prctl and
        // getppid, which are async-signal-safe; it allocates nothing and takes no lock. The
        // parent-death signal is tied to the forking thread, which is a runtime worker thread
        // that lives as long as the server.
        unsafe {
            command.pre_exec(move || {
                // A killed server (`kill -9`) takes its environments with it.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The server may already have died between fork and prctl.
                if u32::try_from(libc::getppid()).ok() != Some(server) {
                    return Err(std::io::Error::other("the server exited"));
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|source| SandboxError::Spawn {
            program: spec.program.clone(),
            source,
        })?;
        let pid = child.id();
        // Kept open: each REPORT rereads it in place instead of looking the path up again, and
        // it can never describe another process that reuses the pid.
        let status = pid.and_then(|pid| File::open(format!("/proc/{pid}/status")).ok());
        Ok(Box::new(ProcessSandbox {
            pid,
            status,
            child: Mutex::new(child),
        }))
    }
}

#[derive(Debug)]
struct ProcessSandbox {
    pid: Option<u32>,
    /// `/proc/<pid>/status` of the runtime, for its peak resident set.
    status: Option<File>,
    child: Mutex<Child>,
}

#[async_trait::async_trait]
impl Sandbox for ProcessSandbox {
    fn pid(&self) -> Option<u32> {
        self.pid
    }

    fn take_output(&self) -> Option<(tokio::process::ChildStdout, tokio::process::ChildStderr)> {
        let mut child = self.child.try_lock().ok()?;
        Some((child.stdout.take()?, child.stderr.take()?))
    }

    async fn wait(&self) -> ExitReason {
        match self.child.lock().await.wait().await {
            Ok(status) => status.into(),
            Err(_) => ExitReason::Unknown,
        }
    }

    fn kill(&self) {
        // The runtime leads its own process group, so one signal ends every process it started.
        if let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    fn peak_memory_bytes(&self) -> Option<u64> {
        // Without a cgroup, the runtime process's own peak resident set is the best measure.
        peak_resident(self.status.as_ref()?)
    }
}

/// The peak resident set (`VmHWM`) in an open `/proc/<pid>/status`, reread in place.
pub(crate) fn peak_resident(status: &File) -> Option<u64> {
    let mut buffer = [0u8; 4096];
    let read = status.read_at(&mut buffer, 0).ok()?;
    let status = std::str::from_utf8(&buffer[..read]).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl Drop for ProcessSandbox {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(program: &str, args: &[&str]) -> LaunchSpec {
        let dir = std::env::temp_dir();
        LaunchSpec {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec![("ONLY".into(), "this".into())],
            cwd: dir.clone(),
            mounts: Mounts {
                task_root: dir.clone(),
                opt: dir.clone(),
                runtime_dir: dir,
            },
            runtime_program: program.into(),
            memory_mb: 128,
            ephemeral_storage_mb: 512,
            network: None,
        }
    }

    #[tokio::test]
    async fn runs_with_only_the_given_environment_and_reports_the_exit() {
        let sandbox = ProcessLauncher
            .launch(spec(
                "/bin/sh",
                &["-c", "test \"$ONLY\" = this && test -z \"$HOME\" && exit 3"],
            ))
            .await
            .unwrap();
        assert_eq!(sandbox.wait().await, ExitReason::Code(3));
    }

    #[tokio::test]
    async fn kill_ends_the_whole_process_group() {
        let sandbox = ProcessLauncher
            .launch(spec("/bin/sh", &["-c", "sleep 30 & sleep 30"]))
            .await
            .unwrap();
        sandbox.kill();
        assert_eq!(sandbox.wait().await, ExitReason::Signal(9));
    }

    #[tokio::test]
    async fn peak_memory_is_reread_until_the_process_ends() {
        let sandbox = ProcessLauncher
            .launch(spec("/bin/sh", &["-c", "echo ready; sleep 30"]))
            .await
            .unwrap();
        // Once it printed, the shell has replaced the forked copy of this test's memory.
        let (stdout, _stderr) = sandbox.take_output().unwrap();
        let mut ready = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut tokio::io::BufReader::new(stdout), &mut ready)
            .await
            .unwrap();
        assert_eq!(ready, "ready\n");
        let first = sandbox
            .peak_memory_bytes()
            .expect("a running process has a peak");
        assert!(first > 0);
        // Read again from the same open file (the kernel's counters are approximate, so the
        // value may move by a few pages either way).
        let second = sandbox.peak_memory_bytes().expect("still running");
        assert!(
            second > first / 2 && second < first * 2,
            "{first} then {second}"
        );
        sandbox.kill();
        sandbox.wait().await;
        assert_eq!(sandbox.peak_memory_bytes(), None);
    }

    #[tokio::test]
    async fn prepare_binds_a_loopback_port() {
        let prepared = ProcessLauncher.prepare().await.unwrap();
        assert!(prepared.local_addr.ip().is_loopback());
        assert_eq!(prepared.runtime_api, prepared.local_addr.to_string());
    }
}

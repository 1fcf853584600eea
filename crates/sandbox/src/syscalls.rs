//! The syscall seam of the jail: mount-plan operations carried out on the host, or recorded.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::mount_plan::Op;

/// Carries out set-up operations.
pub(crate) trait Syscalls {
    fn apply(&mut self, op: &Op) -> io::Result<()>;
}

/// Why a set-up operation failed: the operation and the OS error.
#[derive(Debug, thiserror::Error)]
#[error("{op:?} failed: {source}")]
pub(crate) struct OpError {
    pub(crate) op: Op,
    #[source]
    pub(crate) source: io::Error,
}

/// Carries out `ops` in order, stopping at the first failure.
pub(crate) fn run(ops: &[Op], sys: &mut impl Syscalls) -> Result<(), OpError> {
    for op in ops {
        sys.apply(op).map_err(|source| OpError {
            op: op.clone(),
            source,
        })?;
    }
    Ok(())
}

/// The real thing; used by the jail inside its new namespaces.
#[derive(Debug, Default)]
pub(crate) struct HostSyscalls;

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

fn c_str(text: &str) -> io::Result<CString> {
    CString::new(text).map_err(|_| io::ErrorKind::InvalidInput.into())
}

/// Calls mount(2); `None` arguments are null pointers.
fn mount(
    source: Option<&CString>,
    target: &CString,
    fstype: Option<&CString>,
    flags: libc::c_ulong,
    data: Option<&CString>,
) -> io::Result<()> {
    let ptr = |s: Option<&CString>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is null or points to a NUL-terminated string that outlives the
    // call; mount(2) does not keep them.
    let rc = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The flags of the bind's source that a read-only remount keeps (noexec and the atime mode;
/// the remount would otherwise reset them).
fn locked_flags(target: &CString) -> io::Result<libc::c_ulong> {
    // SAFETY: statvfs is plain data; all-zero is a valid value to be overwritten.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `target` is NUL-terminated and `stat` is a valid out-pointer.
    if unsafe { libc::statvfs(target.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let keep = libc::ST_NOSUID
        | libc::ST_NODEV
        | libc::ST_NOEXEC
        | libc::ST_NOATIME
        | libc::ST_NODIRATIME
        | libc::ST_RELATIME;
    Ok(stat.f_flag & keep)
}

impl Syscalls for HostSyscalls {
    fn apply(&mut self, op: &Op) -> io::Result<()> {
        match op {
            Op::MakeMountsPrivate => mount(
                None,
                &c_str("/")?,
                None,
                libc::MS_REC | libc::MS_PRIVATE,
                None,
            ),
            Op::MountTmpfs {
                target,
                options,
                noexec,
                devices,
            } => {
                let mut flags = libc::MS_NOSUID;
                if *noexec {
                    flags |= libc::MS_NOEXEC;
                }
                if !*devices {
                    flags |= libc::MS_NODEV;
                }
                let tmpfs = c_str("tmpfs")?;
                mount(
                    Some(&tmpfs),
                    &c_path(target)?,
                    Some(&tmpfs),
                    flags,
                    Some(&c_str(options)?),
                )
            }
            Op::MakeDir { path } => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(path),
            Op::MakeFile { path } => std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .map(drop),
            Op::Symlink { target, link } => std::os::unix::fs::symlink(target, link),
            Op::BindReadOnly { source, target } => {
                let target = c_path(target)?;
                mount(
                    Some(&c_path(source)?),
                    &target,
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )?;
                let flags = libc::MS_REMOUNT
                    | libc::MS_BIND
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV;
                mount(None, &target, None, flags | locked_flags(&target)?, None)
            }
            Op::BindDevice { source, target } => mount(
                Some(&c_path(source)?),
                &c_path(target)?,
                None,
                libc::MS_BIND,
                None,
            ),
            Op::MakeDevice { path, major, minor } => {
                let c = c_path(path)?;
                // SAFETY: `c` is NUL-terminated; makedev only combines numbers.
                let rc = unsafe {
                    libc::mknod(
                        c.as_ptr(),
                        libc::S_IFCHR | 0o666,
                        libc::makedev(*major, *minor),
                    )
                };
                if rc != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The umask applies to mknod; devices must be usable by the sandbox user.
                std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            }
            Op::MountProc { target } => {
                let proc = c_str("proc")?;
                let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                mount(Some(&proc), &c_path(target)?, Some(&proc), flags, None)
            }
            Op::PivotRoot { new_root } => pivot_root(new_root),
            Op::RemountRootReadOnly => {
                let root = c_str("/")?;
                let flags = libc::MS_REMOUNT
                    | libc::MS_BIND
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV;
                mount(None, &root, None, flags, None)
            }
            Op::SetHostname { name } => {
                // SAFETY: the pointer and length describe `name`'s bytes.
                let rc = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
                if rc == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            }
        }
    }
}

/// `pivot_root(".", ".")` in the new root stacks the old root under the new one, so it can be
/// detached without a directory to hold it (the trick `runc` uses).
fn pivot_root(new_root: &Path) -> io::Result<()> {
    std::env::set_current_dir(new_root)?;
    let dot = c_str(".")?;
    // SAFETY: both pointers are NUL-terminated strings that outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dot` is NUL-terminated.
    if unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    std::env::set_current_dir("/")
}

#[cfg(test)]
pub(crate) mod recorder {
    use super::*;

    /// Records the operations and fails the one it was told to.
    #[derive(Debug, Default)]
    pub(crate) struct Recorder {
        pub(crate) done: Vec<Op>,
        pub(crate) fail_at: Option<usize>,
    }

    impl Syscalls for Recorder {
        fn apply(&mut self, op: &Op) -> io::Result<()> {
            if self.fail_at == Some(self.done.len()) {
                return Err(io::ErrorKind::PermissionDenied.into());
            }
            self.done.push(op.clone());
            Ok(())
        }
    }

    #[test]
    fn stops_at_the_first_failure_and_names_it() {
        let ops = [
            Op::MakeMountsPrivate,
            Op::MakeDir { path: "/a".into() },
            Op::MakeDir { path: "/b".into() },
        ];
        let mut recorder = Recorder {
            fail_at: Some(1),
            ..Recorder::default()
        };
        let error = run(&ops, &mut recorder).unwrap_err();
        assert_eq!(recorder.done, [Op::MakeMountsPrivate]);
        assert_eq!(error.op, Op::MakeDir { path: "/a".into() });
    }
}

//! `flint-init`, embedded: the program a jail becomes once its runtime runs (see
//! `init/init.rs` and the build script). The launcher puts it into one sealed memory file at
//! start; every jail gets that file as a descriptor and executes it from there, so the
//! environments share its few pages.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The program; empty on targets it is not written for.
const PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/flint-init"));

/// A sealed, close-on-exec memory file holding `flint-init`, or `None` where there is none.
pub(crate) fn memory_file() -> io::Result<Option<OwnedFd>> {
    if PROGRAM.is_empty() {
        return Ok(None);
    }
    // SAFETY: memfd_create takes a NUL-terminated name and flags; it returns a new descriptor.
    let fd = unsafe {
        libc::memfd_create(
            c"flint-init".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: memfd_create returned a new descriptor owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    std::fs::File::from(fd.try_clone()?).write_all(PROGRAM)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a descriptor owned here with an integer argument.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Some(fd))
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    /// Runs `flint-init` from its memory file for a child that exits with `code`, as a jail
    /// does: returns what it reported on descriptor 4 and its own exit status.
    fn supervise(code: i32) -> (String, i32) {
        let file = memory_file()
            .unwrap()
            .expect("flint-init is built for this target");
        let (mut read, write) = std::io::pipe().unwrap();
        let script = format!("sleep 0.1; exit {code}");
        let init = file.as_raw_fd();
        let status = write.as_raw_fd();
        let mut command = std::process::Command::new("/bin/sh");
        command.args(["-c", &script]);
        // SAFETY: between fork and exec the closure only forks, formats into a stack buffer,
        // duplicates a descriptor and executes; it allocates nothing and takes no lock.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                // The shell runs in a child; this process becomes its flint-init.
                let pid = libc::fork();
                if pid != 0 {
                    let mut digits = [0u8; 16];
                    let _ = write!(std::io::Cursor::new(&mut digits[..15]), "{pid}");
                    libc::dup2(status, 4);
                    let argv: [*mut libc::c_char; 3] = [
                        c"flint-init".as_ptr().cast_mut(),
                        digits.as_mut_ptr().cast(),
                        std::ptr::null_mut(),
                    ];
                    let envp: [*mut libc::c_char; 1] = [std::ptr::null_mut()];
                    libc::execveat(
                        init,
                        c"".as_ptr(),
                        argv.as_ptr(),
                        envp.as_ptr(),
                        libc::AT_EMPTY_PATH,
                    );
                    libc::_exit(99);
                }
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        drop(write);
        let exit = child.wait().unwrap();
        let mut reported = String::new();
        read.read_to_string(&mut reported).unwrap();
        (
            reported,
            exit.code().unwrap_or_else(|| exit.signal().unwrap_or(-1)),
        )
    }

    #[test]
    fn reports_how_the_program_ended() {
        assert_eq!(supervise(3), ("exit 768\n".to_string(), 0));
        assert_eq!(supervise(0), ("exit 0\n".to_string(), 0));
    }
}

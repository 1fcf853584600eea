//! The file operations of the cgroup backends: the host's cgroup file systems, or a recorder.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// What the cgroup backends do to the host.
pub(crate) trait CgroupSys: Send + Sync {
    fn make_dir(&self, path: &Path) -> io::Result<()>;
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    fn write(&self, path: &Path, value: &str) -> io::Result<()>;
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Opens a file that will be read many times (an environment's peak memory, after every
    /// invocation), so each read is one system call instead of three.
    fn open_for_rereads(&self, path: &Path) -> io::Result<Box<dyn Reread>>;
    fn exists(&self, path: &Path) -> bool;
    /// Names of the subdirectories of `path`.
    fn children(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Sends SIGKILL to a process.
    fn kill(&self, pid: i32);
}

/// A cgroup file kept open: every read shows its current content.
pub(crate) trait Reread: Send + Sync {
    fn reread(&self) -> io::Result<String>;
}

/// Cgroup files are small; one read from offset 0 regenerates the whole content.
const REREAD_BUFFER: usize = 256;

impl Reread for File {
    fn reread(&self) -> io::Result<String> {
        let mut buffer = [0u8; REREAD_BUFFER];
        let read = self.read_at(&mut buffer, 0)?;
        String::from_utf8(buffer[..read].to_vec()).map_err(io::Error::other)
    }
}

/// The real cgroup file systems.
#[derive(Debug, Default)]
pub(crate) struct HostCgroupSys;

impl CgroupSys for HostCgroupSys {
    fn make_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }

    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        // Cgroup files take one value per write(2); `fs::write` makes exactly one.
        std::fs::write(path, value)
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn open_for_rereads(&self, path: &Path) -> io::Result<Box<dyn Reread>> {
        Ok(Box::new(File::open(path)?))
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn children(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn kill(&self, pid: i32) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[cfg(test)]
pub(crate) use recorder::Recorder;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_kept_open_shows_its_current_content_at_every_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.peak");
        std::fs::write(&path, "4096\n").unwrap();
        let peak = HostCgroupSys.open_for_rereads(&path).unwrap();
        assert_eq!(peak.reread().unwrap(), "4096\n");
        // Rewritten in place, as the kernel regenerates a cgroup file at each read.
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_at(b"81920\n", 0).unwrap();
        assert_eq!(peak.reread().unwrap(), "81920\n");
        assert!(
            HostCgroupSys
                .open_for_rereads(&dir.path().join("missing"))
                .is_err()
        );
    }
}

#[cfg(test)]
mod recorder {
    use std::collections::BTreeMap;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use super::{CgroupSys, Reread};

    /// Records every change as a line (`mkdir P`, `write P V`, `rmdir P`, `kill N`) and answers
    /// reads from the files it was given. Directories exist when a given file lies under them.
    #[derive(Debug, Default)]
    pub(crate) struct Recorder {
        files: BTreeMap<PathBuf, String>,
        log: Mutex<Vec<String>>,
    }

    impl Recorder {
        pub(crate) fn with_files(files: &[(&str, &str)]) -> Self {
            Recorder {
                files: files
                    .iter()
                    .map(|(p, v)| (PathBuf::from(p), v.to_string()))
                    .collect(),
                log: Mutex::default(),
            }
        }

        pub(crate) fn log(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }

        pub(crate) fn clear(&self) {
            self.log.lock().unwrap().clear();
        }

        fn record(&self, line: String) {
            self.log.lock().unwrap().push(line);
        }
    }

    impl CgroupSys for Recorder {
        fn make_dir(&self, path: &Path) -> io::Result<()> {
            self.record(format!("mkdir {}", path.display()));
            Ok(())
        }

        fn remove_dir(&self, path: &Path) -> io::Result<()> {
            self.record(format!("rmdir {}", path.display()));
            Ok(())
        }

        fn write(&self, path: &Path, value: &str) -> io::Result<()> {
            self.record(format!("write {} {value}", path.display()));
            Ok(())
        }

        fn read(&self, path: &Path) -> io::Result<String> {
            self.files
                .get(path)
                .cloned()
                .ok_or_else(|| io::ErrorKind::NotFound.into())
        }

        fn open_for_rereads(&self, path: &Path) -> io::Result<Box<dyn Reread>> {
            Ok(Box::new(Given(self.read(path)?)))
        }

        fn exists(&self, path: &Path) -> bool {
            self.files.keys().any(|p| p.starts_with(path))
        }

        fn children(&self, path: &Path) -> io::Result<Vec<String>> {
            let mut names: Vec<String> = self
                .files
                .keys()
                .filter_map(|p| p.strip_prefix(path).ok()?.components().next())
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            names.dedup();
            Ok(names)
        }

        fn kill(&self, pid: i32) {
            self.record(format!("kill {pid}"));
        }
    }

    /// A file's given content, the same at every read.
    struct Given(String);

    impl Reread for Given {
        fn reread(&self) -> io::Result<String> {
            Ok(self.0.clone())
        }
    }
}

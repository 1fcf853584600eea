//! The file operations of the cgroup backends: the host's cgroup file systems, or a recorder.

use std::io;
use std::path::Path;

/// What the cgroup backends do to the host.
pub(crate) trait CgroupSys: Send + Sync {
    fn make_dir(&self, path: &Path) -> io::Result<()>;
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    fn write(&self, path: &Path, value: &str) -> io::Result<()>;
    fn read(&self, path: &Path) -> io::Result<String>;
    fn exists(&self, path: &Path) -> bool;
    /// Names of the subdirectories of `path`.
    fn children(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Sends SIGKILL to a process.
    fn kill(&self, pid: i32);
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
mod recorder {
    use std::collections::BTreeMap;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use super::CgroupSys;

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
}

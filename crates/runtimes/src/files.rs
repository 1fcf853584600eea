//! Writing runtime directories so that a reader never sees half of one.
//!
//! Invariant: a runtime file or directory appears under its final name only when complete. Work
//! happens under a "partial" name carrying the writer's process id, and a rename publishes it.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::RuntimeError;

/// Creates `dir` (and its parents) readable by everyone: environments run the runtime as
/// another user, and must read what is installed here.
pub(crate) async fn create_shared_dir(dir: &Path) -> Result<(), RuntimeError> {
    let create = async {
        tokio::fs::create_dir_all(dir).await?;
        tokio::fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).await
    };
    create.await.map_err(|source| RuntimeError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `contents` to `path` unless the file already holds exactly that, through a partial
/// file renamed into place.
pub(crate) async fn write_file_if_changed(path: &Path, contents: &str) -> Result<(), RuntimeError> {
    if tokio::fs::read(path)
        .await
        .is_ok_and(|current| current == contents.as_bytes())
    {
        return Ok(());
    }
    let partial = partial_path(path);
    let write = async {
        tokio::fs::write(&partial, contents).await?;
        tokio::fs::set_permissions(&partial, fs::Permissions::from_mode(0o644)).await?;
        tokio::fs::rename(&partial, path).await
    };
    let written = write.await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    written.map_err(|source| RuntimeError::WriteFile {
        path: path.to_path_buf(),
        source,
    })
}

/// The partial name this process uses while it builds `path`: `.NAME.partial-PID` beside it.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Removes partial copies of `path` left by writers that are gone (a crash, a cancelled
/// install, or this process's own earlier attempt).
pub(crate) async fn remove_abandoned_partials(path: &Path) {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.partial-", name.to_string_lossy());
    let Ok(mut entries) = tokio::fs::read_dir(parent).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_string_lossy()
            .strip_prefix(&prefix)
            .map(str::to_owned)
        else {
            continue;
        };
        if writer_is_gone(&pid) {
            let _ = tokio::fs::remove_dir_all(entry.path()).await;
        }
    }
}

/// Whether the process that named a partial copy `pid` can no longer be writing it.
fn writer_is_gone(pid: &str) -> bool {
    let own = pid == std::process::id().to_string();
    own || !Path::new("/proc").join(pid).exists()
}

/// Lets everyone read everything under `dir` and run what its owner may run.
pub(crate) async fn open_to_all(dir: &Path) -> Result<(), RuntimeError> {
    let root = dir.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || open_tree(&root))
        .await
        .unwrap_or_else(|join| Err(io::Error::other(join)));
    opened.map_err(|source| RuntimeError::ShareDir {
        path: dir.to_path_buf(),
        source,
    })
}

fn open_tree(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let mode = meta.permissions().mode();
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o755))?;
        for entry in fs::read_dir(path)? {
            open_tree(&entry?.path())?;
        }
    } else if meta.is_file() {
        let run = if mode & 0o100 != 0 { 0o111 } else { 0 };
        fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o444 | run))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn writes_files_whole_and_only_when_changed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runtime.mjs");
        write_file_if_changed(&file, "one").await.unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "one");
        assert_eq!(mode(&file), 0o644);

        let before = fs::metadata(&file).unwrap().modified().unwrap();
        write_file_if_changed(&file, "one").await.unwrap();
        assert_eq!(fs::metadata(&file).unwrap().modified().unwrap(), before);

        write_file_if_changed(&file, "two").await.unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["runtime.mjs"], "no partial file is left behind");
    }

    #[tokio::test]
    async fn removes_only_partials_whose_writer_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("3.11");
        let own = partial_path(&target);
        let dead = dir.path().join(".3.11.partial-999999999");
        // Process 1 always runs, so its partial copy is still being written.
        let live = dir.path().join(".3.11.partial-1");
        let other = dir.path().join(".3.12.partial-999999999");
        for partial in [&own, &dead, &live, &other] {
            fs::create_dir_all(partial.join("awslambdaric")).unwrap();
        }

        remove_abandoned_partials(&target).await;

        assert!(!own.exists() && !dead.exists());
        assert!(live.exists() && other.exists());
    }

    #[tokio::test]
    async fn opens_trees_to_everyone() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("pkg");
        fs::create_dir(&sub).unwrap();
        let data = sub.join("data.py");
        let tool = sub.join("tool");
        fs::write(&data, "").unwrap();
        fs::write(&tool, "").unwrap();
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o700)).unwrap();
        fs::set_permissions(&data, fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(&tool, fs::Permissions::from_mode(0o700)).unwrap();

        open_to_all(dir.path()).await.unwrap();

        assert_eq!(
            (mode(&sub), mode(&data), mode(&tool)),
            (0o755, 0o644, 0o755)
        );
    }
}

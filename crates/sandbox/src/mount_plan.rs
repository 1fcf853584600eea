//! The file system an environment sees, as a list of operations: a fresh root on a small tmpfs
//! holding read-only binds of the host's system directories and of the function's code, layers
//! and runtime, a generated `/etc`, a private size-limited `/tmp`, its own `/proc` and a minimal
//! `/dev`. Building the list is pure; the jail carries it out through a
//! [`Syscalls`](crate::syscalls::Syscalls) implementation, in two phases: [`plan_base`] ahead
//! of time (everything every function sees), [`plan_function`] on the cold start (the
//! function's code, layers, runtime and `/tmp`, then the switch to the new root).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One step of setting up the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Op {
    /// Stops mounts from propagating back to the host (`mount --make-rprivate /`).
    MakeMountsPrivate,
    /// Mounts a tmpfs with `mount(8)`-style options (`size=...,mode=...`), always nosuid;
    /// nodev unless it is to hold device nodes (`/dev`).
    MountTmpfs {
        target: PathBuf,
        options: String,
        noexec: bool,
        devices: bool,
    },
    /// `mkdir -p`, mode 0755.
    MakeDir {
        path: PathBuf,
    },
    /// An empty file to bind a file onto.
    MakeFile {
        path: PathBuf,
    },
    Symlink {
        target: PathBuf,
        link: PathBuf,
    },
    /// A recursive bind mount, then made read-only, nosuid and nodev.
    BindReadOnly {
        source: PathBuf,
        target: PathBuf,
    },
    /// Creates a character device node, mode 0666.
    MakeDevice {
        path: PathBuf,
        major: u32,
        minor: u32,
    },
    /// Binds a host device node onto an empty file (keeping the host mount's flags).
    BindDevice {
        source: PathBuf,
        target: PathBuf,
    },
    /// A proc file system of the environment's own pid namespace.
    MountProc {
        target: PathBuf,
    },
    /// Makes `new_root` the root and detaches the old one.
    PivotRoot {
        new_root: PathBuf,
    },
    /// Makes the (tmpfs) root read-only once everything is mounted on it.
    RemountRootReadOnly,
    SetHostname {
        name: String,
    },
}

/// What a host path is, for the parts of the host copied into the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum HostEntry {
    Dir(PathBuf),
    File(PathBuf),
    /// A symbolic link, recreated as it is (`/bin -> usr/bin` on merged-/usr systems).
    Symlink {
        path: PathBuf,
        target: PathBuf,
    },
    /// A host file shown at another path: the files the launcher generates for every root
    /// (`/etc/hosts`, `/etc/passwd`, ...), written once on the host and bound read-only, so
    /// that no environment holds a page of its own for each.
    FileAt {
        source: PathBuf,
        path: PathBuf,
    },
}

/// The part of the root every function sees, built ahead of time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RootSpec {
    /// An empty host directory the new root's tmpfs is mounted on (inside the environment's
    /// own mount namespace, so the host never sees it).
    pub(crate) new_root: PathBuf,
    /// System directories and `/etc` entries of the host, each at its host path, and the
    /// generated files.
    pub(crate) host: Vec<HostEntry>,
    pub(crate) hostname: String,
    /// Bind the host's device nodes into `/dev` instead of making them (a user namespace may
    /// not make device nodes).
    #[serde(default)]
    pub(crate) bind_devices: bool,
}

/// The part of the root that belongs to one function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FunctionMounts {
    /// Read-only binds: (host source, path inside). The code, layers, runtime and the host
    /// interpreter's installation.
    pub(crate) binds: Vec<(PathBuf, PathBuf)>,
    /// Size of `/tmp` (Lambda's `EphemeralStorage`).
    pub(crate) tmp_mb: u32,
}

/// The device nodes of `/dev`: name, major, minor.
const DEVICES: [(&str, u32, u32); 5] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
];

/// The symbolic links of `/dev` that programs expect.
const DEV_LINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// Places an absolute path under the new root.
fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// The operations that build the shared part of the root, in order.
pub(crate) fn plan_base(spec: &RootSpec) -> Vec<Op> {
    let root = &spec.new_root;
    let mut ops = vec![
        Op::MakeMountsPrivate,
        Op::MountTmpfs {
            target: root.clone(),
            options: "size=1m,mode=755".into(),
            noexec: false,
            devices: false,
        },
    ];
    for entry in &spec.host {
        match entry {
            HostEntry::Dir(path) => {
                ops.push(Op::MakeDir {
                    path: under(root, path),
                });
                ops.push(Op::BindReadOnly {
                    source: path.clone(),
                    target: under(root, path),
                });
            }
            HostEntry::File(path) => bind_file(root, path, path, &mut ops),
            HostEntry::FileAt { source, path } => bind_file(root, source, path, &mut ops),
            HostEntry::Symlink { path, target } => {
                if let Some(parent) = path.parent() {
                    ops.push(Op::MakeDir {
                        path: under(root, parent),
                    });
                }
                ops.push(Op::Symlink {
                    target: target.clone(),
                    link: under(root, path),
                });
            }
        }
    }
    let proc = under(root, Path::new("/proc"));
    ops.push(Op::MakeDir { path: proc.clone() });
    ops.push(Op::MountProc { target: proc });
    plan_dev(spec, &mut ops);
    ops.push(Op::SetHostname {
        name: spec.hostname.clone(),
    });
    ops
}

/// Binds host file `source` read-only at `path` inside `root`.
fn bind_file(root: &Path, source: &Path, path: &Path, ops: &mut Vec<Op>) {
    if let Some(parent) = path.parent() {
        ops.push(Op::MakeDir {
            path: under(root, parent),
        });
    }
    ops.push(Op::MakeFile {
        path: under(root, path),
    });
    ops.push(Op::BindReadOnly {
        source: source.to_path_buf(),
        target: under(root, path),
    });
}

/// The operations that add one function's part to a root built by [`plan_base`] at `root`,
/// then make it the (read-only) root.
pub(crate) fn plan_function(root: &Path, mounts: &FunctionMounts) -> Vec<Op> {
    let mut ops = Vec::new();
    for (source, inside) in &mounts.binds {
        ops.push(Op::MakeDir {
            path: under(root, inside),
        });
        ops.push(Op::BindReadOnly {
            source: source.clone(),
            target: under(root, inside),
        });
    }
    let tmp = under(root, Path::new("/tmp"));
    ops.push(Op::MakeDir { path: tmp.clone() });
    ops.push(Op::MountTmpfs {
        target: tmp,
        options: format!("size={}m,mode=1777", mounts.tmp_mb),
        noexec: false,
        devices: false,
    });
    ops.push(Op::PivotRoot {
        new_root: root.to_path_buf(),
    });
    ops.push(Op::RemountRootReadOnly);
    ops
}

fn plan_dev(spec: &RootSpec, ops: &mut Vec<Op>) {
    let dev = under(&spec.new_root, Path::new("/dev"));
    ops.push(Op::MakeDir { path: dev.clone() });
    ops.push(Op::MountTmpfs {
        target: dev.clone(),
        options: "size=64k,mode=755".into(),
        noexec: true,
        devices: !spec.bind_devices,
    });
    for (name, major, minor) in DEVICES {
        if spec.bind_devices {
            ops.push(Op::MakeFile {
                path: dev.join(name),
            });
            ops.push(Op::BindDevice {
                source: Path::new("/dev").join(name),
                target: dev.join(name),
            });
        } else {
            ops.push(Op::MakeDevice {
                path: dev.join(name),
                major,
                minor,
            });
        }
    }
    for (name, target) in DEV_LINKS {
        ops.push(Op::Symlink {
            target: target.into(),
            link: dev.join(name),
        });
    }
    // No `/dev/shm`: Lambda mounts none (POSIX semaphores, and so Python's multiprocessing
    // Pool and Queue, fail there with ENOSYS), and functions written for Lambda do without it.
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RootSpec {
        RootSpec {
            new_root: "/run/flint/root".into(),
            host: vec![
                HostEntry::Dir("/usr".into()),
                HostEntry::Symlink {
                    path: "/bin".into(),
                    target: "usr/bin".into(),
                },
                HostEntry::File("/etc/ld.so.cache".into()),
                HostEntry::FileAt {
                    source: "/run/flint/sandbox-etc/hosts".into(),
                    path: "/etc/hosts".into(),
                },
            ],
            hostname: "sandbox".into(),
            bind_devices: false,
        }
    }

    fn make_dir(path: &str) -> Op {
        Op::MakeDir { path: path.into() }
    }

    fn bind(source: &str, target: &str) -> Op {
        Op::BindReadOnly {
            source: source.into(),
            target: target.into(),
        }
    }

    fn tmpfs(target: &str, options: &str, noexec: bool) -> Op {
        Op::MountTmpfs {
            target: target.into(),
            options: options.into(),
            noexec,
            devices: target.ends_with("/dev"),
        }
    }

    fn symlink(target: &str, link: &str) -> Op {
        Op::Symlink {
            target: target.into(),
            link: link.into(),
        }
    }

    #[test]
    fn builds_the_shared_root_with_etc_proc_and_dev() {
        let mut expect = vec![
            Op::MakeMountsPrivate,
            tmpfs("/run/flint/root", "size=1m,mode=755", false),
            make_dir("/run/flint/root/usr"),
            bind("/usr", "/run/flint/root/usr"),
            make_dir("/run/flint/root/"),
            symlink("usr/bin", "/run/flint/root/bin"),
            make_dir("/run/flint/root/etc"),
            Op::MakeFile {
                path: "/run/flint/root/etc/ld.so.cache".into(),
            },
            bind("/etc/ld.so.cache", "/run/flint/root/etc/ld.so.cache"),
            make_dir("/run/flint/root/etc"),
            Op::MakeFile {
                path: "/run/flint/root/etc/hosts".into(),
            },
            bind("/run/flint/sandbox-etc/hosts", "/run/flint/root/etc/hosts"),
            make_dir("/run/flint/root/proc"),
            Op::MountProc {
                target: "/run/flint/root/proc".into(),
            },
            make_dir("/run/flint/root/dev"),
            tmpfs("/run/flint/root/dev", "size=64k,mode=755", true),
        ];
        for (name, minor) in [
            ("null", 3),
            ("zero", 5),
            ("full", 7),
            ("random", 8),
            ("urandom", 9),
        ] {
            expect.push(Op::MakeDevice {
                path: format!("/run/flint/root/dev/{name}").into(),
                major: 1,
                minor,
            });
        }
        expect.extend([
            symlink("/proc/self/fd", "/run/flint/root/dev/fd"),
            symlink("/proc/self/fd/0", "/run/flint/root/dev/stdin"),
            symlink("/proc/self/fd/1", "/run/flint/root/dev/stdout"),
            symlink("/proc/self/fd/2", "/run/flint/root/dev/stderr"),
            Op::SetHostname {
                name: "sandbox".into(),
            },
        ]);
        assert_eq!(plan_base(&spec()), expect);
    }

    #[test]
    fn a_rootless_root_binds_the_hosts_device_nodes() {
        let spec = RootSpec {
            bind_devices: true,
            ..spec()
        };
        let plan = plan_base(&spec);
        assert!(plan.contains(&Op::MountTmpfs {
            target: "/run/flint/root/dev".into(),
            options: "size=64k,mode=755".into(),
            noexec: true,
            devices: false,
        }));
        assert!(!plan.iter().any(|op| matches!(op, Op::MakeDevice { .. })));
        for name in ["null", "zero", "full", "random", "urandom"] {
            let target = PathBuf::from(format!("/run/flint/root/dev/{name}"));
            let file = plan.iter().position(|op| {
                *op == Op::MakeFile {
                    path: target.clone(),
                }
            });
            let bind = plan.iter().position(|op| {
                *op == Op::BindDevice {
                    source: PathBuf::from(format!("/dev/{name}")),
                    target: target.clone(),
                }
            });
            assert!(file.is_some() && file < bind, "{name}: {plan:?}");
        }
    }

    #[test]
    fn adds_the_functions_code_and_tmp_then_switches_root() {
        let mounts = FunctionMounts {
            binds: vec![("/data/code/abc".into(), "/var/task".into())],
            tmp_mb: 10240,
        };
        assert_eq!(
            plan_function(Path::new("/run/flint/root"), &mounts),
            [
                make_dir("/run/flint/root/var/task"),
                bind("/data/code/abc", "/run/flint/root/var/task"),
                make_dir("/run/flint/root/tmp"),
                tmpfs("/run/flint/root/tmp", "size=10240m,mode=1777", false),
                Op::PivotRoot {
                    new_root: "/run/flint/root".into(),
                },
                Op::RemountRootReadOnly,
            ]
        );
    }
}

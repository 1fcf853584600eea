//! The seccomp policy of every environment, kept as data: each denied system call with the
//! reason it is denied. Everything else is allowed, as in Lambda's sandbox, and a denied call
//! fails with an error number (`EPERM`, or `ENOSYS` where the C library must fall back), never
//! by killing the process, so runtimes see a clean error.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// When a rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    Always,
    /// When argument `arg` has any of the bits of `mask` set.
    AnyBit {
        arg: u8,
        mask: u64,
    },
}

/// One denied system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) syscall: i64,
    pub(crate) name: &'static str,
    pub(crate) when: When,
    pub(crate) errno: i32,
    pub(crate) reason: &'static str,
}

const fn deny(syscall: i64, name: &'static str, reason: &'static str) -> Rule {
    Rule {
        syscall,
        name,
        when: When::Always,
        errno: libc::EPERM,
        reason,
    }
}

/// The namespace flags of clone(2): a function may not make namespaces of its own.
const NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// The policy.
pub(crate) const RULES: &[Rule] = &[
    deny(
        libc::SYS_ptrace,
        "ptrace",
        "inspecting or changing other processes crosses the sandbox",
    ),
    deny(
        libc::SYS_process_vm_readv,
        "process_vm_readv",
        "reads another process's memory, like ptrace",
    ),
    deny(
        libc::SYS_process_vm_writev,
        "process_vm_writev",
        "writes another process's memory, like ptrace",
    ),
    deny(
        libc::SYS_kcmp,
        "kcmp",
        "compares kernel objects of other processes, a ptrace-class probe",
    ),
    deny(
        libc::SYS_pidfd_getfd,
        "pidfd_getfd",
        "steals file descriptors of another process",
    ),
    deny(
        libc::SYS_mount,
        "mount",
        "the file system layout is the platform's",
    ),
    deny(
        libc::SYS_umount2,
        "umount2",
        "the file system layout is the platform's",
    ),
    deny(
        libc::SYS_pivot_root,
        "pivot_root",
        "the file system layout is the platform's",
    ),
    deny(
        libc::SYS_chroot,
        "chroot",
        "the file system layout is the platform's",
    ),
    deny(
        libc::SYS_open_tree,
        "open_tree",
        "new mount API: the file system layout is the platform's",
    ),
    deny(
        libc::SYS_move_mount,
        "move_mount",
        "new mount API: the file system layout is the platform's",
    ),
    deny(
        libc::SYS_fsopen,
        "fsopen",
        "new mount API: the file system layout is the platform's",
    ),
    deny(
        libc::SYS_fsconfig,
        "fsconfig",
        "new mount API: the file system layout is the platform's",
    ),
    deny(
        libc::SYS_fsmount,
        "fsmount",
        "new mount API: the file system layout is the platform's",
    ),
    deny(
        libc::SYS_fspick,
        "fspick",
        "new mount API: the file system layout is the platform's",
    ),
    deny(
        libc::SYS_mount_setattr,
        "mount_setattr",
        "new mount API: the file system layout is the platform's",
    ),
    deny(
        libc::SYS_kexec_load,
        "kexec_load",
        "replaces the host kernel",
    ),
    deny(
        libc::SYS_kexec_file_load,
        "kexec_file_load",
        "replaces the host kernel",
    ),
    deny(
        libc::SYS_reboot,
        "reboot",
        "the host is not the function's to restart",
    ),
    deny(
        libc::SYS_init_module,
        "init_module",
        "loads code into the host kernel",
    ),
    deny(
        libc::SYS_finit_module,
        "finit_module",
        "loads code into the host kernel",
    ),
    deny(
        libc::SYS_delete_module,
        "delete_module",
        "unloads host kernel code",
    ),
    deny(
        libc::SYS_bpf,
        "bpf",
        "loads programs into the kernel; a large attack surface",
    ),
    deny(
        libc::SYS_perf_event_open,
        "perf_event_open",
        "observes the host and other processes; a large attack surface",
    ),
    deny(
        libc::SYS_keyctl,
        "keyctl",
        "the kernel keyring is not namespaced",
    ),
    deny(
        libc::SYS_add_key,
        "add_key",
        "the kernel keyring is not namespaced",
    ),
    deny(
        libc::SYS_request_key,
        "request_key",
        "the kernel keyring is not namespaced",
    ),
    deny(
        libc::SYS_unshare,
        "unshare",
        "a function may not make namespaces of its own",
    ),
    deny(
        libc::SYS_setns,
        "setns",
        "a function may not enter other namespaces",
    ),
    Rule {
        syscall: libc::SYS_clone,
        name: "clone",
        when: When::AnyBit {
            arg: 0,
            mask: NAMESPACE_FLAGS,
        },
        errno: libc::EPERM,
        reason: "a function may not make namespaces of its own (plain fork and threads stay allowed)",
    },
    Rule {
        syscall: libc::SYS_clone3,
        name: "clone3",
        when: When::Always,
        errno: libc::ENOSYS,
        reason: "its flags sit in memory a filter cannot read; ENOSYS makes the C library fall back to clone",
    },
    deny(libc::SYS_swapon, "swapon", "host memory management"),
    deny(libc::SYS_swapoff, "swapoff", "host memory management"),
    deny(libc::SYS_acct, "acct", "host process accounting"),
    deny(
        libc::SYS_userfaultfd,
        "userfaultfd",
        "a common kernel exploitation aid",
    ),
    deny(
        libc::SYS_open_by_handle_at,
        "open_by_handle_at",
        "opens files by handle, bypassing the mount tree (the Shocker escape)",
    ),
    deny(
        libc::SYS_name_to_handle_at,
        "name_to_handle_at",
        "the other half of file handles",
    ),
    deny(libc::SYS_quotactl, "quotactl", "host file system quotas"),
    deny(libc::SYS_syslog, "syslog", "the host kernel log"),
    deny(libc::SYS_settimeofday, "settimeofday", "the host clock"),
    deny(libc::SYS_clock_settime, "clock_settime", "the host clock"),
    deny(libc::SYS_clock_adjtime, "clock_adjtime", "the host clock"),
    deny(libc::SYS_adjtimex, "adjtimex", "the host clock"),
    deny(libc::SYS_iopl, "iopl", "raw I/O port access"),
    deny(libc::SYS_ioperm, "ioperm", "raw I/O port access"),
    deny(
        libc::SYS_lookup_dcookie,
        "lookup_dcookie",
        "kernel profiling interface",
    ),
    deny(
        libc::SYS_fanotify_init,
        "fanotify_init",
        "watches file systems beyond the sandbox",
    ),
    deny(
        libc::SYS_io_uring_setup,
        "io_uring_setup",
        "a large, often exploited kernel surface that bypasses this filter",
    ),
    deny(
        libc::SYS_io_uring_enter,
        "io_uring_enter",
        "a large, often exploited kernel surface that bypasses this filter",
    ),
    deny(
        libc::SYS_io_uring_register,
        "io_uring_register",
        "a large, often exploited kernel surface that bypasses this filter",
    ),
    deny(libc::SYS_vhangup, "vhangup", "terminal control of the host"),
];

#[derive(Debug, thiserror::Error)]
#[error("could not build the seccomp filter: {0}")]
pub(crate) struct SeccompError(#[from] seccompiler::BackendError);

/// Builds the filters of the policy: one per error number, since a filter has one action for
/// the calls it matches. The kernel applies every installed filter and the error wins over
/// "allow".
pub(crate) fn filters() -> Result<Vec<BpfProgram>, SeccompError> {
    let mut by_errno: BTreeMap<i32, BTreeMap<i64, Vec<SeccompRule>>> = BTreeMap::new();
    for rule in RULES {
        let rules = by_errno
            .entry(rule.errno)
            .or_default()
            .entry(rule.syscall)
            .or_default();
        if let When::AnyBit { arg, mask } = rule.when {
            // Rules of one call are alternatives: one rule per bit matches "any bit set".
            for bit in (0..64).map(|b| 1u64 << b).filter(|b| mask & b != 0) {
                let condition = SeccompCondition::new(
                    arg,
                    SeccompCmpArgLen::Qword,
                    SeccompCmpOp::MaskedEq(bit),
                    bit,
                )?;
                rules.push(SeccompRule::new(vec![condition])?);
            }
        }
    }
    let arch = if cfg!(target_arch = "aarch64") {
        TargetArch::aarch64
    } else {
        TargetArch::x86_64
    };
    by_errno
        .into_iter()
        .map(|(errno, rules)| {
            let filter = SeccompFilter::new(
                rules,
                SeccompAction::Allow,
                SeccompAction::Errno(errno.unsigned_abs()),
                arch,
            )?;
            Ok(filter.try_into()?)
        })
        .collect()
}

/// Installs the filters on the calling thread. `no_new_privs` must be set already.
pub(crate) fn install(filters: &[BpfProgram]) -> Result<(), seccompiler::Error> {
    for filter in filters {
        seccompiler::apply_filter(filter)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_reason_and_a_unique_call() {
        let mut seen = std::collections::HashSet::new();
        for rule in RULES {
            assert!(!rule.reason.is_empty(), "{}", rule.name);
            assert!(seen.insert(rule.syscall), "{} twice", rule.name);
        }
        for must in [
            "ptrace",
            "mount",
            "umount2",
            "pivot_root",
            "kexec_load",
            "kexec_file_load",
            "bpf",
            "keyctl",
            "add_key",
            "request_key",
            "perf_event_open",
            "unshare",
            "setns",
            "init_module",
            "finit_module",
            "delete_module",
            "swapon",
            "swapoff",
            "reboot",
            "acct",
            "userfaultfd",
            "open_by_handle_at",
            "clone",
        ] {
            assert!(RULES.iter().any(|r| r.name == must), "{must} is not denied");
        }
    }

    #[test]
    fn compiles_one_filter_per_error_number() {
        let filters = filters().unwrap();
        assert_eq!(filters.len(), 2, "EPERM and ENOSYS");
        assert!(filters.iter().all(|f| !f.is_empty()));
    }
}

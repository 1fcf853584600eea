//! `flint-init`: what stays of a jail once its program runs. The jail (`src/jail.rs`) builds the
//! sandbox, starts the runtime, then executes this in its place: the environment's PID 1
//! (or, for a later process of the environment, its waiting parent) for as long as the
//! environment lives. It reaps every child, orphans included, and reports how the program
//! ended on the status pipe, exactly as the jail would have.
//!
//! Why a program of its own: the jail is a Rust program with the C library, serde and the
//! seccomp compiler, and idles with about 200 KiB of private memory and page tables; this one
//! has no C library and no allocator, and idles with a few pages. It is built by the sandbox
//! crate's build script with its own flags (`panic=abort`, static, no start files), which the
//! workspace's profile cannot give one binary, and embedded in the crate; the launcher hands it
//! to every jail as a sealed memory file.
//!
//! Invocation: `flint-init <pid>`, descriptor 4 the status pipe. Writes `exit <wait status>`
//! when `pid` ends, then exits; exits 1 if waiting fails otherwise.

#![no_std]
#![no_main]

use core::arch::{asm, naked_asm};

const SYS_WRITE: usize = 1;
const SYS_PRCTL: usize = 157;
const SYS_SCHED_SETSCHEDULER: usize = 144;
const SCHED_OTHER: usize = 0;
const PR_SET_NAME: usize = 15;
const SYS_WAIT4: usize = 61;
const SYS_EXIT_GROUP: usize = 231;
const EINTR: isize = 4;
const STATUS_FD: usize = 4;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    exit(127)
}

/// The precompiled `core` refers to the unwinding personality routine; with `panic=abort`
/// nothing unwinds, so nothing ever calls it.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

/// The entry point: the stack holds argc, then argv. Aligns the stack as calls expect and
/// hands its start to [`start`].
#[unsafe(naked)]
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    naked_asm!("xor ebp, ebp", "mov rdi, rsp", "and rsp, -16", "call {}", "ud2", sym start)
}

/// # Safety
///
/// `stack` is the process's initial stack: argc, then argc pointers to C strings.
unsafe extern "C" fn start(stack: *const usize) -> ! {
    // SAFETY: the kernel lays out argc and the argv pointers at the initial stack pointer.
    let (argc, argv) = unsafe { (*stack, stack.add(1) as *const *const u8) };
    if argc < 2 {
        exit(2)
    }
    // The jail executed this at idle priority (see `become_init` in jail.rs).
    let param: i32 = 0;
    // SAFETY: sched_setscheduler reads a live sched_param (one int, the priority).
    unsafe {
        syscall4(
            SYS_SCHED_SETSCHEDULER,
            0,
            SCHED_OTHER,
            &param as *const i32 as usize,
            0,
        )
    };
    // Executed from a memory file, the process would be named after it (`memfd:flint-ini`).
    // SAFETY: PR_SET_NAME reads a NUL-terminated name of at most 16 bytes.
    unsafe {
        syscall4(
            SYS_PRCTL,
            PR_SET_NAME,
            c"flint-init".as_ptr() as usize,
            0,
            0,
        )
    };
    // SAFETY: argv[1] exists (argc >= 2) and is a NUL-terminated string.
    let Some(program) = (unsafe { parse_pid(*argv.add(1)) }) else {
        exit(2)
    };
    loop {
        let mut status: i32 = 0;
        // SAFETY: wait4 writes the status into a live integer; no rusage is asked for.
        let pid = unsafe {
            syscall4(
                SYS_WAIT4,
                usize::MAX,
                &mut status as *mut i32 as usize,
                0,
                0,
            )
        };
        if pid == program {
            report_exit(status);
            exit(0)
        }
        if pid < 0 && pid != -EINTR {
            exit(1)
        }
    }
}

/// Reads a decimal pid from a NUL-terminated string.
///
/// # Safety
///
/// `text` points to a NUL-terminated string.
unsafe fn parse_pid(text: *const u8) -> Option<isize> {
    let mut value: isize = 0;
    let mut at = text;
    loop {
        // SAFETY: reads up to and including the terminating NUL.
        let byte = unsafe { *at };
        match byte {
            0 => return (at != text).then_some(value),
            b'0'..=b'9' => value = value.checked_mul(10)?.checked_add((byte - b'0') as isize)?,
            _ => return None,
        }
        // SAFETY: the string continues until its NUL.
        at = unsafe { at.add(1) };
    }
}

/// Writes `exit <status>\n` to the status pipe.
fn report_exit(status: i32) {
    let mut line = [0u8; 24];
    line[..5].copy_from_slice(b"exit ");
    let mut digits = [0u8; 11];
    let mut count = 0;
    let mut rest = status as u32;
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut len = 5;
    while count > 0 {
        count -= 1;
        line[len] = digits[count];
        len += 1;
    }
    line[len] = b'\n';
    len += 1;
    // SAFETY: writes `len` initialised bytes of `line`.
    unsafe { syscall4(SYS_WRITE, STATUS_FD, line.as_ptr() as usize, len, 0) };
}

fn exit(code: usize) -> ! {
    // SAFETY: exit_group ends the process; it never returns.
    unsafe { asm!("syscall", in("rax") SYS_EXIT_GROUP, in("rdi") code, options(noreturn)) }
}

/// A system call with up to four arguments; returns the result (negative errno on failure).
///
/// # Safety
///
/// The arguments must be valid for the call `number`.
unsafe fn syscall4(number: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let result: isize;
    // SAFETY: the Linux x86_64 system call convention; the kernel clobbers rcx and r11 only.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number as isize => result,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    result
}

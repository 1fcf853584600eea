//! The shortcut's two BPF programs, written out instruction by instruction (they are a few
//! dozen instructions, so no BPF toolchain is needed to build flint).
//!
//! Both build the same 24-byte key for a connection's socket, on the stack:
//!
//! | offset | field                                      |
//! |--------|--------------------------------------------|
//! | 0      | the socket's network namespace cookie (u64) |
//! | 8      | local IPv4 address (network order)         |
//! | 12     | remote IPv4 address (network order)        |
//! | 16     | local port (host order, u32)               |
//! | 20     | remote port (host order, u32)              |
//!
//! - `sock_ops` runs when a TCP connection is established. When its server side is one of the
//!   admitted listeners (a 16-byte key: namespace cookie, port, zero), it puts the socket into
//!   the socket map: the client's socket when the connection's remote port is admitted, the
//!   server's when its local port is.
//! - `sk_msg` runs on every send from a socket in the map. It builds the key of the peer (the
//!   same connection seen from the other end) and redirects the message into the peer's receive
//!   queue. A peer not in the map (not yet, or no longer) leaves the message on the TCP path.

use std::os::fd::{AsRawFd, BorrowedFd};

/// One BPF instruction as the kernel reads it (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(super) struct Instruction {
    code: u8,
    /// Destination register in the low nibble, source register in the high one.
    registers: u8,
    offset: i16,
    immediate: i32,
}

pub(super) const SOCKET_KEY_BYTES: u32 = 24;
pub(super) const LISTENER_KEY_BYTES: u32 = 16;

// Registers: r0 return value, r1-r5 arguments, r6-r9 kept across calls, r10 frame pointer.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R6: u8 = 6;
const R7: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;
const FP: u8 = 10;

// Helpers (`enum bpf_func_id`).
const MAP_LOOKUP_ELEM: i32 = 1;
const SOCK_HASH_UPDATE: i32 = 70;
const MSG_REDIRECT_HASH: i32 = 71;
const GET_NETNS_COOKIE: i32 = 122;

const AF_INET: i32 = 2;
const ACTIVE_ESTABLISHED: i32 = 4;
const PASSIVE_ESTABLISHED: i32 = 5;
const BPF_ANY: i32 = 0;
const BPF_F_INGRESS: i32 = 1;
const SK_PASS: i32 = 1;

/// `struct bpf_sock_ops` field offsets.
mod sock_ops {
    pub(super) const OP: i16 = 0;
    pub(super) const FAMILY: i16 = 20;
    pub(super) const REMOTE_IP4: i16 = 24;
    pub(super) const LOCAL_IP4: i16 = 28;
    pub(super) const REMOTE_PORT: i16 = 64;
    pub(super) const LOCAL_PORT: i16 = 68;
}

/// `struct sk_msg_md` field offsets.
mod sk_msg {
    pub(super) const FAMILY: i16 = 16;
    pub(super) const REMOTE_IP4: i16 = 20;
    pub(super) const LOCAL_IP4: i16 = 24;
    pub(super) const REMOTE_PORT: i16 = 60;
    pub(super) const LOCAL_PORT: i16 = 64;
}

/// Where the keys live on the stack.
const SOCKET_KEY: i16 = -24;
const LISTENER_KEY: i16 = -40;

/// Builds a program whose conditional jumps all go to its common end, which answers
/// `result`.
struct Assembler {
    instructions: Vec<Instruction>,
    /// Indices of jumps to the end, patched by [`Assembler::finish`].
    to_end: Vec<usize>,
}

impl Assembler {
    fn new() -> Self {
        Self {
            instructions: Vec::new(),
            to_end: Vec::new(),
        }
    }

    fn emit(&mut self, code: u8, dst: u8, src: u8, offset: i16, immediate: i32) -> &mut Self {
        self.instructions.push(Instruction {
            code,
            registers: dst | (src << 4),
            offset,
            immediate,
        });
        self
    }

    /// `dst = src`
    fn mov(&mut self, dst: u8, src: u8) -> &mut Self {
        self.emit(0xbf, dst, src, 0, 0)
    }

    /// `dst = immediate`
    fn mov_imm(&mut self, dst: u8, immediate: i32) -> &mut Self {
        self.emit(0xb7, dst, 0, 0, immediate)
    }

    /// `dst += immediate`
    fn add_imm(&mut self, dst: u8, immediate: i32) -> &mut Self {
        self.emit(0x07, dst, 0, 0, immediate)
    }

    /// `dst = *(u32 *)(src + offset)`
    fn load_u32(&mut self, dst: u8, src: u8, offset: i16) -> &mut Self {
        self.emit(0x61, dst, src, offset, 0)
    }

    /// `*(u32 *)(dst + offset) = src`
    fn store_u32(&mut self, dst: u8, offset: i16, src: u8) -> &mut Self {
        self.emit(0x63, dst, src, offset, 0)
    }

    /// `*(u64 *)(dst + offset) = src`
    fn store_u64(&mut self, dst: u8, offset: i16, src: u8) -> &mut Self {
        self.emit(0x7b, dst, src, offset, 0)
    }

    /// Copies the context's (r6's) u32 at `field` to the stack at `to`, through r2.
    fn copy_u32(&mut self, field: i16, to: i16) -> &mut Self {
        self.load_u32(R2, R6, field).store_u32(FP, to, R2)
    }

    /// `r0 = helper(ctx, sockets, &socket key, flags)`
    fn call_with_socket_key(
        &mut self,
        helper: i32,
        sockets: BorrowedFd<'_>,
        flags: i32,
    ) -> &mut Self {
        self.mov(R1, R6)
            .load_map(R2, sockets)
            .mov(R3, FP)
            .add_imm(R3, SOCKET_KEY.into())
            .mov_imm(R4, flags)
            .call(helper)
    }

    /// `*(u32 *)(dst + offset) = immediate`
    fn store_u32_imm(&mut self, dst: u8, offset: i16, immediate: i32) -> &mut Self {
        self.emit(0x62, dst, 0, offset, immediate)
    }

    /// A port as `bpf_sock_ops` and `sk_msg_md` give the remote one (the 16-bit network-order
    /// value in the upper half on little-endian hosts) into host order: shift, then swap.
    fn remote_port_to_host(&mut self, reg: u8) -> &mut Self {
        self.emit(0x74, reg, 0, 0, 16) // 32-bit right shift
            .emit(0xdc, reg, 0, 0, 16) // to big endian, 16 bits (a swap on little-endian)
    }

    /// `r0 = helper(r1..r5)`
    fn call(&mut self, helper: i32) -> &mut Self {
        self.emit(0x85, 0, 0, 0, helper)
    }

    /// `dst = the map behind descriptor map` (a two-slot instruction).
    fn load_map(&mut self, dst: u8, map: BorrowedFd<'_>) -> &mut Self {
        const PSEUDO_MAP_FD: u8 = 1;
        self.emit(0x18, dst, PSEUDO_MAP_FD, 0, map.as_raw_fd())
            .emit(0, 0, 0, 0, 0)
    }

    /// `if reg != immediate goto end`
    fn unless_equal_end(&mut self, reg: u8, immediate: i32) -> &mut Self {
        self.to_end.push(self.instructions.len());
        self.emit(0x55, reg, 0, 0, immediate)
    }

    /// `if reg == 0 goto end`
    fn if_zero_end(&mut self, reg: u8) -> &mut Self {
        self.to_end.push(self.instructions.len());
        self.emit(0x15, reg, 0, 0, 0)
    }

    /// `if reg == immediate skip the next `count` instructions`
    fn if_equal_skip(&mut self, reg: u8, immediate: i32, count: i16) -> &mut Self {
        self.emit(0x15, reg, 0, count, immediate)
    }

    /// Appends `r0 = result; exit` and points the jumps to the end at it.
    fn finish(mut self, result: i32) -> Vec<Instruction> {
        let end = self.instructions.len();
        for &at in &self.to_end {
            let distance = end - at - 1;
            self.instructions[at].offset = i16::try_from(distance).unwrap_or(i16::MAX);
        }
        self.mov_imm(R0, result).emit(0x95, 0, 0, 0, 0);
        self.instructions
    }
}

/// The `sock_ops` program: puts both sockets of a connection to an admitted listener into
/// `sockets`.
pub(super) fn sock_ops(listeners: BorrowedFd<'_>, sockets: BorrowedFd<'_>) -> Vec<Instruction> {
    let mut asm = Assembler::new();
    asm.mov(R6, R1)
        .load_u32(R2, R6, sock_ops::FAMILY)
        .unless_equal_end(R2, AF_INET)
        .load_u32(R7, R6, sock_ops::OP)
        // r8: the port that says whether the connection is one of ours; r9: the remote port.
        .load_u32(R8, R6, sock_ops::LOCAL_PORT)
        .load_u32(R9, R6, sock_ops::REMOTE_PORT)
        .remote_port_to_host(R9)
        // The server's side: its own port is the listener's.
        .if_equal_skip(R7, PASSIVE_ESTABLISHED, 2)
        // The client's side: the port it connected to is.
        .unless_equal_end(R7, ACTIVE_ESTABLISHED)
        .mov(R8, R9)
        .mov(R1, R6)
        .call(GET_NETNS_COOKIE)
        .store_u64(FP, SOCKET_KEY, R0)
        .copy_u32(sock_ops::LOCAL_IP4, SOCKET_KEY + 8)
        .copy_u32(sock_ops::REMOTE_IP4, SOCKET_KEY + 12)
        .copy_u32(sock_ops::LOCAL_PORT, SOCKET_KEY + 16)
        .store_u32(FP, SOCKET_KEY + 20, R9)
        .store_u64(FP, LISTENER_KEY, R0)
        .store_u32(FP, LISTENER_KEY + 8, R8)
        .store_u32_imm(FP, LISTENER_KEY + 12, 0)
        .load_map(R1, listeners)
        .mov(R2, FP)
        .add_imm(R2, LISTENER_KEY.into())
        .call(MAP_LOOKUP_ELEM)
        .if_zero_end(R0)
        .call_with_socket_key(SOCK_HASH_UPDATE, sockets, BPF_ANY);
    // A sock_ops program answers 1 for "carry on" whatever it did.
    asm.finish(1)
}

/// The `sk_msg` program: redirects every message sent on a socket of `sockets` into its peer's
/// receive queue when the peer is in `sockets` too.
pub(super) fn sk_msg(sockets: BorrowedFd<'_>) -> Vec<Instruction> {
    let mut asm = Assembler::new();
    asm.mov(R6, R1)
        .load_u32(R2, R6, sk_msg::FAMILY)
        .unless_equal_end(R2, AF_INET)
        .mov(R1, R6)
        .call(GET_NETNS_COOKIE)
        .store_u64(FP, SOCKET_KEY, R0)
        // The peer's local address and port are this socket's remote ones, and the other way
        // round.
        .copy_u32(sk_msg::REMOTE_IP4, SOCKET_KEY + 8)
        .copy_u32(sk_msg::LOCAL_IP4, SOCKET_KEY + 12)
        .load_u32(R2, R6, sk_msg::REMOTE_PORT)
        .remote_port_to_host(R2)
        .store_u32(FP, SOCKET_KEY + 16, R2)
        .copy_u32(sk_msg::LOCAL_PORT, SOCKET_KEY + 20)
        .call_with_socket_key(MSG_REDIRECT_HASH, sockets, BPF_F_INGRESS);
    // SK_PASS whatever the helper answered: a redirect that found its peer takes the message,
    // one that did not leaves it to TCP.
    asm.finish(SK_PASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(program: &[Instruction]) -> Vec<u8> {
        program.iter().map(|instruction| instruction.code).collect()
    }

    #[test]
    fn jumps_to_the_end_land_on_the_final_return() {
        let mut asm = Assembler::new();
        asm.unless_equal_end(R2, 7).mov_imm(R3, 1).if_zero_end(R3);
        let program = asm.finish(9);
        assert_eq!(codes(&program), [0x55, 0xb7, 0x15, 0xb7, 0x95]);
        assert_eq!(
            program[0].offset, 2,
            "skips two instructions to reach r0 = 9"
        );
        assert_eq!(program[2].offset, 0, "the end follows right away");
        assert_eq!(program[3].immediate, 9);
    }

    #[test]
    fn registers_pack_destination_low_and_source_high() {
        let mut asm = Assembler::new();
        asm.mov(R6, R1);
        assert_eq!(asm.instructions[0].registers, 0x16);
    }

    #[test]
    fn both_programs_end_in_one_exit_and_load_maps_in_two_slots() {
        let fd = std::fs::File::open("/dev/null").expect("open");
        let fd = std::os::fd::AsFd::as_fd(&fd);
        for program in [sock_ops(fd, fd), sk_msg(fd)] {
            let exits = program.iter().filter(|i| i.code == 0x95).count();
            assert_eq!(exits, 1);
            assert_eq!(program.last().map(|i| i.code), Some(0x95));
            for (at, instruction) in program.iter().enumerate() {
                if instruction.code == 0x18 {
                    assert_eq!(program[at + 1], Instruction::default_second_slot());
                }
            }
        }
    }

    impl Instruction {
        fn default_second_slot() -> Self {
            Instruction {
                code: 0,
                registers: 0,
                offset: 0,
                immediate: 0,
            }
        }
    }
}

//! `flint-jail`: builds one execution environment's sandbox and runs its runtime in it. Started
//! by flint's isolated launcher only; see the `sandbox` crate.

fn main() {
    sandbox::jail_main()
}

//! The tests that drive a real `flint serve` with the AWS SDK for Rust (`aws-sdk-lambda`).
//!
//! The crate has no code of its own: the tests are in `tests/aws_sdk.rs`. They need the release
//! binaries `flint`, `echo` and `probe`, which `scripts/test` builds before it runs the Rust
//! tests (`cargo build --release -p flint -p test-functions`).

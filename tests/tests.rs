//! Cross-crate tests of slayer-rs, one binary (`cargo test -p slayer-tests`).
//!
//! * `gold`: conformance with the original MATLAB/C++ SLAYER's outputs.
//! * `oxford`: the reference's Oxford spike-pattern task, loss after 1,000 epochs.
//! * `firmware`: the Cortex-M4F firmware in QEMU gives the host engine's spike counts.
//! * `frameworks`: snnTorch and Norse networks imported through NIR, on the core and in QEMU.

mod common;
mod firmware;
mod frameworks;
mod gold;
mod link;
mod oxford;

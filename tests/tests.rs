//! Cross-crate tests of slayer-rs, one binary (`cargo test -p slayer-tests`).
//!
//! * `gold`: conformance with the original MATLAB/C++ SLAYER's outputs.
//! * `oxford`: the reference's Oxford spike-pattern task, loss after 1,000 epochs.

mod common;
mod gold;
mod oxford;

//! Cross-crate tests of slayer-rs, one binary (`cargo test -p slayer-tests`).
//!
//! * `gold`: conformance with the original MATLAB/C++ SLAYER's outputs.

mod common;
mod gold;

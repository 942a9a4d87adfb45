//! Test-only crate: see `tests.rs` for the integration tests. The library
//! holds host-side helpers shared by tests and examples.

pub mod firmware;
pub mod link;

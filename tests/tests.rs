//! Cross-crate tests of slayer-rs.

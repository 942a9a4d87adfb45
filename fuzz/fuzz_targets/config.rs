//! Experiment configs (TOML): parsing and validation.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
#[allow(unused_imports)]
use common::{run_stream, scratch};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = slayer_trainer::config::ExperimentConfig::from_toml(text);
    }
});

//! 40-bit `.bs1` (1-D) events.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
#[allow(unused_imports)]
use common::{run_stream, scratch};

fuzz_target!(|data: &[u8]| {
    let _ = slayer_trainer::data::parse_bs1(data);
});

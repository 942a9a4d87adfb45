//! 40-bit `.bs2` / N-MNIST `.bin` events, file parser and stream source.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
#[allow(unused_imports)]
use common::{run_stream, scratch};

fuzz_target!(|data: &[u8]| {
    let _ = slayer_trainer::data::parse_bs2(data);
    run_stream(data, slayer_trainer::stream::Format::Bs2);
});

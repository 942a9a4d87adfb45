//! AEDAT 4.0: the stream source of `slayer stream` on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
#[allow(unused_imports)]
use common::{run_stream, scratch};

fuzz_target!(|data: &[u8]| {
    run_stream(data, slayer_trainer::stream::Format::Aedat4);
});

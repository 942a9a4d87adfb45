//! AEDAT 3.1: the resynchronising stream parser of `slayer stream`, fed
//! arbitrary bytes, to the end (it must never stop early or panic).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
#[allow(unused_imports)]
use common::{run_stream, scratch};

fuzz_target!(|data: &[u8]| {
    run_stream(data, slayer_trainer::stream::Format::Aedat31);
});

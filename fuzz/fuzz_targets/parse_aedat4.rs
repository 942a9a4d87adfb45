//! AEDAT 4.0: the offline parser on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
#[allow(unused_imports)]
use common::{run_stream, scratch};

fuzz_target!(|data: &[u8]| {
    let _ = slayer_trainer::data::parse_aedat4(data);
});

//! WAV files, through the file reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
#[allow(unused_imports)]
use common::{run_stream, scratch};

fuzz_target!(|data: &[u8]| {
    let path = scratch("wav");
    if std::fs::write(&path, data).is_ok() {
        let _ = slayer_trainer::data::read_wav(&path);
    }
});

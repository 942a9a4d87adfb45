//! MNIST IDX image and label files (raw or gzip), through the file readers.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
#[allow(unused_imports)]
use common::{run_stream, scratch};

fuzz_target!(|data: &[u8]| {
    let path = scratch("idx");
    if std::fs::write(&path, data).is_ok() {
        let _ = slayer_trainer::data::read_images(&path);
        let _ = slayer_trainer::data::read_labels(&path);
    }
});

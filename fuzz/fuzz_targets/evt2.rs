//! Prophesee EVT 2.0: the file parser (the header is prepended, so the
//! fuzzer works on words) and the stream source.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
#[allow(unused_imports)]
use common::{run_stream, scratch};

fuzz_target!(|data: &[u8]| {
    let mut raw = b"% evt 2.0\n% format EVT2;height=480;width=640\n% end\n".to_vec();
    raw.extend_from_slice(data);
    let _ = slayer_trainer::data::parse_raw(&raw);
    let _ = slayer_trainer::data::parse_raw(data);
    run_stream(&raw, slayer_trainer::stream::Format::Raw);
});

//! Checkpoints: as given, and re-sealed with a valid CRC-32 so that the
//! fuzzer reaches the postcard body and the network checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
#[allow(unused_imports)]
use common::{run_stream, scratch};

fuzz_target!(|data: &[u8]| {
    let p = std::path::Path::new("fuzz.slyc");
    let _ = slayer_trainer::checkpoint::Checkpoint::from_bytes(data, p);
    if data.len() >= 6 {
        let mut sealed = b"SLYC\x02\x00".to_vec();
        sealed.extend_from_slice(&data[6..]);
        let crc = slayer_core::crc32(&sealed);
        sealed.extend_from_slice(&crc.to_le_bytes());
        if let Ok(ck) = slayer_trainer::checkpoint::Checkpoint::from_bytes(&sealed, p) {
            let _ = ck.config();
        }
    }
});

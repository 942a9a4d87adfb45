//! Decodes arbitrary bytes as a model (and as a sample pack), both as given
//! and re-sealed with a valid CRC (so the fuzzer reaches the body parser and
//! the validation, not just the CRC check); every model that decodes must
//! re-encode to an equal model and run a few engine steps without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slayer_core::{crc32, state_words, Engine, Model, SamplePack};

/// Largest engine state the target allocates (words).
const MAX_STATE: usize = 1 << 20;

fn run(model: &Model<'_>, data: &[u8]) {
    let again = model.encode().expect("a decoded model encodes");
    assert_eq!(
        &Model::decode(&again).expect("re-encoded model decodes"),
        model
    );
    let words = state_words(model);
    if words > MAX_STATE {
        return;
    }
    let mut state = vec![0i32; words];
    let mut engine = Engine::new(model, &mut state).expect("state_words is enough");
    let limit = model.inputs().saturating_add(3);
    let outputs = model.outputs();
    let input: Vec<u32> = data
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .map(|i| i % limit)
        .collect();
    for k in 0..8 {
        let bin = &input[(k * 3).min(input.len())..(k * 3 + 12).min(input.len())];
        engine.step(bin, |j| assert!(j < outputs));
        for l in 0..model.layers().len() {
            if let Some(s) = engine.spikes(l) {
                s.for_each(drop);
            }
            let _ = engine.potential(l, 0);
        }
    }
    engine.reset();
}

fn samples(pack: &SamplePack<'_>) {
    let mut buf = [0u32; 64];
    for s in pack {
        for b in s.bins() {
            let got = b.fill(&mut buf);
            assert!(got.iter().all(|&i| i < pack.inputs()));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Model::decode(data) {
        run(&m, data);
    }
    if let Ok(p) = SamplePack::decode(data) {
        samples(&p);
    }
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(&crc32(data).to_le_bytes());
    if let Ok(m) = Model::decode(&sealed) {
        run(&m, data);
    }
    if let Ok(p) = SamplePack::decode(&sealed) {
        samples(&p);
    }
});

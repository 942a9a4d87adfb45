//! The model format: round trips, and every malformed blob an error, never a panic.

mod common;

use proptest::prelude::*;
use slayer_core::model::{
    ConvGeometry, Delay, Dense, Layer, SumPool, MAGIC, VERSION, VERSION_UNALIGNED, WEIGHT_ALIGN,
};
use slayer_core::{
    crc32, state_words, DecodeError, Engine, EngineError, Model, NeuronConsts, NeuronParams, Shape,
    WeightBits,
};

fn consts() -> NeuronConsts {
    let p = NeuronParams {
        theta: 100.0,
        tau_s: 5.0,
        tau_r: 1.0,
        scale_ref: 2.0,
    };
    NeuronConsts::derive(&p, 1.0).unwrap()
}

/// Encodes a possibly invalid model by hand, with a valid CRC: version 1
/// without pads, any other version with an empty pad before each layer.
fn raw(version: u16, header: (f32, u32, WeightBits, Shape), layers: &[Layer<'_>]) -> Vec<u8> {
    raw_padded(version, header, layers, &[])
}

/// [`raw`] with the pad `pads[i]` (default empty) before layer `i`.
fn raw_padded(
    version: u16,
    header: (f32, u32, WeightBits, Shape),
    layers: &[Layer<'_>],
    pads: &[&[u8]],
) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out = postcard::to_extend(&version, out).unwrap();
    out = postcard::to_extend(&header, out).unwrap();
    if version == VERSION_UNALIGNED {
        out = postcard::to_extend(layers, out).unwrap();
    } else {
        out = postcard::to_extend(&(layers.len() as u32), out).unwrap();
        for (i, layer) in layers.iter().enumerate() {
            out = postcard::to_extend(pads.get(i).copied().unwrap_or(&[]), out).unwrap();
            out = postcard::to_extend(layer, out).unwrap();
        }
    }
    seal(out)
}

/// Appends the CRC.
fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let c = crc32(&body);
    body.extend_from_slice(&c.to_le_bytes());
    body
}

fn header(n: u32) -> (f32, u32, WeightBits, Shape) {
    (1.0, 100, WeightBits::I8, Shape::flat(n))
}

fn dense<'a>(inputs: u32, outputs: u32, weights: &'a [u8]) -> Layer<'a> {
    Layer::Dense(Dense {
        inputs,
        outputs,
        neuron: consts(),
        scale: 0.5,
        weights,
    })
}

/// Runs a few steps of a model that decoded, with a capped state.
fn exercise(model: &Model<'_>, seed: &[u8]) {
    let words = state_words(model);
    if words > 1 << 20 {
        return;
    }
    let mut state = vec![0i32; words];
    let mut e = Engine::new(model, &mut state).unwrap();
    let n = model.inputs().max(1);
    for k in 0..4u32 {
        let input: Vec<u32> = seed
            .iter()
            .map(|&b| u32::from(b).wrapping_mul(2654435761u32.wrapping_add(k)) % (n + 2))
            .collect();
        e.step(&input, |j| assert!(j < model.outputs()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// random model → encode → decode → identical; re-encoding gives the same bytes.
    #[test]
    fn round_trip(seed in any::<u64>()) {
        let b = common::random_model(seed);
        let built = b.build().unwrap();
        let bytes = b.encode().unwrap();
        let decoded = Model::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &built);
        prop_assert_eq!(&decoded.encode().unwrap(), &bytes);
        // Every weight blob starts at a multiple of WEIGHT_ALIGN from the magic.
        let base = bytes.as_ptr() as usize;
        for layer in decoded.layers() {
            let blob = match layer {
                Layer::Dense(d) => d.weights,
                Layer::Conv2d(c) => c.weights,
                _ => continue,
            };
            prop_assert_eq!((blob.as_ptr() as usize - base) % WEIGHT_ALIGN, 0);
        }
        // The same model written as version 1 (no pads) reads back the same.
        let v1 = raw(VERSION_UNALIGNED, (built.ts(), built.bins(), built.bits(), built.input_shape()), built.layers());
        prop_assert_eq!(&Model::decode(&v1).unwrap(), &built);
        exercise(&decoded, &seed.to_le_bytes());
    }

    /// Random bytes in a valid model's body, re-sealed with a valid CRC:
    /// an error or a model the engine runs, never a panic.
    #[test]
    fn resealed_corruption_never_panics(
        seed in any::<u64>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let bytes = common::random_model(seed).encode().unwrap();
        let mut body = bytes[..bytes.len() - 4].to_vec();
        for (at, v) in edits {
            let i = at.index(body.len() - 5) + 5;
            body[i] = v;
        }
        let blob = seal(body);
        let decoded = Model::decode(&blob);
        if let Ok(m) = &decoded {
            exercise(m, &blob[..blob.len().min(16)]);
        }
    }

    /// Arbitrary bodies after a valid magic and version, sealed.
    #[test]
    fn garbage_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = MAGIC.to_vec();
        bytes.push(1);
        bytes.extend_from_slice(&body);
        let blob = seal(bytes);
        let decoded = Model::decode(&blob);
        if let Ok(m) = &decoded {
            exercise(m, &body);
        }
        prop_assert!(Model::decode(&body).is_err() || body.starts_with(&MAGIC));
    }
}

#[test]
fn every_truncation_is_an_error() {
    for seed in 0..24 {
        let bytes = common::random_model(seed).encode().unwrap();
        assert!(Model::decode(&bytes).is_ok());
        for len in 0..bytes.len() {
            assert!(
                Model::decode(&bytes[..len]).is_err(),
                "seed {seed}: prefix {len} decoded"
            );
        }
    }
    for case in [
        common::dense_case(1, WeightBits::I8, false),
        common::conv_case(1, WeightBits::I16, false, true),
        common::delay_case(1, WeightBits::I8, false),
    ] {
        for len in 0..case.bytes.len() {
            let r = Model::decode(&case.bytes[..len]);
            assert!(r.is_err(), "prefix {len} decoded");
        }
    }
}

#[test]
fn every_single_byte_corruption_is_an_error() {
    for seed in 0..8 {
        let bytes = common::random_model(seed).encode().unwrap();
        for i in 0..bytes.len() {
            for x in [0x01u8, 0x80, 0xff, 0x5a] {
                let mut b = bytes.clone();
                b[i] ^= x;
                let e = Model::decode(&b).unwrap_err();
                if i >= 5 {
                    // Past magic and version, only the CRC can notice.
                    assert!(matches!(e, DecodeError::Crc { .. }), "byte {i}: {e:?}");
                }
            }
        }
    }
}

#[test]
fn header_errors() {
    let w = [1u8; 6];
    let good = raw(VERSION, header(3), &[dense(3, 2, &w)]);
    assert!(Model::decode(&good).is_ok());
    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(Model::decode(&bad), Err(DecodeError::BadMagic));
    assert_eq!(
        Model::decode(&raw(3, header(3), &[dense(3, 2, &w)])),
        Err(DecodeError::UnsupportedVersion { found: 3 })
    );
    // Pads: up to three zero bytes; longer or non-zero ones are malformed.
    let layers = [dense(3, 2, &w), Layer::Flatten];
    for (pad, ok) in [
        (&[][..], true),
        (&[0, 0, 0][..], true),
        (&[0, 0, 0, 0][..], false),
        (&[0, 1][..], false),
    ] {
        let blob = raw_padded(VERSION, header(3), &layers, &[&[0], pad]);
        assert_eq!(Model::decode(&blob).is_ok(), ok, "pad {pad:?}");
        if !ok {
            assert_eq!(Model::decode(&blob), Err(DecodeError::Malformed));
        }
    }
    let mut crc = good.clone();
    let n = crc.len();
    crc[n - 1] ^= 1;
    assert!(matches!(Model::decode(&crc), Err(DecodeError::Crc { .. })));
    assert_eq!(Model::decode(b"SLY"), Err(DecodeError::Truncated));
    assert_eq!(Model::decode(b""), Err(DecodeError::Truncated));
    for ts in [0.0f32, -1.0, f32::NAN, f32::INFINITY] {
        let h = (ts, 1, WeightBits::I8, Shape::flat(3));
        assert_eq!(
            Model::decode(&raw(VERSION, h, &[])),
            Err(DecodeError::BadHeader)
        );
    }
    let empty = (1.0, 1, WeightBits::I8, Shape::new(0, 4, 4));
    assert_eq!(
        Model::decode(&raw(VERSION, empty, &[])),
        Err(DecodeError::BadHeader)
    );
    // Trailing bytes between the layers and the CRC.
    let mut body = good[..good.len() - 4].to_vec();
    body.push(0);
    assert_eq!(Model::decode(&seal(body)), Err(DecodeError::TrailingBytes));
    // 17 layers.
    let many = vec![Layer::Flatten; 17];
    assert_eq!(
        Model::decode(&raw(VERSION, header(3), &many)),
        Err(DecodeError::TooManyLayers { found: 17 })
    );
    let sixteen = vec![Layer::Flatten; 16];
    assert!(Model::decode(&raw(VERSION, header(3), &sixteen)).is_ok());
    // A body cut short but sealed with a valid CRC.
    let cut = seal(good[..good.len() - 7].to_vec());
    assert_eq!(Model::decode(&cut), Err(DecodeError::Truncated));
    // An unknown layer tag.
    let mut tag = MAGIC.to_vec();
    tag = postcard::to_extend(&VERSION, tag).unwrap();
    tag = postcard::to_extend(&header(3), tag).unwrap();
    tag.extend_from_slice(&[1, 0, 9]);
    assert_eq!(Model::decode(&seal(tag)), Err(DecodeError::Malformed));
}

#[test]
fn layer_errors() {
    let h = header(4);
    let w8 = [1u8; 8];
    let check = |layers: &[Layer<'_>], want: DecodeError| {
        assert_eq!(
            Model::decode(&raw(VERSION, h, layers)),
            Err(want),
            "{layers:?}"
        );
    };
    check(
        &[dense(4, 2, &w8[..7])],
        DecodeError::WeightLength {
            layer: 0,
            expected: 8,
            found: 7,
        },
    );
    check(
        &[dense(4, 2, &w8), dense(3, 1, &w8[..3])],
        DecodeError::ShapeMismatch {
            layer: 1,
            expected: 2,
            found: 3,
        },
    );
    check(&[dense(4, 0, &[])], DecodeError::BadGeometry { layer: 0 });
    let mut bad = consts();
    bad.theta = 0;
    check(
        &[Layer::Dense(Dense {
            inputs: 4,
            outputs: 2,
            neuron: bad,
            scale: 1.0,
            weights: &w8,
        })],
        DecodeError::BadNeuron { layer: 0 },
    );
    for f in [
        |k: &mut NeuronConsts| k.eps_a2 = -1,
        |k: &mut NeuronConsts| k.eps_a_sq = (1 << 30) + 1,
        |k: &mut NeuronConsts| k.eps_c = i32::MIN,
        |k: &mut NeuronConsts| k.nu_a_sq = -1,
        |k: &mut NeuronConsts| k.frac_bits = 25,
    ] {
        let mut k = consts();
        f(&mut k);
        check(
            &[Layer::Dense(Dense {
                inputs: 4,
                outputs: 2,
                neuron: k,
                scale: 1.0,
                weights: &w8,
            })],
            DecodeError::BadNeuron { layer: 0 },
        );
    }
    check(
        &[Layer::Dense(Dense {
            inputs: 4,
            outputs: 2,
            neuron: consts(),
            scale: f32::NAN,
            weights: &w8,
        })],
        DecodeError::BadScale { layer: 0 },
    );
    check(
        &[Layer::Delay(Delay {
            max_delay: 3,
            delays: &[0, 1, 2],
        })],
        DecodeError::DelayLength {
            layer: 0,
            expected: 4,
            found: 3,
        },
    );
    check(
        &[Layer::Delay(Delay {
            max_delay: 3,
            delays: &[0, 1, 4, 2],
        })],
        DecodeError::DelayRange { layer: 0 },
    );
    let conv = |input: Shape, kernel, stride, padding, weights| {
        Layer::Conv2d(slayer_core::model::Conv2d {
            geometry: ConvGeometry {
                input,
                out_channels: 1,
                kernel,
                stride,
                padding,
            },
            neuron: consts(),
            scale: 1.0,
            weights,
        })
    };
    let sq = Shape::new(1, 2, 2);
    check(
        &[conv(sq, (3, 1), (1, 1), (0, 0), &w8[..3])],
        DecodeError::BadGeometry { layer: 0 },
    );
    check(
        &[conv(sq, (1, 1), (0, 1), (0, 0), &w8[..1])],
        DecodeError::BadGeometry { layer: 0 },
    );
    check(
        &[conv(sq, (2, 2), (1, 1), (0, 0), &w8[..3])],
        DecodeError::WeightLength {
            layer: 0,
            expected: 4,
            found: 3,
        },
    );
    check(
        &[conv(Shape::new(1, 1, 3), (1, 1), (1, 1), (0, 0), &w8[..1])],
        DecodeError::ShapeMismatch {
            layer: 0,
            expected: 4,
            found: 3,
        },
    );
    let pool = |input, size| {
        Layer::SumPool(SumPool {
            input,
            size,
            tap: 10,
            neuron: consts(),
            scale: 1.0,
        })
    };
    check(&[pool(sq, 5)], DecodeError::BadGeometry { layer: 0 });
    assert!(Model::decode(&raw(VERSION, h, &[pool(sq, 3)])).is_ok());
    check(&[pool(sq, 0)], DecodeError::BadGeometry { layer: 0 });
    // Sizes whose product overflows u32.
    let huge = Shape::new(1 << 16, 1 << 16, 2);
    let h2 = (1.0, 1, WeightBits::I8, huge);
    assert_eq!(
        Model::decode(&raw(VERSION, h2, &[])),
        Err(DecodeError::Oversized { layer: 0 })
    );
    // A pool whose state (5 words per neuron) overflows u32.
    let big = Shape::new(1 << 15, 1 << 8, 1 << 8);
    let h3 = (1.0, 1, WeightBits::I8, big);
    assert_eq!(
        Model::decode(&raw(VERSION, h3, &[pool(big, 1)])),
        Err(DecodeError::Oversized { layer: 0 })
    );
}

#[test]
fn weights_are_borrowed_and_read_back() {
    let k = consts();
    let mut b = slayer_core::ModelBuilder::new(1.0, 10, WeightBits::I16, Shape::flat(2));
    b.dense(2, 3, &[1, -2, 300, -32768, 32767, 0], k, 0.25)
        .unwrap();
    let bytes = b.encode().unwrap();
    let m = Model::decode(&bytes).unwrap();
    let Layer::Dense(d) = &m.layers()[0] else {
        panic!()
    };
    let range = bytes.as_ptr_range();
    assert!(
        range.contains(&d.weights.as_ptr()),
        "weights not borrowed from the blob"
    );
    let w: Vec<i32> = (0..6)
        .map(|i| m.bits().get(d.weights, i).unwrap())
        .collect();
    assert_eq!(w, [1, -2, 300, -32768, 32767, 0]);
    assert_eq!(
        (m.inputs(), m.outputs(), m.layers()[0].neurons()),
        (2, 3, 3)
    );
    // Out-of-range weights are refused when building.
    let mut b8 = slayer_core::ModelBuilder::new(1.0, 10, WeightBits::I8, Shape::flat(1));
    assert!(matches!(
        b8.dense(1, 2, &[5, 128], k, 1.0),
        Err(slayer_core::EncodeError::WeightRange {
            layer: 0,
            index: 1,
            value: 128
        })
    ));
}

#[test]
fn engine_arena_too_small_is_an_error() {
    let case = common::conv_case(3, WeightBits::I8, false, false);
    let m = Model::decode(&case.bytes).unwrap();
    let n = state_words(&m);
    let mut small = vec![0i32; n - 1];
    assert_eq!(
        Engine::new(&m, &mut small).err(),
        Some(EngineError::StateTooSmall {
            needed: n,
            found: n - 1
        })
    );
    let mut empty: [i32; 0] = [];
    assert!(Engine::new(&m, &mut empty).is_err());
    let mut exact = vec![0i32; n];
    assert!(Engine::new(&m, &mut exact).is_ok());
    let mut big = vec![7i32; n + 10];
    let mut e = Engine::new(&m, &mut big).unwrap();
    // Out-of-range inputs are ignored and counted.
    let s = e.step(&[0, 1, 126, 500, u32::MAX], |_| {});
    assert_eq!(s.ignored, 3);
    e.reset();
}

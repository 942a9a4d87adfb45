//! Sample packs: round trips, errors instead of panics.

use proptest::prelude::*;
use slayer_core::{crc32, SampleError, SamplePack, SamplePackBuilder};

/// `(label, bins)` per sample.
type Samples = Vec<(u16, Vec<Vec<u32>>)>;

fn samples(inputs: u32, bins: usize) -> impl Strategy<Value = Samples> {
    let bin = prop::collection::vec(0..inputs, 0..6);
    let sample = (any::<u16>(), prop::collection::vec(bin, bins..=bins));
    prop::collection::vec(sample, 0..5)
}

fn pack_strategy() -> impl Strategy<Value = (u32, usize, Samples)> {
    (
        prop_oneof![1u32..300, 65_000u32..70_000, Just(u32::MAX)],
        0usize..8,
    )
        .prop_flat_map(|(inputs, bins)| (Just(inputs), Just(bins), samples(inputs, bins)))
}

fn encode(inputs: u32, bins: usize, s: &Samples) -> Vec<u8> {
    let mut b = SamplePackBuilder::new(inputs, bins as u32);
    for (label, bins) in s {
        b.push(*label, bins).unwrap();
    }
    b.encode().unwrap()
}

fn read(pack: &SamplePack<'_>) -> Samples {
    let mut buf = vec![0u32; 64];
    pack.iter()
        .map(|s| {
            (
                s.label,
                s.bins().map(|b| b.fill(&mut buf).to_vec()).collect(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn round_trip((inputs, bins, s) in pack_strategy()) {
        let bytes = encode(inputs, bins, &s);
        let pack = SamplePack::decode(&bytes).unwrap();
        prop_assert_eq!((pack.inputs(), pack.bins() as usize, pack.len()), (inputs, bins, s.len()));
        let back = read(&pack);
        prop_assert_eq!(&back, &s);
        for (i, (label, b)) in s.iter().enumerate() {
            let one = pack.sample(i).unwrap();
            prop_assert_eq!(one.label, *label);
            prop_assert_eq!(one.len(), bins);
            let lens: Vec<usize> = one.bins().map(|x| x.len()).collect();
            prop_assert_eq!(lens, b.iter().map(Vec::len).collect::<Vec<_>>());
        }
        let past = matches!(pack.sample(s.len()), Err(SampleError::NoSuchSample { .. }));
        prop_assert!(past);
        // Re-encoding what was read gives the same bytes.
        prop_assert_eq!(encode(inputs, bins, &back), bytes);
    }

    #[test]
    fn resealed_corruption_never_panics(
        (inputs, bins, s) in pack_strategy(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let bytes = encode(inputs, bins, &s);
        let mut body = bytes[..bytes.len() - 4].to_vec();
        for (at, v) in edits {
            let i = at.index(body.len());
            body[i] = v;
        }
        let c = crc32(&body);
        body.extend_from_slice(&c.to_le_bytes());
        if let Ok(p) = SamplePack::decode(&body) {
            let _ = read(&p);
        }
    }
}

#[test]
fn every_truncation_and_corruption_is_an_error() {
    let s: Samples = vec![
        (3, vec![vec![1, 2, 3], vec![], vec![299]]),
        (9, vec![vec![], vec![0], vec![5, 6]]),
    ];
    let bytes = encode(300, 3, &s);
    for len in 0..bytes.len() {
        assert!(SamplePack::decode(&bytes[..len]).is_err(), "prefix {len}");
    }
    for i in 0..bytes.len() {
        for x in [1u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= x;
            assert!(SamplePack::decode(&b).is_err(), "byte {i} ^ {x}");
        }
    }
}

#[test]
fn builder_errors() {
    let mut b = SamplePackBuilder::new(10, 2);
    assert_eq!(
        b.push(0, &[vec![1u32]]).err(),
        Some(SampleError::BinCount {
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        b.push(0, &[vec![1u32], vec![10]]).err(),
        Some(SampleError::IndexRange)
    );
    assert!(b.is_empty());
    let bytes = b.encode().unwrap();
    let p = SamplePack::decode(&bytes).unwrap();
    assert!(p.is_empty());
}

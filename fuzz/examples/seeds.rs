//! Writes a seed corpus for `decode_and_step`: valid models and sample packs
//! without their CRC (the target re-seals its input), so the fuzzer starts
//! from well-formed bodies.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds` (from the repository root).

use std::fs;
use std::path::Path;

use slayer_core::model::ConvGeometry;
use slayer_core::{
    pool_tap_weight, ModelBuilder, NeuronConsts, SamplePackBuilder, Shape, WeightBits,
};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/decode_and_step");
    fs::create_dir_all(&dir).unwrap();
    let k = NeuronConsts::derive(200.0, 5.0, 1.0, 2.0, 1.0).unwrap();
    let mut seeds = Vec::new();
    for bits in [WeightBits::I8, WeightBits::I16] {
        let mut b = ModelBuilder::new(1.0, 300, bits, Shape::flat(6));
        b.dense(
            6,
            4,
            &(0..24).map(|i| i * 5 - 50).collect::<Vec<_>>(),
            k,
            0.1,
        )
        .unwrap();
        b.delay(&[0, 1, 2, 3], 3);
        b.dense(4, 2, &[90, -20, 80, 70, 60, 50, 40, 30], k, 0.1)
            .unwrap();
        seeds.push(b.encode().unwrap());

        let input = Shape::new(2, 6, 5);
        let g = ConvGeometry {
            input,
            out_channels: 2,
            kernel: (3, 2),
            stride: (1, 2),
            padding: (1, 0),
        };
        let n = g.weight_count().unwrap() as usize;
        let mut b = ModelBuilder::new(1.0, 100, bits, input);
        b.conv2d(
            g,
            &(0..n as i32).map(|i| 100 - 7 * i).collect::<Vec<_>>(),
            k,
            0.1,
        )
        .unwrap();
        let out = g.output().unwrap();
        let kp = NeuronConsts::derive(1000.0, 2.0, 1.0, 2.0, 1.0).unwrap();
        b.sum_pool(out, 2, pool_tap_weight(1000.0).unwrap(), kp, 1.0);
        b.flatten();
        let pooled = Shape::new(2, 3, 1).len().unwrap();
        b.dense(pooled, 3, &vec![60; pooled as usize * 3], k, 0.1)
            .unwrap();
        seeds.push(b.encode().unwrap());
    }
    let mut p = SamplePackBuilder::new(30, 4);
    p.push(1, &[vec![0u32, 4], vec![], vec![29, 3, 3], vec![7]])
        .unwrap();
    p.push(2, &[vec![1u32], vec![2], vec![], vec![]]).unwrap();
    seeds.push(p.encode().unwrap());
    for (i, s) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("seed-{i}")), &s[..s.len() - 4]).unwrap();
    }
    println!("{} seeds in {}", seeds.len(), dir.display());
}

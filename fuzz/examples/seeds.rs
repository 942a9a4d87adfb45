//! Writes seed corpora the data kit cannot give: for `decode_and_step`,
//! valid models and sample packs without their CRC (the target re-seals its
//! input); for `evt2` / `evt3`, generated EVT words (the target prepends the
//! header); for `checkpoint`, checkpoints of the shipped configs' networks;
//! for `idx`, small raw IDX files. `scripts/fuzz-parsers.sh` adds the data
//! kit's real files.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds` (from the repository root).

use std::fs;
use std::path::Path;

use slayer_core::model::ConvGeometry;
use slayer_core::{
    pool_tap_weight, LifConsts, LifReset, ModelBuilder, NeuronConsts, NeuronParams,
    SamplePackBuilder, Shape, WeightBits,
};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/decode_and_step");
    fs::create_dir_all(&dir).unwrap();
    let neuron = |theta| NeuronParams {
        theta,
        tau_s: 5.0,
        tau_r: 1.0,
        scale_ref: 2.0,
    };
    let k = NeuronConsts::derive(&neuron(200.0), 1.0).unwrap();
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
        let pool = NeuronParams {
            tau_s: 2.0,
            ..neuron(1000.0)
        };
        let kp = NeuronConsts::derive(&pool, 1.0).unwrap();
        b.sum_pool(out, 2, pool_tap_weight(1000.0).unwrap(), kp, 1.0);
        b.flatten();
        let pooled = Shape::new(2, 3, 1).len().unwrap();
        b.dense(pooled, 3, &vec![60; pooled as usize * 3], k, 0.1)
            .unwrap();
        seeds.push(b.encode().unwrap());

        // LIF layers, the second with biases (`Layer::Lif`, `Layer::LifBias`),
        // then SRM neurons with coefficients on the coarse grid.
        let kl = LifConsts::derive(150.0, 0.5, 0.9, LifReset::Subtract).unwrap();
        let mut b = ModelBuilder::new(1.0, 50, bits, Shape::flat(6));
        b.lif(
            6,
            4,
            &(0..24).map(|i| i * 4 - 40).collect::<Vec<_>>(),
            kl,
            0.1,
        )
        .unwrap();
        b.lif_bias(4, 3, &[50; 12], &[-20, 0, i32::MAX], kl, 0.1)
            .unwrap();
        b.dense(3, 2, &[70; 6], k.coarse(), 0.1).unwrap();
        seeds.push(b.encode().unwrap());

        // Convolutions with LIF neurons (`Layer::LifConv`), with and
        // without a bias per channel.
        let input = Shape::new(2, 6, 5);
        let g1 = ConvGeometry {
            input,
            out_channels: 3,
            kernel: (3, 3),
            stride: (2, 1),
            padding: (1, 0),
        };
        let g2 = ConvGeometry {
            input: g1.output().unwrap(),
            out_channels: 2,
            kernel: (2, 2),
            stride: (1, 1),
            padding: (0, 0),
        };
        let mut b = ModelBuilder::new(1.0, 50, bits, input);
        let w = |g: &ConvGeometry| {
            (0..g.weight_count().unwrap() as i32)
                .map(|i| 60 - 5 * (i % 25))
                .collect::<Vec<_>>()
        };
        b.lif_conv(g1, &w(&g1), Some(&[10, -10, 0]), kl, 0.1)
            .unwrap();
        b.lif_conv(g2, &w(&g2), None, kl, 0.1).unwrap();
        seeds.push(b.encode().unwrap());

        // Recurrent LIF layers (`Layer::LifRec`), with and without biases.
        let mut b = ModelBuilder::new(1.0, 50, bits, Shape::flat(5));
        let rows = |i: u32, o: u32| (0..(i + o) * o).map(|j| 40 - (j as i32 % 9) * 10).collect::<Vec<_>>();
        b.lif_rec(5, 4, &rows(5, 4), Some(&[5, -5, 0, 30]), kl, 0.1)
            .unwrap();
        b.lif_rec(4, 3, &rows(4, 3), None, kl, 0.1).unwrap();
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
    trainer_seeds();
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn trainer_seeds() {
    use slayer_trainer::data::prophesee::{encode_raw, random_fixture, EvtFormat};
    for (format, target) in [(EvtFormat::Evt2, "evt2"), (EvtFormat::Evt3, "evt3")] {
        for (seed, n, span) in [(1u64, 200usize, 20_000u64), (2, 2000, 40_000_000)] {
            let (events, triggers) = random_fixture(seed, n, span);
            let raw = encode_raw(format, (640, 480), &events, &triggers, true).unwrap();
            let h = slayer_trainer::data::prophesee::parse_raw_header(&raw).unwrap();
            write(target, &format!("words-{seed}"), &raw[h.len..]);
        }
    }
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../trainer/configs");
    for entry in fs::read_dir(configs).unwrap() {
        let path = entry.unwrap().path();
        let Ok(cfg) = slayer_trainer::config::ExperimentConfig::load(&path) else {
            continue;
        };
        let (inputs, shape) = match cfg.data.inputs_hint() {
            Some(2312) => (2312, Some((2, 34, 34))),
            Some(784) => (784, Some((1, 28, 28))),
            Some(n) if n <= 4096 => (n, None),
            _ => continue,
        };
        let Ok(net) = slayer_trainer::network::Network::from_config(&cfg, inputs, shape, 1) else {
            continue;
        };
        let opt = slayer_trainer::optim::Optimiser::new(cfg.optimiser.clone(), &net.param_sizes());
        let ck = slayer_trainer::checkpoint::Checkpoint::new(&cfg, &net, &opt, &[]);
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        write("checkpoint", &name, &ck.to_bytes().unwrap());
    }
    // Raw IDX: 3 images of 4 × 5, and 3 labels.
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5];
    images.extend((0..60u8).map(|i| i.wrapping_mul(37)));
    write("idx", "images", &images);
    write("idx", "labels", &[0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 9]);
    println!("trainer seeds written");
}

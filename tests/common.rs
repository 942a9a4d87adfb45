//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// `../shared/data` beside the repository (CI lays it out the same way).
pub fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// Reads a whitespace-separated numeric text matrix, skipping `#` comment lines.
pub fn read_matrix(path: &Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (is ../shared beside the repository?)",
            path.display()
        )
    });
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_whitespace()
                .map(|v| {
                    v.parse::<f64>()
                        .unwrap_or_else(|e| panic!("{}: {v:?}: {e}", path.display()))
                })
                .collect()
        })
        .collect()
}

/// A 2312 → 64 → 10 int8 model of LIF then CUBA-LIF neurons (issue 14's
/// `Layer::Lif`) on the N-MNIST sensor (2 × 34 × 34), seeded random
/// weights: loud enough that most samples make output spikes.
pub fn random_lif_model(seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    use slayer_core::{LifConsts, LifReset, ModelBuilder, Shape, WeightBits};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut w = |n: usize| -> Vec<i32> { (0..n).map(|_| rng.random_range(-110..=127)).collect() };
    let k1 = LifConsts::derive(300.0, 0.0, 0.9, LifReset::Zero).unwrap();
    let k2 = LifConsts::derive(800.0, 0.5, 0.9, LifReset::Subtract).unwrap();
    let n = 2 * 34 * 34;
    let mut b = ModelBuilder::new(1.0, 300, WeightBits::I8, Shape::new(2, 34, 34));
    b.flatten();
    b.lif(n, 64, &w(n as usize * 64), k1, 0.01).unwrap();
    b.lif(64, 10, &w(64 * 10), k2, 0.01).unwrap();
    b.encode().unwrap()
}

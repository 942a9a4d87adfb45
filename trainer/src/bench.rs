//! `slayer bench`: training throughput on fixed network shapes with
//! synthetic inputs of realistic density.

use std::time::Instant;

use serde::Serialize;
use slayer_core::NeuronParams;

use crate::backend::{Backend, Sample};
use crate::data;
use crate::error::Result;
use crate::layers::Dense;
use crate::loss::{Loss, Target};
use crate::network::{Layer, Network};
use crate::neuron::{KernelMode, RhoParams};
use crate::optim::{Optimiser, OptimiserConfig};
use crate::spikes::SpikeRaster;

/// One benchmark shape.
#[derive(Debug, Clone)]
pub struct BenchCase {
    /// Short name.
    pub name: &'static str,
    /// Layer widths, input first.
    pub widths: Vec<usize>,
    /// Bins per sample.
    pub bins: usize,
    /// Samples per optimiser step.
    pub batch: usize,
    /// Fraction of input (bin, neuron) cells that spike.
    pub input_density: f64,
    /// Loss (NumSpikes takes class targets, SpikeTime random target trains).
    pub loss: Loss,
    /// Initial weight scale.
    pub weight_scale: f32,
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Case name.
    pub name: String,
    /// Network shape, e.g. `2312-512-10`.
    pub shape: String,
    /// Bins per sample.
    pub bins: usize,
    /// Batch size.
    pub batch: usize,
    /// Training samples per second (forward + backward + optimiser step).
    pub train_samples_per_s: f64,
    /// Mean spikes per sample in the first hidden layer (how busy the network was).
    pub hidden_spikes_per_sample: f64,
    /// Batches timed.
    pub batches: usize,
}

/// The cases `slayer bench` runs: the N-MNIST MLP shape and the Oxford shape.
pub fn default_cases() -> Vec<BenchCase> {
    vec![
        BenchCase {
            name: "nmnist-mlp",
            widths: vec![2312, 512, 10],
            bins: 300,
            batch: 8,
            input_density: 0.006,
            loss: Loss::NumSpikes {
                start: 0,
                stop: 300,
                true_count: 60.0,
                false_count: 10.0,
            },
            weight_scale: 40.0,
        },
        BenchCase {
            name: "oxford",
            widths: vec![200, 256, 200],
            bins: 1900,
            batch: 1,
            input_density: 1889.0 / (200.0 * 1900.0),
            loss: Loss::SpikeTime,
            weight_scale: 40.0,
        },
    ]
}

/// Times training steps of one case for about `seconds` (at least 3 batches,
/// after one warm-up batch).
pub fn run_case(
    backend: &dyn Backend,
    case: &BenchCase,
    seconds: f64,
    seed: u64,
) -> Result<BenchRow> {
    let mut rng = data::seeded_rng(seed);
    let mut layers = Vec::new();
    for w in case.widths.windows(2) {
        layers.push(Layer::Dense(Dense::init(
            w[0],
            w[1],
            case.weight_scale,
            &mut rng,
        )));
    }
    let mut net = Network {
        inputs: case.widths[0],
        layers,
        neuron: NeuronParams::REFERENCE,
        rho: RhoParams::default(),
        kernel: KernelMode::Exact,
        ts: 1.0,
    };
    let outputs = net.outputs();
    let ts_ms = 1.0;
    let rate_hz = case.input_density * 1000.0 / ts_ms;
    let pool: Vec<(SpikeRaster, Target)> = (0..case.batch * 4)
        .map(|i| {
            let x = data::poisson_raster(&mut rng, net.inputs, case.bins, ts_ms, rate_hz);
            let t = match case.loss {
                Loss::NumSpikes { .. } => Target::Class(i % outputs),
                Loss::SpikeTime => Target::Spikes(data::poisson_raster(
                    &mut rng, outputs, case.bins, ts_ms, 20.0,
                )),
            };
            (x, t)
        })
        .collect();
    let mut opt = Optimiser::new(OptimiserConfig::default(), &net.param_sizes());
    let srm = net.srm();
    let hidden_spikes: f64 = pool
        .iter()
        .take(case.batch)
        .map(|(x, _)| {
            net.forward::<rand_chacha::ChaCha8Rng>(&srm, x, None)
                .spikes(0)
                .count() as f64
        })
        .sum::<f64>()
        / case.batch as f64;
    let mut step = |b: usize| -> Result<()> {
        let start = (b * case.batch) % pool.len();
        let batch: Vec<Sample<'_>> = (0..case.batch)
            .map(|i| {
                let (x, t) = &pool[(start + i) % pool.len()];
                Sample {
                    input: x,
                    target: t,
                }
            })
            .collect();
        let res = backend.train_batch(&net, &batch, &case.loss, b as u64)?;
        let g: Vec<&[f32]> = res.grads.iter().map(Vec::as_slice).collect();
        opt.step(&mut net.params_mut(), &g);
        Ok(())
    };
    step(0)?;
    let t0 = Instant::now();
    let mut batches = 0;
    while batches < 3 || t0.elapsed().as_secs_f64() < seconds {
        step(batches + 1)?;
        batches += 1;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    Ok(BenchRow {
        name: case.name.into(),
        shape: case
            .widths
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("-"),
        bins: case.bins,
        batch: case.batch,
        train_samples_per_s: (batches * case.batch) as f64 / elapsed,
        hidden_spikes_per_sample: hidden_spikes,
        batches,
    })
}

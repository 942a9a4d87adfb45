//! `slayer bench`: training throughput on fixed network shapes with
//! synthetic inputs of realistic density.

use std::time::Instant;

use serde::Serialize;
use slayer_core::NeuronParams;

use crate::backend::cuda::{CudaBackend, CudaOptions};
use crate::backend::{Backend, CpuBackend, Device, Sample};
use crate::config::ExperimentConfig;
use crate::data;
use crate::error::{Error, Result};
use crate::layers::Dense;
use crate::loss::{Loss, Target};
use crate::network::{Layer, Network};
use crate::neuron::{KernelMode, RhoParams};
use crate::optim::{Optimiser, OptimiserConfig};
use crate::spikes::SpikeRaster;

/// The network of a benchmark case.
#[derive(Debug, Clone)]
pub enum BenchNet {
    /// Dense layers of these widths, input first (weights `weight_scale`).
    Dense(Vec<usize>),
    /// The layers and neuron of a shipped experiment config (TOML text), on
    /// inputs of shape `(channels, height, width)`.
    Config {
        /// The config's text.
        toml: &'static str,
        /// Input shape.
        shape: (usize, usize, usize),
    },
}

/// One benchmark shape.
#[derive(Debug, Clone)]
pub struct BenchCase {
    /// Short name.
    pub name: &'static str,
    /// The network.
    pub net: BenchNet,
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
            net: BenchNet::Dense(vec![2312, 512, 10]),
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
            net: BenchNet::Dense(vec![200, 256, 200]),
            bins: 1900,
            batch: 1,
            input_density: 1889.0 / (200.0 * 1900.0),
            loss: Loss::SpikeTime,
            weight_scale: 40.0,
        },
    ]
}

/// Further training cases, run when named with `--case`: the N-MNIST MLP
/// shape at batch 32, and the shipped DVS Gesture CNN (128×128×2 → pool 4 →
/// 16c5 → delay → pool 2 → 32c3 → delay → pool 2 → 512 → delay → 11) on 300
/// bins at batch 16 (the GPU comparisons of issue 12).
pub fn extra_cases() -> Vec<BenchCase> {
    let mut c = default_cases().remove(0);
    c.name = "nmnist-mlp-32";
    c.batch = 32;
    let dvs = BenchCase {
        name: "dvs-cnn-16",
        net: BenchNet::Config {
            toml: include_str!("../configs/dvs_gesture.toml"),
            shape: (2, 128, 128),
        },
        bins: 300,
        batch: 16,
        input_density: 0.01,
        loss: Loss::NumSpikes {
            start: 0,
            stop: 300,
            true_count: 60.0,
            false_count: 10.0,
        },
        weight_scale: 0.0,
    };
    vec![c, dvs]
}

/// Every training case's name, for messages.
pub fn case_names() -> Vec<&'static str> {
    default_cases()
        .iter()
        .chain(&extra_cases())
        .map(|c| c.name)
        .chain(fwd_bwd_cases().iter().map(|c| c.name))
        .collect()
}

/// Opens the backend of `device` (CUDA with `options`).
pub fn open(device: Device, options: CudaOptions) -> Result<Box<dyn Backend>> {
    Ok(match device {
        Device::Cpu => Box::new(CpuBackend::new()),
        Device::Cuda(n) => Box::new(CudaBackend::with_options(n, options)?),
    })
}

/// A forward + backward timing case: the public SNN-library benchmark shape,
/// one dense `n → n` layer followed by spiking neurons.
#[derive(Debug, Clone)]
pub struct FwdBwdCase {
    /// Short name (`snn-4096`).
    pub name: &'static str,
    /// Layer width.
    pub n: usize,
    /// Bins per sample.
    pub bins: usize,
    /// Batch size.
    pub batch: usize,
    /// Fraction of input (bin, neuron) cells that spike.
    pub input_density: f64,
    /// Initial weight scale.
    pub weight_scale: f32,
}

/// The public benchmark's shapes: batch 16, 500 bins, n = 4,096 and 16,384.
pub fn fwd_bwd_cases() -> Vec<FwdBwdCase> {
    [("snn-4096", 4096), ("snn-16384", 16384)]
        .into_iter()
        .map(|(name, n)| FwdBwdCase {
            name,
            n,
            bins: 500,
            batch: 16,
            input_density: 0.05,
            weight_scale: 20.0,
        })
        .collect()
}

/// The result of one forward + backward case.
#[derive(Debug, Clone, Serialize)]
pub struct FwdBwdRow {
    /// Case name.
    pub name: String,
    /// Network shape, e.g. `16384-16384`.
    pub shape: String,
    /// Bins per sample.
    pub bins: usize,
    /// Batch size.
    pub batch: usize,
    /// The backend.
    pub device: String,
    /// Whether the backward pass also computed the gradient at the input.
    pub input_grad: bool,
    /// Median wall time of one forward + loss + backward pass, seconds.
    pub seconds_per_iter: f64,
    /// Fastest pass, seconds.
    pub best_seconds: f64,
    /// `batch / seconds_per_iter`.
    pub samples_per_s: f64,
    /// Passes timed.
    pub iters: usize,
    /// Peak bytes of the backend's tensors (GPU only).
    pub tensors_peak_bytes: Option<usize>,
    /// Peak device memory in use above the backend's baseline (GPU only).
    pub device_peak_bytes: Option<usize>,
}

/// Times forward + loss + backward passes of one case for about `seconds`
/// (at least one, after warm-up on the GPU). On the GPU the network and the
/// batch stay on the device ([`CudaBackend::resident`]); on the CPU it is
/// `train_batch` without the optimiser step.
pub fn run_fwd_bwd(
    device: Device,
    options: CudaOptions,
    case: &FwdBwdCase,
    seconds: f64,
    input_grad: bool,
) -> Result<FwdBwdRow> {
    let mut rng = data::seeded_rng(5);
    let net = Network {
        inputs: case.n,
        layers: vec![Layer::Dense(Dense::init(
            case.n,
            case.n,
            case.weight_scale,
            &mut rng,
        ))],
        neuron: NeuronParams::REFERENCE,
        rho: RhoParams::default(),
        kernel: KernelMode::Exact,
        ts: 1.0,
    };
    let rate_hz = case.input_density * 1000.0;
    let pool: Vec<(SpikeRaster, Target)> = (0..case.batch)
        .map(|i| {
            let x = data::poisson_raster(&mut rng, case.n, case.bins, 1.0, rate_hz);
            (x, Target::Class(i % case.n))
        })
        .collect();
    let batch: Vec<Sample<'_>> = pool
        .iter()
        .map(|(x, t)| Sample {
            input: x,
            target: t,
        })
        .collect();
    let loss = Loss::NumSpikes {
        start: 0,
        stop: case.bins,
        true_count: 20.0,
        false_count: 5.0,
    };
    let mut times = Vec::new();
    let (name, memory) = match device {
        Device::Cpu => {
            if input_grad {
                return Err(Error::Config(
                    "--input-grad is measured on the GPU only (the CPU backend never computes the input layer's gradient)".into(),
                ));
            }
            let cpu = CpuBackend::new();
            let t0 = Instant::now();
            while times.is_empty() || t0.elapsed().as_secs_f64() < seconds {
                let t = Instant::now();
                cpu.train_batch(&net, &batch, &loss, 0)?;
                times.push(t.elapsed().as_secs_f64());
            }
            (cpu.name(), None)
        }
        Device::Cuda(n) => {
            let gpu = CudaBackend::with_options(n, options)?;
            let step = gpu.resident(&net, &batch, &loss, input_grad)?;
            step.run()?;
            step.run()?;
            gpu.reset_memory_peaks();
            let t0 = Instant::now();
            while times.len() < 3 || t0.elapsed().as_secs_f64() < seconds {
                times.push(step.run()?.1);
            }
            let m = gpu.memory();
            (
                format!("{} {}", gpu.name(), options.precision),
                Some((m.tensors_peak, m.device_peak)),
            )
        }
    };
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    Ok(FwdBwdRow {
        name: case.name.into(),
        shape: format!("{}-{}", case.n, case.n),
        bins: case.bins,
        batch: case.batch,
        device: name,
        input_grad,
        seconds_per_iter: median,
        best_seconds: sorted[0],
        samples_per_s: case.batch as f64 / median,
        iters: times.len(),
        tensors_peak_bytes: memory.map(|m| m.0),
        device_peak_bytes: memory.map(|m| m.1),
    })
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
    let (mut net, shape) = match &case.net {
        BenchNet::Dense(widths) => {
            let mut layers = Vec::new();
            for w in widths.windows(2) {
                layers.push(Layer::Dense(Dense::init(
                    w[0],
                    w[1],
                    case.weight_scale,
                    &mut rng,
                )));
            }
            let net = Network {
                inputs: widths[0],
                layers,
                neuron: NeuronParams::REFERENCE,
                rho: RhoParams::default(),
                kernel: KernelMode::Exact,
                ts: 1.0,
            };
            let shape = widths
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("-");
            (net, shape)
        }
        BenchNet::Config { toml, shape } => {
            let cfg = ExperimentConfig::from_toml(toml)?;
            let (c, h, w) = *shape;
            let net = crate::network::Network::from_config(&cfg, c * h * w, Some(*shape), seed)?;
            let shape = format!("{}: {c}x{h}x{w}-...-{}", cfg.name, net.outputs());
            (net, shape)
        }
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
        shape,
        bins: case.bins,
        batch: case.batch,
        train_samples_per_s: (batches * case.batch) as f64 / elapsed,
        hidden_spikes_per_sample: hidden_spikes,
        batches,
    })
}

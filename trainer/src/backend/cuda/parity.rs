//! The CUDA-versus-CPU parity cases and their comparison, shared by
//! `tests/cuda_parity.rs` (on a GPU) and the host-emulator tests (anywhere).
//!
//! The checks: identical output spikes, the same loss, and every parameter
//! gradient within `1e-4` relative (Frobenius norm of the difference over the
//! norm of the CPU gradient).

use std::path::Path;

use slayer_core::NeuronParams;

use crate::backend::{Backend, BatchResult, Sample};
use crate::data;
use crate::layers::{Conv2d, Delay, Dense, Dropout, SumPool};
use crate::loss::{Loss, Target};
use crate::network::{Layer, Network};
use crate::neuron::{KernelMode, RhoParams};
use crate::spikes::SpikeRaster;

/// Relative gradient error the parity tests accept (f32 sums in another order).
pub const GRAD_TOLERANCE: f64 = 1e-4;

/// One parity case: a network, a batch and a loss.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short name for messages.
    pub name: String,
    /// The network.
    pub net: Network,
    /// Inputs and targets.
    pub samples: Vec<(SpikeRaster, Target)>,
    /// The loss.
    pub loss: Loss,
    /// Batch seed (dropout masks).
    pub seed: u64,
}

impl Case {
    /// The batch as [`Sample`]s.
    pub fn batch(&self) -> Vec<Sample<'_>> {
        self.samples
            .iter()
            .map(|(x, t)| Sample {
                input: x,
                target: t,
            })
            .collect()
    }

    /// The inputs alone.
    pub fn inputs(&self) -> Vec<&SpikeRaster> {
        self.samples.iter().map(|(x, _)| x).collect()
    }
}

fn neuron(tau_s: f32) -> NeuronParams {
    NeuronParams {
        theta: 10.0,
        tau_s,
        tau_r: 1.0,
        scale_ref: 2.0,
    }
}

/// The loss of a random case: SpikeTime (`kind` 0), else NumSpikes 12/2 over
/// the bins `window`.
fn case_loss(kind: usize, (start, stop): (usize, usize)) -> Loss {
    if kind == 0 {
        Loss::SpikeTime
    } else {
        Loss::NumSpikes {
            start,
            stop,
            true_count: 12.0,
            false_count: 2.0,
        }
    }
}

/// A batch of Poisson inputs (`input_hz`) for `net`, with targets for
/// `loss`: random target trains (`target_hz`) for SpikeTime, classes
/// `b % outputs` for NumSpikes. Draws input then target, sample by sample.
fn poisson_batch(
    rng: &mut impl rand::Rng,
    net: &Network,
    loss: &Loss,
    bins: usize,
    batch: usize,
    (input_hz, target_hz): (f64, f64),
) -> Vec<(SpikeRaster, Target)> {
    let (ts, outputs) = (f64::from(net.ts), net.outputs());
    (0..batch)
        .map(|b| {
            let x = data::poisson_raster(rng, net.inputs, bins, ts, input_hz);
            let t = match loss {
                Loss::SpikeTime => {
                    Target::Spikes(data::poisson_raster(rng, outputs, bins, ts, target_hz))
                }
                Loss::NumSpikes { .. } => Target::Class(b % outputs),
            };
            (x, t)
        })
        .collect()
}

/// Random dense + delay (+ dropout) networks with Poisson inputs: both
/// kernel modes, both losses, batches wider than one thread block.
pub fn random_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, (mode, loss_kind)) in [
        (KernelMode::Exact, 0),
        (KernelMode::Truncated, 0),
        (KernelMode::Exact, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = data::seeded_rng(100 + i as u64);
        let (bins, n_in, hidden, out, batch) = (150, 30, 12, 3, 5);
        let net = Network {
            inputs: n_in,
            layers: vec![
                Layer::Dense(Dense::init(n_in, hidden, 40.0, &mut rng)),
                Layer::Delay(Delay::init(hidden, 62.0, 6.0, &mut rng)),
                Layer::Dropout(Dropout { p: 0.25 }),
                Layer::Dense(Dense::init(hidden, out, 60.0, &mut rng)),
            ],
            neuron: neuron(5.0),
            rho: RhoParams::default(),
            kernel: mode,
            ts: 1.0,
        };
        let loss = case_loss(loss_kind, (20, 130));
        let samples = poisson_batch(&mut rng, &net, &loss, bins, batch, (80.0, 30.0));
        cases.push(Case {
            name: format!("dense-delay-dropout-dense {mode:?} {loss:?}"),
            net,
            samples,
            loss,
            seed: 7 + i as u64,
        });
    }
    // Wider: 200 → 64 → delay → 10, batch 6 (384 columns: several blocks),
    // delay first so the input gradient of a delay layer is exercised too.
    let mut rng = data::seeded_rng(200);
    let (bins, n_in, hidden, out) = (300, 200, 64, 10);
    let net = Network {
        inputs: n_in,
        layers: vec![
            Layer::Delay(Delay::init(n_in, 62.0, 4.0, &mut rng)),
            Layer::Dense(Dense::init(n_in, hidden, 30.0, &mut rng)),
            Layer::Delay(Delay::init(hidden, 62.0, 8.0, &mut rng)),
            Layer::Dense(Dense::init(hidden, out, 40.0, &mut rng)),
        ],
        neuron: neuron(10.0),
        rho: RhoParams::default(),
        kernel: KernelMode::Exact,
        ts: 1.0,
    };
    let samples = (0..6)
        .map(|b| {
            (
                data::poisson_raster(&mut rng, n_in, bins, 1.0, 20.0),
                Target::Class(b % out),
            )
        })
        .collect();
    cases.push(Case {
        name: "delay-dense-delay-dense NumSpikes".into(),
        net,
        samples,
        loss: Loss::NumSpikes {
            start: 0,
            stop: 300,
            true_count: 30.0,
            false_count: 5.0,
        },
        seed: 3,
    });
    cases
}

/// Conv + pool + dense + delay networks (the shapes of the shipped CNNs,
/// scaled down): 2×13×11 Poisson input → pool 2 (odd sides: the reference's
/// padding rule) → conv 4c3 padding 1 → delay → conv 6c3 stride 2 → pool 2
/// → dropout → dense 5 → delay → dense 3; both kernel modes, both losses.
pub fn conv_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, (mode, loss_kind)) in [(KernelMode::Exact, 1), (KernelMode::Truncated, 0)]
        .into_iter()
        .enumerate()
    {
        let mut rng = data::seeded_rng(300 + i as u64);
        let (bins, batch, out) = (80, 3, 3);
        let theta = 10.0;
        let pool1 = SumPool::new((2, 13, 11), 2, 1.1 * theta).expect("valid pool");
        let conv1 = Conv2d::init(pool1.out_shape(), 4, (3, 3), (1, 1), (1, 1), 30.0, &mut rng)
            .expect("valid conv");
        let conv2 = Conv2d::init(conv1.out_shape(), 6, (3, 3), (2, 2), (0, 0), 25.0, &mut rng)
            .expect("valid conv");
        let pool2 = SumPool::new(conv2.out_shape(), 2, 1.1 * theta).expect("valid pool");
        let flat = pool2.outputs();
        let net = Network {
            inputs: 2 * 13 * 11,
            layers: vec![
                Layer::Pool(pool1),
                Layer::Delay(Delay::init(conv1.inputs(), 62.0, 4.0, &mut rng)),
                Layer::Conv(conv1.clone()),
                Layer::Delay(Delay::init(conv1.outputs(), 62.0, 4.0, &mut rng)),
                Layer::Conv(conv2),
                Layer::Pool(pool2),
                Layer::Dropout(Dropout { p: 0.2 }),
                Layer::Dense(Dense::init(flat, 5, 40.0, &mut rng)),
                Layer::Delay(Delay::init(5, 62.0, 6.0, &mut rng)),
                Layer::Dense(Dense::init(5, out, 50.0, &mut rng)),
            ],
            neuron: neuron(5.0),
            rho: RhoParams::default(),
            kernel: mode,
            ts: 1.0,
        };
        let loss = case_loss(loss_kind, (10, 70));
        let samples = poisson_batch(&mut rng, &net, &loss, bins, batch, (60.0, 40.0));
        cases.push(Case {
            name: format!(
                "pool-delay-conv-delay-conv-pool-dropout-dense-delay-dense {mode:?} {loss:?}"
            ),
            net,
            samples,
            loss,
            seed: 11 + i as u64,
        });
    }
    cases
}

/// Every shipped experiment config (`trainer/configs/*.toml`), by name.
pub const SHIPPED_CONFIGS: [(&str, &str); 9] = [
    (
        "nmnist_mlp",
        include_str!("../../../configs/nmnist_mlp.toml"),
    ),
    (
        "nmnist_mlp128",
        include_str!("../../../configs/nmnist_mlp128.toml"),
    ),
    (
        "nmnist_cnn",
        include_str!("../../../configs/nmnist_cnn.toml"),
    ),
    ("mnist_cnn", include_str!("../../../configs/mnist_cnn.toml")),
    (
        "fashion_cnn",
        include_str!("../../../configs/fashion_cnn.toml"),
    ),
    ("fsdd", include_str!("../../../configs/fsdd.toml")),
    (
        "dvs_gesture",
        include_str!("../../../configs/dvs_gesture.toml"),
    ),
    ("oxford", include_str!("../../../configs/oxford.toml")),
    ("poisson", include_str!("../../../configs/poisson.toml")),
];

/// The network of every shipped config (its layers, neuron, kernel and
/// loss, weights from its seed) on `bins` bins of Poisson input at
/// `rate_hz` in the shape its data has, `batch` samples with class targets
/// (or random target trains for the spike-pattern losses).
pub fn config_cases(bins: usize, batch: usize, rate_hz: f64) -> Result<Vec<Case>, String> {
    use crate::config::{DataConfig, ExperimentConfig};
    let mut cases = Vec::new();
    for (name, text) in SHIPPED_CONFIGS {
        let cfg = ExperimentConfig::from_toml(text).map_err(|e| format!("{name}: {e}"))?;
        let (inputs, shape) = match &cfg.data {
            DataConfig::PoissonPattern { inputs, .. } => (*inputs, None),
            // The reference's Oxford task has 200 input trains.
            DataConfig::SpikePattern { .. } => (200, None),
            DataConfig::Nmnist { .. } => (2 * 34 * 34, Some((2, 34, 34))),
            DataConfig::Fsdd { channels, .. } => (*channels, None),
            DataConfig::Mnist { .. } => (28 * 28, Some((1, 28, 28))),
            DataConfig::DvsGesture { .. } => (2 * 128 * 128, Some((2, 128, 128))),
        };
        let net = crate::network::Network::from_config(&cfg, inputs, shape, cfg.train.seed)
            .map_err(|e| format!("{name}: {e}"))?;
        let mut loss = cfg.loss.build(cfg.simulation.ts);
        if let Loss::NumSpikes { start, stop, .. } = &mut loss {
            *start = (*start).min(bins);
            *stop = (*stop).min(bins);
        }
        let mut rng = data::seeded_rng(400);
        let samples = poisson_batch(&mut rng, &net, &loss, bins, batch, (rate_hz, 20.0));
        cases.push(Case {
            name: format!("config {name}"),
            net,
            samples,
            loss,
            seed: 5,
        });
    }
    Ok(cases)
}

/// Spikes of every synapse layer (dense, conv, pool) over the case's
/// samples on the CPU, as `(layer, count)`: a parity case whose layers are
/// silent would test little.
pub fn layer_spikes(case: &Case) -> Vec<(usize, usize)> {
    let srm = case.net.srm();
    let mut counts: Vec<(usize, usize)> = case
        .net
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.synapse().is_some())
        .map(|(l, _)| (l, 0))
        .collect();
    for (x, _) in &case.samples {
        let trace = case.net.forward::<rand_chacha::ChaCha8Rng>(&srm, x, None);
        for (l, n) in &mut counts {
            *n += trace.spikes(*l).count();
        }
    }
    counts
}

/// Reads a whitespace-separated text matrix, skipping `#` lines.
fn read_matrix(path: &Path) -> Result<Vec<Vec<f64>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_whitespace()
                .map(|v| {
                    v.parse::<f64>()
                        .map_err(|e| format!("{}: {e}", path.display()))
                })
                .collect()
        })
        .collect()
}

fn gold_dense(rows: &[Vec<f64>]) -> Dense {
    let rows: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .collect();
    Dense::from_rows(&rows)
}

/// The gold network of SLAYER.md §5 (`snnData/` of the data kit) in the
/// conformance setting, with `w1`/`w2` weights, on `bins` bins of its input,
/// SpikeTime loss against `spikeOut.txt` shifted by `shift` bins (the learned
/// weights reproduce the unshifted target exactly, so their gradient is 0).
pub fn gold_case(
    dir: &Path,
    weights: (&str, &str),
    bins: usize,
    shift: usize,
) -> Result<Case, String> {
    let ts = 0.1f32;
    let net = Network {
        inputs: 250,
        layers: vec![
            Layer::Dense(gold_dense(&read_matrix(&dir.join(weights.0))?)),
            Layer::Dense(gold_dense(&read_matrix(&dir.join(weights.1))?)),
        ],
        neuron: neuron(1.0),
        rho: RhoParams {
            tau_rho: 0.1,
            scale_rho: 1.0,
        },
        kernel: KernelMode::Truncated,
        ts,
    };
    let m = read_matrix(&dir.join("spikeInMat.txt"))?;
    let mut x = SpikeRaster::new(bins, 250);
    for (n, row) in m.iter().enumerate() {
        for (k, &v) in row.iter().enumerate().take(bins) {
            if v != 0.0 {
                x.set(k, n);
            }
        }
    }
    let mut target = SpikeRaster::new(bins, 1);
    for row in read_matrix(&dir.join("spikeOut.txt"))? {
        target.set((row[0] / f64::from(ts)).round() as usize + shift, 0);
    }
    Ok(Case {
        name: format!("gold {} {}", weights.0, weights.1),
        net,
        samples: vec![(x, Target::Spikes(target))],
        loss: Loss::SpikeTime,
        seed: 0,
    })
}

/// The gold cases when the data kit is at `dir` (`…/slayer-reference/snnData`):
/// initial weights over 500 bins (the gold gradients' setting) and the
/// learned weights over 501 bins (one hidden neuron within 1.6e-4 of θ), with
/// the target 2 ms late.
pub fn gold_cases(dir: &Path) -> Result<Vec<Case>, String> {
    Ok(vec![
        gold_case(dir, ("w1Initial.txt", "w2Initial.txt"), 500, 0)?,
        gold_case(dir, ("w1learned.txt", "w2learned.txt"), 501, 20)?,
    ])
}

/// How far a device's batch result is from the CPU's.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Output spikes identical in every sample.
    pub outputs_equal: bool,
    /// Output spikes of the CPU and the device (for messages).
    pub spikes: (usize, usize),
    /// `|Δloss| / max(|loss|, 1e-12)`.
    pub loss_rel: f64,
    /// Per gradient tensor, `‖Δ‖ / ‖g_cpu‖` (0 when both are zero).
    pub grad_rel: Vec<f64>,
}

impl Report {
    /// Whether the result passes: identical spikes, loss and gradients within tolerance.
    pub fn passes(&self, tolerance: f64) -> bool {
        self.outputs_equal
            && self.loss_rel <= tolerance
            && self.grad_rel.iter().all(|&r| r <= tolerance)
    }
}

/// Compares a device's result with the CPU's.
pub fn compare(cpu: &BatchResult, dev: &BatchResult) -> Report {
    let count = |r: &BatchResult| r.outputs.iter().map(SpikeRaster::count).sum();
    let grad_rel = cpu
        .grads
        .iter()
        .zip(&dev.grads)
        .map(|(a, b)| {
            if a.len() != b.len() {
                return f64::INFINITY;
            }
            let norm = a.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
            let diff = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
                .sum::<f64>()
                .sqrt();
            if norm == 0.0 {
                if diff == 0.0 {
                    0.0
                } else {
                    f64::INFINITY
                }
            } else {
                diff / norm
            }
        })
        .collect::<Vec<_>>();
    let grad_rel = if cpu.grads.len() == dev.grads.len() {
        grad_rel
    } else {
        vec![f64::INFINITY]
    };
    Report {
        outputs_equal: cpu.outputs == dev.outputs,
        spikes: (count(cpu), count(dev)),
        loss_rel: (cpu.loss - dev.loss).abs() / cpu.loss.abs().max(1e-12),
        grad_rel,
    }
}

/// Fraction of output cells (sample, bin, neuron) where two results agree
/// (1 for identical spikes; 1 for two empty batches).
pub fn spike_agreement(a: &BatchResult, b: &BatchResult) -> f64 {
    let (mut same, mut total) = (0usize, 0usize);
    for (x, y) in a.outputs.iter().zip(&b.outputs) {
        if x.bins() != y.bins() || x.neurons() != y.neurons() {
            return 0.0;
        }
        for t in 0..x.bins() {
            for n in 0..x.neurons() {
                total += 1;
                same += usize::from(x.get(t, n) == y.get(t, n));
            }
        }
    }
    if total == 0 {
        1.0
    } else {
        same as f64 / total as f64
    }
}

/// Runs `case` on both backends (training and inference) and compares.
/// Errors describe the first mismatch.
pub fn check(
    case: &Case,
    cpu: &dyn Backend,
    dev: &dyn Backend,
    tolerance: f64,
) -> Result<Report, String> {
    let batch = case.batch();
    let a = cpu
        .train_batch(&case.net, &batch, &case.loss, case.seed)
        .map_err(|e| format!("{}: cpu: {e}", case.name))?;
    let b = dev
        .train_batch(&case.net, &batch, &case.loss, case.seed)
        .map_err(|e| format!("{}: {}: {e}", case.name, dev.name()))?;
    let r = compare(&a, &b);
    if a.grads.iter().flatten().all(|&g| g == 0.0) {
        return Err(format!(
            "{}: the CPU gradient is zero: nothing tested",
            case.name
        ));
    }
    if !r.passes(tolerance) {
        return Err(format!("{}: {r:?}", case.name));
    }
    let inputs = case.inputs();
    let ia = cpu
        .infer(&case.net, &inputs)
        .map_err(|e| format!("{}: cpu infer: {e}", case.name))?;
    let ib = dev
        .infer(&case.net, &inputs)
        .map_err(|e| format!("{}: {} infer: {e}", case.name, dev.name()))?;
    if ia != ib {
        return Err(format!("{}: inference spikes differ", case.name));
    }
    Ok(r)
}

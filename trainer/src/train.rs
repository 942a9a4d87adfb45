//! The training loop: epochs, batches, optimiser steps, validation,
//! progress, checkpoints, early stopping and resuming. The dataset comes
//! from [`crate::dataset`], the network from [`Network::from_config`], and
//! [`crate::report`] writes metrics and plots.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::backend::cuda::Precision;
use crate::backend::{Backend, CudaOptions, Device, Sample};
use crate::checkpoint::{Checkpoint, EpochRecord};
use crate::config::{stream, DataConfig, ExperimentConfig};
use crate::data::{self, Binning};
use crate::dataset::{self, Augment};
use crate::error::{Error, Result};
use crate::loss::{Loss, Target};
use crate::network::{Layer, Network};
use crate::optim::Optimiser;
use crate::report::{epoch_line, RunFiles};
use crate::spikes::SpikeRaster;

/// Datasets are built in [`crate::dataset`]; these names stay here for
/// existing callers (`slayer eval`).
pub use crate::dataset::{build_dataset, build_dataset_with, Dataset, Example};

/// The binning of a config's simulation ([`ExperimentConfig::binning`]).
pub fn binning(cfg: &ExperimentConfig) -> Binning {
    cfg.binning()
}

/// How a run is carried out (everything that is not the experiment itself).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Output folder (created if missing).
    pub out_dir: PathBuf,
    /// Base folder of data files named in the config.
    pub data_dir: Option<PathBuf>,
    /// Where to compute.
    pub device: Device,
    /// Arithmetic of the dense products on a CUDA device.
    pub precision: Precision,
    /// Hide the progress bar.
    pub quiet: bool,
    /// Continue from this checkpoint (written by an earlier run of the same experiment).
    pub resume: Option<Checkpoint>,
}

/// What a finished run reports (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Epochs completed (including the matching one, and earlier runs when resumed).
    pub epochs: usize,
    /// Training loss of the last epoch.
    pub final_loss: f64,
    /// First epoch (0-based count of updates before it) whose output matched
    /// the target, or `None`.
    pub converged_epoch: Option<usize>,
    /// Training throughput of this run.
    pub samples_per_s: f64,
    /// Validation accuracy of the last epoch (classification).
    pub valid_accuracy: Option<f64>,
    /// Best validation accuracy over all epochs (classification).
    pub best_valid_accuracy: Option<f64>,
    /// The last checkpoint written.
    pub checkpoint: PathBuf,
    /// The output folder.
    pub out_dir: PathBuf,
}

/// True when `out` matches `target` neuron by neuron: the same number of
/// spikes, each within `tol` bins of its partner (spikes paired in order).
pub fn spikes_match(out: &SpikeRaster, target: &SpikeRaster, tol: usize) -> bool {
    (0..target.neurons()).all(|n| {
        let (o, t) = (out.spike_bins(n), target.spike_bins(n));
        o.len() == t.len() && o.iter().zip(&t).all(|(a, b)| a.abs_diff(*b) <= tol)
    })
}

/// The network a pass runs on: `net` itself, or (quantisation-aware
/// training) a copy with fake-quantised weights.
fn quantised(
    net: &Network,
    bits: Option<slayer_core::WeightBits>,
) -> std::borrow::Cow<'_, Network> {
    match bits {
        None => std::borrow::Cow::Borrowed(net),
        Some(b) => {
            let mut q = net.clone();
            crate::export::fake_quantise(&mut q, b);
            std::borrow::Cow::Owned(q)
        }
    }
}

/// The `(channels, height, width)` of the network's input: the first
/// spatial layer's input shape, else the sensor of the experiment's data
/// (N-MNIST 2×34×34, DVS Gesture 2×128×128), else `(1, 1, inputs)`.
pub fn input_shape(cfg: &ExperimentConfig, net: &Network) -> (usize, usize, usize) {
    for layer in &net.layers {
        match layer {
            Layer::Conv(c) => return c.in_shape,
            Layer::Pool(p) => return p.in_shape,
            Layer::Dense(_) => break,
            _ => {}
        }
    }
    let sensor = match &cfg.data {
        DataConfig::Nmnist { .. } => Some((2, dataset::NMNIST_SIZE, dataset::NMNIST_SIZE)),
        DataConfig::DvsGesture { downsample, .. } => {
            let s = data::dvs_gesture::SENSOR_SIZE / downsample.max(&1);
            Some((2, s, s))
        }
        _ => None,
    };
    match sensor {
        Some((c, h, w)) if c * h * w == net.inputs => (c, h, w),
        _ => (1, 1, net.inputs),
    }
}

/// The predicted class: the output neuron with the most spikes (the first on ties).
pub fn predict(out: &SpikeRaster) -> usize {
    argmax(&out.counts())
}

/// The index of the largest value (the first on ties; 0 for an empty slice):
/// the class a row of spike counts decides.
pub fn argmax<T: PartialOrd>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// Materialises the inputs of `examples` (binning and, with `augment`,
/// augmenting them, seeded per example), spread over the cores.
fn rasters(
    examples: &[&Example],
    b: &Binning,
    augment: Option<(&Augment, u64)>,
) -> Vec<SpikeRaster> {
    let one = |(i, e): (usize, &&Example)| -> SpikeRaster {
        match augment {
            Some((a, seed)) => {
                let mut rng = data::seeded_rng(stream(seed, i as u64));
                e.input.raster(b, Some((a, &mut rng)))
            }
            None => e.input.raster(b, None),
        }
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        examples.par_iter().enumerate().map(one).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        examples.iter().enumerate().map(one).collect()
    }
}

/// Accuracy, loss and confusion matrix of a network on labelled examples.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Fraction classified correctly (`None` without class targets).
    pub accuracy: Option<f64>,
    /// Number of examples.
    pub samples: usize,
    /// Mean loss per example.
    pub loss: f64,
    /// `confusion[true][predicted]` counts (classification).
    pub confusion: Vec<Vec<u64>>,
}

/// Runs `examples` through the network (dropout off) in chunks and scores them.
pub fn evaluate(
    backend: &dyn Backend,
    net: &Network,
    loss: &Loss,
    examples: &[Example],
    b: &Binning,
    classes: Option<usize>,
) -> Result<Evaluation> {
    let srm = net.srm();
    let n = classes.unwrap_or(0);
    let mut confusion = vec![vec![0u64; n]; n];
    let (mut correct, mut total_loss) = (0usize, 0.0);
    for chunk in examples.chunks(64) {
        let refs: Vec<&Example> = chunk.iter().collect();
        let xs = rasters(&refs, b, None);
        let inputs: Vec<&SpikeRaster> = xs.iter().collect();
        let outs = backend.infer(net, &inputs)?;
        for (out, e) in outs.iter().zip(chunk) {
            loss.check(&e.target, out.bins(), out.neurons())
                .map_err(|m| Error::Shape(format!("{}: {m}", e.name)))?;
            total_loss += loss.evaluate(&srm, out, &e.target).0;
            if let Target::Class(c) = e.target {
                let p = predict(out);
                correct += usize::from(p == c);
                if c < n && p < n {
                    confusion[c][p] += 1;
                }
            }
        }
    }
    let samples = examples.len();
    Ok(Evaluation {
        accuracy: (classes.is_some() && samples > 0).then(|| correct as f64 / samples as f64),
        samples,
        loss: total_loss / samples.max(1) as f64,
        confusion,
    })
}

/// Trains the experiment; writes `checkpoint.slyc` (every epoch), `best.slyc`,
/// `metrics.csv`, `loss.png`, `raster.png` (spike-pattern tasks) or
/// `accuracy.png` and `confusion.png` (classification), and `config.toml`.
pub fn train(cfg: &ExperimentConfig, opts: &TrainOptions) -> Result<TrainReport> {
    cfg.validate()?;
    let backend = opts.device.open_with(CudaOptions {
        precision: opts.precision,
        ..Default::default()
    })?;
    let data = build_dataset(cfg, opts.data_dir.as_deref())?;
    if data.train.is_empty() {
        return Err(Error::Config("the dataset has no training samples".into()));
    }
    let b = binning(cfg);
    let (mut net, mut opt, mut history) = match &opts.resume {
        Some(ck) => {
            let opt = Optimiser::restore(
                cfg.optimiser.clone(),
                ck.optimiser.clone(),
                &ck.network.param_sizes(),
            )
            .ok_or_else(|| {
                Error::Config("the checkpoint's optimiser state does not fit its network".into())
            })?;
            if ck.history.len() >= cfg.train.epochs {
                return Err(Error::Config(format!(
                    "nothing to do: the run has done {} epoch(s) already; pass --epochs above {} to continue it",
                    ck.history.len(),
                    ck.history.len()
                )));
            }
            (ck.network.clone(), opt, ck.history.clone())
        }
        None => {
            let net = Network::from_config(cfg, data.inputs, data.shape, cfg.train.seed)?;
            let opt = Optimiser::new(cfg.optimiser.clone(), &net.param_sizes());
            (net, opt, Vec::new())
        }
    };
    if net.inputs != data.inputs {
        return Err(Error::Shape(format!(
            "the data has {} input channels but the network takes {}",
            data.inputs, net.inputs
        )));
    }
    let loss = cfg.loss.build(cfg.simulation.ts);
    for e in data.train.iter().chain(&data.valid) {
        if e.input.channels() != data.inputs {
            return Err(Error::Shape(format!(
                "{}: {} channels, expected {}",
                e.name,
                e.input.channels(),
                data.inputs
            )));
        }
        loss.check(&e.target, b.bins, net.outputs())
            .map_err(|m| Error::Shape(format!("{}: {m}", e.name)))?;
    }
    let out_dir = &opts.out_dir;
    let mut files = RunFiles::create(cfg, out_dir, &history)?;

    let classify = data.classes.is_some();
    let bar = ProgressBar::new(if classify {
        data.train.len() as u64
    } else {
        cfg.train.epochs as u64
    });
    // Where stdout is not a terminal (a pipe, `| tee log`, CI), epochs are
    // also written to it as plain lines: every epoch of a classification
    // task, at most one a second (and the last) of a spike-pattern task.
    let plain = !opts.quiet && !std::io::stdout().is_terminal();
    let mut last_plain: Option<Instant> = None;
    if opts.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let template = if classify {
        "{prefix} {bar:30} {pos}/{len} samples  {msg}  [{elapsed} < {eta}]"
    } else {
        "{prefix} {bar:30} {pos}/{len} epochs  loss {msg}  [{elapsed} < {eta}]"
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if !classify {
        bar.set_prefix(format!("{} on {}", cfg.name, backend.name()));
        bar.set_position(history.len() as u64);
    }

    let one_batch = cfg.train.batch >= data.train.len();
    let qat = cfg
        .train
        .quantise_bits
        .map(crate::export::weight_bits)
        .transpose()?;
    let mut converged = None;
    let mut best = history
        .iter()
        .filter_map(best_key)
        .fold(f64::NEG_INFINITY, f64::max);
    let start = Instant::now();
    let mut processed = 0usize;
    let ckpt = out_dir.join("checkpoint.slyc");
    for epoch in history.len()..cfg.train.epochs {
        let t0 = Instant::now();
        opt.set_lr_scale(cfg.train.lr_decay.powi(epoch as i32));
        let mut order: Vec<usize> = (0..data.train.len()).collect();
        order.shuffle(&mut data::seeded_rng(stream(
            cfg.train.seed,
            1_000 + epoch as u64,
        )));
        if classify {
            bar.reset();
            bar.set_prefix(format!("epoch {}/{}", epoch + 1, cfg.train.epochs));
        }
        let (mut epoch_loss, mut out_spikes, mut matched, mut correct) =
            (0.0, 0u64, !classify, 0usize);
        let mut stop = false;
        for (bi, chunk) in order.chunks(cfg.train.batch).enumerate() {
            let batch_seed = stream(cfg.train.seed, ((epoch as u64) << 32) | bi as u64);
            let examples: Vec<&Example> = chunk.iter().map(|&i| &data.train[i]).collect();
            let xs = rasters(&examples, &b, Some((&data.augment, batch_seed ^ 0xA5A5)));
            let batch: Vec<Sample<'_>> = xs
                .iter()
                .zip(&examples)
                .map(|(x, e)| Sample {
                    input: x,
                    target: &e.target,
                })
                .collect();
            let res = backend.train_batch(&quantised(&net, qat), &batch, &loss, batch_seed)?;
            processed += batch.len();
            epoch_loss += res.loss;
            let mut batch_matched = true;
            for (out, s) in res.outputs.iter().zip(&batch) {
                out_spikes += out.count() as u64;
                match s.target {
                    Target::Spikes(t) => {
                        batch_matched &= spikes_match(out, t, cfg.train.match_tolerance_bins);
                    }
                    Target::Class(c) => correct += usize::from(predict(out) == *c),
                }
            }
            matched &= batch_matched;
            if classify {
                bar.inc(batch.len() as u64);
                bar.set_message(format!("loss {:.3}", res.loss / batch.len() as f64));
            }
            if one_batch && batch_matched && !classify && cfg.train.stop_when_matched {
                // Keep the weights that produced the match: no update.
                stop = true;
                break;
            }
            let g: Vec<&[f32]> = res.grads.iter().map(Vec::as_slice).collect();
            opt.step(&mut net.params_mut(), &g);
            net.constrain();
        }
        let n = data.train.len() as f64;
        let valid = if data.valid.is_empty() {
            None
        } else {
            Some(evaluate(
                backend.as_ref(),
                &quantised(&net, qat),
                &loss,
                &data.valid,
                &b,
                data.classes,
            )?)
        };
        let rec = EpochRecord {
            loss: epoch_loss / n,
            accuracy: classify.then_some(correct as f64 / n),
            valid_loss: valid.as_ref().map(|v| v.loss),
            valid_accuracy: valid.as_ref().and_then(|v| v.accuracy),
            output_spikes: out_spikes,
            matched: matched && !classify,
            seconds: t0.elapsed().as_secs_f64(),
        };
        files.epoch(epoch, &rec)?;
        if plain
            && (classify
                || stop
                || epoch + 1 == cfg.train.epochs
                || last_plain.is_none_or(|t| t.elapsed().as_secs_f64() >= 1.0))
        {
            last_plain = Some(Instant::now());
            let line = epoch_line(epoch, cfg.train.epochs, &rec);
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        }
        if classify {
            if !plain {
                bar.println(epoch_line(epoch, cfg.train.epochs, &rec));
            }
        } else {
            bar.set_message(format!("{:.4}", rec.loss));
            bar.inc(1);
        }
        let key = best_key(&rec);
        history.push(rec);
        if classify || stop || epoch + 1 == cfg.train.epochs {
            let ck = Checkpoint::new(cfg, &net, &opt, &history);
            ck.save(&ckpt)?;
            if key.is_some_and(|k| k > best) {
                best = key.unwrap_or(best);
                ck.save(&out_dir.join("best.slyc"))?;
                if let (Some(v), Some(c)) = (&valid, data.classes) {
                    files.confusion(cfg, epoch, c, &v.confusion)?;
                }
            }
        }
        if stop {
            converged = Some(epoch);
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if history.is_empty() {
        return Err(Error::Config(
            "no epoch ran: set [train] epochs above 0".into(),
        ));
    }
    if !ckpt.exists() {
        Checkpoint::new(cfg, &net, &opt, &history).save(&ckpt)?;
    }
    files.finish(
        cfg,
        &history,
        (!classify).then(|| (&net, &data.train[0], &b)),
    )?;
    let last = history.last();
    Ok(TrainReport {
        epochs: history.len(),
        final_loss: last.map_or(f64::NAN, |r| r.loss),
        converged_epoch: converged,
        samples_per_s: processed as f64 / seconds.max(1e-9),
        valid_accuracy: last.and_then(|r| r.valid_accuracy),
        best_valid_accuracy: history
            .iter()
            .filter_map(|r| r.valid_accuracy)
            .reduce(f64::max),
        checkpoint: ckpt,
        out_dir: out_dir.clone(),
    })
}

/// What `best.slyc` maximises: validation accuracy, else training accuracy,
/// else the negative training loss.
fn best_key(r: &EpochRecord) -> Option<f64> {
    Some(r.valid_accuracy.or(r.accuracy).unwrap_or(-r.loss))
}

//! The training loop: data, network, optimiser steps, progress, metrics,
//! plots and checkpoints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::backend::{Device, Sample};
use crate::checkpoint::Checkpoint;
use crate::config::{DataConfig, ExperimentConfig, LayerConfig};
use crate::data::{self, Binning};
use crate::error::{Error, Result};
use crate::layers::{Delay, Dense, Dropout};
use crate::loss::Target;
use crate::network::{Layer, Network};
use crate::optim::Optimiser;
use crate::plot;
use crate::spikes::SpikeRaster;

/// A dataset held in memory.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Number of input channels.
    pub inputs: usize,
    /// The samples: input spikes and target.
    pub samples: Vec<(SpikeRaster, Target)>,
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
    /// Hide the progress bar.
    pub quiet: bool,
}

/// What a finished run reports (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Epochs run (including the matching one).
    pub epochs: usize,
    /// Loss of the last epoch run.
    pub final_loss: f64,
    /// First epoch (0-based count of updates before it) whose output matched
    /// the target, or `None`.
    pub converged_epoch: Option<usize>,
    /// Training throughput.
    pub samples_per_s: f64,
    /// The checkpoint written.
    pub checkpoint: PathBuf,
    /// The output folder.
    pub out_dir: PathBuf,
}

/// Separate random streams for data, weights, shuffling and dropout.
fn stream(seed: u64, which: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ which.wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// Builds the dataset the config describes.
pub fn build_dataset(cfg: &ExperimentConfig, data_dir: Option<&Path>) -> Result<Dataset> {
    let (ts, bins) = (f64::from(cfg.simulation.ts), cfg.simulation.bins);
    match &cfg.data {
        DataConfig::PoissonPattern {
            inputs,
            input_rate_hz,
            target_rate_hz,
            dead_time_ms,
        } => {
            let mut rng = data::seeded_rng(stream(cfg.train.seed, 1));
            let input =
                data::poisson_raster(&mut rng, *inputs, bins, ts, f64::from(*input_rate_hz));
            let mut target = SpikeRaster::new(bins, 1);
            for k in data::poisson_target(
                &mut rng,
                bins,
                ts,
                f64::from(*target_rate_hz),
                f64::from(*dead_time_ms),
            ) {
                target.set(k, 0);
            }
            Ok(Dataset {
                inputs: *inputs,
                samples: vec![(input, Target::Spikes(target))],
            })
        }
        DataConfig::SpikePattern { input, target } => {
            let dir = data_dir.ok_or_else(|| {
                Error::Config(format!(
                    "experiment {:?} reads {input} and {target}: pass the folder holding them with --data",
                    cfg.name
                ))
            })?;
            let b = Binning { ts_ms: ts, bins };
            let load = |name: &str| -> Result<SpikeRaster> {
                let path = dir.join(name);
                let events = data::read_bs1(&path)?;
                if events.is_empty() {
                    return Err(Error::Format {
                        path,
                        offset: 0,
                        msg: "no events".into(),
                    });
                }
                let n = events
                    .iter()
                    .map(|e| usize::from(e.neuron) + 1)
                    .max()
                    .unwrap_or(0);
                Ok(data::bin_1d(&events, n, 1, &b))
            };
            let x = load(input)?;
            let y = load(target)?;
            Ok(Dataset {
                inputs: x.neurons(),
                samples: vec![(x, Target::Spikes(y))],
            })
        }
    }
}

/// Builds the network the config describes, with weights drawn from `seed`.
pub fn build_network(cfg: &ExperimentConfig, inputs: usize, seed: u64) -> Result<Network> {
    let mut rng = data::seeded_rng(stream(seed, 2));
    let mut width = inputs;
    let mut layers = Vec::new();
    for l in &cfg.network.layers {
        layers.push(match *l {
            LayerConfig::Dense {
                outputs,
                weight_scale,
            } => {
                let d = Dense::init(width, outputs, weight_scale, &mut rng);
                width = outputs;
                Layer::Dense(d)
            }
            LayerConfig::Delay {
                max_delay,
                init_max,
            } => Layer::Delay(Delay::init(width, max_delay, init_max, &mut rng)),
            LayerConfig::Dropout { p } => Layer::Dropout(Dropout { p }),
        });
    }
    let net = Network {
        inputs,
        layers,
        neuron: cfg.neuron.params(),
        rho: cfg.neuron.rho(),
        kernel: cfg.neuron.kernel,
        ts: cfg.simulation.ts,
    };
    net.check().map_err(Error::Shape)?;
    Ok(net)
}

/// True when `out` matches `target` neuron by neuron: the same number of
/// spikes, each within `tol` bins of its partner (spikes paired in order).
pub fn spikes_match(out: &SpikeRaster, target: &SpikeRaster, tol: usize) -> bool {
    (0..target.neurons()).all(|n| {
        let (o, t) = (out.spike_bins(n), target.spike_bins(n));
        o.len() == t.len() && o.iter().zip(&t).all(|(a, b)| a.abs_diff(*b) <= tol)
    })
}

/// Trains the experiment; writes `checkpoint.slyc`, `metrics.csv`,
/// `loss.png`, `raster.png` and `config.toml` into the output folder.
pub fn train(cfg: &ExperimentConfig, opts: &TrainOptions) -> Result<TrainReport> {
    cfg.validate()?;
    let backend = opts.device.open()?;
    let data = build_dataset(cfg, opts.data_dir.as_deref())?;
    if data.samples.is_empty() {
        return Err(Error::Config("the dataset has no samples".into()));
    }
    let mut net = build_network(cfg, data.inputs, cfg.train.seed)?;
    let loss = cfg.loss.build(cfg.simulation.ts);
    for (i, (x, t)) in data.samples.iter().enumerate() {
        loss.check(t, x.bins(), net.outputs())
            .map_err(|m| Error::Shape(format!("sample {i}: {m}")))?;
    }
    let out_dir = &opts.out_dir;
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    std::fs::write(out_dir.join("config.toml"), cfg.to_toml())
        .map_err(|e| Error::io(out_dir.join("config.toml"), e))?;
    let mut opt = Optimiser::new(cfg.optimiser.clone(), &net.param_sizes());

    let metrics_path = out_dir.join("metrics.csv");
    let mut metrics = std::io::BufWriter::new(
        std::fs::File::create(&metrics_path).map_err(|e| Error::io(&metrics_path, e))?,
    );
    let csv_err = |e| Error::io(&metrics_path, e);
    writeln!(
        metrics,
        "epoch,loss,output_spikes,target_spikes,matched,seconds"
    )
    .map_err(csv_err)?;

    let bar = ProgressBar::new(cfg.train.epochs as u64);
    if opts.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} {bar:30} {pos}/{len} epochs  loss {msg}  [{elapsed} < {eta}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(format!("{} on {}", cfg.name, backend.name()));

    let spike_task = data
        .samples
        .iter()
        .all(|(_, t)| matches!(t, Target::Spikes(_)));
    let target_spikes: usize = data
        .samples
        .iter()
        .map(|(_, t)| {
            if let Target::Spikes(r) = t {
                r.count()
            } else {
                0
            }
        })
        .sum();
    let mut order: Vec<usize> = (0..data.samples.len()).collect();
    let mut shuffle_rng = data::seeded_rng(stream(cfg.train.seed, 3));
    let mut losses = Vec::new();
    let mut converged = None;
    let start = Instant::now();
    let mut processed = 0usize;
    for epoch in 0..cfg.train.epochs {
        order.shuffle(&mut shuffle_rng);
        let (mut epoch_loss, mut out_spikes, mut matched) = (0.0, 0usize, spike_task);
        let mut pending = Vec::new();
        for (b, chunk) in order.chunks(cfg.train.batch).enumerate() {
            let batch: Vec<Sample<'_>> = chunk
                .iter()
                .map(|&i| Sample {
                    input: &data.samples[i].0,
                    target: &data.samples[i].1,
                })
                .collect();
            let seed = stream(cfg.train.seed, 4 + (epoch as u64) * 1_000_003 + b as u64);
            let res = backend.train_batch(&net, &batch, &loss, seed)?;
            processed += batch.len();
            epoch_loss += res.loss;
            for (out, s) in res.outputs.iter().zip(&batch) {
                out_spikes += out.count();
                if let Target::Spikes(t) = s.target {
                    matched &= spikes_match(out, t, cfg.train.match_tolerance_bins);
                }
            }
            pending.push(res.grads);
        }
        let epoch_loss = epoch_loss / data.samples.len() as f64;
        losses.push(epoch_loss);
        writeln!(
            metrics,
            "{epoch},{epoch_loss},{out_spikes},{target_spikes},{},{:.3}",
            u8::from(matched),
            start.elapsed().as_secs_f64()
        )
        .map_err(csv_err)?;
        bar.set_message(format!("{epoch_loss:.4}"));
        bar.inc(1);
        if matched && cfg.train.stop_when_matched {
            // Keep the weights that produced the match: no update this epoch.
            converged = Some(epoch);
            break;
        }
        for grads in pending {
            let g: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
            opt.step(&mut net.params_mut(), &g);
            net.constrain();
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    metrics.flush().map_err(csv_err)?;
    let epochs = losses.len();

    let checkpoint = out_dir.join("checkpoint.slyc");
    Checkpoint::new(cfg, &net, &opt, epochs, &losses).save(&checkpoint)?;
    plot::curves(
        &out_dir.join("loss.png"),
        &format!("{}: training loss", cfg.name),
        "loss",
        &[plot::Series {
            label: "train",
            values: &losses,
        }],
        true,
    )?;
    write_raster(
        &net,
        &data.samples[0],
        &out_dir.join("raster.png"),
        &cfg.name,
    )?;

    Ok(TrainReport {
        epochs,
        final_loss: losses.last().copied().unwrap_or(f64::NAN),
        converged_epoch: converged,
        samples_per_s: processed as f64 / seconds.max(1e-9),
        checkpoint,
        out_dir: out_dir.clone(),
    })
}

/// Spike raster of one sample: input, first hidden layer, output vs target.
fn write_raster(
    net: &Network,
    sample: &(SpikeRaster, Target),
    path: &Path,
    name: &str,
) -> Result<()> {
    let srm = net.srm();
    let trace = net.forward::<rand_chacha::ChaCha8Rng>(&srm, &sample.0, None);
    let ts = f64::from(net.ts);
    let events = |r: &SpikeRaster| -> Vec<(f64, u32)> {
        (0..r.bins())
            .flat_map(|k| {
                (0..r.neurons())
                    .filter(move |&n| r.get(k, n))
                    .map(move |n| (k as f64 * ts, n as u32))
            })
            .collect()
    };
    let input = events(&sample.0);
    let out_r = trace.output().to_raster();
    let out = events(&out_r);
    let hidden = net
        .layers
        .iter()
        .position(|l| matches!(l, Layer::Dense(_)))
        .filter(|&l| l + 1 < net.layers.len())
        .map(|l| trace.spikes(l).to_raster());
    let hid = hidden.as_ref().map(events);
    let tgt = match &sample.1 {
        Target::Spikes(t) => events(t),
        Target::Class(_) => Vec::new(),
    };
    let mut panels = vec![plot::RasterPanel {
        title: "input",
        rows: sample.0.neurons(),
        layers: vec![plot::RasterLayer {
            label: "input",
            spikes: &input,
        }],
    }];
    if let (Some(h), Some(hr)) = (&hid, &hidden) {
        panels.push(plot::RasterPanel {
            title: "hidden",
            rows: hr.neurons(),
            layers: vec![plot::RasterLayer {
                label: "hidden",
                spikes: h,
            }],
        });
    }
    let mut out_layers = vec![plot::RasterLayer {
        label: "output",
        spikes: &out,
    }];
    if !tgt.is_empty() {
        out_layers.push(plot::RasterLayer {
            label: "target",
            spikes: &tgt,
        });
    }
    panels.push(plot::RasterPanel {
        title: "output vs target",
        rows: out_r.neurons(),
        layers: out_layers,
    });
    plot::spike_raster(
        path,
        &format!("{name}: spikes after training"),
        sample.0.bins() as f64 * ts,
        &panels,
    )
}

//! `slayer train`: train a network from an experiment config.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use slayer_trainer::backend::cuda::Precision;
use slayer_trainer::backend::Device;
use slayer_trainer::checkpoint::Checkpoint;
use slayer_trainer::config::ExperimentConfig;
use slayer_trainer::report;
use slayer_trainer::train::{self, TrainOptions};

use crate::common::cuda_options;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Experiment config; the default Poisson spike-train experiment when omitted.
    /// Shipped configs live in trainer/configs/.
    config: Option<PathBuf>,
    /// Folder holding the data files the config names (e.g. ../shared/data/slayer-reference/oxford).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output folder [default: runs/NAME, NAME the experiment's name].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of data generation, weights, shuffling and dropout (overrides the
    /// config; 0 to 2^64 − 1).
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Maximum number of epochs (overrides the config).
    #[arg(long)]
    epochs: Option<usize>,
    /// Samples per optimiser step (overrides the config).
    #[arg(long)]
    batch: Option<usize>,
    /// Compute device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Arithmetic of the dense layers' matrix products on cuda: f32, tf32
    /// or bf16 (tensor cores; neuron state stays f32, conv and pool f32).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Continue the run in this output folder from its checkpoint.slyc (the
    /// experiment comes from the checkpoint; --epochs may extend it). The
    /// result is the same as an uninterrupted run with the same seed.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "seed", "batch", "out"])]
    resume: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// End with one line of JSON: epochs, final_loss, converged_epoch, samples_per_s, checkpoint.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// `slayer` with no subcommand: the default experiment, as `slayer train`.
    pub(crate) fn default_experiment() -> Self {
        Self {
            config: None,
            data: None,
            out: None,
            seed: None,
            epochs: None,
            batch: None,
            device: Device::Cpu,
            precision: Precision::F32,
            resume: None,
            quiet: false,
            json: false,
        }
    }
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let resume = match &a.resume {
        Some(dir) => Some(Checkpoint::load(&dir.join("checkpoint.slyc"))?),
        None => None,
    };
    let mut cfg = match (&resume, &a.config) {
        (Some(ck), _) => ck.config()?,
        (None, Some(p)) => ExperimentConfig::load(p)?,
        (None, None) => ExperimentConfig::default_experiment(),
    };
    if let Some(s) = a.seed {
        cfg.train.seed = s;
    }
    if let Some(e) = a.epochs {
        cfg.train.epochs = e;
    }
    if let Some(b) = a.batch {
        cfg.train.batch = b;
    }
    let out_dir = match (&a.resume, a.out) {
        (Some(dir), _) => dir.clone(),
        (None, Some(o)) => o,
        (None, None) => PathBuf::from("runs").join(&cfg.name),
    };
    cuda_options(a.device, a.precision)?;
    let opts = TrainOptions {
        out_dir,
        data_dir: a.data,
        device: a.device,
        precision: a.precision,
        quiet: a.quiet,
        resume,
    };
    let report = train::train(&cfg, &opts)?;
    let mut out = std::io::stdout().lock();
    report::train::summary(&mut out, &cfg.name, cfg.train.stop_when_matched, &report)?;
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&report).context("encoding the report")?
        )?;
    }
    Ok(())
}

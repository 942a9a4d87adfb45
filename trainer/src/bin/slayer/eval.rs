//! `slayer eval`: accuracy and confusion matrix of a checkpoint.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use slayer_trainer::backend::cuda::Precision;
use slayer_trainer::backend::Device;
use slayer_trainer::checkpoint::Checkpoint;
use slayer_trainer::{infer, report, train};

use crate::common::cuda_options;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A checkpoint written by `slayer train` (checkpoint.slyc or best.slyc).
    checkpoint: PathBuf,
    /// Folder holding the data (as for `slayer train`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Evaluate every sample of this list file (`id<TAB>label`) instead of the validation split.
    #[arg(long)]
    list: Option<PathBuf>,
    /// Also run this exported model (`slayer export`) with the fixed-point
    /// core on the same samples: its accuracy, class agreement with the
    /// float network, identical output trains.
    #[arg(long, value_name = "MODEL")]
    model: Option<PathBuf>,
    /// Compute device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Arithmetic of the dense layers' matrix products on cuda: f32, tf32
    /// or bf16 (tensor cores; neuron state stays f32, conv and pool f32).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// End with one line of JSON: {"accuracy": ..., "samples": ..., "loss": ..., "confusion": [[...]]}.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: &Args) -> anyhow::Result<()> {
    let ck = Checkpoint::load(&a.checkpoint)?;
    let cfg = ck.config()?;
    let data = train::build_dataset_with(&cfg, a.data.as_deref(), a.list.as_deref())?;
    anyhow::ensure!(
        !data.valid.is_empty(),
        "nothing to evaluate: experiment {:?} has no validation samples (pass --list)",
        cfg.name
    );
    anyhow::ensure!(
        data.inputs == ck.network.inputs,
        "shape mismatch: the data has {} input channels, the checkpoint's network takes {}",
        data.inputs,
        ck.network.inputs
    );
    let backend = a.device.open_with(cuda_options(a.device, a.precision)?)?;
    let loss = cfg.loss.build(cfg.simulation.ts);
    let ev = train::evaluate(
        backend.as_ref(),
        &ck.network,
        &loss,
        &data.valid,
        &train::binning(&cfg),
        data.classes,
    )?;
    let mut out = std::io::stdout().lock();
    report::eval::evaluation(&mut out, &cfg.name, &ev)?;
    let cmp = match &a.model {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let model = infer::decode_model(&bytes, path)?;
            let c = infer::compare(
                backend.as_ref(),
                &ck.network,
                &model,
                &data.valid,
                &train::binning(&cfg),
            )?;
            report::eval::comparison(&mut out, path, &c)?;
            Some(c)
        }
        None => None,
    };
    if a.json {
        let mut v = serde_json::to_value(&ev).context("encoding the result")?;
        if let (Some(c), Some(obj)) = (cmp, v.as_object_mut()) {
            obj.insert("core".into(), serde_json::to_value(c)?);
        }
        writeln!(out, "{v}")?;
    }
    Ok(())
}

//! `slayer export`: quantise a checkpoint into the core's model format, or
//! write it as a NIR graph.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use slayer_trainer::checkpoint::Checkpoint;
use slayer_trainer::{export, files, report, train};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A checkpoint written by `slayer train` (best.slyc or checkpoint.slyc).
    checkpoint: PathBuf,
    /// Where to write the model.
    #[arg(long, short)]
    out: PathBuf,
    /// What to write: `core` (the fixed-point model the core engine, the
    /// firmware and `slayer stream` run) or `nir` (a NIR graph in float, for
    /// snnTorch, Norse and the other NIR tools; docs/nir.md gives the mapping
    /// of the SRM neuron). A NIR file keeps the experiment config, so
    /// `slayer import` gives the same checkpoint back.
    #[arg(long, value_enum, default_value_t = Format::Core)]
    format: Format,
    /// Weight width: 8 or 16 bits.
    #[arg(long, default_value_t = 8)]
    bits: u32,
    /// Filter coefficients of the core model: `full` (30 bits: the kernels
    /// equal the trained network's to 10^-8) or `coarse` (15 bits wherever
    /// that moves a kernel by at most 0.1 % of its peak, i.e. time constants
    /// up to about 20 bins). A Cortex-M0/M0+ steps a coarse model's neurons
    /// with half the multiplies (N-MNIST MLP: see docs/benchmarks.md); the
    /// potentials move by up to about 2 % of θ, so check its accuracy
    /// (`slayer eval CHECKPOINT --model MODEL`) before flashing it.
    #[arg(long, value_enum, default_value_t = Coefs::Full)]
    coefficients: Coefs,
    /// Also write the model image for a board's model region (the link
    /// firmware's flash region: "SLYI", length, model): flash it with
    /// `probe-rs download --binary-format bin --base-address ADDR`, or load
    /// it in QEMU with `-device loader,file=PATH,addr=ADDR,force-raw=on`
    /// (ADDR: the MODEL region of firmware/memory/*.x; see the README).
    #[arg(long, value_name = "PATH")]
    image: Option<PathBuf>,
    /// End with one line of JSON: bytes, bits and the per-layer report.
    #[arg(long)]
    json: bool,
}

/// The filter coefficients (see `export::Coefficients`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coefs {
    /// 30 bits (Q2.30).
    Full,
    /// 15 bits where the kernels allow it.
    Coarse,
}

impl From<Coefs> for export::Coefficients {
    fn from(c: Coefs) -> Self {
        match c {
            Coefs::Full => Self::Full,
            Coefs::Coarse => Self::Coarse,
        }
    }
}

/// What `slayer export` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// The core's fixed-point model (int8 / int16).
    Core,
    /// A NIR graph (HDF5), float weights.
    Nir,
}

pub(crate) fn run(a: &Args) -> anyhow::Result<()> {
    let ck = Checkpoint::load(&a.checkpoint)?;
    if a.format == Format::Nir {
        return nir(a, &ck);
    }
    let cfg = ck.config()?;
    let shape = train::input_shape(&cfg, &ck.network);
    let ex = export::export_with(
        &ck.network,
        Some(shape),
        cfg.simulation.bins,
        a.bits,
        a.coefficients.into(),
    )?;
    files::write_atomic(&a.out, &ex.bytes)?;
    let mut out = std::io::stdout().lock();
    if let Some(path) = &a.image {
        let image = slayer_core::model::encode_image(&ex.bytes)
            .context("the model is too large for a model image (4 GiB)")?;
        files::write_atomic(path, &image)?;
        report::export::image(&mut out, path, image.len())?;
    }
    report::export::summary(
        &mut out,
        &a.out,
        &ex,
        shape,
        cfg.simulation.bins,
        cfg.simulation.ts,
    )?;
    if a.json {
        let layers: Vec<serde_json::Value> = ex
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "kind": l.kind, "params": l.params, "scale": l.scale,
                    "theta_lsb": l.theta_lsb, "saturated": l.saturated, "max_error": l.max_error,
                })
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "model": a.out, "image": a.image, "bytes": ex.bytes.len(), "bits": ex.bits,
                "layers": layers,
                "coefficients": {
                    "requested": format!("{:?}", a.coefficients).to_lowercase(),
                    "neuron_layers": ex.coarse_filters[0],
                    "coarse_eps": ex.coarse_filters[1],
                    "coarse_nu": ex.coarse_filters[2],
                },
            })
        )?;
    }
    Ok(())
}

/// `--format nir`: the checkpoint's network and config as a NIR graph.
fn nir(a: &Args, ck: &Checkpoint) -> anyhow::Result<()> {
    if a.image.is_some() {
        anyhow::bail!("--image is a core model's board image: it does not go with --format nir");
    }
    let graph = slayer_trainer::nir::to_nir(&ck.network, Some(&ck.config_toml))?;
    let bytes = slayer_nir::to_bytes(&graph).map_err(slayer_trainer::Error::from)?;
    files::write_atomic(&a.out, &bytes)?;
    let mut out = std::io::stdout().lock();
    report::export::nir(&mut out, &a.out, &graph, bytes.len())?;
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"model": a.out, "format": "nir", "bytes": bytes.len(),
                "nodes": graph.nodes.len(), "edges": graph.edges.len()})
        )?;
    }
    Ok(())
}

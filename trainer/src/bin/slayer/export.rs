//! `slayer export`: quantise a checkpoint into the core's model format.

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
    /// Weight width: 8 or 16 bits.
    #[arg(long, default_value_t = 8)]
    bits: u32,
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

pub(crate) fn run(a: &Args) -> anyhow::Result<()> {
    let ck = Checkpoint::load(&a.checkpoint)?;
    let cfg = ck.config()?;
    let shape = train::input_shape(&cfg, &ck.network);
    let ex = export::export(&ck.network, Some(shape), cfg.simulation.bins, a.bits)?;
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
            serde_json::json!({"model": a.out, "image": a.image, "bytes": ex.bytes.len(), "bits": ex.bits, "layers": layers})
        )?;
    }
    Ok(())
}

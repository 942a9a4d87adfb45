//! `slayer import`: a NIR graph into a checkpoint (and a core model).

use std::io::Write;
use std::path::PathBuf;

use slayer_trainer::checkpoint::Checkpoint;
use slayer_trainer::config::ExperimentConfig;
use slayer_trainer::optim::Optimiser;
use slayer_trainer::{export, files, nir, report, train};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The NIR file (HDF5, as `nir.write` or `slayer export --format nir` writes it).
    nir: PathBuf,
    /// Where to write the checkpoint (.slyc): the float network, to
    /// evaluate, fine-tune (`slayer train --resume`) or export.
    #[arg(long, short)]
    out: PathBuf,
    /// Also quantise the network into a core model (.slym) here, as
    /// `slayer export` does.
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// Weight width of --model: 8 or 16 bits.
    #[arg(long, default_value_t = 8)]
    bits: u32,
    /// The experiment (data, loss, optimiser, bins) to attach when the graph
    /// carries none; its network, neuron and time step are replaced by the
    /// graph's. Without it such a graph gets the default experiment's.
    #[arg(long, value_name = "TOML")]
    config: Option<PathBuf>,
    /// The time step in ms, for a graph that does not carry SLAYER's (NIR is
    /// continuous-time; delays are converted to steps of this length).
    #[arg(long, default_value_t = 1.0, value_name = "MS")]
    ts: f32,
    /// End with one line of JSON: layers, inputs, outputs, neuron parameters.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: &Args) -> anyhow::Result<()> {
    if a.model.is_some() {
        export::weight_bits(a.bits)?; // before anything is written
    }
    let graph = slayer_nir::read(&a.nir).map_err(slayer_trainer::Error::from)?;
    let imported = nir::from_nir(&graph, a.ts)?;
    let net = imported.network;
    let (cfg, origin) = match (&a.config, &imported.config_toml) {
        (Some(path), _) => (
            nir::config_for(&net, &ExperimentConfig::load(path)?)?,
            "--config",
        ),
        (None, Some(toml)) => (ExperimentConfig::from_toml(toml)?, "the graph"),
        (None, None) => (
            nir::config_for(&net, &ExperimentConfig::default_experiment())?,
            "the default experiment (give --config for your data)",
        ),
    };
    let opt = Optimiser::new(cfg.optimiser.clone(), &net.param_sizes());
    Checkpoint::new(&cfg, &net, &opt, &[]).save(&a.out)?;
    let mut out = std::io::stdout().lock();
    report::import::summary(&mut out, &a.out, &net, imported.had_settings, origin)?;
    if let Some(path) = &a.model {
        let shape = train::input_shape(&cfg, &net);
        let ex = export::export(&net, Some(shape), cfg.simulation.bins, a.bits)?;
        files::write_atomic(path, &ex.bytes)?;
        report::export::summary(&mut out, path, &ex, shape, cfg.simulation.bins, net.ts)?;
    }
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "checkpoint": a.out, "model": a.model, "layers": net.layers.len(),
                "inputs": net.inputs, "outputs": net.outputs(), "ts_ms": net.ts,
                "theta": net.neuron.theta, "tau_s": net.neuron.tau_s, "tau_r": net.neuron.tau_r,
                "scale_ref": net.neuron.scale_ref, "settings_from_graph": imported.had_settings,
                "config_from": origin,
            })
        )?;
    }
    Ok(())
}

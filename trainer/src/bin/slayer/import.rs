//! `slayer import`: a NIR graph into a checkpoint (and a core model).

use std::io::Write;
use std::path::PathBuf;

use slayer_trainer::checkpoint::Checkpoint;
use slayer_trainer::config::ExperimentConfig;
use slayer_trainer::data::Binning;
use slayer_trainer::optim::Optimiser;
use slayer_trainer::{export, files, infer, nir, report, train};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The NIR file (HDF5, as `nir.write` or `slayer export --format nir` writes it).
    nir: PathBuf,
    /// Where to write the checkpoint (.slyc): the float network, to
    /// evaluate, fine-tune (`slayer train --resume`) or export. SRM graphs
    /// only (the trainer simulates SRM neurons).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Quantise the network into a core model (.slym) here, as `slayer
    /// export` does: the only output of a LIF / CubaLIF / IF graph.
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// LIF graphs: the time step, in seconds, at which the framework steps
    /// its neurons (forward Euler; snnTorch's NIR export and import use 1e-4).
    #[arg(long, default_value_t = 1e-4, value_name = "S")]
    dt: f64,
    /// LIF graphs: what a spike does to the membrane: `zero` (NIR's reset to
    /// v_reset = 0, as snnTorch's and Norse's NIR imports do) or `subtract`
    /// (v − θ, snnTorch's default `Leaky`).
    #[arg(long, value_enum, default_value_t = Reset::Zero)]
    reset: Reset,
    /// LIF graphs: bins of one sample, for the model's header.
    #[arg(long, default_value_t = 300)]
    bins: u32,
    /// LIF graphs with a flat input: the sensor's C,H,W (e.g. 2,34,34 for
    /// N-MNIST), so that `slayer infer` and `slayer stream` map event files
    /// onto it (flatten order c·H·W + y·W + x).
    #[arg(long, value_name = "C,H,W", value_parser = parse_shape)]
    input_shape: Option<(u32, u32, u32)>,
    /// Weight width of --model: 8 or 16 bits.
    #[arg(long, default_value_t = 8)]
    bits: u32,
    /// SLAYER graphs: the filter coefficients of --model, as for `slayer
    /// export --coefficients` (`coarse`: 15 bits where a kernel moves by at
    /// most 0.1 %, for a Cortex-M0/M0+). LIF neurons have no such filters.
    #[arg(long, value_enum, default_value_t = crate::export::Coefs::Full)]
    coefficients: crate::export::Coefs,
    /// The experiment (data, loss, optimiser, bins) to attach when the graph
    /// carries none; its network, neuron and time step are replaced by the
    /// graph's. Without it such a graph gets the default experiment's.
    #[arg(long, value_name = "TOML")]
    config: Option<PathBuf>,
    /// The time step in ms, for a graph that does not carry SLAYER's (NIR is
    /// continuous-time; delays are converted to steps of this length).
    #[arg(long, default_value_t = 1.0, value_name = "MS")]
    ts: f32,
    /// LIF graphs: event recordings (.bs2, .aedat4, .raw, …) to run through
    /// both the graph's float network (forward Euler at --dt, f64) and the
    /// core model, binned at --ts for --bins bins: reports how closely the
    /// quantised model follows the float one before you flash it.
    #[arg(long, value_name = "RECORDING", num_args = 1..)]
    check: Vec<PathBuf>,
    /// End with one line of JSON: layers, inputs, outputs, neuron parameters.
    #[arg(long)]
    json: bool,
}

/// `--reset`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reset {
    /// `v ← 0`.
    Zero,
    /// `v ← v − θ`.
    Subtract,
}

pub(crate) fn run(a: &Args) -> anyhow::Result<()> {
    if a.out.is_none() && a.model.is_none() {
        anyhow::bail!("nothing to write: give --out CHECKPOINT and/or --model MODEL");
    }
    if a.model.is_some() {
        export::weight_bits(a.bits)?; // before anything is written
    }
    let graph = slayer_nir::read(&a.nir).map_err(slayer_trainer::Error::from)?;
    if nir::is_lif_graph(&graph) {
        return lif(a, &graph);
    }
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
    let mut out = std::io::stdout().lock();
    if let Some(path) = &a.out {
        let opt = Optimiser::new(cfg.optimiser.clone(), &net.param_sizes());
        Checkpoint::new(&cfg, &net, &opt, &[]).save(path)?;
        report::import::summary(&mut out, path, &net, imported.had_settings, origin)?;
    }
    if let Some(path) = &a.model {
        let shape = train::input_shape(&cfg, &net);
        let ex = export::export_with(
            &net,
            Some(shape),
            cfg.simulation.bins,
            a.bits,
            a.coefficients.into(),
        )?;
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

/// A LIF / CubaLIF / IF graph: straight to a core model.
fn lif(a: &Args, graph: &slayer_nir::NirGraph) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.bins > 0 && a.ts.is_finite() && a.ts > 0.0,
        "--bins {} and --ts {}: need positive values",
        a.bins,
        a.ts
    );
    let (Some(path), None) = (&a.model, &a.out) else {
        anyhow::bail!(
            "{}: a LIF / CubaLIF / IF network imports as a core model only (the trainer \
             simulates SRM neurons): give --model MODEL and no --out",
            a.nir.display()
        );
    };
    let o = nir::LifOptions {
        dt: a.dt,
        reset: match a.reset {
            Reset::Zero => slayer_core::LifReset::Zero,
            Reset::Subtract => slayer_core::LifReset::Subtract,
        },
        bits: a.bits,
        bins: a.bins,
        ts_ms: a.ts,
        input_shape: a.input_shape,
    };
    let ex = nir::lif_model(graph, &o)?;
    files::write_atomic(path, &ex.bytes)?;
    let model = slayer_core::Model::decode(&ex.bytes)
        .map_err(|e| anyhow::anyhow!("the model just built does not decode: {e:?}"))?;
    let mut out = std::io::stdout().lock();
    let s = model.input_shape();
    let shape = (s.c as usize, s.h as usize, s.w as usize);
    report::export::summary(&mut out, path, &ex, shape, a.bins as usize, a.ts)?;
    let check = if a.check.is_empty() {
        None
    } else {
        let net = nir::lif_network(graph, &o)?;
        let binning = Binning {
            ts_ms: f64::from(a.ts),
            bins: a.bins as usize,
        };
        let mut runner = infer::CoreRunner::new(&model)?;
        let (mut float, mut core) = (Vec::new(), Vec::new());
        let bar = crate::common::recordings_bar(a.check.len());
        for rec in &a.check {
            bar.set_message(rec.display().to_string());
            let raster = infer::load_events(rec, shape, &binning)?;
            float.push(net.run(&raster));
            let counts = runner.run(&raster)?.counts();
            core.push(counts.into_iter().map(u64::from).collect::<Vec<u64>>());
            bar.inc(1);
        }
        bar.finish_and_clear();
        let c = infer::CountAgreement::of(&core, &float);
        writeln!(
            out,
            "check: the core model vs the float network on {} recordings: {c}",
            a.check.len()
        )?;
        Some(c)
    };
    if a.json {
        let mut v = serde_json::json!({
            "model": path, "kind": "lif", "layers": ex.layers.len(),
            "inputs": model.inputs(), "outputs": model.outputs(), "bits": ex.bits,
            "bytes": ex.bytes.len(), "dt": a.dt,
        });
        if let (Some(c), Some(obj)) = (check, v.as_object_mut()) {
            obj.insert("check".into(), serde_json::to_value(c)?);
        }
        writeln!(out, "{v}")?;
    }
    Ok(())
}

/// `C,H,W` → three positive numbers.
fn parse_shape(text: &str) -> Result<(u32, u32, u32), String> {
    let v: Vec<u32> = text
        .split(',')
        .map(|p| p.trim().parse::<u32>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match v.as_slice() {
        &[c, h, w] if c > 0 && h > 0 && w > 0 => Ok((c, h, w)),
        _ => Err(format!("{text:?}: expected three positive numbers C,H,W")),
    }
}

//! `slayer`: train spiking neural networks with SLAYER.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use slayer_trainer::backend::cuda::{CudaOptions, Precision};
use slayer_trainer::backend::Device;
use slayer_trainer::bench;
use slayer_trainer::checkpoint::Checkpoint;
use slayer_trainer::config::ExperimentConfig;
use slayer_trainer::train::{self, TrainOptions};
use slayer_trainer::{export, infer};

/// Train spiking neural networks with SLAYER (spike-response-model neurons,
/// spike-layer error reassignment in time, learnable axonal delays).
///
/// Every subcommand accepts --json: it then ends with one line holding a JSON
/// object of its results. Errors are one line on stderr and exit status 2.
#[derive(Parser, Debug)]
#[command(name = "slayer", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Train a network from an experiment config (TOML).
    ///
    /// With no config, runs the default experiment (no data needed): learning
    /// a seeded Poisson spike-train pattern with a 250 → 25 → 1 network, the
    /// paper's first experiment. It stops at the first epoch whose output
    /// spikes match the target (each target spike within ±1 bin, no extra
    /// spikes) and writes the loss curve, a spike raster, metrics.csv and the
    /// checkpoint into the output folder.
    Train(TrainArgs),
    /// Measure training throughput (samples/s, forward + backward + optimiser
    /// step) on the N-MNIST MLP shape (2312-512-10, 300 bins, batch 8,
    /// NumSpikes, 0.6 % input density) and the Oxford shape (200-256-200,
    /// 1900 bins, batch 1, SpikeTime). With --case, also the N-MNIST shape at
    /// batch 32 and forward + backward timings of the public SNN-library
    /// benchmark shape (with peak GPU memory on cuda).
    Bench(BenchArgs),
    /// Evaluate a checkpoint: accuracy and confusion matrix on the validation
    /// split of its experiment, or on every sample of --list.
    Eval(EvalArgs),
    /// Quantise a trained checkpoint into the fixed-point model format that
    /// the core engine, the firmware and `slayer stream` run (int8 or int16
    /// weights with a per-layer scale, fixed-point neuron constants, CRC).
    ///
    /// Prints each layer's scale, threshold in weight units and how many
    /// weights saturated.
    Export(ExportArgs),
    /// Run an exported model with the fixed-point core engine on event files
    /// (.bs2, N-MNIST .bin, .bs1, AEDAT 3.1 .aedat, AEDAT 4.0 .aedat4) and
    /// print each sample's output spike counts and predicted class.
    Infer(InferArgs),
}

#[derive(Args, Debug)]
struct ExportArgs {
    /// A checkpoint written by `slayer train` (best.slyc or checkpoint.slyc).
    checkpoint: PathBuf,
    /// Where to write the model.
    #[arg(long, short)]
    out: PathBuf,
    /// Weight width: 8 or 16 bits.
    #[arg(long, default_value_t = 8)]
    bits: u32,
    /// End with one line of JSON: bytes, bits and the per-layer report.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct InferArgs {
    /// A model written by `slayer export`.
    model: PathBuf,
    /// Event files, one sample each.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Also run this checkpoint's float network on the same inputs and
    /// compare classes and spike counts.
    #[arg(long, value_name = "CHECKPOINT")]
    float: Option<PathBuf>,
    /// End with one line of JSON: {"results": [{"input", "counts", "class", ...}], ...}.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct EvalArgs {
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
    /// End with one line of JSON: {"accuracy": ..., "samples": ..., "loss": ..., "confusion": [[...]]}.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Experiment config; the default Poisson spike-train experiment when omitted.
    /// Shipped configs live in trainer/configs/.
    config: Option<PathBuf>,
    /// Folder holding the data files the config names (e.g. ../shared/data/slayer-reference/oxford).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output folder [default: runs/<experiment name>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of data generation, weights, shuffling and dropout (overrides the config).
    #[arg(long)]
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

#[derive(Args, Debug)]
struct BenchArgs {
    /// Seconds to time each case (after one warm-up batch).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Only run the case with this name: nmnist-mlp, oxford, nmnist-mlp-32
    /// (batch 32), or a forward + backward case of the public SNN-library
    /// benchmark shape (dense n → n + spiking layer, batch 16, 500 bins):
    /// snn-4096, snn-16384.
    #[arg(long)]
    case: Option<String>,
    /// Compute device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Arithmetic of the dense products on cuda: f32 or tf32.
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// In the snn-* cases, also compute the gradient at the network's input.
    #[arg(long)]
    input_grad: bool,
    /// End with one line of JSON: {"train_samples_per_s": <N-MNIST MLP figure>, "rows": [...], "fwd_bwd": [...]}.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd.unwrap_or(Cmd::Train(TrainArgs {
        config: None,
        data: None,
        out: None,
        seed: None,
        epochs: None,
        batch: None,
        device: Device::Cpu,
        resume: None,
        quiet: false,
        json: false,
    })) {
        Cmd::Train(a) => cmd_train(a),
        Cmd::Bench(a) => cmd_bench(a),
        Cmd::Eval(a) => cmd_eval(a),
        Cmd::Export(a) => cmd_export(a),
        Cmd::Infer(a) => cmd_infer(a),
    }
}

fn cmd_train(a: TrainArgs) -> anyhow::Result<()> {
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
    let opts = TrainOptions {
        out_dir,
        data_dir: a.data,
        device: a.device,
        quiet: a.quiet,
        resume,
    };
    let report = train::train(&cfg, &opts)?;
    let mut out = std::io::stdout().lock();
    match report.converged_epoch {
        Some(e) => writeln!(
            out,
            "{}: output matches the target at epoch {e} (the paper needed 739)",
            cfg.name
        )?,
        None if cfg.train.stop_when_matched => writeln!(
            out,
            "{}: no match within {} epochs",
            cfg.name, report.epochs
        )?,
        None => {}
    }
    if let (Some(v), Some(best)) = (report.valid_accuracy, report.best_valid_accuracy) {
        writeln!(
            out,
            "validation accuracy {:.2} % (best {:.2} %, saved as best.slyc)",
            100.0 * v,
            100.0 * best
        )?;
    }
    writeln!(
        out,
        "{} epochs, final loss {:.6}, {:.1} samples/s; wrote {}",
        report.epochs,
        report.final_loss,
        report.samples_per_s,
        report.out_dir.display()
    )?;
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&report).context("encoding the report")?
        )?;
    }
    Ok(())
}

fn cmd_eval(a: EvalArgs) -> anyhow::Result<()> {
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
    let backend = a.device.open()?;
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
    match ev.accuracy {
        Some(acc) => writeln!(
            out,
            "{}: accuracy {:.2} % on {} samples (loss {:.4})",
            cfg.name,
            100.0 * acc,
            ev.samples,
            ev.loss
        )?,
        None => writeln!(
            out,
            "{}: loss {:.4} on {} samples",
            cfg.name, ev.loss, ev.samples
        )?,
    }
    if !ev.confusion.is_empty() {
        writeln!(
            out,
            "confusion matrix (rows: true class, columns: predicted)"
        )?;
        write!(out, "     ")?;
        for p in 0..ev.confusion.len() {
            write!(out, "{p:>5}")?;
        }
        writeln!(out)?;
        for (t, row) in ev.confusion.iter().enumerate() {
            write!(out, "{t:>5}")?;
            for c in row {
                write!(out, "{c:>5}")?;
            }
            writeln!(out)?;
        }
    }
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
            writeln!(
                out,
                "fixed-point core ({}): accuracy {:.2} % (float {:.2} %), same class as float on {:.2} %, \
                 identical output spikes on {:.2} %, mean |count difference| {:.3}",
                path.display(),
                100.0 * c.core_accuracy,
                100.0 * c.float_accuracy,
                100.0 * c.class_agreement,
                100.0 * c.identical_outputs,
                c.mean_count_diff
            )?;
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

fn cmd_export(a: ExportArgs) -> anyhow::Result<()> {
    let ck = Checkpoint::load(&a.checkpoint)?;
    let cfg = ck.config()?;
    let shape = train::input_shape(&cfg, &ck.network);
    let ex = export::export(&ck.network, Some(shape), cfg.simulation.bins, a.bits)?;
    let tmp = a.out.with_extension("tmp");
    std::fs::write(&tmp, &ex.bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: {} bytes, int{} weights, input {}x{}x{}, {} bins of {} ms",
        a.out.display(),
        ex.bytes.len(),
        ex.bits,
        shape.0,
        shape.1,
        shape.2,
        cfg.simulation.bins,
        cfg.simulation.ts
    )?;
    writeln!(
        out,
        "{:>3} {:<9} {:>10} {:>12} {:>10} {:>10} {:>12}",
        "#", "layer", "params", "scale", "θ (LSB)", "saturated", "max error"
    )?;
    for (i, l) in ex.layers.iter().enumerate() {
        writeln!(
            out,
            "{i:>3} {:<9} {:>10} {:>12.4e} {:>10.1} {:>10} {:>12.3e}",
            l.kind, l.params, l.scale, l.theta_lsb, l.saturated, l.max_error
        )?;
    }
    let saturated: usize = ex.layers.iter().map(|l| l.saturated).sum();
    if saturated > 0 {
        writeln!(
            out,
            "warning: {saturated} weights or delays were clipped to the representable range"
        )?;
    }
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
            serde_json::json!({"model": a.out, "bytes": ex.bytes.len(), "bits": ex.bits, "layers": layers})
        )?;
    }
    Ok(())
}

fn cmd_infer(a: InferArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading {}", a.model.display()))?;
    let model = infer::decode_model(&bytes, &a.model)?;
    let s = model.input_shape();
    let shape = (s.c as usize, s.h as usize, s.w as usize);
    let b = slayer_trainer::data::Binning {
        ts_ms: f64::from(model.ts()),
        bins: model.bins() as usize,
    };
    let float = match &a.float {
        Some(p) => {
            let ck = Checkpoint::load(p)?;
            anyhow::ensure!(
                ck.network.inputs == model.inputs() as usize
                    && ck.network.outputs() == model.outputs() as usize,
                "{} ({} → {}) does not match the model ({} → {})",
                p.display(),
                ck.network.inputs,
                ck.network.outputs(),
                model.inputs(),
                model.outputs()
            );
            Some((ck, Device::Cpu.open()?))
        }
        None => None,
    };
    let mut runner = infer::CoreRunner::new(&model)?;
    let mut out = std::io::stdout().lock();
    let mut results = Vec::new();
    let mut agree = 0usize;
    for path in &a.inputs {
        let x = infer::load_events(path, shape, &b)?;
        let y = runner.run(&x)?;
        let counts = y.counts();
        let class = train::predict(&y);
        let mut line = format!("{}: class {class}, counts {counts:?}", path.display());
        let mut r = serde_json::json!({"input": path, "counts": counts, "class": class});
        if let Some((ck, backend)) = &float {
            let f = backend.infer(&ck.network, &[&x])?.remove(0);
            let (fc, fcounts) = (train::predict(&f), f.counts());
            agree += usize::from(fc == class);
            line.push_str(&format!(
                "; float class {fc}, counts {fcounts:?}{}",
                if f == y { " (identical spikes)" } else { "" }
            ));
            r["float_class"] = fc.into();
            r["float_counts"] = fcounts.into();
            r["identical"] = (f == y).into();
        }
        writeln!(out, "{line}")?;
        results.push(r);
    }
    let n = a.inputs.len();
    if float.is_some() {
        writeln!(
            out,
            "core and float agree on the class of {agree}/{n} samples"
        )?;
    }
    if a.json {
        let mut v = serde_json::json!({"model": a.model, "results": results});
        if float.is_some() {
            v["class_agreement"] = (agree as f64 / n as f64).into();
        }
        writeln!(out, "{v}")?;
    }
    Ok(())
}

fn cmd_bench(a: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.seconds.is_finite() && a.seconds > 0.0,
        "--seconds must be positive"
    );
    let options = CudaOptions {
        precision: a.precision,
        ..Default::default()
    };
    let cases: Vec<_> = match &a.case {
        None => bench::default_cases(),
        Some(n) => bench::default_cases()
            .into_iter()
            .chain(bench::extra_cases())
            .filter(|c| c.name == n)
            .collect(),
    };
    let fwd_bwd: Vec<_> = bench::fwd_bwd_cases()
        .into_iter()
        .filter(|c| a.case.as_deref() == Some(c.name))
        .collect();
    if cases.is_empty() && fwd_bwd.is_empty() {
        anyhow::bail!(
            "unknown bench case {:?}: expected nmnist-mlp, oxford, nmnist-mlp-32, snn-4096 or snn-16384",
            a.case.unwrap_or_default()
        );
    }
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    let mut device = String::new();
    if !cases.is_empty() {
        let backend = bench::open(a.device, options)?;
        device = backend.name();
        writeln!(out, "slayer bench on {device}")?;
        writeln!(
            out,
            "{:<13} {:>14} {:>6} {:>6} {:>16} {:>14}",
            "case", "shape", "bins", "batch", "train samples/s", "hidden sp/smp"
        )?;
        for c in &cases {
            let r = bench::run_case(backend.as_ref(), c, a.seconds, 7)?;
            writeln!(
                out,
                "{:<13} {:>14} {:>6} {:>6} {:>16.1} {:>14.0}",
                r.name, r.shape, r.bins, r.batch, r.train_samples_per_s, r.hidden_spikes_per_sample
            )?;
            rows.push(r);
        }
    }
    let mut fb_rows = Vec::new();
    for c in &fwd_bwd {
        let r = bench::run_fwd_bwd(a.device, options, c, a.seconds, a.input_grad)?;
        let mib = |b: Option<usize>| {
            b.map_or("-".to_string(), |b| format!("{:.0}", b as f64 / 1048576.0))
        };
        writeln!(out, "slayer bench (forward + backward) on {}", r.device)?;
        writeln!(
            out,
            "{:<10} {:>12} {:>5} {:>5} {:>10} {:>12} {:>10} {:>11} {:>11}",
            "case",
            "shape",
            "bins",
            "batch",
            "backward",
            "s/iter",
            "samples/s",
            "tensor MiB",
            "device MiB"
        )?;
        writeln!(
            out,
            "{:<10} {:>12} {:>5} {:>5} {:>10} {:>12.4} {:>10.1} {:>11} {:>11}",
            r.name,
            r.shape,
            r.bins,
            r.batch,
            if r.input_grad { "full" } else { "weights" },
            r.seconds_per_iter,
            r.samples_per_s,
            mib(r.tensors_peak_bytes),
            mib(r.device_peak_bytes)
        )?;
        device = r.device.clone();
        fb_rows.push(r);
    }
    if a.json {
        let headline = rows.first().map(|r| r.train_samples_per_s);
        let v = serde_json::json!({ "train_samples_per_s": headline, "device": device, "rows": rows, "fwd_bwd": fb_rows });
        writeln!(out, "{v}")?;
    }
    Ok(())
}

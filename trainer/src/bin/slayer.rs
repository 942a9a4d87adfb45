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
    /// Classify a live event stream with an exported model on the
    /// fixed-point core: events are read incrementally (constant memory),
    /// binned into the model's Ts bins as they arrive, pushed through the
    /// engine one bin at a time, and the running class decision (argmax of
    /// the output spike counts over a sliding window) is printed with its
    /// stream time.
    ///
    /// SOURCE is an AEDAT 3.1 file (.aedat), an AEDAT 4.0 file (.aedat4), a
    /// .bs2 file, or - for an AEDAT 3.1 byte stream on standard input (several
    /// files concatenated are fine). Bad packet headers, truncated packets
    /// and out-of-range events are counted and skipped (the parser
    /// resynchronises on the next valid packet header); the first few are
    /// reported on stderr. Late events are dropped and counted. Live
    /// statistics go to stderr once a second.
    Stream(StreamArgs),
    /// Drive a board running the link firmware (`firmware/`): send event
    /// recordings to it over a serial link, collect its per-window class
    /// decisions, and check them against the host core engine run on the
    /// same bytes (identical decisions, spike counts and counters expected).
    ///
    /// The board is a serial device (/dev/ttyACM0; set its line speed first,
    /// e.g. `stty -F /dev/ttyACM0 1000000 raw`) or tcp:HOST:PORT (QEMU's
    /// `-serial tcp:…`, see the README). Prints, per recording, whether board
    /// and host agree, the frames lost on the wire, and the board's cost per
    /// bin; exits with status 1 when any recording differs.
    Link(LinkArgs),
}

#[derive(Args, Debug)]
struct LinkArgs {
    /// The model the board runs (written by `slayer export`); its CRC is
    /// checked against the one the board reports.
    model: PathBuf,
    /// Event recordings to send, one at a time: .aedat (AEDAT 3.1),
    /// .aedat4, .bs2 / N-MNIST .bin, .raw (Prophesee).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The board: a serial device or tcp:HOST:PORT.
    #[arg(long, short, value_name = "PORT")]
    port: String,
    /// Bins per decision window (tumbling: one decision every BINS bins,
    /// as `slayer stream --window-ms BINS·Ts --report-ms BINS·Ts` reports)
    /// [default: the model's bins].
    #[arg(long, value_name = "BINS", value_parser = clap::value_parser!(u32).range(1..))]
    window: Option<u32>,
    /// Send at recording speed (each frame when its first event is due).
    #[arg(long)]
    realtime: bool,
    /// Send F times faster than recorded.
    #[arg(long, value_name = "F", conflicts_with = "realtime")]
    speed: Option<f64>,
    /// Event frames sent ahead of the board's acknowledgements (the
    /// firmware's 4 KiB receive ring holds about 12 frames of 330 bytes;
    /// bytes it has no room for are counted as ring overruns).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=8))]
    in_flight: u32,
    /// Seconds to wait for the board before resending a control message
    /// or taking unacknowledged frames as lost.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    timeout: f64,
    /// Damage the outgoing event frames on purpose: flip or drop each byte
    /// with this probability (seeded by --seed); the host reference decodes
    /// the same damaged bytes, so agreement is still expected.
    #[arg(long, value_name = "RATE")]
    damage: Option<f64>,
    /// Seed of --damage (recording i uses SEED + i).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Sensor size WxH [default: from the file header, else the model's input].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    sensor: Option<(u32, u32)>,
    /// Print every decision window of the board.
    #[arg(long, short)]
    verbose: bool,
    /// End with one line of JSON: the board's identity and every recording's
    /// board and host results.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct StreamArgs {
    /// A model written by `slayer export`.
    model: PathBuf,
    /// The event source: .aedat (AEDAT 3.1), .aedat4, .bs2 / .bin, .raw
    /// (Prophesee EVT 2.0 / 3.0), tcp://HOST:PORT (an AEDAT 4 network stream
    /// of DV or dv-processing; reconnects when the server goes away), or -
    /// (AEDAT 3.1 or Prophesee raw on stdin).
    #[arg(long, short, value_name = "SOURCE")]
    input: PathBuf,
    /// Replay a file at recording speed (bin k is released (k + 1/2)·Ts after the first event).
    #[arg(long)]
    realtime: bool,
    /// Replay F times faster than recorded (paced as --realtime, at t/F).
    #[arg(long, value_name = "F", conflicts_with = "realtime")]
    speed: Option<f64>,
    /// When paced, busy-wait for each bin instead of sleeping: steadier
    /// latency on an idle core, at the cost of that core at 100 % (do not
    /// combine with real-time scheduling such as `chrt -f`: the kernel
    /// throttles a spinning real-time task).
    #[arg(long)]
    spin: bool,
    /// Threads running the network. With 2 the network is cut into two
    /// stages that run on two cores as a pipeline: the first 500 bins run
    /// on one core and time every layer, then the network is cut where the
    /// two stages take about as long, and the tail stage works on bin k
    /// while the head works on bin k + 1. Same spikes and decisions, bit
    /// for bit; nearly twice the event rate the stream keeps up with.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=2), conflicts_with = "profile")]
    threads: u8,
    /// With --threads 2: the first layer of the worker's stage (numbered
    /// as --profile lists them), instead of timing the first 500 bins on
    /// one core to choose it.
    #[arg(long, value_name = "LAYER", requires = "threads")]
    cut: Option<usize>,
    /// Decision window in ms [default: the model's bins × Ts].
    #[arg(long, value_name = "MS")]
    window_ms: Option<f64>,
    /// Print the decision every this many ms of stream time (0: only on changes).
    #[arg(long, value_name = "MS", default_value_t = 500.0)]
    report_ms: f64,
    /// Do not print a line when the decision changes (only every --report-ms).
    #[arg(long)]
    no_changes: bool,
    /// DvsGesture labels (`class,startTime_usec,endTime_usec`): print each
    /// window's majority decision against its label, and a summary.
    #[arg(long, value_name = "CSV")]
    labels: Option<PathBuf>,
    /// Sensor size WxH [default: from the stream header (DVS128: 128x128), else the model's input].
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    sensor: Option<(u32, u32)>,
    /// Gaps without events longer than this are cut to it (ms).
    #[arg(long, value_name = "MS", default_value_t = 10_000.0)]
    max_gap_ms: f64,
    /// Time each part of a bin (reading, binning, each layer's neuron
    /// updates, synaptic scatter, delays) and print the breakdown.
    #[arg(long)]
    profile: bool,
    /// How many fault messages to print (the rest are counted).
    #[arg(long, value_name = "N", default_value_t = 5)]
    show_faults: usize,
    /// No decision lines and no live statistics (only the summary).
    #[arg(long, short)]
    quiet: bool,
    /// End with one line of JSON: counters, rates, latency, lag, activity, labels, profile.
    #[arg(long)]
    json: bool,
}

/// `--realtime` / `--speed F` as a replay factor (`None`: as fast as possible).
fn pacing(realtime: bool, speed: Option<f64>) -> anyhow::Result<Option<f64>> {
    match (realtime, speed) {
        (true, _) => Ok(Some(1.0)),
        (false, Some(f)) => {
            anyhow::ensure!(
                f.is_finite() && f > 0.0,
                "--speed must be a positive factor"
            );
            Ok(Some(f))
        }
        (false, None) => Ok(None),
    }
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?}: expected WxH, e.g. 128x128"))?;
    let n = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| (1..=32768).contains(&n))
            .ok_or_else(|| format!("{s:?}: sizes must be whole numbers in 1..=32768"))
    };
    Ok((n(w)?, n(h)?))
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
    /// Arithmetic of the dense layers' matrix products on cuda: f32, tf32
    /// or bf16 (tensor cores; neuron state stays f32, conv and pool f32).
    #[arg(long, default_value = "f32")]
    precision: Precision,
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

#[derive(Args, Debug)]
struct BenchArgs {
    /// Seconds to time each case (after one warm-up batch).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Only run the case with this name: nmnist-mlp, oxford, nmnist-mlp-32
    /// (batch 32), dvs-cnn-16 (the shipped DVS Gesture CNN, 300 bins, batch
    /// 16), or a forward + backward case of the public SNN-library benchmark
    /// shape (dense n → n + spiking layer, batch 16, 500 bins): snn-4096,
    /// snn-16384.
    #[arg(long)]
    case: Option<String>,
    /// Compute device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Arithmetic of the dense layers' matrix products on cuda: f32, tf32
    /// or bf16 (tensor cores; neuron state stays f32, conv and pool f32).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// In the snn-* cases, also compute the gradient at the network's input.
    #[arg(long)]
    input_grad: bool,
    /// End with one line of JSON: {"train_samples_per_s": S, "rows": [...], "fwd_bwd": [...]} (S: the N-MNIST MLP figure).
    #[arg(long)]
    json: bool,
}

/// The CUDA options of `--precision`; an error when a precision other than
/// f32 is asked of the CPU (which computes in f32 only).
fn cuda_options(device: Device, precision: Precision) -> anyhow::Result<CudaOptions> {
    anyhow::ensure!(
        device != Device::Cpu || precision == Precision::F32,
        "--precision {precision} applies to --device cuda only (the CPU computes in f32)"
    );
    Ok(CudaOptions {
        precision,
        ..Default::default()
    })
}

/// A command-line error as one `error:` line (clap's own rendering spans
/// several lines: the message, a tip, the usage). Help and version output
/// are printed as clap prints them.
fn usage_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("error: bad arguments").to_string();
    let first = if first.starts_with("error:") {
        first
    } else {
        format!("error: {first}")
    };
    match lines.find(|l| l.starts_with("tip:")) {
        Some(tip) => format!("{first} ({tip}; see --help)"),
        None => format!("{first} (see --help)"),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp
                    | clap::error::ErrorKind::DisplayVersion
                    | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            eprintln!("{}", usage_error(&e));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Disagreement>() => {
            eprintln!("error: {e:#}");
            ExitCode::from(DISAGREE)
        }
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
            || c.downcast_ref::<slayer_trainer::Error>()
                .and_then(slayer_trainer::Error::io_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
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
        precision: Precision::F32,
        resume: None,
        quiet: false,
        json: false,
    })) {
        Cmd::Train(a) => cmd_train(a),
        Cmd::Bench(a) => cmd_bench(a),
        Cmd::Eval(a) => cmd_eval(a),
        Cmd::Export(a) => cmd_export(a),
        Cmd::Infer(a) => cmd_infer(a),
        Cmd::Stream(a) => cmd_stream(a),
        Cmd::Link(a) => cmd_link(a),
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
    slayer_trainer::files::write_atomic(&a.out, &ex.bytes)?;
    let mut out = std::io::stdout().lock();
    if let Some(path) = &a.image {
        let image = slayer_core::model::encode_image(&ex.bytes)
            .context("the model is too large for a model image (4 GiB)")?;
        slayer_trainer::files::write_atomic(path, &image)?;
        writeln!(
            out,
            "{}: model image, {} bytes (flash it at the firmware's model region)",
            path.display(),
            image.len()
        )?;
    }
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
            serde_json::json!({"model": a.out, "image": a.image, "bytes": ex.bytes.len(), "bits": ex.bits, "layers": layers})
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
        // A silent output decides nothing: never reported as class 0.
        let decide =
            |r: &slayer_trainer::spikes::SpikeRaster| (r.count() > 0).then(|| train::predict(r));
        let said = |c: Option<usize>| {
            c.map_or("no decision (no output spikes)".to_string(), |c| {
                format!("class {c}")
            })
        };
        let class = decide(&y);
        let mut line = format!("{}: {}, counts {counts:?}", path.display(), said(class));
        let mut r = serde_json::json!({"input": path, "counts": counts, "class": class});
        if let Some((ck, backend)) = &float {
            let f = backend.infer(&ck.network, &[&x])?.remove(0);
            let (fc, fcounts) = (decide(&f), f.counts());
            agree += usize::from(fc == class);
            line.push_str(&format!(
                "; float {}, counts {fcounts:?}{}",
                said(fc),
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
    let options = cuda_options(a.device, a.precision)?;
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
            "unknown bench case {:?}: expected one of {}",
            a.case.unwrap_or_default(),
            bench::case_names().join(", ")
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

/// Prints what a stream produces: decisions and label windows on stdout,
/// faults and live statistics on stderr.
struct StreamPrinter {
    out: std::io::StdoutLock<'static>,
    quiet: bool,
    err: Option<std::io::Error>,
}

impl StreamPrinter {
    fn line(&mut self, text: std::fmt::Arguments<'_>) {
        if self.err.is_none() {
            if let Err(e) = self.out.write_fmt(text) {
                self.err = Some(e);
            }
        }
    }
}

fn class_name(c: Option<usize>) -> String {
    c.map_or_else(|| "-".to_string(), |c| c.to_string())
}

impl slayer_trainer::stream::Sink for StreamPrinter {
    fn on_decision(&mut self, d: &slayer_trainer::stream::Decision<'_>) {
        if self.quiet {
            return;
        }
        let label = match d.label {
            Some(l) => format!("  label {l}{}", if d.class == Some(l) { " ok" } else { "" }),
            None => String::new(),
        };
        self.line(format_args!(
            "{:>10.1} ms  class {:>2}{}  counts {:?}{label}\n",
            d.t_ms,
            class_name(d.class),
            if d.changed { "*" } else { " " },
            d.counts
        ));
    }

    fn on_window(&mut self, w: &slayer_trainer::stream::WindowResult) {
        if self.quiet {
            return;
        }
        self.line(format_args!(
            "window {} [{:.3} s, {:.3} s): label {}, majority decision {}{} ({:.0} % of {} bins agree)\n",
            w.index,
            w.start_us as f64 * 1e-6,
            w.end_us as f64 * 1e-6,
            w.label,
            class_name(w.majority),
            if w.majority == Some(w.label) { " ok" } else { "" },
            100.0 * w.agreement,
            w.bins
        ));
    }

    fn on_fault(&mut self, msg: &str) {
        eprintln!("warning: {msg}");
    }

    fn on_progress(&mut self, p: &slayer_trainer::stream::Progress) {
        if self.quiet {
            return;
        }
        let lag = p
            .lag_us
            .map(|l| format!(", lag {l:.0} µs"))
            .unwrap_or_default();
        eprintln!(
            "[{:>6.1} s wall, {:>7.2} s stream] {:.0} ev/s in, {:.0} ev/s processed, bin latency p50 {:.1} µs p99 {:.1} µs max {:.1} µs{lag}, dropped {}, malformed {}",
            p.wall_s,
            p.stream_s,
            p.events_per_s_in,
            p.events_per_s_processed,
            p.latency.p50_us,
            p.latency.p99_us,
            p.latency.max_us,
            p.counters.dropped(),
            p.counters.malformed()
        );
    }
}

fn cmd_stream(a: StreamArgs) -> anyhow::Result<()> {
    use slayer_trainer::stream::{self, Source, StreamOptions};
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading {}", a.model.display()))?;
    let model = infer::decode_model(&bytes, &a.model)?;
    let ts = f64::from(model.ts());
    let positive = |v: f64, what: &str| {
        anyhow::ensure!(
            v.is_finite() && v > 0.0,
            "{what} must be a positive number of ms"
        );
        Ok(())
    };
    let window_ms = a.window_ms.unwrap_or(ts * f64::from(model.bins()));
    positive(window_ms, "--window-ms")?;
    positive(a.max_gap_ms, "--max-gap-ms")?;
    anyhow::ensure!(
        a.report_ms.is_finite() && a.report_ms >= 0.0,
        "--report-ms must be 0 or a positive number of ms"
    );
    let speed = pacing(a.realtime, a.speed)?;
    let labels = match &a.labels {
        Some(p) => slayer_trainer::data::read_labels_csv(p)?,
        None => Vec::new(),
    };
    let opts = StreamOptions {
        window_bins: ((window_ms / ts).round() as usize).max(1),
        report_bins: (a.report_ms / ts).round() as u64,
        on_change: !a.no_changes,
        speed,
        max_gap_ms: a.max_gap_ms,
        sensor: a.sensor,
        labels,
        profile: a.profile,
        max_fault_reports: a.show_faults,
        spin: a.spin,
        threads: usize::from(a.threads),
        cut: a.cut,
    };
    let mut source = Source::open(&a.input)?;
    let mut printer = StreamPrinter {
        out: std::io::stdout().lock(),
        quiet: a.quiet,
        err: None,
    };
    let s = model.input_shape();
    if !a.quiet {
        printer.line(format_args!(
            "streaming {} through {} ({}x{}x{} -> {}, {} bins of {} ms), decision window {} ms{}\n",
            a.input.display(),
            a.model.display(),
            s.c,
            s.h,
            s.w,
            model.outputs(),
            model.bins(),
            ts,
            window_ms,
            match speed {
                Some(1.0) => ", paced at recording speed".to_string(),
                Some(f) => format!(", paced at {f}x recording speed"),
                None => ", as fast as possible".to_string(),
            }
        ));
    }
    let r = stream::run(&model, &mut source, &opts, &mut printer)?;
    if let Some(e) = printer.err.take() {
        return Err(e.into());
    }
    let c = &r.counters;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", r.input_map)?;
    writeln!(
        out,
        "{} events in ({} packets, {} bytes), {} binned ({} merged), dropped {} (late {}, cropped {}, out of range {}, invalid {}, timestamp outliers {}), malformed {}: {} bad packet headers, {} resyncs, {} events lost, {} bytes skipped",
        c.events_in, c.packets, c.bytes, c.binned, c.merged, r.dropped, c.late, c.cropped,
        c.out_of_range, c.invalid, c.time_outliers, r.malformed, c.bad_packets, c.desyncs,
        c.lost_events, c.skipped_bytes
    )?;
    writeln!(
        out,
        "{} bins ({:.3} s of stream, {} segment(s)) in {:.3} s: {:.1}x real time, {:.0} events/s in, {:.0} processed",
        c.bins, r.stream_s, c.segments, r.wall_s, r.realtime_factor, r.events_per_s_in, r.events_per_s_processed
    )?;
    writeln!(
        out,
        "per-bin latency: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs (mean {:.1} µs)",
        r.latency.p50_us, r.latency.p99_us, r.latency.max_us, r.latency.mean_us
    )?;
    if let Some(p) = &r.paced {
        writeln!(
            out,
            "paced at {}x ({:.0} events/s arriving): lag p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs, final {:.1} µs (mean of first/last {} bins {:.1} / {:.1} µs); end-to-end p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            p.speed, p.arrival_events_per_s, p.lag.p50_us, p.lag.p99_us, p.lag.max_us, p.final_lag_us,
            stream::LAG_EDGE_BINS, p.lag_first_bins_mean_us, p.lag_last_bins_mean_us,
            p.end_to_end.p50_us, p.end_to_end.p99_us, p.end_to_end.max_us
        )?;
    }
    let act: Vec<String> = r
        .activity
        .iter()
        .map(|l| format!("{}:{} {:.2}", l.layer, l.kind, l.spikes_per_bin))
        .collect();
    writeln!(out, "spikes per bin by layer: {}", act.join(", "))?;
    writeln!(
        out,
        "output spikes {:?}; final decision {}, {} changes",
        r.output_counts,
        class_name(r.final_class),
        r.decision_changes
    )?;
    if let Some(l) = &r.labels {
        writeln!(
            out,
            "label windows: majority decision equals the label in {}/{} ({:.1} %)",
            l.majority_correct,
            l.windows,
            100.0 * l.fraction
        )?;
    }
    if let Some(p) = &r.profile {
        writeln!(
            out,
            "profile (µs per bin): read {:.2}, binning {:.2}, engine io {:.2}, neuron updates {:.2}, synaptic scatter {:.2}, delays {:.2}, decision {:.2}",
            p.read_us, p.bin_us, p.engine_io_us, p.update_us, p.scatter_us, p.delay_us, p.decide_us
        )?;
        for (l, a) in p.layers.iter().zip(&r.activity_by_layer()) {
            writeln!(
                out,
                "  {:>2} {:<9} update {:>8.2}  scatter {:>8.2}  delay {:>8.2}  spikes/bin {:>8.2}",
                l.layer, l.kind, l.update_us, l.scatter_us, l.delay_us, a
            )?;
        }
    }
    if let Some(at) = r.cut_at {
        let last = r.activity_by_layer().len().max(at + 1) - 1;
        writeln!(
            out,
            "two threads: layers 0-{} on the reading thread, {at}-{last} on a worker ({})",
            at - 1,
            match a.cut {
                Some(_) => "--cut".to_string(),
                None => format!("cut after timing {} bins", stream::split_calibration_bins()),
            }
        )?;
    }
    if let Some(kib) = r.max_rss_kib {
        writeln!(out, "max RSS {kib} KiB")?;
    }
    if a.json {
        let mut v = serde_json::to_value(&r).context("encoding the report")?;
        v["model"] = serde_json::json!(a.model);
        v["input"] = serde_json::json!(a.input);
        writeln!(out, "{v}")?;
    }
    Ok(())
}

/// Exit status of `slayer link` when a board disagrees with the host.
const DISAGREE: u8 = 1;

/// A board that answered differently from the host (exit status 1).
#[derive(Debug)]
struct Disagreement(usize, usize);

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} recordings differ between board and host",
            self.0, self.1
        )
    }
}

impl std::error::Error for Disagreement {}

fn cmd_link(a: LinkArgs) -> anyhow::Result<()> {
    use slayer_trainer::link::{load_recording, Board, Hello, LinkOptions};
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading {}", a.model.display()))?;
    let model = infer::decode_model(&bytes, &a.model)?;
    anyhow::ensure!(
        a.timeout.is_finite() && a.timeout > 0.0 && a.timeout <= 3600.0,
        "--timeout must be a number of seconds in (0, 3600]"
    );
    let speed = pacing(a.realtime, a.speed)?;
    if let Some(r) = a.damage {
        anyhow::ensure!(
            (0.0..=1.0).contains(&r),
            "--damage must be a probability in [0, 1]"
        );
    }
    let window = a.window.unwrap_or(model.bins().max(1));
    let options = LinkOptions {
        window_bins: window,
        speed,
        in_flight: a.in_flight,
        timeout: std::time::Duration::from_secs_f64(a.timeout),
        damage: a.damage.map(|r| (r, a.seed)),
    };
    let mut board = Board::connect(&a.port, options)?;
    let id = match board.hello()? {
        Hello::Ready(id) => id,
        Hello::Refused(code, detail) => {
            anyhow::bail!(
                "the board on {} cannot run: {code} (detail {detail})",
                a.port
            )
        }
    };
    let crc = slayer_core::model_crc(&bytes).unwrap_or(0);
    anyhow::ensure!(
        id.model_crc == crc,
        "the board runs a different model (CRC {:08x}, {} has {crc:08x}): flash it first (see the README)",
        id.model_crc,
        a.model.display()
    );
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "board on {}: {}, model {:08x} ({} -> {}, Ts {} µs), arena {}/{} words; decision every {window} bins",
        a.port,
        id.target,
        id.model_crc,
        id.inputs,
        id.outputs,
        id.ts_us,
        id.state_words,
        id.arena_words
    )?;
    let shape = model.input_shape();
    let bar = indicatif::ProgressBar::new(a.inputs.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} recordings {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (mut results, mut differ) = (Vec::new(), 0usize);
    let (mut ticks, mut steps, mut worst) = (0u64, 0u64, 0u32);
    for (i, path) in a.inputs.iter().enumerate() {
        bar.set_message(path.display().to_string());
        let rec = load_recording(path, a.sensor, (shape.w, shape.h))?;
        let c = board.check(&model, &rec, i as u64)?;
        bar.inc(1);
        let b = &c.board;
        let (mean, max) = c.instructions_per_bin(id.instructions_per_tick);
        bar.suspend(|| -> std::io::Result<()> {
            if a.verbose {
                for (w, last, class, counts) in &b.decisions {
                    writeln!(
                        out,
                        "  window {w} (bins ..={last}): {} {counts:?}",
                        class_name(class.map(usize::from))
                    )?;
                }
            }
            writeln!(
                out,
                "{}: {} — {} events in {} frames ({} bytes damaged), {} bins, {} decision(s), the last: {}; lost {} frames ({} CRC errors, {} unreadable, {} overflows, {} ring overruns); late {} events, {} bins over budget; {:.0} mean / {} worst instructions per bin",
                c.name,
                if c.identical { "board = host" } else { "BOARD DIFFERS FROM HOST" },
                c.events,
                c.frames,
                c.damaged_bytes,
                b.counters.bins,
                b.decisions.len(),
                match b.decisions.last().map(|d| d.2) {
                    Some(Some(c)) => format!("class {c}"),
                    Some(None) => "no output spike".to_string(),
                    None => "none".to_string(),
                },
                b.counters.frames_lost,
                b.counters.crc_errors,
                b.counters.bad_frames,
                b.counters.overflows,
                b.counters.rx_overruns,
                b.counters.late,
                b.counters.bins_late,
                mean,
                max
            )?;
            if !c.identical {
                writeln!(
                    out,
                    "  board: {} decisions, counts {:?}, {:?}\n  host:  {} decisions, counts {:?}, {:?}",
                    b.decisions.len(), b.counts, b.counters,
                    c.host.decisions.len(), c.host.counts, c.host.counters
                )?;
            }
            Ok(())
        })?;
        differ += usize::from(!c.identical);
        ticks += b.cost.ticks;
        steps += u64::from(b.cost.steps);
        worst = worst.max(b.cost.max_ticks);
        results.push(c);
    }
    bar.finish_and_clear();
    let ipt = u64::from(id.instructions_per_tick);
    let mean = if steps == 0 {
        0.0
    } else {
        (ticks * ipt) as f64 / steps as f64
    };
    writeln!(
        out,
        "{}/{} recordings identical on board and host; {steps} bins, {mean:.0} mean / {} worst instructions per bin (budget {} µs per bin)",
        results.len() - differ,
        results.len(),
        u64::from(worst) * ipt,
        id.ts_us
    )?;
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "port": a.port, "model": a.model, "identity": id, "window_bins": window,
                "identical": results.len() - differ, "recordings": results,
                "mean_instructions_per_bin": mean, "worst_instructions_per_bin": u64::from(worst) * ipt,
            })
        )?;
    }
    if differ > 0 {
        return Err(Disagreement(differ, results.len()).into());
    }
    Ok(())
}

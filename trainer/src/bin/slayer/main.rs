//! `slayer`: train spiking neural networks with SLAYER.
//!
//! One module per subcommand, each its arguments and a `run` over the
//! library; the text they print comes from `slayer_trainer::report`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod common;
mod eval;
mod export;
mod import;
mod infer;
mod link;
mod stream;
mod train;

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
    Train(train::Args),
    /// Measure training throughput (samples/s, forward + backward + optimiser
    /// step) on the N-MNIST MLP shape (2312-512-10, 300 bins, batch 8,
    /// NumSpikes, 0.6 % input density) and the Oxford shape (200-256-200,
    /// 1900 bins, batch 1, SpikeTime). With --case, also the N-MNIST shape at
    /// batch 32 and forward + backward timings of the public SNN-library
    /// benchmark shape (with peak GPU memory on cuda).
    Bench(bench::Args),
    /// Evaluate a checkpoint: accuracy and confusion matrix on the validation
    /// split of its experiment, or on every sample of --list.
    Eval(eval::Args),
    /// Quantise a trained checkpoint into the fixed-point model format that
    /// the core engine, the firmware and `slayer stream` run (int8 or int16
    /// weights with a per-layer scale, fixed-point neuron constants, CRC).
    ///
    /// Prints each layer's scale, threshold in weight units and how many
    /// weights saturated.
    Export(export::Args),
    /// Import a NIR graph (`nir.write`, `slayer export --format nir`) as a
    /// checkpoint: the float network, to evaluate, fine-tune or export.
    ///
    /// The graph must be a SLAYER network in NIR's nodes (docs/nir.md):
    /// Linear / Affine / Conv2d / SumPool2d + Scale synapses, SRM neurons as
    /// a CubaLI (τ_syn = τ_mem) into a Threshold with a CubaLI refractory
    /// feedback, Delay and Flatten. Any other node is an error naming it.
    /// With --model, also writes the quantised core model.
    Import(import::Args),
    /// Run an exported model with the fixed-point core engine on event files
    /// (.bs2, N-MNIST .bin, .bs1, AEDAT 3.1 .aedat, AEDAT 4.0 .aedat4) and
    /// print each sample's output spike counts and predicted class.
    Infer(infer::Args),
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
    Stream(stream::Args),
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
    Link(link::Args),
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
        Err(e) if e.is::<link::Disagreement>() => {
            eprintln!("error: {e:#}");
            ExitCode::from(link::DISAGREE)
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
    match cli
        .cmd
        .unwrap_or_else(|| Cmd::Train(train::Args::default_experiment()))
    {
        Cmd::Train(a) => train::run(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Eval(a) => eval::run(&a),
        Cmd::Export(a) => export::run(&a),
        Cmd::Import(a) => import::run(&a),
        Cmd::Infer(a) => infer::run(&a),
        Cmd::Stream(a) => stream::run(&a),
        Cmd::Link(a) => link::run(&a),
    }
}

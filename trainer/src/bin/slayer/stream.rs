//! `slayer stream`: classify a live event stream on the fixed-point core.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use slayer_trainer::stream::{self, Decision, Progress, Sink, Source, StreamOptions, WindowResult};
use slayer_trainer::{infer, report};

use crate::common::{pacing, parse_size};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
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

/// Prints what a stream produces: decisions and label windows on stdout,
/// faults and live statistics on stderr.
struct StreamPrinter {
    out: std::io::StdoutLock<'static>,
    quiet: bool,
    err: Option<std::io::Error>,
}

impl StreamPrinter {
    /// Prints on stdout with `print`, unless an earlier line failed (the
    /// first error is kept and ends the command once the stream is done).
    fn line(
        &mut self,
        print: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
    ) {
        if self.err.is_none() {
            if let Err(e) = print(&mut self.out) {
                self.err = Some(e);
            }
        }
    }
}

impl Sink for StreamPrinter {
    fn on_decision(&mut self, d: &Decision<'_>) {
        if !self.quiet {
            self.line(|out| report::stream::decision(out, d));
        }
    }

    fn on_window(&mut self, w: &WindowResult) {
        if !self.quiet {
            self.line(|out| report::stream::window(out, w));
        }
    }

    fn on_fault(&mut self, msg: &str) {
        eprintln!("warning: {msg}");
    }

    fn on_progress(&mut self, p: &Progress) {
        if !self.quiet {
            // Live statistics are best effort: a closed stderr does not stop the stream.
            let _ = report::stream::progress(&mut std::io::stderr().lock(), p);
        }
    }
}

pub(crate) fn run(a: &Args) -> anyhow::Result<()> {
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
    if !a.quiet {
        printer
            .line(|out| report::stream::header(out, &a.input, &a.model, &model, window_ms, speed));
    }
    let r = stream::run(&model, &mut source, &opts, &mut printer)?;
    if let Some(e) = printer.err.take() {
        return Err(e.into());
    }
    let mut out = std::io::stdout().lock();
    report::stream::summary(&mut out, &r, a.cut.is_some())?;
    if a.json {
        let mut v = serde_json::to_value(&r).context("encoding the report")?;
        v["model"] = serde_json::json!(a.model);
        v["input"] = serde_json::json!(a.input);
        writeln!(out, "{v}")?;
    }
    Ok(())
}

//! `slayer link`: check a board running the link firmware against the host.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use slayer_trainer::link::{load_recording, Board, Hello, LinkOptions};
use slayer_trainer::report::link::Tally;
use slayer_trainer::{infer, report};

use crate::common::{pacing, parse_size};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
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

/// Exit status of `slayer link` when a board disagrees with the host.
pub(crate) const DISAGREE: u8 = 1;

/// A board that answered differently from the host (exit status 1).
#[derive(Debug)]
pub(crate) struct Disagreement(usize, usize);

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

pub(crate) fn run(a: &Args) -> anyhow::Result<()> {
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
    report::link::identity(&mut out, &a.port, &id, window)?;
    let shape = model.input_shape();
    let bar = crate::common::recordings_bar(a.inputs.len());
    let (mut results, mut tally) = (Vec::new(), Tally::default());
    for (i, path) in a.inputs.iter().enumerate() {
        bar.set_message(path.display().to_string());
        let rec = load_recording(path, a.sensor, (shape.w, shape.h))?;
        let c = board.check(&model, &rec, i as u64)?;
        bar.inc(1);
        bar.suspend(|| report::link::recording(&mut out, &c, id.instructions_per_tick, a.verbose))?;
        tally.add(&c);
        results.push(c);
    }
    bar.finish_and_clear();
    report::link::totals(&mut out, &tally, &id)?;
    if a.json {
        let ipt = id.instructions_per_tick;
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "port": a.port, "model": a.model, "identity": id, "window_bins": window,
                "identical": tally.identical(), "recordings": results,
                "mean_instructions_per_bin": tally.mean_instructions_per_bin(ipt),
                "worst_instructions_per_bin": tally.worst_instructions_per_bin(ipt),
            })
        )?;
    }
    if tally.differ > 0 {
        return Err(Disagreement(tally.differ, tally.recordings).into());
    }
    Ok(())
}

//! Footprint and speed of the link firmware on every QEMU target (issue 13).
//!
//! ```text
//! cargo run --release -p slayer-tests --example firmware_link_report -- \
//!     NMNIST.slym GESTURE.slym [--data DIR] [--nmnist N] [--gesture N] [--targets m0,m4,m7,riscv] [--json FILE]
//! ```
//!
//! Builds the firmware once per target, and for each model loads its image
//! into the board's model region (no rebuild), sends recordings over the
//! serial link (QEMU `-icount shift=0`: instruction counts are exact) and
//! checks every decision against the host core engine: the first `N`
//! (default 20) N-MNIST samples of `DIR/nmnist-small` (one decision per
//! sample: the model's bins) and the first `--gesture` (default ten) whole DVS Gesture clips of
//! `DIR/dvs-gesture` (a decision every 250 bins). Prints one markdown table
//! row per target: flash (firmware, model images), static RAM, stack
//! high-water mark, mean and worst instructions per bin per model. Exits 1
//! when a board and the host disagree, 2 on any other error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use slayer_core::model::encode_image;
use slayer_core::Model;
use slayer_tests::firmware::{firmware_target_dir, repo_root};
use slayer_tests::link::{build, missing, sections_size, start, Target, TARGETS};
use slayer_trainer::link::{load_recording, Board, Hello, LinkOptions, Recording};

const USAGE: &str = "usage: firmware_link_report NMNIST.slym GESTURE.slym [--data DIR] [--nmnist N] [--gesture N] [--targets m0,m4,m7,riscv] [--json FILE]";

struct Args {
    nmnist: PathBuf,
    gesture: PathBuf,
    data: PathBuf,
    samples: usize,
    clips: usize,
    targets: Vec<String>,
    json: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut models = Vec::new();
    let mut a = Args {
        nmnist: PathBuf::new(),
        gesture: PathBuf::new(),
        data: repo_root().join("../shared/data"),
        samples: 20,
        clips: 10,
        targets: TARGETS.iter().map(|t| t.name.to_string()).collect(),
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--data" => a.data = value()?.into(),
            "--nmnist" => a.samples = value()?.parse().context("--nmnist")?,
            "--gesture" => a.clips = value()?.parse().context("--gesture")?,
            "--targets" => a.targets = value()?.split(',').map(str::to_string).collect(),
            "--json" => a.json = Some(value()?.into()),
            "-h" | "--help" => bail!("{USAGE}"),
            _ if arg.starts_with('-') => bail!("unknown option {arg}\n{USAGE}"),
            _ => models.push(PathBuf::from(arg)),
        }
    }
    let [nmnist, gesture] = <[PathBuf; 2]>::try_from(models).map_err(|_| anyhow::anyhow!(USAGE))?;
    (a.nmnist, a.gesture) = (nmnist, gesture);
    Ok(a)
}

/// One model's run on one target.
#[derive(Debug, Clone, serde::Serialize)]
struct ModelRun {
    recordings: usize,
    identical: usize,
    bins: u64,
    mean_instructions: f64,
    worst_instructions: u64,
    stack_bytes: u32,
    image_bytes: usize,
    bins_over_budget: u32,
}

/// A model with its image written once and the recordings it is sent.
struct Subject {
    path: PathBuf,
    bytes: Vec<u8>,
    image: PathBuf,
    image_bytes: usize,
    recordings: Vec<Recording>,
    window: u32,
}

impl Subject {
    /// Reads the model at `path`, writes its image and loads `files`;
    /// `window`: bins per decision (`None`: the model's bins).
    fn load(path: &Path, files: &[PathBuf], window: Option<u32>) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        let model =
            Model::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let (fallback, bins) = ((model.input_shape().w, model.input_shape().h), model.bins());
        drop(model);
        let recordings = files
            .iter()
            .map(|f| load_recording(f, None, fallback))
            .collect::<Result<_, _>>()?;
        let window = window.unwrap_or(bins);
        let image_data = encode_image(&bytes).context("model too large")?;
        std::fs::create_dir_all(firmware_target_dir())?;
        let image = firmware_target_dir().join(format!(
            "link-report-{}.img",
            path.file_stem().unwrap_or_default().to_string_lossy()
        ));
        std::fs::write(&image, &image_data)?;
        Ok(Self {
            path: path.to_path_buf(),
            image_bytes: image_data.len(),
            bytes,
            image,
            recordings,
            window,
        })
    }
}

fn run_model(t: &Target, elf: &Path, s: &Subject) -> Result<ModelRun> {
    let model = Model::decode(&s.bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let recs = &s.recordings;
    let qemu = start(t, elf, Some(&s.image))?;
    let opts = LinkOptions {
        window_bins: s.window,
        timeout: std::time::Duration::from_secs(30),
        ..LinkOptions::default()
    };
    let mut board = Board::connect(&qemu.port, opts)?;
    let id = match board.hello()? {
        Hello::Ready(id) => id,
        Hello::Refused(code, d) => bail!("{}: the board refused: {code} ({d})", t.name),
    };
    let ipt = u64::from(id.instructions_per_tick);
    let mut r = ModelRun {
        recordings: recs.len(),
        identical: 0,
        bins: 0,
        mean_instructions: 0.0,
        worst_instructions: 0,
        stack_bytes: 0,
        image_bytes: s.image_bytes,
        bins_over_budget: 0,
    };
    let mut ticks = 0u64;
    for rec in recs {
        let c = board.check(&model, rec, 0)?;
        let b = &c.board;
        if !c.identical {
            eprintln!("{}: {}: board and host differ", t.name, rec.name);
        }
        r.identical += usize::from(c.identical);
        r.bins += u64::from(b.cost.steps);
        ticks += b.cost.ticks;
        r.worst_instructions = r.worst_instructions.max(u64::from(b.cost.max_ticks) * ipt);
        r.stack_bytes = r.stack_bytes.max(b.cost.stack_bytes);
        r.bins_over_budget += b.counters.bins_late;
    }
    r.mean_instructions = (ticks * ipt) as f64 / r.bins.max(1) as f64;
    eprintln!(
        "{} {}: {}/{} identical, {} bins, {:.0} mean / {} worst instructions per bin, stack {} B",
        t.name,
        s.path.display(),
        r.identical,
        r.recordings,
        r.bins,
        r.mean_instructions,
        r.worst_instructions,
        r.stack_bytes
    );
    Ok(r)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool> {
    let a = parse_args()?;
    let nmnist = Subject::load(
        &a.nmnist,
        &(1..=a.samples)
            .map(|i| a.data.join(format!("nmnist-small/{i}.bs2")))
            .collect::<Vec<_>>(),
        None,
    )?;
    let gesture = Subject::load(
        &a.gesture,
        &(1..=a.clips)
            .map(|i| a.data.join(format!("dvs-gesture/{i}.bs2")))
            .collect::<Vec<_>>(),
        Some(250),
    )?;
    let mut all_ok = true;
    let mut rows = Vec::new();
    println!("| target | QEMU board | firmware flash | static RAM | stack high-water | N-MNIST mean / worst instr. per bin | gesture mean / worst instr. per bin | identical to host |");
    println!("|---|---|---|---|---|---|---|---|");
    for name in &a.targets {
        let t = TARGETS
            .iter()
            .find(|t| t.name == name)
            .with_context(|| format!("unknown target {name}"))?;
        if let Some(why) = missing(t) {
            bail!("{}: {why}", t.name);
        }
        let elf = build(t)?;
        let size = sections_size(&elf)?;
        let n = run_model(t, &elf, &nmnist)?;
        let g = run_model(t, &elf, &gesture)?;
        let ok = n.identical == n.recordings && g.identical == g.recordings;
        all_ok &= ok;
        println!(
            "| {} | {} | {} B (+ images {} B / {} B) | {} B | {} B / {} B | {:.0} / {} | {:.0} / {} | {}/{} |",
            t.name,
            t.what,
            size.flash(),
            n.image_bytes,
            g.image_bytes,
            size.data + size.bss,
            n.stack_bytes,
            g.stack_bytes,
            n.mean_instructions,
            n.worst_instructions,
            g.mean_instructions,
            g.worst_instructions,
            n.identical + g.identical,
            n.recordings + g.recordings
        );
        rows.push(serde_json::json!({
            "target": t.name, "triple": t.triple, "flash": size.flash(),
            "static_ram": size.data + size.bss, "nmnist": n, "gesture": g,
        }));
    }
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&rows)?)?;
    }
    Ok(all_ok)
}

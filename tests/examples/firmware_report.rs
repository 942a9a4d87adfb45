//! Footprint and cost of a trained model on the Cortex-M4F firmware.
//!
//! ```text
//! cargo run --release -p slayer-tests --example firmware_report -- CHECKPOINT \
//!     [--bits 8|16] [--samples N] [--data DIR] [--out DIR]
//! ```
//!
//! Exports `CHECKPOINT` (`slayer export`), packs the first `N` (default 20)
//! samples of `DIR/train1K.txt` (default `../shared/data/nmnist-small`),
//! writes both to `--out` (default `target/firmware/report`), builds the
//! firmware with them, prints `arm-none-eabi-size`, the state arena, and the
//! mean and worst instructions per time step from QEMU (`-icount shift=0`),
//! and checks every sample's counts against the host engine. A second build
//! with the same samples stripped of their input spikes gives the fixed cost
//! of a step (every neuron's update with no synaptic event), so the rest can
//! be put down to synaptic events. Exits 1 when the firmware and the host
//! disagree, 2 on any other error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use slayer_core::{state_words, Engine, Layer, Model, SamplePack, SamplePackBuilder};
use slayer_tests::firmware::{
    build, firmware_target_dir, host_counts, missing_toolchain, pack_nmnist, repo_root, run_qemu,
    size,
};
use slayer_trainer::checkpoint::Checkpoint;
use slayer_trainer::export::export;
use slayer_trainer::train::input_shape;

struct Args {
    checkpoint: PathBuf,
    bits: u32,
    samples: usize,
    data: PathBuf,
    out: PathBuf,
}

const USAGE: &str =
    "usage: firmware_report CHECKPOINT [--bits 8|16] [--samples N] [--data DIR] [--out DIR]";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        checkpoint: PathBuf::new(),
        bits: 8,
        samples: 20,
        data: repo_root().join("../shared/data/nmnist-small"),
        out: firmware_target_dir().join("report"),
    };
    let mut checkpoint = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--bits" => args.bits = value()?.parse().context("--bits")?,
            "--samples" => args.samples = value()?.parse().context("--samples")?,
            "--data" => args.data = value()?.into(),
            "--out" => args.out = value()?.into(),
            "-h" | "--help" => bail!("{USAGE}"),
            _ if a.starts_with('-') => bail!("unknown option {a}\n{USAGE}"),
            _ if checkpoint.is_none() => checkpoint = Some(PathBuf::from(a)),
            _ => bail!("unexpected argument {a}\n{USAGE}"),
        }
    }
    args.checkpoint = checkpoint.context(USAGE)?;
    Ok(args)
}

/// Mean spikes per bin over the pack (host engine): the input's, then each
/// layer's (0 for a flatten layer); and the most input spikes in one bin.
fn activity(model: &Model<'_>, pack: &[u8]) -> Result<(Vec<f64>, usize)> {
    let pack = SamplePack::decode(pack).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut state = vec![0i32; state_words(model)];
    let mut engine = Engine::new(model, &mut state).map_err(|e| anyhow::anyhow!("{e}"))?;
    let layers = model.layers().len();
    let mut sums = vec![0u64; layers + 1];
    let mut buf = vec![0u32; pack.inputs() as usize];
    let (mut bins, mut max) = (0u64, 0usize);
    for sample in &pack {
        engine.reset();
        for bin in sample.bins() {
            let input = bin.fill(&mut buf);
            sums[0] += input.len() as u64;
            max = max.max(input.len());
            engine.step(input, |_| {});
            for (l, sum) in sums.iter_mut().enumerate().skip(1) {
                *sum += engine.spikes(l - 1).map_or(0, |s| s.count() as u64);
            }
            bins += 1;
        }
    }
    let means = sums
        .iter()
        .map(|&s| s as f64 / bins.max(1) as f64)
        .collect();
    Ok((means, max))
}

/// The same samples with every bin empty.
fn silent(pack: &[u8]) -> Result<Vec<u8>> {
    let pack = SamplePack::decode(pack).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut b = SamplePackBuilder::new(pack.inputs(), pack.bins());
    let empty = vec![Vec::<u32>::new(); pack.bins() as usize];
    for s in &pack {
        b.push(s.label, &empty)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    b.encode().map_err(|e| anyhow::anyhow!("{e}"))
}

fn run(a: &Args) -> Result<bool> {
    if let Some(why) = missing_toolchain() {
        bail!("cannot build and run the firmware: {why}");
    }
    let ck = Checkpoint::load(&a.checkpoint)?;
    let cfg = ck.config()?;
    let shape = input_shape(&cfg, &ck.network);
    let ex = export(&ck.network, Some(shape), cfg.simulation.bins, a.bits)?;
    let model = Model::decode(&ex.bytes).map_err(|e| anyhow::anyhow!("exported model: {e}"))?;
    let packed = pack_nmnist(&model, &a.data, a.samples)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let model_path = a.out.join("model.slyr");
    let samples_path = a.out.join("samples.slys");
    std::fs::write(&model_path, &ex.bytes).context("writing the model")?;
    std::fs::write(&samples_path, &packed.bytes).context("writing the samples")?;
    let widths: Vec<String> = std::iter::once(model.inputs())
        .chain(
            (0..model.layers().len())
                .filter(|&l| !matches!(model.layers()[l], Layer::Flatten))
                .filter_map(|l| model.width_after(l)),
        )
        .map(|w| w.to_string())
        .collect();
    println!(
        "model: {} -> {} ({} bytes, int{} weights, {})",
        a.checkpoint.display(),
        model_path.display(),
        ex.bytes.len(),
        ex.bits,
        widths.join(" -> ")
    );
    println!(
        "samples: {} from {} -> {} ({} bytes, {} bins each)",
        a.samples,
        a.data.display(),
        samples_path.display(),
        packed.bytes.len(),
        model.bins()
    );

    let target = firmware_target_dir();
    let elf = build(&model_path, &samples_path, &target)?;
    let sz = size(&elf)?;
    let words = state_words(&model);
    println!("firmware: {}", elf.display());
    println!(
        "arm-none-eabi-size: text {} data {} bss {}",
        sz.text, sz.data, sz.bss
    );
    println!(
        "flash (text + data): {} bytes ({:.1} KiB), of which model {} and samples {} bytes",
        sz.flash(),
        sz.flash() as f64 / 1024.0,
        ex.bytes.len(),
        packed.bytes.len()
    );
    println!(
        "RAM (data + bss, without stack): {} bytes ({:.1} KiB)",
        sz.ram(),
        sz.ram() as f64 / 1024.0
    );
    println!(
        "network state: {words} words = {} bytes ({:.2} KiB; target <= 16 KiB)",
        4 * words,
        (4 * words) as f64 / 1024.0
    );

    let fw = run_qemu(&elf)?;
    let host = host_counts(&model, &packed.bytes)?;
    let same = fw.samples.iter().zip(&host).filter(|(f, h)| f == h).count();
    let ok = same == host.len() && fw.samples.len() == host.len();
    println!(
        "instructions per 1 ms step: mean {:.1}, worst {} over {} steps (target mean <= 10,000)",
        fw.mean_instructions, fw.max_instructions, fw.steps
    );
    println!(
        "host parity: {same}/{} samples with identical output spike counts",
        host.len()
    );
    let correct = host
        .iter()
        .filter(|s| {
            let best = s.counts.iter().max().copied().unwrap_or(0);
            best > 0 && s.counts.iter().position(|&c| c == best) == Some(usize::from(s.label))
        })
        .count();
    println!(
        "classified correctly (most output spikes; these are training samples): {correct}/{}",
        host.len()
    );

    let (act, max_input) = activity(&model, &packed.bytes)?;
    let mut per_layer = vec![format!("input {:.2}", act[0])];
    for (layer, v) in model.layers().iter().zip(&act[1..]) {
        if !matches!(layer, Layer::Flatten) {
            per_layer.push(format!("{} {v:.2}", layer.kind()));
        }
    }
    println!(
        "spikes per bin: {} (at most {max_input} input spikes in one bin)",
        per_layer.join(", ")
    );
    let silent_path = a.out.join("silent.slys");
    std::fs::write(&silent_path, silent(&packed.bytes)?).context("writing the silent pack")?;
    let quiet = run_qemu(&build(&model_path, &silent_path, &target)?)?;
    let fixed = quiet.mean_instructions;
    let events = act.iter().take(act.len().saturating_sub(1)).sum::<f64>();
    println!(
        "fixed cost (same model, no input spikes): {fixed:.1} instructions per step; \
         the other {:.1} go to synaptic events (~{events:.1} per step reaching a layer: \
         {:.0} instructions each)",
        fw.mean_instructions - fixed,
        (fw.mean_instructions - fixed) / events.max(1e-9)
    );
    // Leave the report's model and samples in the ELF, not the silent ones.
    build(&model_path, &samples_path, &target)?;
    Ok(ok)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("error: the firmware's spike counts differ from the host engine's");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

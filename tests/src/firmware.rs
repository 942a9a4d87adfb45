//! Host side of the firmware checks: packing real N-MNIST samples for an
//! exported model, building `firmware/` for the Cortex-M4F, running it in
//! QEMU and reading what it printed, and the host engine's reference counts.
//!
//! Used by the QEMU parity test (`tests/firmware.rs`) and by the footprint
//! report (`examples/firmware_report.rs`, `scripts/firmware-report.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use slayer_core::{state_words, Engine, Model, SamplePack, SamplePackBuilder};
use slayer_trainer::data::Binning;
use slayer_trainer::infer::{load_events, CoreRunner};
use slayer_trainer::SpikeRaster;

/// The Cortex-M4F target the firmware builds for.
pub const TARGET: &str = "thumbv7em-none-eabihf";

/// Environment variable that turns a missing toolchain into a failure.
pub const REQUIRE_VAR: &str = "SLAYER_REQUIRE_QEMU";

/// Seconds QEMU may run before `timeout` stops it.
pub const QEMU_TIMEOUT_S: u32 = 120;

/// The repository root (the parent of `tests/`).
pub fn repo_root() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests.parent().unwrap_or(tests).to_path_buf()
}

/// The firmware's cargo project (`firmware/` in the repository).
pub fn firmware_dir() -> PathBuf {
    repo_root().join("firmware")
}

/// A stable target directory for firmware builds (`target/firmware`), so
/// repeated builds are incremental.
pub fn firmware_target_dir() -> PathBuf {
    repo_root().join("target/firmware")
}

/// One sample's label and output spike counts (one count per output neuron).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleCounts {
    /// Class label stored in the pack.
    pub label: u16,
    /// Output spikes per output neuron over all bins.
    pub counts: Vec<u32>,
}

/// Real N-MNIST samples packed for a model, with the rasters they came from.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The encoded sample pack.
    pub bytes: Vec<u8>,
    /// The binned input of each sample (`bins × inputs`), in pack order.
    pub rasters: Vec<SpikeRaster>,
    /// The sample files, in pack order.
    pub files: Vec<PathBuf>,
}

/// Packs the first `count` samples listed in `dir/train1K.txt` (N-MNIST
/// `.bs2` files), binned on the model's time grid and input shape.
pub fn pack_nmnist(model: &Model<'_>, dir: &Path, count: usize) -> Result<Packed> {
    let list = slayer_trainer::dataset::read_list(&dir.join("train1K.txt"))?;
    ensure!(
        list.len() >= count,
        "{} lists {} samples, {count} wanted",
        dir.display(),
        list.len()
    );
    let s = model.input_shape();
    let shape = (s.c as usize, s.h as usize, s.w as usize);
    let binning = Binning {
        ts_ms: f64::from(model.ts()),
        bins: model.bins() as usize,
    };
    let mut builder = SamplePackBuilder::new(model.inputs(), model.bins());
    let (mut rasters, mut files) = (Vec::new(), Vec::new());
    for entry in list.iter().take(count) {
        let path = dir.join(format!("{}.bs2", entry.id));
        let raster = load_events(&path, shape, &binning)?;
        let bins: Vec<Vec<u32>> = (0..raster.bins())
            .map(|k| {
                raster
                    .row(k)
                    .iter()
                    .enumerate()
                    .filter(|(_, &v)| v != 0)
                    .map(|(i, _)| i as u32)
                    .collect()
            })
            .collect();
        let label = u16::try_from(entry.label)
            .with_context(|| format!("{}: label {} too large", path.display(), entry.label))?;
        builder
            .push(label, &bins)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        rasters.push(raster);
        files.push(path);
    }
    let bytes = builder
        .encode()
        .map_err(|e| anyhow::anyhow!("encoding the sample pack: {e}"))?;
    Ok(Packed {
        bytes,
        rasters,
        files,
    })
}

/// Output spike counts of every sample of `pack` run through the core
/// engine on this host, exactly as the firmware runs them (reset, then one
/// `step` per bin of the pack).
pub fn host_counts(model: &Model<'_>, pack: &[u8]) -> Result<Vec<SampleCounts>> {
    let pack = SamplePack::decode(pack).map_err(|e| anyhow::anyhow!("sample pack: {e}"))?;
    let mut state = vec![0i32; state_words(model)];
    let mut engine =
        Engine::new(model, &mut state).map_err(|e| anyhow::anyhow!("core engine: {e}"))?;
    let mut input = vec![0u32; pack.inputs() as usize];
    let mut out = Vec::with_capacity(pack.len());
    for sample in &pack {
        engine.reset();
        let mut counts = vec![0u32; model.outputs() as usize];
        for bin in sample.bins() {
            let spikes = bin.fill(&mut input);
            ensure!(spikes.len() == bin.len(), "a bin repeats an input index");
            engine.step_counts(spikes, &mut counts);
        }
        out.push(SampleCounts {
            label: sample.label,
            counts,
        });
    }
    Ok(out)
}

/// Output spike counts of each raster through the trainer's [`CoreRunner`]
/// (the path `slayer infer` takes).
pub fn runner_counts(model: &Model<'_>, rasters: &[SpikeRaster]) -> Result<Vec<Vec<u32>>> {
    let mut runner = CoreRunner::new(model)?;
    rasters
        .iter()
        .map(|x| Ok(runner.run(x)?.counts()))
        .collect()
}

/// Why the firmware cannot be built and run here (`None`: it can): the
/// Rust target or `qemu-system-arm` is missing.
pub fn missing_toolchain() -> Option<String> {
    missing_tools(TARGET, "qemu-system-arm")
}

/// Why firmware for `triple` cannot be built and run in `qemu` here
/// (`None`: it can): the Rust target or the QEMU program is missing.
pub fn missing_tools(triple: &str, qemu: &str) -> Option<String> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let has_target = sysroot.is_some_and(|s| s.join("lib/rustlib").join(triple).is_dir());
    if !has_target {
        return Some(format!(
            "the Rust target {triple} is not installed (rustup target add {triple})"
        ));
    }
    let has_qemu = Command::new(qemu)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (!has_qemu).then(|| format!("{qemu} is not installed (.ci/run installs it)"))
}

/// Builds the firmware (release) with `model` and `samples` embedded, in
/// `target_dir`, and returns the path of its ELF.
pub fn build(model: &Path, samples: &Path, target_dir: &Path) -> Result<PathBuf> {
    cargo_build(
        TARGET,
        &["--features", "bench"],
        &[("SLAYER_MODEL", model), ("SLAYER_SAMPLES", samples)],
        target_dir,
    )
}

/// Runs `cargo build --release --target TRIPLE ARGS…` in `firmware/` with
/// `envs`, in `target_dir` (host flags kept away from the cross build), and
/// returns the ELF.
pub fn cargo_build(
    triple: &str,
    args: &[&str],
    envs: &[(&str, &Path)],
    target_dir: &Path,
) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--target", triple])
        .args(args)
        .current_dir(firmware_dir())
        .envs(envs.iter().copied())
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .context("running cargo build in firmware/")?;
    if !out.status.success() {
        bail!(
            "cargo build --target {triple} {} in firmware/ failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let elf = target_dir.join(triple).join("release/slayer-firmware");
    ensure!(elf.is_file(), "{} was not built", elf.display());
    Ok(elf)
}

/// What one firmware run printed, parsed.
#[derive(Debug, Clone)]
pub struct FirmwareRun {
    /// Every sample's counts, in order.
    pub samples: Vec<SampleCounts>,
    /// Time steps measured.
    pub steps: u64,
    /// Mean instructions per step (QEMU `-icount shift=0`).
    pub mean_instructions: f64,
    /// Instructions of the most expensive step.
    pub max_instructions: u64,
    /// Everything the firmware printed.
    pub stdout: String,
}

/// The QEMU command line that runs `elf` (MPS2-AN386, Cortex-M4, semihosting,
/// one instruction per virtual nanosecond), under `timeout`.
pub fn qemu_command(elf: &Path) -> Command {
    let mut c = Command::new("timeout");
    c.arg(QEMU_TIMEOUT_S.to_string())
        .args([
            "qemu-system-arm",
            "-machine",
            "mps2-an386",
            "-cpu",
            "cortex-m4",
        ])
        .args([
            "-nographic",
            "-semihosting-config",
            "enable=on,target=native",
        ])
        .args(["-icount", "shift=0", "-kernel"])
        .arg(elf);
    c
}

/// Runs `elf` in QEMU and parses its output; fails on a non-zero exit.
pub fn run_qemu(elf: &Path) -> Result<FirmwareRun> {
    let out = qemu_command(elf)
        .output()
        .context("running qemu-system-arm under timeout")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "the firmware exited with {} (124: QEMU timed out after {QEMU_TIMEOUT_S} s)\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse(&stdout)
}

/// Parses the firmware's text output (`src/report.rs` in `firmware/`).
pub fn parse(stdout: &str) -> Result<FirmwareRun> {
    let mut samples = Vec::new();
    let mut cost = None;
    let mut steps = None;
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["sample", i, "label", label, "counts", counts @ ..] => {
                let i: usize = i.parse().with_context(|| format!("bad line {line:?}"))?;
                ensure!(i == samples.len(), "sample {i} out of order in {line:?}");
                samples.push(SampleCounts {
                    label: label
                        .parse()
                        .with_context(|| format!("bad line {line:?}"))?,
                    counts: counts
                        .iter()
                        .map(|c| c.parse())
                        .collect::<Result<_, _>>()
                        .with_context(|| format!("bad line {line:?}"))?,
                });
            }
            ["steps", n, "ticks", ..] => {
                steps = Some(n.parse().with_context(|| format!("bad line {line:?}"))?);
            }
            ["instructions", "per", "step:", "mean", mean, "max", max, ..] => {
                cost = Some((
                    mean.parse().with_context(|| format!("bad line {line:?}"))?,
                    max.parse().with_context(|| format!("bad line {line:?}"))?,
                ));
            }
            _ => {}
        }
    }
    let (Some((mean_instructions, max_instructions)), Some(steps)) = (cost, steps) else {
        bail!("the firmware printed no step cost:\n{stdout}");
    };
    Ok(FirmwareRun {
        samples,
        steps,
        mean_instructions,
        max_instructions,
        stdout: stdout.to_owned(),
    })
}

/// Section sizes of an ELF, from `arm-none-eabi-size` (Berkeley format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Code and read-only data (the model and samples live here).
    pub text: u64,
    /// Initialised data (copied from flash to RAM at boot).
    pub data: u64,
    /// Zero-initialised RAM (the engine state arena lives here).
    pub bss: u64,
}

impl Size {
    /// Flash bytes: `text + data`.
    pub fn flash(&self) -> u64 {
        self.text + self.data
    }

    /// Static RAM bytes: `data + bss` (the stack comes on top).
    pub fn ram(&self) -> u64 {
        self.data + self.bss
    }
}

/// Runs `arm-none-eabi-size` on `elf`.
pub fn size(elf: &Path) -> Result<Size> {
    let out = Command::new("arm-none-eabi-size")
        .arg(elf)
        .output()
        .context("running arm-none-eabi-size (apt-get install binutils-arm-none-eabi)")?;
    ensure!(
        out.status.success(),
        "arm-none-eabi-size failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text
        .lines()
        .nth(1)
        .with_context(|| format!("unexpected arm-none-eabi-size output {text:?}"))?;
    let f: Vec<u64> = row
        .split_whitespace()
        .take(3)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("unexpected arm-none-eabi-size output {text:?}"))?;
    let [text, data, bss] = f[..] else {
        bail!("unexpected arm-none-eabi-size output {text:?}");
    };
    Ok(Size { text, data, bss })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_firmware_output() {
        let run = parse(
            "slayer-firmware: model 16 -> 2, 2 layers\n\
             sample 0 label 5 counts 3 0\n\
             sample 1 label 0 counts 0 7\n\
             steps 100 ticks 5000 max_ticks 80 (SysTick, core clock)\n\
             instructions per step: mean 2000.0 max 3200 (QEMU)\n",
        )
        .unwrap();
        assert_eq!(
            run.samples,
            vec![
                SampleCounts {
                    label: 5,
                    counts: vec![3, 0]
                },
                SampleCounts {
                    label: 0,
                    counts: vec![0, 7]
                },
            ]
        );
        assert_eq!(run.steps, 100);
        assert_eq!(run.max_instructions, 3200);
        assert!((run.mean_instructions - 2000.0).abs() < 1e-9);
        assert!(parse("sample 0 label 1 counts 1\n").is_err());
        assert!(parse("sample 1 label 1 counts 1\nsteps 1 ticks 1\n").is_err());
    }
}

//! Small pieces the subcommands share: pacing, sensor sizes, CUDA options.

use slayer_trainer::backend::cuda::{CudaOptions, Precision};
use slayer_trainer::backend::Device;

/// `--realtime` / `--speed F` as a replay factor (`None`: as fast as possible).
pub(crate) fn pacing(realtime: bool, speed: Option<f64>) -> anyhow::Result<Option<f64>> {
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

/// `--sensor WxH` as (width, height).
pub(crate) fn parse_size(s: &str) -> Result<(u32, u32), String> {
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

/// The CUDA options of `--precision`; an error when a precision other than
/// f32 is asked of the CPU (which computes in f32 only).
pub(crate) fn cuda_options(device: Device, precision: Precision) -> anyhow::Result<CudaOptions> {
    anyhow::ensure!(
        device != Device::Cpu || precision == Precision::F32,
        "--precision {precision} applies to --device cuda only (the CPU computes in f32)"
    );
    Ok(CudaOptions {
        precision,
        ..Default::default()
    })
}

/// A progress bar over `n` recordings (to stderr; hidden when it is not a terminal).
pub(crate) fn recordings_bar(n: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} recordings {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

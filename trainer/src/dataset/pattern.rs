//! Spike-pattern tasks: one input raster to map onto one target raster,
//! drawn from a seeded Poisson process or read from two `.bs1` files.

use super::{Augment, Dataset, Example, Input, Source};
use crate::data;
use crate::error::{Error, Result};
use crate::loss::Target;
use crate::spikes::SpikeRaster;

/// `poisson_pattern`: `inputs` Poisson trains at `input_rate_hz` and one
/// Poisson target train at `target_rate_hz` with `dead_time_ms` between its
/// spikes, drawn from the data stream of the experiment's seed.
pub(super) fn poisson(
    src: &Source<'_>,
    inputs: usize,
    input_rate_hz: f32,
    target_rate_hz: f32,
    dead_time_ms: f32,
) -> Dataset {
    let b = src.cfg.binning();
    let mut rng = data::seeded_rng(src.seed(1));
    let input = data::poisson_raster(&mut rng, inputs, b.bins, b.ts_ms, f64::from(input_rate_hz));
    let mut target = SpikeRaster::new(b.bins, 1);
    for k in data::poisson_target(
        &mut rng,
        b.bins,
        b.ts_ms,
        f64::from(target_rate_hz),
        f64::from(dead_time_ms),
    ) {
        target.set(k, 0);
    }
    pattern(inputs, input, target)
}

/// `spike_pattern`: the `input` and `target` `.bs1` files in the `--data`
/// folder, binned; an empty file is an error.
pub(super) fn files(src: &Source<'_>, input: &str, target: &str) -> Result<Dataset> {
    let dir = src.dir(&format!("{input} and {target}"))?;
    let b = src.cfg.binning();
    let load = |name: &str| -> Result<SpikeRaster> {
        let path = dir.join(name);
        let events = data::read_bs1(&path)?;
        if events.is_empty() {
            return Err(Error::Format {
                path,
                offset: 0,
                msg: "no events".into(),
            });
        }
        let n = events
            .iter()
            .map(|e| usize::from(e.neuron) + 1)
            .max()
            .unwrap_or(0);
        Ok(data::bin_1d(&events, n, 1, &b))
    };
    let x = load(input)?;
    let y = load(target)?;
    Ok(pattern(x.neurons(), x, y))
}

/// A dataset of one training example, `x` to `y`, and no validation.
fn pattern(inputs: usize, x: SpikeRaster, y: SpikeRaster) -> Dataset {
    Dataset {
        inputs,
        shape: None,
        classes: None,
        train: vec![Example {
            name: "pattern".into(),
            input: Input::Raster(x),
            target: Target::Spikes(y),
        }],
        valid: Vec::new(),
        augment: Augment::default(),
    }
}

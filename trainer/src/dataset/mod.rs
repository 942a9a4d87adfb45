//! The datasets of an experiment: [`build_dataset_with`] reads the config's
//! `[data]` and calls the builder of that kind (one file each: `pattern`,
//! `nmnist`, `fsdd`, `mnist`, `dvs_gesture`); and what they share: sample
//! list files, seeded validation splits, inputs kept compact until a batch
//! needs them, and augmentation of event data.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use slayer_core::Event2d;

use crate::config::{stream, DataConfig, ExperimentConfig};
use crate::data::{self, Binning};
use crate::error::{Error, Result};
use crate::loss::Target;
use crate::spikes::{SpikeRaster, SpikeTrain};

mod dvs_gesture;
mod fsdd;
mod mnist;
mod nmnist;
mod pattern;

pub use dvs_gesture::load_dvs_gesture;
pub use fsdd::load_fsdd;
pub use mnist::load_mnist;
pub use nmnist::{load_nmnist, NMNIST_SIZE};

/// One example: an input and what the output should be.
#[derive(Debug, Clone)]
pub struct Example {
    /// Where it came from, for messages.
    pub name: String,
    /// The input.
    pub input: Input,
    /// The target.
    pub target: Target,
}

/// A dataset held in memory.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Number of input channels.
    pub inputs: usize,
    /// Spatial shape `(channels, height, width)` of the input, for conv layers.
    pub shape: Option<(usize, usize, usize)>,
    /// Number of classes (classification tasks).
    pub classes: Option<usize>,
    /// Training examples.
    pub train: Vec<Example>,
    /// Validation examples (may be empty).
    pub valid: Vec<Example>,
    /// Augmentation of training inputs.
    pub augment: Augment,
}

/// Builds the dataset the config describes, reading data files from
/// `data_dir` (`--data`).
pub fn build_dataset(cfg: &ExperimentConfig, data_dir: Option<&Path>) -> Result<Dataset> {
    build_dataset_with(cfg, data_dir, None)
}

/// Builds the dataset the config describes; `eval_list` (`eval --list`)
/// overrides the config's list file and puts every listed sample into the
/// validation set.
pub fn build_dataset_with(
    cfg: &ExperimentConfig,
    data_dir: Option<&Path>,
    eval_list: Option<&Path>,
) -> Result<Dataset> {
    let src = Source {
        cfg,
        data_dir,
        eval_list,
    };
    match &cfg.data {
        DataConfig::PoissonPattern {
            inputs,
            input_rate_hz,
            target_rate_hz,
            dead_time_ms,
        } => Ok(pattern::poisson(
            &src,
            *inputs,
            *input_rate_hz,
            *target_rate_hz,
            *dead_time_ms,
        )),
        DataConfig::SpikePattern { input, target } => pattern::files(&src, input, target),
        DataConfig::Nmnist {
            list,
            validation,
            augment,
        } => nmnist::build(&src, list.as_deref(), *validation, *augment),
        DataConfig::Fsdd {
            validation,
            channels,
        } => fsdd::build(&src, *validation, *channels),
        DataConfig::Mnist {
            images,
            labels,
            test_images,
            test_labels,
            validation,
            rate_hz,
            limit,
            resample,
        } => mnist::build(
            &src,
            (images, labels),
            (test_images.as_deref(), test_labels.as_deref()),
            *validation,
            *rate_hz,
            *limit,
            *resample,
        ),
        DataConfig::DvsGesture {
            validation,
            augment,
            downsample,
        } => dvs_gesture::build(&src, *validation, *augment, *downsample),
    }
}

/// What a dataset builder reads from: the experiment, the `--data` folder
/// and `eval`'s list file.
struct Source<'a> {
    cfg: &'a ExperimentConfig,
    data_dir: Option<&'a Path>,
    eval_list: Option<&'a Path>,
}

impl Source<'_> {
    /// The `--data` folder, or an error saying the experiment reads `what` from it.
    fn dir(&self, what: &str) -> Result<&Path> {
        self.data_dir.ok_or_else(|| {
            Error::Config(format!(
                "experiment {:?} reads {what}: pass the folder holding it with --data",
                self.cfg.name
            ))
        })
    }

    /// The seed of random stream `which` of the experiment's seed.
    fn seed(&self, which: u64) -> u64 {
        stream(self.cfg.train.seed, which)
    }
}

/// Labelled items as examples with class targets.
fn examples(v: Vec<Item>) -> Vec<Example> {
    v.into_iter()
        .map(|i| Example {
            name: i.name,
            input: i.input,
            target: Target::Class(i.label),
        })
        .collect()
}

/// One line of a sample list file (`index<TAB>label`, as `train1K.txt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Sample name (the file stem, e.g. `17` for `17.bs2`).
    pub id: String,
    /// Class label, 0-based.
    pub label: usize,
}

/// Reads a sample list: one `id label` pair per line (tab or spaces), `#`
/// comment lines and blank lines skipped. Errors name the file and line.
pub fn read_list(path: &Path) -> Result<Vec<ListEntry>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split_whitespace();
        let (Some(id), Some(label)) = (f.next(), f.next()) else {
            return Err(Error::Config(format!(
                "{}:{}: expected `id<TAB>label`, got {line:?}",
                path.display(),
                n + 1
            )));
        };
        let label = label.parse().map_err(|_| {
            Error::Config(format!(
                "{}:{}: label {label:?} is not a non-negative integer",
                path.display(),
                n + 1
            ))
        })?;
        out.push(ListEntry {
            id: id.to_string(),
            label,
        });
    }
    Ok(out)
}

/// The input of one sample, kept compact until a batch needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A ready spike raster.
    Raster(SpikeRaster),
    /// A ready spike train, kept sparse.
    Sparse(SpikeTrain),
    /// Events of a 2-D sensor, binned (and augmented) when used.
    Events2d {
        /// The events, time in µs from the sample start.
        events: Vec<Event2d>,
        /// Sensor width.
        width: usize,
        /// Sensor height.
        height: usize,
        /// Polarity channels (1 or 2).
        polarities: usize,
    },
    /// A grey-level image, Poisson rate-encoded when used: pixel `i` spikes
    /// in each bin with probability `pixel / 255 · rate_per_bin`. The draw is
    /// seeded per sample, so a sample is the same raster in every epoch.
    Image {
        /// Pixels, row-major, one input neuron each.
        pixels: Vec<u8>,
        /// Spike probability per bin of a white pixel.
        rate_per_bin: f64,
        /// Seed of this sample's Poisson draw.
        seed: u64,
    },
}

/// One labelled sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Where it came from (file name), for messages.
    pub name: String,
    /// Its input.
    pub input: Input,
    /// Its class, 0-based.
    pub label: usize,
}

/// Random transformations of event data while training.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augment {
    /// Largest spatial shift in pixels, drawn uniformly in `[−shift, shift]`
    /// per axis and sample; events shifted off the sensor are dropped.
    pub shift: usize,
    /// Standard deviation of a per-event time jitter, in ms (Gaussian-like,
    /// the sum of two uniforms).
    pub jitter_ms: f64,
    /// Probability of dropping each event.
    pub drop: f64,
    /// Poisson-encoded images: fresh spikes on every training pass instead
    /// of the image's fixed draw (set by `[data] resample` of `mnist`, not
    /// an `augment` key).
    #[serde(skip)]
    pub resample: bool,
}

impl Augment {
    /// True when it changes nothing.
    pub fn is_identity(&self) -> bool {
        self.shift == 0 && self.jitter_ms == 0.0 && self.drop == 0.0 && !self.resample
    }

    /// The augmented copy of `events` on a `width × height` sensor.
    pub fn apply(
        &self,
        events: &[Event2d],
        width: usize,
        height: usize,
        rng: &mut impl Rng,
    ) -> Vec<Event2d> {
        let s = self.shift as i64;
        let (dx, dy) = if s > 0 {
            (rng.random_range(-s..=s), rng.random_range(-s..=s))
        } else {
            (0, 0)
        };
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            if self.drop > 0.0 && rng.random::<f64>() < self.drop {
                continue;
            }
            let (x, y) = (i64::from(e.x) + dx, i64::from(e.y) + dy);
            if x < 0 || y < 0 || x >= width as i64 || y >= height as i64 {
                continue;
            }
            let mut t = e.t_us as f64;
            if self.jitter_ms > 0.0 {
                // Sum of two uniforms on ±√1.5·σ has standard deviation σ.
                let a = 1.5f64.sqrt() * self.jitter_ms * 1000.0;
                t += rng.random_range(-a..=a) + rng.random_range(-a..=a);
            }
            out.push(Event2d {
                x: x as u16,
                y: y as u16,
                polarity: e.polarity,
                t_us: t.max(0.0).round() as u64,
            });
        }
        out
    }
}

impl Input {
    /// Number of input channels this sample provides.
    pub fn channels(&self) -> usize {
        match self {
            Input::Raster(r) => r.neurons(),
            Input::Sparse(t) => t.neurons(),
            Input::Events2d {
                width,
                height,
                polarities,
                ..
            } => width * height * polarities,
            Input::Image { pixels, .. } => pixels.len(),
        }
    }

    /// The sample as a spike raster of `b.bins` bins; event data is augmented
    /// with `augment` when given.
    pub fn raster(
        &self,
        b: &Binning,
        augment: Option<(&Augment, &mut dyn rand::RngCore)>,
    ) -> SpikeRaster {
        match self {
            Input::Raster(r) => r.clone(),
            Input::Sparse(t) => t.to_raster(),
            Input::Events2d {
                events,
                width,
                height,
                polarities,
            } => match augment {
                Some((a, mut rng)) if !a.is_identity() => {
                    let ev = a.apply(events, *width, *height, &mut rng);
                    data::bin_2d(&ev, *width, *height, *polarities, b)
                }
                _ => data::bin_2d(events, *width, *height, *polarities, b),
            },
            Input::Image {
                pixels,
                rate_per_bin,
                seed,
            } => match augment {
                Some((a, rng)) if a.resample => {
                    data::poisson_encode(pixels, b.bins, *rate_per_bin, rng)
                }
                _ => data::poisson_encode(
                    pixels,
                    b.bins,
                    *rate_per_bin,
                    &mut data::seeded_rng(*seed),
                ),
            },
        }
    }
}

/// Splits `items` into (train, validation) with a seeded, class-stratified
/// draw: `fraction` of every class (rounded) goes to validation.
pub fn split(items: Vec<Item>, fraction: f64, seed: u64) -> (Vec<Item>, Vec<Item>) {
    let mut rng = data::seeded_rng(seed);
    let classes = items.iter().map(|i| i.label + 1).max().unwrap_or(0);
    let mut by_class: Vec<Vec<Item>> = vec![Vec::new(); classes];
    for it in items {
        let l = it.label;
        by_class[l].push(it);
    }
    split_groups(by_class, fraction, &mut rng)
}

/// Splits by stratum: `fraction` of every (stratum, class) group goes to
/// validation, so every speaker (the stratum) and digit is represented in both sets.
pub fn split_stratified(
    items: Vec<(Item, String)>,
    fraction: f64,
    seed: u64,
) -> (Vec<Item>, Vec<Item>) {
    let mut groups: std::collections::BTreeMap<(String, usize), Vec<Item>> = Default::default();
    for (it, stratum) in items {
        groups.entry((stratum, it.label)).or_default().push(it);
    }
    let mut rng = data::seeded_rng(seed);
    split_groups(groups.into_values(), fraction, &mut rng)
}

/// Shuffles each group in turn with `rng` and sends `fraction` of it
/// (rounded) to validation, the rest to training.
fn split_groups(
    groups: impl IntoIterator<Item = Vec<Item>>,
    fraction: f64,
    rng: &mut impl rand::Rng,
) -> (Vec<Item>, Vec<Item>) {
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for mut group in groups {
        group.shuffle(rng);
        let n_valid = (group.len() as f64 * fraction).round() as usize;
        let rest = group.split_off(n_valid.min(group.len()));
        valid.extend(group);
        train.extend(rest);
    }
    (train, valid)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// The data kit `../shared/data`.
    pub(crate) fn data_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
    }

    #[test]
    fn list_files_parse_and_report_bad_lines() {
        let l = read_list(&data_dir().join("nmnist-small/train1K.txt")).unwrap();
        assert_eq!(l.len(), 1000);
        assert_eq!(
            l[0],
            ListEntry {
                id: "1".into(),
                label: 5
            }
        );
        let p = std::env::temp_dir().join(format!("slayer-list-{}.txt", std::process::id()));
        std::fs::write(&p, "# c\n1\t2\n3 x\n").unwrap();
        let e = read_list(&p).unwrap_err().to_string();
        assert!(e.contains(":3:") && e.contains("\"x\""), "{e}");
        let _ = std::fs::remove_file(p);
    }

    /// A Poisson image keeps its fixed draw unless `resample` is set; then
    /// each training pass draws anew, repeatably for the same seed.
    #[test]
    fn poisson_images_resample_only_when_asked() {
        let img = Input::Image {
            pixels: (0..64).map(|i| (i * 4) as u8).collect(),
            rate_per_bin: 0.5,
            seed: 9,
        };
        let b = Binning {
            ts_ms: 1.0,
            bins: 40,
        };
        let fixed = img.raster(&b, None);
        let draw = |a: &Augment, seed: u64| img.raster(&b, Some((a, &mut data::seeded_rng(seed))));
        let plain = Augment {
            shift: 1,
            ..Augment::default()
        };
        assert_eq!(
            draw(&plain, 1),
            fixed,
            "other augmentation leaves images alone"
        );
        let fresh = Augment {
            resample: true,
            ..Augment::default()
        };
        assert!(!fresh.is_identity());
        let (a, a2, c) = (draw(&fresh, 1), draw(&fresh, 1), draw(&fresh, 2));
        assert_eq!(a, a2);
        assert_ne!(a, fixed);
        assert_ne!(a, c);
        // Same rate, other spikes: the counts stay close.
        let count = |r: &SpikeRaster| r.count();
        let (n0, n1) = (count(&fixed) as f64, count(&a) as f64);
        assert!(n0 > 500.0 && (n0 - n1).abs() < 0.1 * n0, "{n0} vs {n1}");
    }

    #[test]
    fn augmentation_shifts_drops_and_jitters() {
        let ev: Vec<Event2d> = (0..1000)
            .map(|i| Event2d {
                x: (i % 34) as u16,
                y: (i / 34 % 34) as u16,
                polarity: 1,
                t_us: 10_000 + i as u64,
            })
            .collect();
        let mut rng = data::seeded_rng(3);
        let none = Augment::default().apply(&ev, 34, 34, &mut rng);
        assert_eq!(none, ev);
        let dropped = Augment {
            drop: 0.5,
            ..Default::default()
        }
        .apply(&ev, 34, 34, &mut rng);
        assert!((400..600).contains(&dropped.len()), "{}", dropped.len());
        let shifted = Augment {
            shift: 3,
            ..Default::default()
        }
        .apply(&ev, 34, 34, &mut rng);
        assert!(shifted.iter().all(|e| e.x < 34 && e.y < 34));
        let jit = Augment {
            jitter_ms: 1.0,
            ..Default::default()
        }
        .apply(&ev, 34, 34, &mut rng);
        let sd = (jit
            .iter()
            .zip(&ev)
            .map(|(a, b)| (a.t_us as f64 - b.t_us as f64).powi(2))
            .sum::<f64>()
            / 1000.0)
            .sqrt();
        assert!((700.0..1300.0).contains(&sd), "jitter sd {sd} µs");
    }
}

//! Labelled datasets for classification: sample list files, dataset folder
//! layouts, seeded validation splits, and augmentation of event data.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use slayer_core::Event2d;

use crate::data::{self, Binning};
use crate::error::{Error, Result};
use crate::spikes::{SpikeRaster, SpikeTrain};

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
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for mut group in by_class {
        group.shuffle(&mut rng);
        let n_valid = (group.len() as f64 * fraction).round() as usize;
        let rest = group.split_off(n_valid.min(group.len()));
        valid.extend(group);
        train.extend(rest);
    }
    (train, valid)
}

/// N-MNIST sensor size.
pub const NMNIST_SIZE: usize = 34;

/// Loads N-MNIST samples from `dir`: either the downloaded dataset's layout
/// (`dir/Train/<digit>/<id>.bin`, used when `dir/Train` exists and no list is
/// given) or a list file (`id<TAB>label`, default `train1K.txt` in `dir`) of
/// `<id>.bs2` (or `<id>.bin`) files. Files are read in parallel.
pub fn load_nmnist(dir: &Path, list: Option<&Path>) -> Result<Vec<Item>> {
    let train = dir.join("Train");
    let files: Vec<(PathBuf, usize)> = if list.is_none() && train.is_dir() {
        let mut files = Vec::new();
        for digit in 0..10 {
            let d = train.join(digit.to_string());
            if !d.is_dir() {
                continue;
            }
            let rd = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
            let mut names: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "bin" || x == "bs2"))
                .collect();
            names.sort();
            files.extend(names.into_iter().map(|p| (p, digit)));
        }
        files
    } else {
        let list = list.map_or_else(|| dir.join("train1K.txt"), Path::to_path_buf);
        read_list(&list)?
            .into_iter()
            .map(|e| {
                let bs2 = dir.join(format!("{}.bs2", e.id));
                let bin = dir.join(format!("{}.bin", e.id));
                match (bs2.exists(), bin.exists()) {
                    (true, _) => Ok((bs2, e.label)),
                    (false, true) => Ok((bin, e.label)),
                    (false, false) => Err(Error::Config(format!(
                        "{}: sample {} of {} not found ({}.bs2 or {}.bin)",
                        dir.display(),
                        e.id,
                        list.display(),
                        e.id,
                        e.id
                    ))),
                }
            })
            .collect::<Result<_>>()?
    };
    if files.is_empty() {
        return Err(Error::Config(format!(
            "no N-MNIST samples found in {}",
            dir.display()
        )));
    }
    let load = |(p, label): &(PathBuf, usize)| -> Result<Item> {
        let events = data::read_bs2(p)?;
        Ok(Item {
            name: p.display().to_string(),
            input: Input::Events2d {
                events,
                width: NMNIST_SIZE,
                height: NMNIST_SIZE,
                polarities: 2,
            },
            label: *label,
        })
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        files.par_iter().map(load).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        files.iter().map(load).collect()
    }
}

/// Loads the Free Spoken Digit Dataset from `dir`: a list file (`list`,
/// default `dir/train.txt`) of `file digit [speaker]` lines, the WAV files in
/// `dir/recordings/` or, where not there, in `dir` itself (a folder holding
/// only the listed files). Every recording is encoded once by `encoder` (in
/// parallel). Returns the items and each one's speaker (`-` when not given).
pub fn load_fsdd(
    dir: &Path,
    list: Option<&Path>,
    encoder: &data::audio::AudioEncoder,
) -> Result<Vec<(Item, String)>> {
    let list = list.map_or_else(|| dir.join("train.txt"), Path::to_path_buf);
    let text = std::fs::read_to_string(&list).map_err(|e| Error::io(&list, e))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(file), Some(digit)) = (f.first(), f.get(1)) else {
            return Err(Error::Config(format!(
                "{}:{}: expected `file digit [speaker]`",
                list.display(),
                n + 1
            )));
        };
        let label: usize = digit.parse().map_err(|_| {
            Error::Config(format!(
                "{}:{}: digit {digit:?} is not a number",
                list.display(),
                n + 1
            ))
        })?;
        let in_recordings = dir.join("recordings").join(file);
        let path = if in_recordings.exists() {
            in_recordings
        } else {
            dir.join(file)
        };
        rows.push((path, label, f.get(2).unwrap_or(&"-").to_string()));
    }
    let load = |(path, label, speaker): &(PathBuf, usize, String)| -> Result<(Item, String)> {
        let r = encoder.encode_file(path)?;
        Ok((
            Item {
                name: path.display().to_string(),
                input: Input::Sparse(SpikeTrain::from_raster(&r)),
                label: *label,
            },
            speaker.clone(),
        ))
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        rows.par_iter().map(load).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        rows.iter().map(load).collect()
    }
}

/// Loads MNIST-style IDX files (gzip or raw) from `dir`: `images` and
/// `labels` name the files, at most `limit` samples are kept. Each image
/// becomes an [`Input::Image`] with its own Poisson seed drawn from `seed`.
/// Returns the items and the image size `(rows, cols)`.
pub fn load_mnist(
    dir: &Path,
    images: &str,
    labels: &str,
    rate_per_bin: f64,
    seed: u64,
    limit: Option<usize>,
) -> Result<(Vec<Item>, (usize, usize))> {
    let (ipath, lpath) = (dir.join(images), dir.join(labels));
    let imgs = data::idx::read_images(&ipath)?;
    let labs = data::idx::read_labels(&lpath)?;
    if imgs.len() != labs.len() {
        return Err(Error::Config(format!(
            "{} holds {} images but {} holds {} labels",
            ipath.display(),
            imgs.len(),
            lpath.display(),
            labs.len()
        )));
    }
    let n = limit.map_or(imgs.len(), |l| l.min(imgs.len()));
    let items = (0..n)
        .map(|i| Item {
            name: format!("{images}#{i}"),
            input: Input::Image {
                pixels: imgs.image(i).to_vec(),
                rate_per_bin,
                seed: seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            },
            label: usize::from(labs[i]),
        })
        .collect();
    Ok((items, (imgs.rows, imgs.cols)))
}

/// Loads DVS Gesture samples from `dir`: the original data set's layout
/// (`trials_to_train.txt` listing AEDAT 3.1 recordings, each gesture of a
/// recording's `_labels.csv` one sample) when that list exists, otherwise a
/// list file of `.bs2` clips (`labels.txt`: `id<TAB>class`, 0-based, as the
/// data kit's `dvs-gesture/`). `downsample` (1 = none) divides pixel
/// coordinates, as `slayer stream` maps a 128×128 camera onto a
/// `128/d`-sided input (the sensor divides evenly, so nothing is cropped).
pub fn load_dvs_gesture(dir: &Path, downsample: usize) -> Result<Vec<Item>> {
    use data::dvs_gesture::{list_trials, load_trial, Split, SENSOR_SIZE};
    let d = downsample;
    if d == 0 || SENSOR_SIZE % d != 0 {
        return Err(Error::Config(format!(
            "downsample = {d}: must divide the sensor's {SENSOR_SIZE} pixels"
        )));
    }
    let events_input = |mut events: Vec<Event2d>| {
        if d > 1 {
            for e in &mut events {
                e.x /= d as u16;
                e.y /= d as u16;
            }
        }
        Input::Events2d {
            events,
            width: SENSOR_SIZE / d,
            height: SENSOR_SIZE / d,
            polarities: 2,
        }
    };
    let mut items = Vec::new();
    if dir.join(Split::Train.list_file()).is_file() {
        for trial in list_trials(dir, Split::Train)? {
            let name = trial.display().to_string();
            for (i, (events, label)) in load_trial(&trial)?.into_iter().enumerate() {
                items.push(Item {
                    name: format!("{name}#{i}"),
                    input: events_input(events),
                    label,
                });
            }
        }
    } else {
        for e in read_list(&dir.join("labels.txt"))? {
            let p = dir.join(format!("{}.bs2", e.id));
            items.push(Item {
                name: p.display().to_string(),
                input: events_input(data::read_bs2(&p)?),
                label: e.label,
            });
        }
    }
    if items.is_empty() {
        return Err(Error::Config(format!(
            "no DVS Gesture samples found in {}",
            dir.display()
        )));
    }
    Ok(items)
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
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (_, mut group) in groups {
        group.shuffle(&mut rng);
        let n_valid = (group.len() as f64 * fraction).round() as usize;
        let rest = group.split_off(n_valid.min(group.len()));
        valid.extend(group);
        train.extend(rest);
    }
    (train, valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir() -> PathBuf {
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

    #[test]
    fn nmnist_small_loads_and_splits_stratified() {
        let items = load_nmnist(&data_dir().join("nmnist-small"), None).unwrap();
        assert_eq!(items.len(), 1000);
        let (train, valid) = split(items.clone(), 0.1, 1);
        assert_eq!(train.len() + valid.len(), 1000);
        assert!((95..=105).contains(&valid.len()), "{}", valid.len());
        for c in 0..10 {
            let n = valid.iter().filter(|i| i.label == c).count();
            let total = items.iter().filter(|i| i.label == c).count();
            assert_eq!(n, (total as f64 * 0.1).round() as usize, "class {c}");
        }
        let (_, again) = split(items, 0.1, 1);
        assert_eq!(
            again.iter().map(|i| &i.name).collect::<Vec<_>>(),
            valid.iter().map(|i| &i.name).collect::<Vec<_>>()
        );
        let r = train[0].input.raster(
            &Binning {
                ts_ms: 1.0,
                bins: 300,
            },
            None,
        );
        assert_eq!(r.neurons(), 2 * 34 * 34);
        assert!(r.count() > 1000);
    }

    #[test]
    fn downloaded_folder_layout_is_read_without_a_list() {
        let root = std::env::temp_dir().join(format!("slayer-nmnist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (digit, id) in [(0usize, "2"), (5, "1")] {
            let d = root.join("Train").join(digit.to_string());
            std::fs::create_dir_all(&d).unwrap();
            std::fs::copy(
                data_dir().join(format!("nmnist-small/{id}.bs2")),
                d.join(format!("{id}.bin")),
            )
            .unwrap();
        }
        let items = load_nmnist(&root, None).unwrap();
        assert_eq!(
            items.iter().map(|i| i.label).collect::<Vec<_>>(),
            vec![0, 5]
        );
        let _ = std::fs::remove_dir_all(root);
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

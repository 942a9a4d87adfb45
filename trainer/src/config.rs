//! Experiment configuration: the TOML files in `trainer/configs/`.
//!
//! Sections: `[simulation]`, `[neuron]`, `[network]`, `[loss]`,
//! `[optimiser]`, `[data]`, `[train]`. Unknown keys are errors, so a typo
//! never silently falls back to a default.

use std::path::Path;

use serde::{Deserialize, Serialize};
use slayer_core::NeuronParams;

use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::neuron::{KernelMode, RhoParams};
use crate::optim::OptimiserConfig;

/// The default experiment (`slayer train` with no arguments): learning a
/// Poisson spike-train pattern, the paper's first experiment.
pub const DEFAULT_CONFIG: &str = include_str!("../configs/poisson.toml");

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Name, used for the default output folder.
    pub name: String,
    /// Time discretisation.
    pub simulation: SimulationConfig,
    /// Neuron model.
    pub neuron: NeuronConfig,
    /// Layers.
    pub network: NetworkConfig,
    /// Loss.
    pub loss: LossConfig,
    /// Optimiser.
    #[serde(default)]
    pub optimiser: OptimiserConfig,
    /// Where the samples come from.
    pub data: DataConfig,
    /// Training loop settings.
    #[serde(default)]
    pub train: TrainConfig,
}

/// `[simulation]`: time step and sample length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationConfig {
    /// Time step `Ts` in ms.
    pub ts: f32,
    /// Number of bins per sample.
    pub bins: usize,
}

/// `[neuron]`: SRM constants, spike-pdf width and kernel mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeuronConfig {
    /// Threshold `θ`.
    pub theta: f32,
    /// `ε` time constant (ms).
    pub tau_s: f32,
    /// `ν` time constant (ms).
    pub tau_r: f32,
    /// Refractory peak relative to `θ`.
    pub scale_ref: f32,
    /// `ρ` width relative to `θ`.
    #[serde(default = "one")]
    pub tau_rho: f32,
    /// `ρ` scale.
    #[serde(default = "one")]
    pub scale_rho: f32,
    /// `exact` (default) or `truncated`.
    #[serde(default)]
    pub kernel: KernelMode,
}

fn one() -> f32 {
    1.0
}

impl NeuronConfig {
    /// The core's neuron constants.
    pub fn params(&self) -> NeuronParams {
        NeuronParams {
            theta: self.theta,
            tau_s: self.tau_s,
            tau_r: self.tau_r,
            scale_ref: self.scale_ref,
        }
    }

    /// The spike-pdf width.
    pub fn rho(&self) -> RhoParams {
        RhoParams {
            tau_rho: self.tau_rho,
            scale_rho: self.scale_rho,
        }
    }
}

/// `[network]`: the layers after the input population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Layers, input to output.
    pub layers: Vec<LayerConfig>,
}

/// One layer of `[network] layers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerConfig {
    /// Dense synapses + SRM neurons.
    Dense {
        /// Number of neurons.
        outputs: usize,
        /// Initial weights `U(±1/√fan_in)·weight_scale` (reference: 10).
        #[serde(default = "ten")]
        weight_scale: f32,
    },
    /// 2-D convolution (per time bin) + SRM neurons; needs a spatial input
    /// (`c·H·W` flattening).
    Conv {
        /// Output channels.
        channels: usize,
        /// Square kernel size.
        kernel: usize,
        /// Stride.
        #[serde(default = "one_usize")]
        stride: usize,
        /// Zero padding on every side.
        #[serde(default)]
        padding: usize,
        /// Initial weights `U(±1/√fan_in)·weight_scale` (reference: 100).
        #[serde(default = "hundred")]
        weight_scale: f32,
    },
    /// Sum-pooling over `size × size` windows with weight `1.1·θ` + SRM neurons.
    Pool {
        /// Window size (= stride).
        size: usize,
    },
    /// Marks the end of the spatial layers (spike trains are always stored
    /// flat, `c·H·W + y·W + x`, so this changes no numbers).
    Flatten,
    /// Learnable axonal delay per neuron.
    Delay {
        /// Upper clamp in bins (the successor framework uses 62).
        #[serde(default = "sixty_two")]
        max_delay: f32,
        /// Initial delays drawn from `U[0, init_max]` bins.
        #[serde(default)]
        init_max: f32,
    },
    /// Whole-neuron dropout while training.
    Dropout {
        /// Drop probability.
        p: f32,
    },
}

fn ten() -> f32 {
    10.0
}
fn hundred() -> f32 {
    100.0
}
fn one_usize() -> usize {
    1
}
fn sixty_two() -> f32 {
    62.0
}

/// `[loss]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LossConfig {
    /// Match target spike trains.
    SpikeTime,
    /// Match per-class spike counts in a window.
    NumSpikes {
        /// Window start (ms).
        start_ms: f32,
        /// Window end (ms, exclusive).
        stop_ms: f32,
        /// Target count for the true class.
        true_count: f32,
        /// Target count for the other classes.
        false_count: f32,
    },
}

impl LossConfig {
    /// The loss at time step `ts` (window converted to bins with round-half-even).
    pub fn build(&self, ts: f32) -> Loss {
        match *self {
            LossConfig::SpikeTime => Loss::SpikeTime,
            LossConfig::NumSpikes {
                start_ms,
                stop_ms,
                true_count,
                false_count,
            } => Loss::NumSpikes {
                start: f64::from(start_ms / ts).round_ties_even() as usize,
                stop: f64::from(stop_ms / ts).round_ties_even() as usize,
                true_count,
                false_count,
            },
        }
    }
}

/// `[data]`: where samples come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataConfig {
    /// A seeded Poisson spike-train pattern to learn: Poisson inputs, one
    /// Poisson target train per output with a dead time.
    PoissonPattern {
        /// Number of input trains.
        inputs: usize,
        /// Input rate (Hz).
        input_rate_hz: f32,
        /// Target rate (Hz).
        target_rate_hz: f32,
        /// Minimum spacing of target spikes (ms).
        dead_time_ms: f32,
    },
    /// One input → target pair of `.bs1` files (the reference's Oxford task),
    /// relative to `--data`.
    SpikePattern {
        /// Input events.
        input: String,
        /// Target events.
        target: String,
    },
    /// N-MNIST digits from `--data`: a list file of `<id>.bs2` samples, or
    /// the downloaded dataset's `Train/<digit>/<id>.bin` folders.
    Nmnist {
        /// List file (`id<TAB>label`) relative to `--data`; default
        /// `train1K.txt`, or the `Train/` folders when that is absent.
        #[serde(default)]
        list: Option<String>,
        /// Fraction of each class held out for validation (seeded split).
        #[serde(default = "tenth")]
        validation: f64,
        /// Augmentation of the training samples.
        #[serde(default)]
        augment: crate::dataset::Augment,
    },
    /// Free Spoken Digit Dataset recordings from `--data` (`train.txt`,
    /// `recordings/*.wav`), encoded by a cochlea-like filterbank into spikes;
    /// validation is stratified by speaker and digit.
    Fsdd {
        /// Fraction of every (speaker, digit) group held out for validation.
        #[serde(default = "tenth")]
        validation: f64,
        /// Filterbank channels (input neurons).
        #[serde(default = "sixty_four")]
        channels: usize,
    },
    /// MNIST-style IDX images (gzip or raw) from `--data`, Poisson
    /// rate-encoded. With `test_images`/`test_labels` the test set is the
    /// validation set; otherwise `validation` of each class is held out.
    Mnist {
        /// Training images, relative to `--data`.
        #[serde(default = "mnist_images")]
        images: String,
        /// Training labels, relative to `--data`.
        #[serde(default = "mnist_labels")]
        labels: String,
        /// Test images (optional), relative to `--data`.
        #[serde(default)]
        test_images: Option<String>,
        /// Test labels (optional), relative to `--data`.
        #[serde(default)]
        test_labels: Option<String>,
        /// Fraction of each class held out for validation when no test set is given.
        #[serde(default = "tenth")]
        validation: f64,
        /// Firing rate of a white pixel (Hz).
        #[serde(default = "default_pixel_rate")]
        rate_hz: f64,
        /// Use at most this many training images.
        #[serde(default)]
        limit: Option<usize>,
        /// Draw fresh Poisson spikes for every training pass of an image
        /// (seeded by the batch, so runs repeat); `false` (the default)
        /// keeps one fixed draw per image. Validation always uses the
        /// fixed draw.
        #[serde(default)]
        resample: bool,
    },
    /// DVS128 Gesture from `--data`: the original layout
    /// (`trials_to_train.txt`, AEDAT 3.1 + `_labels.csv`) or `.bs2` clips
    /// listed in `labels.txt`.
    DvsGesture {
        /// Fraction of each class held out for validation (seeded split).
        #[serde(default = "tenth")]
        validation: f64,
        /// Augmentation of the training samples.
        #[serde(default)]
        augment: crate::dataset::Augment,
        /// Integer down-sampling of the 128×128 sensor (1, 2, 4, …: the
        /// input is `2 × 128/d × 128/d`), the way `slayer stream` and the
        /// firmware map the camera onto a smaller input.
        #[serde(default = "no_downsample")]
        downsample: usize,
    },
}

fn no_downsample() -> usize {
    1
}

fn mnist_images() -> String {
    "train10k-images-idx3-ubyte.gz".into()
}

fn mnist_labels() -> String {
    "train10k-labels-idx1-ubyte.gz".into()
}

fn default_pixel_rate() -> f64 {
    200.0
}

fn sixty_four() -> usize {
    64
}

fn tenth() -> f64 {
    0.1
}

/// `[train]`: loop settings (every key optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Samples per optimiser step.
    pub batch: usize,
    /// Seed of weights, data generation, shuffling and dropout.
    pub seed: u64,
    /// For spike-pattern tasks: stop at the first epoch whose output matches
    /// the target (every target spike within `match_tolerance_bins`, no extras).
    pub stop_when_matched: bool,
    /// Tolerance of the match, in bins.
    pub match_tolerance_bins: usize,
    /// Quantisation-aware training: run every forward and backward pass on
    /// weights fake-quantised to this many bits (8 or 16, per-layer scale as
    /// `slayer export`), apply the gradients to the float weights
    /// (straight-through). Validation uses the quantised weights too.
    pub quantise_bits: Option<u32>,
    /// Learning-rate decay per epoch: epoch `e` (from 0) trains with
    /// `lr · lr_decay^e` (1 = constant, the default).
    pub lr_decay: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch: 1,
            seed: 1,
            stop_when_matched: false,
            match_tolerance_bins: 1,
            quantise_bits: None,
            lr_decay: 1.0,
        }
    }
}

impl ExperimentConfig {
    /// Parses and validates a TOML experiment.
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: Self =
            toml::from_str(text).map_err(|e| Error::Config(one_line(&e.to_string())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and validates a TOML experiment file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    /// The binning of the simulation: `bins` bins of `ts` ms.
    pub fn binning(&self) -> crate::data::Binning {
        crate::data::Binning {
            ts_ms: f64::from(self.simulation.ts),
            bins: self.simulation.bins,
        }
    }

    /// The default experiment.
    pub fn default_experiment() -> Self {
        // The embedded default is checked by a test; a failure here is a build defect.
        Self::from_toml(DEFAULT_CONFIG).expect("the embedded default config is valid")
    }

    /// The experiment as TOML (written beside every run).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks values that TOML types cannot.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        let s = &self.simulation;
        if !(s.ts.is_finite() && s.ts > 0.0) || s.bins == 0 {
            return bad(format!(
                "[simulation] needs ts > 0 and bins > 0 (got ts = {}, bins = {})",
                s.ts, s.bins
            ));
        }
        if s.bins > MAX_BINS {
            return bad(format!(
                "[simulation] bins = {} is more than the {MAX_BINS} allowed",
                s.bins
            ));
        }
        if let Some(n) = self.data.inputs_hint() {
            if n.checked_mul(s.bins).is_none_or(|c| c > MAX_CELLS) {
                return bad(format!(
                    "[data] {n} inputs × {} bins is more than the {MAX_CELLS} cells a sample may hold",
                    s.bins
                ));
            }
        }
        // A rate above one spike per bin cannot be drawn (Poisson spikes are
        // at most one per bin).
        let max_rate = 1000.0 / f64::from(s.ts);
        let rate_ok = |r: f64| r.is_finite() && r <= max_rate;
        if !self.neuron.params().is_valid() {
            return bad("[neuron] theta, tau_s, tau_r must be positive and scale_ref ≥ 0".into());
        }
        if !(self.train.lr_decay > 0.0 && self.train.lr_decay <= 1.0) {
            return bad(format!(
                "[train] lr_decay must be in (0, 1] (got {})",
                self.train.lr_decay
            ));
        }
        if let Some(b) = self.train.quantise_bits {
            if b != 8 && b != 16 {
                return bad(format!("[train] quantise_bits must be 8 or 16 (got {b})"));
            }
        }
        if !(self.neuron.tau_rho > 0.0 && self.neuron.scale_rho > 0.0) {
            return bad("[neuron] tau_rho and scale_rho must be positive".into());
        }
        if !self
            .network
            .layers
            .iter()
            .any(|l| matches!(l, LayerConfig::Dense { .. }))
        {
            return bad("[network] needs at least one dense layer".into());
        }
        for (i, l) in self.network.layers.iter().enumerate() {
            match *l {
                LayerConfig::Dense {
                    outputs,
                    weight_scale,
                } => {
                    if outputs == 0 || !weight_scale.is_finite() {
                        return bad(format!("[network] layer {i}: dense needs outputs > 0 and a finite weight_scale"));
                    }
                }
                LayerConfig::Delay {
                    max_delay,
                    init_max,
                } => {
                    if !(max_delay >= 0.0 && init_max >= 0.0 && init_max <= max_delay) {
                        return bad(format!(
                            "[network] layer {i}: delay needs 0 ≤ init_max ≤ max_delay"
                        ));
                    }
                }
                LayerConfig::Conv {
                    channels,
                    kernel,
                    stride,
                    ..
                } => {
                    if channels == 0 || kernel == 0 || stride == 0 {
                        return bad(format!(
                            "[network] layer {i}: conv needs channels, kernel and stride > 0"
                        ));
                    }
                }
                LayerConfig::Pool { size } => {
                    if size == 0 {
                        return bad(format!("[network] layer {i}: pool needs size > 0"));
                    }
                }
                LayerConfig::Flatten => {}
                LayerConfig::Dropout { p } => {
                    if !(0.0..1.0).contains(&p) {
                        return bad(format!(
                            "[network] layer {i}: dropout p must be in [0, 1), got {p}"
                        ));
                    }
                }
            }
        }
        if let LossConfig::NumSpikes {
            start_ms, stop_ms, ..
        } = self.loss
        {
            if !(start_ms >= 0.0 && stop_ms > start_ms && stop_ms <= s.ts * s.bins as f32 + 1e-3) {
                return bad(format!(
                    "[loss] num_spikes window [{start_ms}, {stop_ms}) ms must lie within the {} ms sample",
                    s.ts * s.bins as f32
                ));
            }
        }
        self.optimiser
            .validate()
            .map_err(|m| Error::Config(format!("[optimiser] {m}")))?;
        if self.train.batch == 0 {
            return bad("[train] batch must be at least 1".into());
        }
        if self.train.epochs == 0 {
            return bad("[train] epochs must be at least 1".into());
        }
        if let DataConfig::PoissonPattern {
            inputs,
            input_rate_hz,
            target_rate_hz,
            dead_time_ms,
        } = self.data
        {
            if inputs == 0 || !(input_rate_hz >= 0.0 && target_rate_hz > 0.0 && dead_time_ms >= 0.0)
            {
                return bad("[data] poisson_pattern needs inputs > 0, rates ≥ 0 (target > 0) and dead_time_ms ≥ 0".into());
            }
            if !rate_ok(f64::from(input_rate_hz)) || !rate_ok(f64::from(target_rate_hz)) {
                return bad(format!(
                    "[data] rates must be at most one spike per bin ({max_rate:.1} Hz at ts = {} ms)",
                    s.ts
                ));
            }
        }
        if let DataConfig::Mnist { rate_hz, .. } = self.data {
            if !(rate_hz >= 0.0 && rate_ok(rate_hz)) {
                return bad(format!(
                    "[data] rate_hz = {rate_hz} must be in [0, {max_rate:.1}] (one spike per bin at ts = {} ms)",
                    s.ts
                ));
            }
        }
        if let DataConfig::Nmnist {
            validation,
            augment,
            ..
        } = &self.data
        {
            if !(0.0..1.0).contains(validation) {
                return bad(format!(
                    "[data] validation must be in [0, 1), got {validation}"
                ));
            }
            if !(0.0..1.0).contains(&augment.drop)
                || augment.jitter_ms.is_nan()
                || augment.jitter_ms < 0.0
            {
                return bad("[data] augment needs 0 ≤ drop < 1 and jitter_ms ≥ 0".into());
            }
        }
        Ok(())
    }
}

/// The seed of random stream `which` of `seed`: data, weights, shuffling,
/// dropout and augmentation each draw from a stream of their own.
pub(crate) fn stream(seed: u64, which: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ which.wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// Most bins a sample may have (about 4.6 hours of 1 ms bins).
pub const MAX_BINS: usize = 1 << 24;
/// Most cells (bins × neurons) one sample's tensor of any layer, the input
/// included, may hold: 2^28, 1 GiB of f32. Checked before anything of that
/// size is allocated.
pub const MAX_CELLS: usize = 1 << 28;
/// Most weights one layer may have: 2^28 (1 GiB of f32).
pub const MAX_WEIGHTS: usize = 1 << 28;

/// Checks one layer's sizes against [`MAX_WEIGHTS`] and [`MAX_CELLS`] before
/// it is built (`None`: the size overflowed).
pub fn check_layer_size(
    layer: usize,
    what: &str,
    weights: Option<usize>,
    width: Option<usize>,
    bins: usize,
) -> Result<()> {
    let big = |m: String| {
        Err(Error::Config(format!(
            "[network] layer {layer} ({what}): {m}"
        )))
    };
    match weights {
        Some(w) if w <= MAX_WEIGHTS => {}
        Some(w) => return big(format!("{w} weights, more than the {MAX_WEIGHTS} allowed")),
        None => return big("the weight count overflows".into()),
    }
    match width.and_then(|n| n.checked_mul(bins).map(|c| (n, c))) {
        Some((_, c)) if c <= MAX_CELLS => Ok(()),
        Some((n, c)) => big(format!(
            "{n} neurons × {bins} bins = {c} cells per sample, more than the {MAX_CELLS} allowed"
        )),
        None => big("the neuron count overflows".into()),
    }
}

impl DataConfig {
    /// Input neurons of this data, where the config alone says (`None` for
    /// spike-pattern files).
    pub fn inputs_hint(&self) -> Option<usize> {
        match self {
            DataConfig::PoissonPattern { inputs, .. } => Some(*inputs),
            DataConfig::SpikePattern { .. } => None,
            DataConfig::Nmnist { .. } => Some(2 * 34 * 34),
            DataConfig::Fsdd { channels, .. } => Some(*channels),
            DataConfig::Mnist { .. } => Some(28 * 28),
            DataConfig::DvsGesture { downsample, .. } => {
                let s = 128 / downsample.max(&1);
                Some(2 * s * s)
            }
        }
    }
}

/// TOML errors span several lines (with a source excerpt); keep them on one.
fn one_line(s: &str) -> String {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_configs_parse() {
        let d = ExperimentConfig::default_experiment();
        assert_eq!(d.name, "poisson");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "toml") {
                ExperimentConfig::load(&p).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    #[test]
    fn errors_are_one_line_and_name_the_problem() {
        let broken = DEFAULT_CONFIG.replace("type = \"dense\"", "type = \"densee\"");
        let e = ExperimentConfig::from_toml(&broken)
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n') && e.contains("densee"), "{e}");
        let typo = DEFAULT_CONFIG.replace("theta", "thetaa");
        let e = ExperimentConfig::from_toml(&typo).unwrap_err().to_string();
        assert!(e.contains("thetaa"), "{e}");
        let bad = DEFAULT_CONFIG.replace("bins = 500", "bins = 0");
        assert!(ExperimentConfig::from_toml(&bad).is_err());
        for (decay, ok) in [
            ("0.0", false),
            ("1.5", false),
            ("nan", false),
            ("0.9", true),
        ] {
            let text = DEFAULT_CONFIG.replace("[train]", &format!("[train]\nlr_decay = {decay}"));
            let got = ExperimentConfig::from_toml(&text);
            assert_eq!(got.is_ok(), ok, "lr_decay {decay}: {got:?}");
            if let Err(e) = got {
                assert!(e.to_string().contains("lr_decay"), "{e}");
            }
        }
    }

    #[test]
    fn round_trips_through_toml() {
        let d = ExperimentConfig::default_experiment();
        assert_eq!(ExperimentConfig::from_toml(&d.to_toml()).unwrap(), d);
    }
}

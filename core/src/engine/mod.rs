//! The streaming fixed-point engine: one time bin per [`Engine::step`],
//! integer arithmetic only, all state in a caller-provided `i32` arena.
//!
//! Per bin and layer, in model order:
//!
//! 1. every neuron of a population advances its `ε` and `ν` filters (the
//!    PSP takes the synaptic input summed during the previous bin, so an
//!    input spike in bin `k` first moves `u` in bin `k + 1`, as in the
//!    trainer) and tests `u ≥ θ`;
//! 2. the layer's input spikes of this bin (the caller's list for the first
//!    layer, the previous layer's new spikes otherwise) are scattered into
//!    the accumulators: a weight column (dense), a kernel footprint (conv),
//!    one tap (pool).
//!
//! Delay layers shift each neuron's spike train through a bit-packed ring
//! buffer; flatten layers are free. Arithmetic and formats: [`crate::fixed`].
//! Arena layout: see `model/layout.rs`; its size is [`state_words`].
//!
//! ```
//! use slayer_core::{state_words, Engine, Model, ModelBuilder, NeuronConsts, NeuronParams};
//! use slayer_core::{Shape, WeightBits};
//! let p = NeuronParams { theta: 50.0, tau_s: 1.0, tau_r: 1.0, scale_ref: 2.0 };
//! let k = NeuronConsts::derive(&p, 1.0).unwrap();
//! let mut b = ModelBuilder::new(1.0, 10, WeightBits::I8, Shape::flat(2));
//! b.dense(2, 1, &[100, 100], k, 0.1).unwrap();
//! let bytes = b.encode().unwrap();
//! let model = Model::decode(&bytes).unwrap();
//! let mut state = [0i32; 64];
//! assert!(state_words(&model) <= state.len());
//! let mut engine = Engine::new(&model, &mut state).unwrap();
//! let mut out = 0;
//! for k in 0..5 {
//!     let input: &[u32] = if k == 0 { &[0, 1] } else { &[] };
//!     out += engine.step(input, |_| {}).outputs;
//! }
//! assert!(out > 0);
//! ```

mod arch;
mod delay;
mod filter;
mod lif;
#[cfg(not(target_arch = "arm"))]
mod offset;
mod population;
mod scatter;
mod spikes;
mod sum;

pub use spikes::Spikes;

use crate::model::layout::{self, Src, Stage};
use population::{AccOrder, Population};

use crate::model::{Layer, Model, MAX_LAYERS};

/// Words of `i32` state [`Engine::new`] needs for `model` (populations:
/// `5n + 2⌈n/32⌉` words; delays: `1 + (max_delay + 2)·⌈n/32⌉`).
pub fn state_words(model: &Model<'_>) -> usize {
    usize::try_from(model.state_words_u32()).unwrap_or(usize::MAX)
}

/// Words of `i32` scratch [`Engine::with_scratch`] uses for `model`: a
/// channel-last, `i32` copy of every convolution's weights (its
/// [`ConvGeometry::weight_count`](crate::model::ConvGeometry::weight_count)),
/// 0 for models without convolutions.
pub fn scratch_words(model: &Model<'_>) -> usize {
    model
        .layers()
        .iter()
        .map(|l| match l {
            Layer::Conv2d(c) => scatter::conv_scratch_words(c),
            _ => 0,
        })
        .fold(0usize, usize::saturating_add)
}

/// Why an engine could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EngineError {
    /// The state arena is shorter than [`state_words`].
    StateTooSmall {
        /// Words the model needs.
        needed: usize,
        /// Words provided.
        found: usize,
    },
    /// The scratch arena is shorter than [`scratch_words`].
    ScratchTooSmall {
        /// Words the model needs.
        needed: usize,
        /// Words provided.
        found: usize,
    },
    /// [`Engine::load_state`] was given an engine whose layers (or whose
    /// use of scratch) differ from this one's.
    NotAPart,
}

impl core::fmt::Display for EngineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::StateTooSmall { needed, found } => {
                write!(
                    f,
                    "engine state too small: {found} words, the model needs {needed}"
                )
            }
            Self::ScratchTooSmall { needed, found } => {
                write!(
                    f,
                    "engine scratch too small: {found} words, the model needs {needed}"
                )
            }
            Self::NotAPart => write!(
                f,
                "engine state not loadable: the layers (or their scratch) differ"
            ),
        }
    }
}

impl core::error::Error for EngineError {}

/// What one [`Engine::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepStats {
    /// Input indices at or past [`Model::inputs`], ignored.
    pub ignored: u32,
    /// Output spikes emitted.
    pub outputs: u32,
}

/// A part of [`Engine::step`], named to [`Engine::step_observed`]'s observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Phase {
    /// Reading and checking the caller's input list.
    Input,
    /// A population's `ε`/`ν` filters and threshold test (all its neurons).
    Update,
    /// A layer's synaptic input: scattering its input spikes into the
    /// accumulators (dense columns, conv footprints, pool taps).
    Scatter,
    /// A delay layer.
    Delay,
    /// Reporting the output spikes.
    Output,
}

/// A model running in a caller's state arena.
#[derive(Debug)]
pub struct Engine<'m, 'a, 's> {
    model: &'m Model<'a>,
    state: &'s mut [i32],
    stages: heapless::Vec<Stage, MAX_LAYERS>,
    out: Src,
    /// Channel-last convolution weights (empty without scratch).
    scratch: &'s mut [i32],
    /// Where each convolution's weights start in `scratch`, if it has them.
    conv_at: [Option<usize>; MAX_LAYERS],
    /// Which of each population's two filter arrays holds the newest values
    /// (flips every bin; see `population.rs`).
    parity: bool,
    /// Per layer, bins to go before the update looks for resting blocks
    /// again (a layer where none rested is not searched every bin; whether
    /// it is searched never changes the result).
    rest_wait: [u8; MAX_LAYERS],
    /// Per layer, whether the last scatter left its sums paired (see
    /// `scatter::conv_channel_last`).
    paired: [bool; MAX_LAYERS],
}

/// Bins a layer in which no block rested goes without looking for rest.
const REST_BACKOFF: u8 = 8;

/// Updates a population, looking for resting blocks as `wait` allows.
fn update_population(
    pop: &mut Population<'_>,
    k: &crate::NeuronConsts,
    order: AccOrder,
    parity: bool,
    wait: &mut u8,
) {
    if *wait == 0 {
        let found = arch::update(pop, k, order, parity, true);
        *wait = if found { 0 } else { REST_BACKOFF };
    } else {
        *wait -= 1;
        arch::update(pop, k, order, parity, false);
    }
}

impl<'m, 'a, 's> Engine<'m, 'a, 's> {
    /// An engine for `model` whose state lives in the first
    /// [`state_words`]`(model)` words of `state` (zeroed: a fresh start).
    pub fn new(model: &'m Model<'a>, state: &'s mut [i32]) -> Result<Self, EngineError> {
        let needed = state_words(model);
        let found = state.len();
        if found < needed {
            return Err(EngineError::StateTooSmall { needed, found });
        }
        let state = &mut state[..needed];
        state.fill(0);
        let (stages, out) = layout::plan(model);
        Ok(Self {
            model,
            state,
            stages,
            out,
            scratch: &mut [],
            conv_at: [None; MAX_LAYERS],
            parity: false,
            rest_wait: [0; MAX_LAYERS],
            paired: [false; MAX_LAYERS],
        })
    }

    /// [`Engine::new`], plus a scratch arena of at least
    /// [`scratch_words`]`(model)` words where the engine keeps a
    /// channel-last copy of the convolution weights: convolutions then
    /// scatter each input spike as a few contiguous runs of additions (about
    /// four times faster on a host). Same results as [`Engine::new`], bit for
    /// bit; costs `4·weights` bytes per convolution.
    pub fn with_scratch(
        model: &'m Model<'a>,
        state: &'s mut [i32],
        scratch: &'s mut [i32],
    ) -> Result<Self, EngineError> {
        let needed = scratch_words(model);
        if scratch.len() < needed {
            return Err(EngineError::ScratchTooSmall {
                needed,
                found: scratch.len(),
            });
        }
        let mut engine = Self::new(model, state)?;
        let mut at = 0usize;
        for (l, layer) in model.layers().iter().enumerate() {
            if let Layer::Conv2d(c) = layer {
                let words = scatter::conv_scratch_words(c);
                if let Some(dst) = scratch.get_mut(at..at + words) {
                    if scatter::conv_prepare(c, model.bits(), dst) {
                        engine.conv_at[l] = Some(at);
                    }
                }
                at += words;
            }
        }
        engine.scratch = scratch;
        Ok(engine)
    }

    /// The model.
    pub fn model(&self) -> &'m Model<'a> {
        self.model
    }

    /// Clears all state (potentials, pending input, spike history, delay rings).
    pub fn reset(&mut self) {
        self.state.fill(0);
        self.parity = false;
        self.rest_wait = [0; MAX_LAYERS];
        self.paired = [false; MAX_LAYERS];
    }

    /// Simulates one time bin. `input` holds the indices (flatten order) of
    /// the input neurons that spike in this bin; indices `≥ model.inputs()`
    /// are ignored and counted, and a repeated index counts as several
    /// spikes. `output` is called with the index of every output neuron
    /// that spikes in this bin, in ascending order (input order when the
    /// model has no neuron or delay layer).
    pub fn step(&mut self, input: &[u32], output: impl FnMut(u32)) -> StepStats {
        self.step_observed(input, output, |_, _| {})
    }

    /// [`Engine::step`], calling `mark(layer, phase)` as each part of the
    /// bin ends (`layer` is 0 for [`Phase::Input`] and [`Phase::Output`]):
    /// a profiler reads a clock in `mark`. With an empty `mark` this is
    /// [`Engine::step`].
    pub fn step_observed(
        &mut self,
        input: &[u32],
        mut output: impl FnMut(u32),
        mut mark: impl FnMut(usize, Phase),
    ) -> StepStats {
        let limit = self.model.inputs();
        let ignored = input.iter().filter(|&&i| i >= limit).count() as u32;
        mark(0, Phase::Input);
        let bits = self.model.bits();
        for (l, (layer, st)) in self.model.layers().iter().zip(&self.stages).enumerate() {
            let (before, region) = self.state.split_at_mut(st.at.min(self.state.len()));
            let src = source(st.src, before, input, limit, st.n_in);
            // Spikes from the caller's list may repeat; bits reach once.
            let list = matches!(st.src, Src::Input).then_some(input.len());
            match layer {
                Layer::Dense(d) => {
                    let mut pop = Population::split(region, st.n);
                    update_population(
                        &mut pop,
                        &d.neuron,
                        AccOrder::Linear,
                        self.parity,
                        &mut self.rest_wait[l],
                    );
                    mark(l, Phase::Update);
                    let reach = list.map_or(u64::from(d.inputs), |n| n as u64);
                    scatter::dense(pop.acc, d, bits, src, reach);
                    mark(l, Phase::Scatter);
                }
                Layer::Conv2d(c) => {
                    let mut pop = Population::split(region, st.n);
                    let reach = scatter::conv_reach(&c.geometry, list);
                    let wt = self.conv_at[l].and_then(|at| {
                        let words = scatter::conv_scratch_words(c);
                        self.scratch.get(at..at + words)
                    });
                    match (wt, c.geometry.output()) {
                        (Some(wt), Some(out)) => {
                            let order = AccOrder::channel_last(out, self.paired[l]);
                            update_population(
                                &mut pop,
                                &c.neuron,
                                order,
                                self.parity,
                                &mut self.rest_wait[l],
                            );
                            mark(l, Phase::Update);
                            self.paired[l] =
                                scatter::conv_channel_last(pop.acc, c, bits, wt, src, reach);
                        }
                        _ => {
                            update_population(
                                &mut pop,
                                &c.neuron,
                                AccOrder::Linear,
                                self.parity,
                                &mut self.rest_wait[l],
                            );
                            mark(l, Phase::Update);
                            scatter::conv(pop.acc, c, bits, src, reach);
                        }
                    }
                    mark(l, Phase::Scatter);
                }
                Layer::SumPool(p) => {
                    let mut pop = Population::split(region, st.n);
                    update_population(
                        &mut pop,
                        &p.neuron,
                        AccOrder::Linear,
                        self.parity,
                        &mut self.rest_wait[l],
                    );
                    mark(l, Phase::Update);
                    scatter::pool(pop.acc, p, src, scatter::pool_reach(p, list));
                    mark(l, Phase::Scatter);
                }
                Layer::Delay(d) => {
                    delay::step(region, st.n, d, src);
                    mark(l, Phase::Delay);
                }
                Layer::Lif(_) | Layer::LifBias(_) => {
                    let Some((d, bias)) = layer.lif() else {
                        continue;
                    };
                    // This bin's input first: it reaches the neurons now.
                    let mut pop = Population::split(region, st.n);
                    let reach = list.map_or(u64::from(d.inputs), |n| n as u64);
                    let f = lif::SCATTER_FRAC_BITS;
                    scatter::dense_rows(pop.acc, d.weights, d.outputs, f, bits, src, reach);
                    mark(l, Phase::Scatter);
                    lif::update(&mut pop, &d.neuron, bias, 1);
                    mark(l, Phase::Update);
                }
                Layer::LifRec(r) => {
                    // This bin's input, then the layer's own spikes of the
                    // last bin (still in its spike words: the update below
                    // overwrites them), in one scatter.
                    let mut pop = Population::split(region, st.n);
                    let reach = list
                        .map_or(u64::from(r.inputs), |n| n as u64)
                        .saturating_add(u64::from(r.outputs));
                    let f = lif::SCATTER_FRAC_BITS;
                    let Population { acc, spikes, .. } = &mut pop;
                    let src = src.then(spikes, r.inputs);
                    scatter::dense_rows(acc, r.weights, r.outputs, f, bits, src, reach);
                    mark(l, Phase::Scatter);
                    lif::update(&mut pop, &r.neuron, r.bias, 1);
                    mark(l, Phase::Update);
                }
                Layer::LifConv(c) => {
                    // This bin's input first: it reaches the neurons now.
                    let mut pop = Population::split(region, st.n);
                    let reach = scatter::conv_reach(&c.geometry, list);
                    let g = &c.geometry;
                    let f = lif::SCATTER_FRAC_BITS;
                    scatter::conv_rows(pop.acc, g, c.weights, f, bits, src, reach);
                    mark(l, Phase::Scatter);
                    // One bias per output channel of `h·w` neurons.
                    let plane = g.output().and_then(|o| o.h.checked_mul(o.w)).unwrap_or(1);
                    lif::update(&mut pop, &c.neuron, c.bias, plane as usize);
                    mark(l, Phase::Update);
                }
                Layer::Flatten => {}
            }
        }
        let width = self.model.outputs() as usize;
        let mut outputs = 0u32;
        for j in source(self.out, self.state, input, limit, width) {
            output(j);
            outputs += 1;
        }
        self.parity = !self.parity;
        mark(0, Phase::Output);
        StepStats { ignored, outputs }
    }

    /// Continues the run of `from` in this engine: copies the state (filter
    /// values, pending input, spikes, delay rings) of `from`'s layers
    /// `first..first + n`, where `n` is this model's layer count, and the
    /// bin parity. With the two parts of [`Model::split_at`] this moves a
    /// running engine into a head and a tail engine (e.g. to run them on two
    /// cores) without changing a single spike. [`EngineError::NotAPart`]
    /// when those layers differ from this model's, or one engine keeps a
    /// scratch copy of a convolution's weights that the other lacks (the
    /// state order differs then).
    pub fn load_state(
        &mut self,
        from: &Engine<'_, '_, '_>,
        first: usize,
    ) -> Result<(), EngineError> {
        let n = self.stages.len();
        let theirs = from.model.layers().get(first..first.saturating_add(n));
        if theirs != Some(self.model.layers()) {
            return Err(EngineError::NotAPart);
        }
        let scratch_agrees = (0..n).all(|i| {
            self.conv_at[i].is_some()
                == from
                    .conv_at
                    .get(first + i)
                    .is_some_and(core::option::Option::is_some)
        });
        let start = from.stages.get(first).map_or(0, |s| s.at);
        let end = from
            .stages
            .get(first + n)
            .map_or(from.state.len(), |s| s.at);
        let words = from.state.get(start..end).ok_or(EngineError::NotAPart)?;
        if !scratch_agrees || words.len() != self.state.len() {
            return Err(EngineError::NotAPart);
        }
        self.state.copy_from_slice(words);
        self.parity = from.parity;
        for i in 0..n {
            self.paired[i] = from.paired[first + i];
            self.rest_wait[i] = from.rest_wait[first + i];
        }
        Ok(())
    }

    /// [`Engine::step`], adding each output spike to `counts[j]` (outputs
    /// past the end of `counts` are only counted in the returned stats).
    pub fn step_counts(&mut self, input: &[u32], counts: &mut [u32]) -> StepStats {
        self.step(input, |j| {
            if let Some(c) = counts.get_mut(j as usize) {
                *c = c.saturating_add(1);
            }
        })
    }

    /// The spikes layer `layer` emitted in the last bin (ascending), `None`
    /// for a flatten layer or past the last layer.
    pub fn spikes(&self, layer: usize) -> Option<Spikes<'_>> {
        let st = self.stages.get(layer)?;
        if matches!(self.model.layers().get(layer)?, Layer::Flatten) {
            return None;
        }
        match st.out {
            Src::Bits(at) => Some(Spikes::bits(bit_slice(self.state, at, st.n))),
            Src::Input => None,
        }
    }

    /// How many neurons of layer `layer` spiked in the last bin (a popcount;
    /// `None` where [`Engine::spikes`] is `None`).
    pub fn spike_count(&self, layer: usize) -> Option<u32> {
        let st = self.stages.get(layer)?;
        if matches!(self.model.layers().get(layer)?, Layer::Flatten) {
            return None;
        }
        match st.out {
            Src::Bits(at) => Some(
                bit_slice(self.state, at, st.n)
                    .iter()
                    .map(|w| w.count_ones())
                    .sum(),
            ),
            Src::Input => None,
        }
    }

    /// The PSP `p` and refractory term `r` of neuron `j` of population
    /// layer `layer` after the last bin, in state units (`u = p + r`,
    /// saturating; see [`crate::NeuronConsts::to_lsb`]).
    pub fn neuron_state(&self, layer: usize, j: usize) -> Option<(i32, i32)> {
        let st = self.stages.get(layer)?;
        self.model.layers().get(layer)?.neuron()?;
        if j >= st.n {
            return None;
        }
        // `parity` has flipped since the last bin ran.
        let (p_at, r_at) = population::newest(st.n, !self.parity);
        let j = self.order(layer).slot(j);
        let p = *self.state.get(st.at + p_at + j)?;
        let r = *self.state.get(st.at + r_at + j)?;
        Some((p, r))
    }

    /// The order layer `layer` keeps its neurons in: channel-last for a
    /// convolution with a scratch copy of its weights.
    fn order(&self, layer: usize) -> AccOrder {
        let conv = match self.model.layers().get(layer) {
            Some(Layer::Conv2d(c))
                if self
                    .conv_at
                    .get(layer)
                    .is_some_and(core::option::Option::is_some) =>
            {
                c
            }
            _ => return AccOrder::Linear,
        };
        // (The slots do not depend on the pairing.)
        conv.geometry
            .output()
            .map_or(AccOrder::Linear, |out| AccOrder::channel_last(out, false))
    }

    /// The membrane potential `u = p + r` (saturating) of neuron `j` of
    /// population layer `layer` after the last bin, in state units.
    pub fn potential(&self, layer: usize, j: usize) -> Option<i32> {
        self.neuron_state(layer, j)
            .map(|(p, r)| p.saturating_add(r))
    }
}

/// The `⌈n/32⌉` words at `at` (shorter if the arena ends first).
fn bit_slice(state: &[i32], at: usize, n: usize) -> &[i32] {
    let end = at.saturating_add(n.div_ceil(32)).min(state.len());
    state.get(at..end).unwrap_or(&[])
}

/// The spikes a layer reads: the caller's list or earlier bits.
fn source<'x>(src: Src, state: &'x [i32], input: &'x [u32], limit: u32, n: usize) -> Spikes<'x> {
    match src {
        Src::Input => Spikes::list(input, limit),
        Src::Bits(at) => Spikes::bits(bit_slice(state, at, n)),
    }
}

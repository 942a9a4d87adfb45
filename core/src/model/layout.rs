//! Where each layer's state lives in the caller's `i32` arena.
//!
//! Layers own consecutive regions, in layer order:
//!
//! * a neuron population of `n` neurons (dense, conv, pool):
//!   `p0[n] p1[n] r0[n] r1[n] acc[n] spikes[⌈n/32⌉] busy[⌈n/32⌉]` — the last two values
//!   of the `ε` (PSP) and `ν` (refractory) filters of every neuron, as two
//!   arrays per filter that swap roles every bin (contiguous runs the
//!   compiler vectorises; nothing is copied), then the synaptic input summed
//!   for the next bin (contiguous, so a dense input spike adds one
//!   contiguous run; channel-last for a convolution run with scratch), and
//!   the bit-packed spikes of the last bin (both the refractory input of the
//!   next bin and the next layer's input), then one bit per neuron whose
//!   `ν` state is not 0 (kept by the 32-bit Arm path, `lean.rs`, which runs
//!   the `ν` filter only there);
//! * a delay layer of `n` neurons and `D = max_delay`: `pos`, a ring of
//!   `D + 1` bit-packed spike vectors, the spikes due in each of the next
//!   `D + 1` bins, and the bit-packed delayed output `out[⌈n/32⌉]`;
//! * flatten: nothing.

use crate::model::{Layer, Model};

/// `i32` words of a bit-packed vector of `n` bits.
pub(crate) fn bit_words(n: u32) -> u64 {
    u64::from(n).div_ceil(32)
}

/// Words of a population of `n` neurons: `5n + 2⌈n/32⌉`.
pub(crate) fn population_words(n: u32) -> Option<u64> {
    u64::from(n).checked_mul(5)?.checked_add(2 * bit_words(n))
}

/// Words of a delay layer: `1 + (max_delay + 2)·⌈n/32⌉`.
pub(crate) fn delay_words(n: u32, max_delay: u8) -> Option<u64> {
    bit_words(n)
        .checked_mul(u64::from(max_delay) + 2)?
        .checked_add(1)
}

/// Where a layer reads its input spikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Src {
    /// The caller's input list (filtered to `< model.inputs()`).
    Input,
    /// A bit-packed vector at this word offset.
    Bits(usize),
}

/// One layer's place in the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stage {
    /// First word of the layer's region.
    pub at: usize,
    /// Neurons of the layer (its output width).
    pub n: usize,
    /// Width of its input.
    pub n_in: usize,
    /// Its input.
    pub src: Src,
    /// Its output (a flatten layer passes `src` through).
    pub out: Src,
}

/// The stages of a (validated) model, and the model's output source.
pub(crate) fn plan(model: &Model<'_>) -> (heapless::Vec<Stage, { crate::model::MAX_LAYERS }>, Src) {
    let mut stages = heapless::Vec::new();
    let mut at = 0usize;
    let mut src = Src::Input;
    let mut width = model.inputs() as usize;
    for layer in model.layers() {
        let (n, words, out_at) = match layer {
            Layer::Dense(_)
            | Layer::Conv2d(_)
            | Layer::SumPool(_)
            | Layer::Lif(_)
            | Layer::LifBias(_)
            | Layer::LifConv(_)
            | Layer::LifRec(_) => {
                let n = layer.neurons();
                let words = population_words(n).unwrap_or(0) as usize;
                (n as usize, words, Some(at + 5 * n as usize))
            }
            Layer::Flatten => (width, 0, None),
            Layer::Delay(d) => {
                let w = bit_words(width as u32) as usize;
                let words = delay_words(width as u32, d.max_delay).unwrap_or(0) as usize;
                (
                    width,
                    words,
                    Some(at + 1 + (usize::from(d.max_delay) + 1) * w),
                )
            }
        };
        let out = out_at.map_or(src, Src::Bits);
        // A validated model has at most MAX_LAYERS layers.
        let _ = stages.push(Stage {
            at,
            n,
            n_in: width,
            src,
            out,
        });
        at += words;
        src = out;
        width = n;
    }
    (stages, src)
}

//! One bin of a population of LIF neurons (the update is documented in
//! [`crate::fixed::LifConsts`]). Every neuron is updated every bin.
//!
//! The population keeps the synaptic current in the region's first array
//! and the membrane in its second (the SRM layout of `5n + 2⌈n/32⌉`
//! words, see [`Population::split`]), the input summed by the scatter of
//! this bin in `acc` (cleared here), and its spikes in the spike words.

use super::population::Population;
use crate::fixed::LifConsts;
use crate::model::layer::bias_at;

/// The `frac_bits` a LIF layer's scatter is given: 0, so that the 32-bit
/// Arm path's `fit` (which clamps an SRM layer's sums to what its update
/// shifts exactly) leaves the sums as they are. [`update`] adds the bias
/// and `LifConsts::step` clamps after it, on every path alike: a bias can
/// pull a sum back from beyond the clamp.
pub(crate) const SCATTER_FRAC_BITS: u8 = 0;

/// Advances every neuron of `pop` by one bin with the input in `acc`,
/// plus `bias` (an `i32` little-endian in weight LSB per run of `per`
/// neurons: 1 for a dense layer, a channel's `h·w` for a convolution;
/// empty for none), added saturating before the step clamps the sum.
pub(crate) fn update(pop: &mut Population<'_>, k: &LifConsts, bias: &[u8], per: usize) {
    if bias.is_empty() {
        step_all(pop, k, |_| 0);
    } else if per <= 1 {
        step_all(pop, k, |j| bias_at(bias, j));
    } else {
        // The bias entry of the neuron and the neurons left in its run (no
        // division per neuron: Cortex-M0 has none); neurons come in order.
        let (mut entry, mut left, mut add) = (0usize, per, bias_at(bias, 0));
        step_all(pop, k, |_| {
            if left == 0 {
                entry += 1;
                left = per;
                add = bias_at(bias, entry);
            }
            left -= 1;
            add
        });
    }
}

/// [`update`] with `bias(j)` the bias of neuron `j`, called once per
/// neuron in ascending order (specialised per kind of bias).
#[inline(always)]
fn step_all(pop: &mut Population<'_>, k: &LifConsts, mut bias: impl FnMut(usize) -> i32) {
    let [syn, v] = &mut pop.p;
    let n = [pop.acc.len(), syn.len(), v.len()]
        .into_iter()
        .min()
        .unwrap_or(0);
    for (w, word) in pop.spikes.iter_mut().enumerate() {
        let mut bits = 0u32;
        for b in 0..32 {
            let j = 32 * w + b;
            if j >= n {
                break;
            }
            let a = pop.acc[j].saturating_add(bias(j));
            let (s, u, fired) = k.step(syn[j], v[j], a);
            pop.acc[j] = 0;
            (syn[j], v[j]) = (s, u);
            bits |= u32::from(fired) << b;
        }
        *word = bits as i32;
    }
}

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

/// Advances every neuron of `pop` by one bin with the input in `acc`,
/// plus `bias` (an `i32` little-endian in weight LSB per run of `per`
/// neurons: 1 for a dense layer, a channel's `h·w` for a convolution;
/// empty for none), added saturating before the step clamps the sum.
pub(crate) fn update(pop: &mut Population<'_>, k: &LifConsts, bias: &[u8], per: usize) {
    let [syn, v] = &mut pop.p;
    let n = [pop.acc.len(), syn.len(), v.len()]
        .into_iter()
        .min()
        .unwrap_or(0);
    let per = per.max(1);
    // The bias entry of neuron `j` and the neurons left in its run (no
    // division per neuron: Cortex-M0 has none).
    let (mut entry, mut left) = (0usize, per);
    let mut add = bias_at(bias, 0);
    for (w, word) in pop.spikes.iter_mut().enumerate() {
        let mut bits = 0u32;
        for b in 0..32 {
            let j = 32 * w + b;
            if j >= n {
                break;
            }
            if left == 0 {
                entry += 1;
                left = per;
                add = bias_at(bias, entry);
            }
            left -= 1;
            let a = pop.acc[j].saturating_add(add);
            let (s, u, fired) = k.step(syn[j], v[j], a);
            pop.acc[j] = 0;
            (syn[j], v[j]) = (s, u);
            bits |= u32::from(fired) << b;
        }
        *word = bits as i32;
    }
}

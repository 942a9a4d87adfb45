//! One bin of a population of SRM neurons, integer only (the update is
//! documented in [`crate::fixed`]).

use crate::fixed::{NeuronConsts, COEF_FRAC_BITS};

/// Rounding constant of the Q2.30 products (round half up).
const HALF: i64 = 1 << (COEF_FRAC_BITS - 1);

/// `sat(acc >> 30)`: the Q2.30 sum narrowed to `i32`, saturating. The
/// shift fits `i32` exactly when the high word of `acc` lies in
/// `[−2^29, 2^29)`; one cheap test of the high word replaces a 64-bit clamp.
#[inline(always)]
fn narrow(acc: i64) -> i32 {
    let hi = (acc >> 32) as i32;
    if (hi.wrapping_add(1 << 29) as u32) < (1 << 30) {
        (acc >> COEF_FRAC_BITS) as i32
    } else if hi < 0 {
        i32::MIN
    } else {
        i32::MAX
    }
}

/// One step of the double-pole filter `y = 2a·y1 − a²·y2 + drive` with Q2.30
/// coefficients (`neg_a_sq = −a²`) and `start = drive + ½` in Q2.30 state
/// units, rounded half up and saturated. Written as three multiply-adds onto
/// `start` (one `smlal` each on a Cortex-M4). With `0 ≤ a2 < 2^31`,
/// `0 ≤ a² ≤ 2^30` and `|drive| ≤ 2^61` the sum cannot overflow `i64`.
#[inline(always)]
pub(crate) fn pole(a2: i32, neg_a_sq: i32, y1: i32, y2: i32, start: i64) -> i32 {
    let mut acc = start;
    acc += i64::from(a2) * i64::from(y1);
    acc += i64::from(neg_a_sq) * i64::from(y2);
    narrow(acc)
}

/// Words of filter state per neuron: `p1, p2, r1, r2`.
pub(crate) const FILTER_WORDS: usize = 4;

/// The region of a population in the state arena, split into its arrays.
pub(crate) struct Population<'s> {
    /// `[p1, p2, r1, r2]` per neuron (interleaved: one pointer in the update).
    pub filters: &'s mut [i32],
    /// Synaptic input summed for the next bin, weight LSB.
    pub acc: &'s mut [i32],
    /// Spikes of the last bin, bit-packed.
    pub spikes: &'s mut [i32],
}

impl<'s> Population<'s> {
    /// Splits a region of `5n + ⌈n/32⌉` words (shorter regions give
    /// shorter arrays; the update then covers fewer neurons, never panics).
    pub(crate) fn split(region: &'s mut [i32], n: usize) -> Self {
        let (filters, rest) = region.split_at_mut((FILTER_WORDS * n).min(region.len()));
        let (acc, rest) = rest.split_at_mut(n.min(rest.len()));
        let w = n.div_ceil(32).min(rest.len());
        Self {
            filters,
            acc,
            spikes: &mut rest[..w],
        }
    }

    /// Advances every neuron by one bin: the PSP takes the input summed in
    /// `acc` during the previous bin (and clears it), the refractory filter
    /// the neuron's spike of the previous bin; then `u ≥ θ` gives the new
    /// spike bits.
    pub(crate) fn update(&mut self, k: &NeuronConsts) {
        self.psp(k);
        self.fire(k);
    }

    /// Pass 1: the `ε` filter of every neuron takes (and clears) its input.
    /// Two passes instead of one keep the constants of each in registers.
    fn psp(&mut self, k: &NeuronConsts) {
        let f = u32::from(k.frac_bits);
        // `a` in [lo, hi] ⇒ `a << f` fits i32 exactly; beyond, it saturates.
        let hi = i32::MAX >> f;
        let lo = -hi - 1;
        let (a2, neg_a_sq, c) = (k.eps_a2, -k.eps_a_sq, i64::from(k.eps_c));
        let cells = self
            .filters
            .chunks_exact_mut(FILTER_WORDS)
            .zip(self.acc.iter_mut());
        for (cell, a) in cells {
            let x = core::mem::take(a).clamp(lo, hi) << f;
            let p = pole(a2, neg_a_sq, cell[0], cell[1], c * i64::from(x) + HALF);
            cell[1] = cell[0];
            cell[0] = p;
        }
    }

    /// Pass 2: the `ν` filter of every neuron takes its last spike; then
    /// `u = p + r ≥ θ` gives the new spike bits.
    fn fire(&mut self, k: &NeuronConsts) {
        let (a2, neg_a_sq, theta) = (k.nu_a2, -k.nu_a_sq, k.theta);
        let quiet = HALF;
        let spiked = (i64::from(k.nu_1) << COEF_FRAC_BITS) + HALF;
        let lanes = self
            .filters
            .chunks_mut(32 * FILTER_WORDS)
            .zip(self.spikes.iter_mut());
        for (filters, word) in lanes {
            let old = *word as u32;
            let mut new = 0u32;
            for (b, cell) in filters.chunks_exact_mut(FILTER_WORDS).enumerate() {
                let start = if (old >> b) & 1 != 0 { spiked } else { quiet };
                let r = pole(a2, neg_a_sq, cell[2], cell[3], start);
                cell[3] = cell[2];
                cell[2] = r;
                if cell[0].saturating_add(r) >= theta {
                    new |= 1 << b;
                }
            }
            *word = new as i32;
        }
    }
}

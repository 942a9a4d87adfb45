//! One bin of a population of SRM neurons, integer only (the update is
//! documented in [`crate::fixed`]).
//!
//! Neurons are updated in blocks (256 on hosts, 32 on 32-bit Arm). A block
//! whose every neuron is *at rest* is skipped: no input this bin, no spike
//! last bin, and both filters sitting on a fixed point of their own update
//! (`y1 = y2 = v` with `v` inside the dead band where rounding keeps the
//! decay from moving it, which includes 0). The full update of such a
//! neuron would leave every word of its state unchanged and emit no spike,
//! so skipping it is exact.

use super::filter::{dead_band, pole, HALF};
use crate::fixed::{NeuronConsts, COEF_FRAC_BITS};

/// When a neuron of a layer is at rest (see the module documentation).
#[derive(Debug, Clone, Copy)]
struct Rest {
    p_lo: i32,
    p_span: u32,
    r_lo: i32,
    r_span: u32,
}

impl Rest {
    /// The resting bands of a layer, `None` when its filters have none or
    /// a resting neuron could reach `θ` (then nothing is skipped).
    fn of(k: &NeuronConsts) -> Option<Self> {
        let (p_lo, p_hi) = dead_band(k.eps_a2, k.eps_a_sq)?;
        let (r_lo, r_hi) = dead_band(k.nu_a2, k.nu_a_sq)?;
        if p_hi.saturating_add(r_hi) >= k.theta {
            return None;
        }
        Some(Self {
            p_lo,
            p_span: p_hi.wrapping_sub(p_lo) as u32,
            r_lo,
            r_span: r_hi.wrapping_sub(r_lo) as u32,
        })
    }

    /// True when every `ε` filter of the block rests (`y1 = y2` in the
    /// band) and has no input.
    #[inline]
    fn p_block(&self, y1: &[i32], y2: &[i32], a: &[i32]) -> bool {
        let mut busy = 0u32;
        for ((&p1, &p2), &x) in y1.iter().zip(y2).zip(a) {
            busy |= u32::from(x != 0)
                | u32::from(p1 != p2)
                | u32::from(p1.wrapping_sub(self.p_lo) as u32 > self.p_span);
        }
        busy == 0
    }

    /// True when every `ν` filter of the block rests (the caller checks
    /// that no neuron spiked).
    #[inline]
    fn r_block(&self, y1: &[i32], y2: &[i32]) -> bool {
        let mut busy = 0u32;
        for (&r1, &r2) in y1.iter().zip(y2) {
            busy |=
                u32::from(r1 != r2) | u32::from(r1.wrapping_sub(self.r_lo) as u32 > self.r_span);
        }
        busy == 0
    }
}

/// Neurons updated together (and skipped together when all rest): eight
/// words of spike bits on hosts (longer vector loops), one word on 32-bit
/// Arm (a small stack frame, finer skipping).
#[cfg(not(target_arch = "arm"))]
const CHUNK: usize = 256;
#[cfg(target_arch = "arm")]
const CHUNK: usize = 32;

/// The order in which a population keeps its neurons' state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccOrder {
    /// Accumulator, filter values and spike bit `j` belong to neuron `j`.
    Linear,
    /// Channel-last: neuron `c·plane + q` (channel `c` of `channels`,
    /// position `q` of `plane`) keeps its accumulator, filter values and
    /// own spike bit (in the `busy` words) at slot `q·channels + c`, the
    /// layout of the fast convolution scatter. The `spikes` words, which
    /// the next layer reads, stay in neuron order (see [`AccOrder::slot`]).
    ChannelLast {
        /// Positions per channel.
        plane: usize,
        /// Channels.
        channels: usize,
        /// The sums of slots `2i` and `2i + 1` share accumulator word `i`
        /// (see `scatter::conv_channel_last`).
        paired: bool,
    },
}

impl AccOrder {
    /// The channel-last order of a convolution with output `out`.
    pub(crate) fn channel_last(out: crate::model::Shape, paired: bool) -> Self {
        Self::ChannelLast {
            plane: (out.h * out.w) as usize,
            channels: out.c as usize,
            paired,
        }
    }

    /// The slot of neuron `j`.
    pub(crate) fn slot(self, j: usize) -> usize {
        match self {
            Self::Linear => j,
            Self::ChannelLast {
                plane, channels, ..
            } => {
                let plane = plane.max(1);
                (j % plane) * channels + j / plane
            }
        }
    }
}

/// The region of a population in the state arena, split into its arrays.
///
/// Each filter keeps its last two values in two arrays that swap roles
/// every bin (the engine's `parity` says which holds the newest): the new
/// value overwrites the older one, so nothing is copied.
pub(crate) struct Population<'s> {
    /// `ε` filter values, arrays 0 and 1.
    pub p: [&'s mut [i32]; 2],
    /// `ν` filter values, arrays 0 and 1.
    pub r: [&'s mut [i32]; 2],
    /// Synaptic input summed for the next bin, weight LSB.
    pub acc: &'s mut [i32],
    /// Spikes of the last bin, bit-packed.
    pub spikes: &'s mut [i32],
    /// Neurons whose `ν` state is not 0, bit-packed (kept by the 32-bit Arm
    /// path, `lean.rs`, for linear populations); a channel-last population
    /// keeps its spike bits by slot here instead.
    pub busy: &'s mut [i32],
}

/// Offsets (in a population region of `n` neurons) of the newest `p` and
/// `r` after a bin run with `parity` (see [`Population::update`]).
pub(crate) fn newest(n: usize, parity: bool) -> (usize, usize) {
    // A bin run at parity `q` writes into array `1 − q`.
    let i = usize::from(!parity);
    (i * n, (2 + i) * n)
}

impl<'s> Population<'s> {
    /// Splits a region of `5n + 2⌈n/32⌉` words: `p0 p1 r0 r1 acc` (`n`
    /// each), then the spike words and the busy words (shorter regions give
    /// shorter arrays; the update then covers fewer neurons, never panics).
    pub(crate) fn split(region: &'s mut [i32], n: usize) -> Self {
        let (p0, rest) = region.split_at_mut(n.min(region.len()));
        let (p1, rest) = rest.split_at_mut(n.min(rest.len()));
        let (r0, rest) = rest.split_at_mut(n.min(rest.len()));
        let (r1, rest) = rest.split_at_mut(n.min(rest.len()));
        let (acc, rest) = rest.split_at_mut(n.min(rest.len()));
        let w = n.div_ceil(32).min(rest.len());
        let (spikes, rest) = rest.split_at_mut(w);
        let b = w.min(rest.len());
        Self {
            p: [p0, p1],
            r: [r0, r1],
            acc,
            spikes,
            busy: &mut rest[..b],
        }
    }

    /// Advances every neuron by one bin: the PSP takes the input summed in
    /// `acc` during the previous bin (and clears it), the refractory filter
    /// the neuron's spike of the previous bin; then `u ≥ θ` gives the new
    /// spike bits. `parity` names the arrays holding the newest values
    /// (array `parity` before the bin, array `1 − parity` after). Blocks of
    /// 32 neurons at rest are skipped (exactly).
    ///
    /// With `look` false no block is checked for rest (everything is
    /// updated, which gives the same result). Returns true when some block
    /// was found (partly) at rest.
    ///
    /// The engine calls this through `arch::update`: the lean path takes
    /// its own update for linear accumulators (see `engine/arch`).
    pub(crate) fn update(
        &mut self,
        k: &NeuronConsts,
        order: AccOrder,
        parity: bool,
        look: bool,
    ) -> bool {
        let rest = if look { Rest::of(k) } else { None };
        let mut found = false;
        let n = [
            self.acc.len(),
            self.p[0].len(),
            self.p[1].len(),
            self.r[0].len(),
            self.r[1].len(),
        ]
        .into_iter()
        .min()
        .unwrap_or(0);
        let new = usize::from(parity);
        let [p0, p1] = &mut self.p;
        let (py1, py2): (&[i32], &mut [i32]) = if new == 0 {
            (&**p0, &mut **p1)
        } else {
            (&**p1, &mut **p0)
        };
        let [r0, r1] = &mut self.r;
        let (ry1, ry2): (&[i32], &mut [i32]) = if new == 0 {
            (&**r0, &mut **r1)
        } else {
            (&**r1, &mut **r0)
        };
        let mut a = [0i32; CHUNK];
        // Results of the offset form, copied over when exact.
        #[cfg(not(target_arch = "arm"))]
        let (fast, mut t) = (super::offset::Offset::new(k), [0i32; CHUNK]);

        // The loop below reads and writes spike bits in slot order: a
        // channel-last population keeps those in its `busy` words (swapped
        // in here and back after, then copied over to neuron order).
        if matches!(order, AccOrder::ChannelLast { .. }) {
            core::mem::swap(&mut self.spikes, &mut self.busy);
        }
        for (ch, words) in self.spikes.chunks_mut(CHUNK / 32).enumerate() {
            let j0 = CHUNK * ch;
            if j0 >= n {
                break;
            }
            let m = (n - j0).min(CHUNK);
            let a = &mut a[..m];
            if matches!(order, AccOrder::ChannelLast { paired: true, .. }) {
                // j0 is even (a multiple of CHUNK).
                let words = self
                    .acc
                    .get_mut(j0 / 2..(j0 + m).div_ceil(2))
                    .unwrap_or(&mut []);
                if 2 * words.len() < m {
                    a.fill(0); // (only for an accumulator array cut short)
                }
                for (pair, &w) in a.chunks_exact_mut(2).zip(words.iter()) {
                    (pair[0], pair[1]) = super::sum::unpair(w);
                }
                words.fill(0);
            } else {
                let acc = &mut self.acc[j0..j0 + m];
                a.copy_from_slice(acc);
                acc.fill(0);
            }
            let (p1, p2) = (&py1[j0..j0 + m], &mut py2[j0..j0 + m]);
            let (r1, r2) = (&ry1[j0..j0 + m], &mut ry2[j0..j0 + m]);
            let quiet = words.iter().all(|&w| w == 0);
            let (p_rest, r_rest) = match rest {
                Some(q) => (q.p_block(p1, p2, a), quiet && q.r_block(r1, r2)),
                None => (false, false),
            };
            found |= p_rest || r_rest;
            // The common case on hosts: both filters of every neuron move,
            // and every value is small enough for the offset form to be
            // exact without checks; one pass, in place.
            #[cfg(not(target_arch = "arm"))]
            if !p_rest && !r_rest && fast.bounded(p1, p2, r1, r2, a) {
                for (w, word) in words.iter_mut().enumerate() {
                    let (lo, hi) = ((32 * w).min(m), (32 * w + 32).min(m));
                    let bits = fast.step_word(
                        (&p1[lo..hi], &mut p2[lo..hi]),
                        (&r1[lo..hi], &mut r2[lo..hi]),
                        &a[lo..hi],
                        *word as u32,
                    );
                    *word = bits as i32;
                }
                continue;
            }
            // A resting filter's new value is its old one (y1 = y2): the
            // arrays already hold it whichever is read as newest.
            if !p_rest {
                #[cfg(not(target_arch = "arm"))]
                if fast.psp(p1, p2, a, &mut t[..m]) == 0 {
                    p2.copy_from_slice(&t[..m]);
                } else {
                    psp(p1, p2, a, k);
                }
                #[cfg(target_arch = "arm")]
                psp(p1, p2, a, k);
            }
            if p_rest && r_rest {
                continue; // no change, no spike
            }
            let p = if p_rest { p1 } else { &*p2 };
            #[cfg(not(target_arch = "arm"))]
            if !r_rest {
                let mut flag = 0u32;
                let mut bits = [0u32; CHUNK / 32];
                for (w, (word, bits)) in words.iter().zip(&mut bits).enumerate() {
                    let (lo, hi) = ((32 * w).min(m), (32 * w + 32).min(m));
                    let r = (&r1[lo..hi], &r2[lo..hi]);
                    *bits = fast.fire(
                        &p[lo..hi],
                        r.0,
                        r.1,
                        *word as u32,
                        &mut t[lo..hi],
                        &mut flag,
                    );
                }
                if flag == 0 {
                    r2.copy_from_slice(&t[..m]);
                    for (word, &bits) in words.iter_mut().zip(&bits) {
                        *word = bits as i32;
                    }
                    continue;
                }
            }
            for (w, word) in words.iter_mut().enumerate() {
                let (lo, hi) = ((32 * w).min(m), (32 * w + 32).min(m));
                let (p, r1, r2) = (&p[lo..hi], &r1[lo..hi], &mut r2[lo..hi]);
                *word = if r_rest {
                    threshold(p, r1, k) as i32
                } else {
                    fire(p, r1, r2, *word as u32, k) as i32
                };
            }
        }
        if let AccOrder::ChannelLast {
            plane, channels, ..
        } = order
        {
            core::mem::swap(&mut self.spikes, &mut self.busy);
            to_neuron_order(self.busy, self.spikes, plane, channels);
        }
        found
    }
}

/// Rewrites the spike bits of a channel-last population (`own`, by slot)
/// in neuron order (`spikes`), one set bit at a time.
fn to_neuron_order(own: &[i32], spikes: &mut [i32], plane: usize, channels: usize) {
    spikes.fill(0);
    let channels = channels.max(1);
    let shift = channels
        .is_power_of_two()
        .then(|| channels.trailing_zeros());
    for (w, &word) in own.iter().enumerate() {
        let mut bits = word as u32;
        while bits != 0 {
            let i = 32 * w + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let (q, c) = match shift {
                Some(s) => (i >> s, i & (channels - 1)),
                None => (i / channels, i % channels),
            };
            let j = c * plane + q;
            if let Some(x) = spikes.get_mut(j / 32) {
                *x |= 1 << (j % 32);
            }
        }
    }
}

/// The `ε` filters of a block take their input: `y2 ← pole(y1, y2, c·x)`
/// (`y2` becomes the newest value).
#[inline]
fn psp(y1: &[i32], y2: &mut [i32], a: &[i32], k: &NeuronConsts) {
    let f = u32::from(k.frac_bits);
    // `a` in [lo, hi] ⇒ `a << f` fits i32 exactly; beyond, it saturates.
    let hi = i32::MAX >> f;
    let lo = -hi - 1;
    let (a2, neg_a_sq, c) = (k.eps_a2, -k.eps_a_sq, i64::from(k.eps_c));
    for ((&p1, p2), &x) in y1.iter().zip(y2.iter_mut()).zip(a) {
        let x = x.clamp(lo, hi) << f;
        *p2 = pole(a2, neg_a_sq, p1, *p2, c * i64::from(x) + HALF);
    }
}

/// The `ν` filters of a block take their last spikes (bits of `old`):
/// `y2 ← pole(y1, y2, ν1·s)`; then `u = p + r ≥ θ` gives the new spike bits.
#[inline]
fn fire(p: &[i32], y1: &[i32], y2: &mut [i32], old: u32, k: &NeuronConsts) -> u32 {
    let (a2, neg_a_sq, theta) = (k.nu_a2, -k.nu_a_sq, i64::from(k.theta));
    let kick = i64::from(k.nu_1) << COEF_FRAC_BITS;
    let mut new = 0u32;
    for (b, ((&r1, r2), &p)) in y1.iter().zip(y2.iter_mut()).zip(p).enumerate() {
        let start = if (old >> b) & 1 != 0 {
            kick + HALF
        } else {
            HALF
        };
        let r = pole(a2, neg_a_sq, r1, *r2, start);
        *r2 = r;
        // `sat(p + r) ≥ θ` (θ ≥ 1) is `p + r ≥ θ` in i64.
        new |= u32::from(i64::from(p) + i64::from(r) >= theta) << b;
    }
    new
}

/// The spike test alone, for a block whose `ν` filters rest.
#[inline]
fn threshold(p: &[i32], r: &[i32], k: &NeuronConsts) -> u32 {
    let theta = i64::from(k.theta);
    let mut new = 0u32;
    for (b, (&p, &r)) in p.iter().zip(r).enumerate() {
        new |= u32::from(i64::from(p) + i64::from(r) >= theta) << b;
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slow `ε` filter fed a steady input just inside the offset form's
    /// bound: the potentials grow through `2^27` and `2^30` to saturation.
    /// The update matches the exact double poles in every bin: a block
    /// whose values left the offset form's bound never takes its unchecked
    /// pass, and the flagged form hands saturation to the exact update.
    #[test]
    fn growing_potentials_leave_the_fast_path_exactly() {
        let q = |v: f64| (v * f64::from(1u32 << 30)).round() as i32;
        let (a, b) = ((-1.0f64 / 50.0).exp(), (-1.0f64).exp());
        let f = 4u8;
        let k = NeuronConsts {
            frac_bits: f,
            theta: i32::MAX,
            eps_a2: q(2.0 * a),
            eps_a_sq: q(a * a),
            eps_c: q(0.5),
            nu_a2: q(2.0 * b),
            nu_a_sq: q(b * b),
            nu_1: -(1 << 21),
        };
        let n = 300usize;
        let mut region = std::vec![0i32; 5 * n + 2 * n.div_ceil(32)];
        // Reference state: [p(t-1), p(t-2)] per neuron.
        let mut want = std::vec![[0i32; 2]; n];
        let (mut seen_large, mut seen_saturated) = (false, false);
        for bin in 0..400usize {
            let parity = bin % 2 == 1;
            let mut pop = Population::split(&mut region, n);
            // Neuron j gets (2^27 >> f) − 1 − j every bin: all inputs in bound.
            for (j, x) in pop.acc.iter_mut().enumerate() {
                *x = ((1 << 27) >> f) - 1 - j as i32;
            }
            pop.update(&k, AccOrder::Linear, parity, bin % 3 == 0);
            let (p_at, _) = newest(n, parity);
            for (j, w) in want.iter_mut().enumerate() {
                let x = (((1 << 27) >> f) - 1 - j as i32) << f;
                let start = i64::from(k.eps_c) * i64::from(x) + HALF;
                let p = pole(k.eps_a2, -k.eps_a_sq, w[0], w[1], start);
                *w = [p, w[0]];
                assert_eq!(region[p_at + j], p, "neuron {j}, bin {bin}");
                seen_large |= p >= 1 << 30;
                seen_saturated |= p == i32::MAX;
            }
        }
        assert!(seen_large && seen_saturated);
    }

    #[test]
    fn dead_bands_are_exactly_the_fixed_points() {
        for (tau, ts) in [
            (10.0f64, 1.0f64),
            (1.0, 1.0),
            (5.0, 0.5),
            (100.0, 1.0),
            (1.2, 1.0),
        ] {
            let a = (-ts / tau).exp();
            let q = |v: f64| (v * f64::from(1u32 << 30)).round() as i32;
            let (a2, a_sq) = (q(2.0 * a), q(a * a));
            let (lo, hi) = dead_band(a2, a_sq).unwrap();
            assert!(lo <= 0 && hi >= 0, "{tau}: [{lo}, {hi}]");
            let span = i64::from(hi - lo) + 40;
            for v in i64::from(lo) - 20..=i64::from(lo) + span {
                let v = v as i32;
                let fixed = pole(a2, -a_sq, v, v, HALF) == v;
                assert_eq!(fixed, (lo..=hi).contains(&v), "tau {tau}, v {v}");
            }
        }
        // A filter that does not decay (2a − a² = 1) has no band.
        assert_eq!(dead_band(1 << 30, 0), None);
    }
}

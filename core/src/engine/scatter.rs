//! Event-driven synaptic input: each input spike adds its weights to the
//! accumulators of the neurons it reaches (saturating, never wrapping).
//!
//! Every accumulator starts the scatter at 0 and takes at most one weight
//! per input spike. When the number of spikes that can reach one neuron in
//! a bin times the largest weight magnitude fits `i32`, no partial sum can
//! saturate, and plain additions (which the compiler vectorises) give the
//! same sums as saturating ones; otherwise the additions saturate, in input
//! order per accumulator, exactly as a neuron-by-neuron scatter would.

use super::arch;
use super::spikes::Spikes;
use super::sum::{add_i32, no_overflow, Add, Plain, Read, Sat, I16, I8};
use crate::model::{Conv2d, ConvGeometry, Dense, SumPool, WeightBits};

/// Largest weight magnitude of a width.
fn max_weight(bits: WeightBits) -> u64 {
    bits.max() as u64 + 1
}

/// Dense: every spike `i` adds weight column `w[i·outputs ..][.. outputs]`.
/// `reach` bounds the spikes that can reach one neuron.
pub(crate) fn dense(
    acc: &mut [i32],
    d: &Dense<'_>,
    bits: WeightBits,
    spikes: Spikes<'_>,
    reach: u64,
) {
    dense_rows(
        acc,
        d.weights,
        d.outputs,
        d.neuron.frac_bits,
        bits,
        spikes,
        reach,
    );
}

/// [`dense`] on the weight blob of `outputs` columns, for a population
/// with `frac_bits` fractional state bits (also a LIF layer's scatter).
pub(crate) fn dense_rows(
    acc: &mut [i32],
    weights: &[u8],
    outputs: u32,
    frac_bits: u8,
    bits: WeightBits,
    spikes: Spikes<'_>,
    reach: u64,
) {
    let plain = no_overflow(reach, max_weight(bits));
    if (bits, plain) == (WeightBits::I8, true) {
        arch::dense_i8(acc, weights, outputs as usize, spikes);
    } else {
        arch::fresh(acc);
        match (bits, plain) {
            (WeightBits::I8, _) => dense_with::<I8, Sat>(acc, weights, outputs, spikes),
            (WeightBits::I16, true) => dense_with::<I16, Plain>(acc, weights, outputs, spikes),
            (WeightBits::I16, false) => dense_with::<I16, Sat>(acc, weights, outputs, spikes),
        }
    }
    arch::fit(acc, frac_bits, reach.saturating_mul(max_weight(bits)));
}

fn dense_with<R: Read, A: Add>(acc: &mut [i32], weights: &[u8], outputs: u32, spikes: Spikes<'_>) {
    let col = outputs as usize * R::BYTES;
    for i in spikes {
        let at = i as usize * col;
        if let Some(w) = weights.get(at..at + col) {
            R::add_run::<A>(acc, w);
        }
    }
}

/// Channel, row and column of ascending neuron indices of a `(c, h, w)`
/// tensor, tracked from one index to the next without dividing when the
/// step is shorter than a row (spikes of a bin come in ascending order);
/// longer steps divide, or shift when `h` and `w` are powers of two.
struct Coords {
    hw: usize,
    h: usize,
    w: usize,
    /// `log2 w` and `log2 (h·w)` when both are powers of two.
    shifts: Option<(u32, u32)>,
    n: usize,
    c: usize,
    y: usize,
    x: usize,
}

impl Coords {
    fn new(h: usize, w: usize) -> Self {
        let hw = h * w;
        Self {
            hw,
            h,
            w,
            shifts: (w.is_power_of_two() && hw.is_power_of_two())
                .then(|| (w.trailing_zeros(), hw.trailing_zeros())),
            n: 0,
            c: 0,
            y: 0,
            x: 0,
        }
    }

    /// `(c, y, x)` of index `n` (`h·w > 0`).
    #[inline(always)]
    fn of(&mut self, n: usize) -> (usize, usize, usize) {
        let step = n.wrapping_sub(self.n);
        if step < self.w {
            self.x += step;
            if self.x >= self.w {
                self.x -= self.w;
                self.y += 1;
                if self.y == self.h {
                    self.y = 0;
                    self.c += 1;
                }
            }
        } else if let Some((sw, shw)) = self.shifts {
            self.c = n >> shw;
            let r = n & (self.hw - 1);
            self.y = r >> sw;
            self.x = r & (self.w - 1);
        } else {
            self.c = n / self.hw;
            let r = n - self.c * self.hw;
            self.y = r / self.w;
            self.x = r - self.y * self.w;
        }
        self.n = n;
        (self.c, self.y, self.x)
    }
}

/// Output coordinates `[lo, hi)` along one axis whose window covers input
/// coordinate `i` (kernel `k`, stride `s`, padding `p`, `out` outputs).
#[inline]
fn reach(i: usize, k: usize, s: usize, p: usize, out: usize) -> (usize, usize) {
    let q = i + p;
    if s == 1 {
        // The usual stride, without the two divisions (a large share of
        // the cost of a spike otherwise).
        let lo = (q + 1).saturating_sub(k);
        let hi = (q + 1).min(out);
        return (lo, hi.max(lo));
    }
    let lo = (q + 1).saturating_sub(k).div_ceil(s);
    let hi = (q / s + 1).min(out);
    (lo, hi.max(lo))
}

/// The sizes of a convolution, as `usize`.
#[derive(Clone, Copy)]
struct Geo {
    ic: usize,
    ih: usize,
    iw: usize,
    oc: usize,
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    sy: usize,
    sx: usize,
    py: usize,
    px: usize,
}

impl Geo {
    fn of(c: &Conv2d<'_>) -> Option<Self> {
        Self::of_geometry(&c.geometry)
    }

    fn of_geometry(g: &ConvGeometry) -> Option<Self> {
        let out = g.output()?;
        let geo = Self {
            ic: g.input.c as usize,
            ih: g.input.h as usize,
            iw: g.input.w as usize,
            oc: out.c as usize,
            oh: out.h as usize,
            ow: out.w as usize,
            kh: g.kernel.0 as usize,
            kw: g.kernel.1 as usize,
            sy: g.stride.0 as usize,
            sx: g.stride.1 as usize,
            py: g.padding.0 as usize,
            px: g.padding.1 as usize,
        };
        // Only an invalid geometry, which validation rejects, fails this.
        (geo.ih * geo.iw > 0 && geo.oh * geo.ow > 0 && geo.sy > 0 && geo.sx > 0).then_some(geo)
    }

    /// Input spikes that can reach one output: `in_c · kh · kw`.
    fn fan_in(&self) -> u64 {
        (self.ic * self.kh * self.kw) as u64
    }

    /// The weights of the convolution, `out_c · in_c · kh · kw`: where the
    /// paired copy starts in its scratch (see [`conv_prepare`]).
    fn weights(&self) -> usize {
        self.oc * self.ic * self.kh * self.kw
    }
}

/// The spikes that can reach one neuron of a convolution in a bin, for
/// input bits (`None`) or a caller's list of `len` entries.
pub(crate) fn conv_reach(g: &ConvGeometry, list: Option<usize>) -> u64 {
    match list {
        Some(n) => n as u64,
        None => Geo::of_geometry(g).map_or(u64::MAX, |g| g.fan_in()),
    }
}

/// Convolution: every spike at `(c, y, x)` adds, for each output channel,
/// the kernel taps that cover it to the outputs whose windows contain it.
/// Accumulators in neuron order (channel-major).
pub(crate) fn conv(
    acc: &mut [i32],
    c: &Conv2d<'_>,
    bits: WeightBits,
    spikes: Spikes<'_>,
    reach: u64,
) {
    let f = c.neuron.frac_bits;
    conv_rows(acc, &c.geometry, c.weights, f, bits, spikes, reach);
}

/// [`conv`] with geometry `g` and weight blob `weights`, for a population
/// with `frac_bits` fractional state bits (also a LIF convolution's scatter).
pub(crate) fn conv_rows(
    acc: &mut [i32],
    g: &ConvGeometry,
    weights: &[u8],
    frac_bits: u8,
    bits: WeightBits,
    spikes: Spikes<'_>,
    reach: u64,
) {
    let plain = no_overflow(reach, max_weight(bits));
    arch::fresh(acc);
    if let Some(g) = Geo::of_geometry(g) {
        match (bits, plain) {
            (WeightBits::I8, true) => conv_with::<I8, Plain>(acc, &g, weights, spikes),
            (WeightBits::I8, false) => conv_with::<I8, Sat>(acc, &g, weights, spikes),
            (WeightBits::I16, true) => conv_with::<I16, Plain>(acc, &g, weights, spikes),
            (WeightBits::I16, false) => conv_with::<I16, Sat>(acc, &g, weights, spikes),
        }
    }
    arch::fit(acc, frac_bits, reach.saturating_mul(max_weight(bits)));
}

fn conv_with<R: Read, A: Add>(acc: &mut [i32], g: &Geo, weights: &[u8], spikes: Spikes<'_>) {
    let (ohw, khw) = (g.oh * g.ow, g.kh * g.kw);
    let mut at = Coords::new(g.ih, g.iw);
    for n in spikes {
        let (ch, iy, ix) = at.of(n as usize);
        let (y0, y1) = reach(iy, g.kh, g.sy, g.py, g.oh);
        let (x0, x1) = reach(ix, g.kw, g.sx, g.px, g.ow);
        if y0 == y1 || x0 == x1 {
            continue;
        }
        for (o, ao) in acc.chunks_exact_mut(ohw).enumerate() {
            let base = (o * g.ic + ch) * khw;
            let Some(wk) = weights.get(base * R::BYTES..(base + khw) * R::BYTES) else {
                continue;
            };
            for oy in y0..y1 {
                let krow = (iy + g.py - oy * g.sy) * g.kw;
                let arow = &mut ao[oy * g.ow + x0..oy * g.ow + x1];
                for (ox, a) in (x0..x1).zip(arow) {
                    *a = A::add(*a, R::at(wk, krow + ix + g.px - ox * g.sx));
                }
            }
        }
    }
}

/// Words of the channel-last weight copies of a convolution (see
/// [`conv_prepare`]): one `i32` per weight, then one per pair of weights.
pub(crate) fn conv_scratch_words(c: &Conv2d<'_>) -> usize {
    c.geometry
        .weight_count()
        .map_or(0, |n| n as usize + (n as usize).div_ceil(2))
}

/// Writes the weights of `c` in the order `[in_c][ky][kw − 1 − kx][out_c]`
/// into `out`, twice: widened to `i32`, then (for an even number of output
/// channels) *paired*, the weights of channels `2i` and `2i + 1` in one
/// word as `w0 + 65536·w1` (see [`conv_channel_last`]). For one input
/// spike and one output row, the weights of all output channels and all
/// covered output columns then form one contiguous run, matching
/// channel-last accumulators. False when `out` is too short.
pub(crate) fn conv_prepare(c: &Conv2d<'_>, bits: WeightBits, out: &mut [i32]) -> bool {
    let Some(g) = Geo::of(c) else { return false };
    if out.len() < conv_scratch_words(c) {
        return false;
    }
    let (wide, pairs) = out.split_at_mut(g.weights().min(out.len()));
    for o in 0..g.oc {
        for ch in 0..g.ic {
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let src = ((o * g.ic + ch) * g.kh + ky) * g.kw + kx;
                    let dst = ((ch * g.kh + ky) * g.kw + (g.kw - 1 - kx)) * g.oc + o;
                    if let (Some(w), Some(d)) = (bits.get(c.weights, src), wide.get_mut(dst)) {
                        *d = w;
                    }
                }
            }
        }
    }
    if g.oc % 2 == 0 {
        for (p, w) in pairs.iter_mut().zip(wide.chunks_exact(2)) {
            *p = w[0].wrapping_add(w[1].wrapping_mul(1 << 16));
        }
    }
    true
}

/// Largest sum one 16-bit lane of a paired accumulator may reach.
const LANE_MAX: u64 = i16::MAX as u64;

/// Convolution into channel-last accumulators (accumulator `p·out_c + o`
/// for output channel `o` at position `p = y·W + x`) with the weight copies
/// made by [`conv_prepare`]: per spike and output row, one contiguous run
/// of additions. Each accumulator still takes its weights in input order,
/// so saturating sums equal those of [`conv`].
///
/// When no sum of a bin can leave `i16` (the spikes that can reach a
/// neuron times the largest weight, at most 32,767) and the channels pair
/// up, the sums are kept *paired*: word `i` of `acc` holds the sums of
/// slots `2i` and `2i + 1` as `s0 + 65536·s1` (exact in `i32`, and adding
/// paired weights adds both), half the additions; [`unpair`](super::sum::unpair) reads them.
/// Returns whether the sums are paired.
pub(crate) fn conv_channel_last(
    acc: &mut [i32],
    c: &Conv2d<'_>,
    bits: WeightBits,
    wt: &[i32],
    spikes: Spikes<'_>,
    reach: u64,
) -> bool {
    let Some(g) = Geo::of(c) else { return false };
    let (wide, pairs) = wt.split_at(g.weights().min(wt.len()));
    if g.oc % 2 == 0 && reach.saturating_mul(max_weight(bits)) <= LANE_MAX {
        conv_cl::<Plain>(acc, &g, g.oc / 2, pairs, spikes);
        true
    } else if no_overflow(reach, max_weight(bits)) {
        conv_cl::<Plain>(acc, &g, g.oc, wide, spikes);
        false
    } else {
        conv_cl::<Sat>(acc, &g, g.oc, wide, spikes);
        false
    }
}

/// The scatter of [`conv_channel_last`] with `oc` words per position
/// (channels, or channel pairs) and weight rows of `oc` words per tap.
fn conv_cl<A: Add>(acc: &mut [i32], g: &Geo, oc: usize, wt: &[i32], spikes: Spikes<'_>) {
    let mut at = Coords::new(g.ih, g.iw);
    for n in spikes {
        let (ch, iy, ix) = at.of(n as usize);
        let (y0, y1) = reach(iy, g.kh, g.sy, g.py, g.oh);
        let (x0, x1) = reach(ix, g.kw, g.sx, g.px, g.ow);
        if y0 == y1 || x0 == x1 {
            continue;
        }
        for oy in y0..y1 {
            let ky = iy + g.py - oy * g.sy;
            let row = (ch * g.kh + ky) * g.kw;
            if g.sx == 1 {
                // Columns x0..x1 take taps kx = ix + px − ox, i.e. reversed
                // taps kw − 1 − kx ascending with ox: one run.
                let r0 = row + g.kw - 1 - (ix + g.px - x0);
                let len = (x1 - x0) * oc;
                let a0 = (oy * g.ow + x0) * oc;
                if let (Some(a), Some(w)) =
                    (acc.get_mut(a0..a0 + len), wt.get(r0 * oc..r0 * oc + len))
                {
                    add_i32::<A>(a, w);
                }
            } else {
                for ox in x0..x1 {
                    let r = row + g.kw - 1 - (ix + g.px - ox * g.sx);
                    let a0 = (oy * g.ow + ox) * oc;
                    if let (Some(a), Some(w)) =
                        (acc.get_mut(a0..a0 + oc), wt.get(r * oc..r * oc + oc))
                    {
                        add_i32::<A>(a, w);
                    }
                }
            }
        }
    }
}

/// The spikes that can reach one neuron of a pooling layer in a bin.
pub(crate) fn pool_reach(p: &SumPool, list: Option<usize>) -> u64 {
    match list {
        Some(n) => n as u64,
        None => u64::from(p.size).saturating_mul(u64::from(p.size)),
    }
}

/// Sum pooling: every spike adds the tap weight to the one output whose
/// window holds it (none for cells of the cropped remainder).
pub(crate) fn pool(acc: &mut [i32], p: &SumPool, spikes: Spikes<'_>, reach: u64) {
    let tap = u64::from(p.tap.unsigned_abs());
    arch::fresh(acc);
    if no_overflow(reach, tap) {
        pool_with::<Plain>(acc, p, spikes);
    } else {
        pool_with::<Sat>(acc, p, spikes);
    }
    arch::fit(acc, p.neuron.frac_bits, reach.saturating_mul(tap));
}

fn pool_with<A: Add>(acc: &mut [i32], p: &SumPool, spikes: Spikes<'_>) {
    let Some(out) = p.output() else { return };
    let (ih, iw) = (p.input.h as usize, p.input.w as usize);
    let (oh, ow, s) = (out.h as usize, out.w as usize, p.size as usize);
    if ih * iw == 0 || s == 0 {
        return; // only for an invalid geometry, which validation rejects
    }
    let mut at = Coords::new(ih, iw);
    // Pool sizes are usually powers of two: shift instead of dividing.
    let shift = s.is_power_of_two().then(|| s.trailing_zeros());
    for n in spikes {
        let (ch, iy, ix) = at.of(n as usize);
        let (oy, ox) = match shift {
            Some(k) => (iy >> k, ix >> k),
            None => (iy / s, ix / s),
        };
        if oy < oh && ox < ow {
            if let Some(a) = acc.get_mut((ch * oh + oy) * ow + ox) {
                *a = A::add(*a, p.tap);
            }
        }
    }
}

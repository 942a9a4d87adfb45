//! 2-D convolution synapses, applied independently in every time bin
//! (kernel depth 1 in time), event-driven in the input spikes.
//!
//! The map is PyTorch's `conv2d` (a cross-correlation, no bias):
//!
//! ```text
//! a[o, oy, ox] = Σ_{c, ky, kx} w[o, c, ky, kx] · s[c, oy·sy − py + ky, ox·sx − px + kx]
//! ```
//!
//! with the input zero outside its `H × W` extent. Every tensor is flattened
//! channel, then row, then column (`c·H·W + y·W + x`, SLAYER.md §3).

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::Synapse;
use crate::spikes::SpikeTrain;

/// Number of outputs along one axis of a convolution, as PyTorch computes it:
/// `(input + 2·padding − kernel) / stride + 1`.
///
/// `None` when any of `input`, `kernel` and `stride` is zero, or when the
/// kernel is larger than the padded input (PyTorch raises an error there).
/// The core's [`slayer_core::model::conv_output_len`] (one rule for the
/// trainer and the engine), on `usize`: `None` also for sizes beyond `u32`.
pub fn output_len(input: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    let u = |v: usize| u32::try_from(v).ok();
    slayer_core::model::conv_output_len(u(input)?, u(kernel)?, u(stride)?, u(padding)?)
        .map(|n| n as usize)
}

/// Per input coordinate, a half-open range of output coordinates.
type Reach = Vec<(usize, usize)>;

/// For every input coordinate `i` along one axis, the half-open range of
/// output coordinates whose receptive field contains it (empty when `i`
/// only falls between strided windows). Tap of output `o`: `i + p − o·s`.
fn reach(input: usize, out: usize, kernel: usize, stride: usize, padding: usize) -> Reach {
    (0..input)
        .map(|i| {
            let q = i + padding;
            let lo = (q + 1).saturating_sub(kernel).div_ceil(stride);
            let hi = (q / stride + 1).min(out);
            (lo, hi.max(lo))
        })
        .collect()
}

/// `Σ a[i]·b[i]` with eight independent partial sums, so that it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// A per-time-step 2-D convolution without bias (PyTorch `conv2d` semantics).
///
/// **Weight layout**: PyTorch's, `[out_c][in_c][ky][kx]`, i.e.
/// `weights[((o·in_c + c)·kh + ky)·kw + kx]` (see [`Conv2d::weight_index`]);
/// the reference's `conv3d` weight is the same tensor with a trailing time
/// dimension of 1, so reference and PyTorch checkpoints copy over unchanged.
///
/// **Preconditions** of every method: the layer is valid ([`Conv2d::validate`];
/// [`Conv2d::new`] and [`Conv2d::init`] only build valid layers, but the
/// fields are public and deserialisation does not check), the input train
/// has [`Conv2d::inputs`] neurons, and the dense buffers hold exactly
/// `bins × outputs()` (`a`, `g_a`) or `bins × inputs()` (`g_in`) values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Input shape `(channels, height, width)`.
    pub in_shape: (usize, usize, usize),
    /// Number of output channels (kernels).
    pub out_channels: usize,
    /// Kernel size `(height, width)`.
    pub kernel: (usize, usize),
    /// Stride `(y, x)`.
    pub stride: (usize, usize),
    /// Zero padding `(y, x)`, added on both sides of each axis.
    pub padding: (usize, usize),
    /// Weights, `[out_c][in_c][ky][kx]`.
    pub weights: Vec<f32>,
}

impl Conv2d {
    /// Builds the layer from given weights (layout `[out_c][in_c][ky][kx]`).
    ///
    /// Fails on a zero size, a zero stride, a kernel larger than the padded
    /// input, or a weight vector of the wrong length.
    pub fn new(
        in_shape: (usize, usize, usize),
        out_channels: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        weights: Vec<f32>,
    ) -> Result<Self, String> {
        let layer = Self {
            in_shape,
            out_channels,
            kernel,
            stride,
            padding,
            weights,
        };
        layer.validate()?;
        Ok(layer)
    }

    /// The reference initialisation: every weight `U(±1/√fan_in)·weight_scale`,
    /// `fan_in = in_c·kh·kw` (the reference scales conv weights by 100).
    ///
    /// Fails like [`Conv2d::new`].
    pub fn init(
        in_shape: (usize, usize, usize),
        out_channels: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        weight_scale: f32,
        rng: &mut impl Rng,
    ) -> Result<Self, String> {
        let mut layer = Self {
            in_shape,
            out_channels,
            kernel,
            stride,
            padding,
            weights: Vec::new(),
        };
        let n = layer.checked_weight_count()?;
        let bound = weight_scale / (layer.fan_in() as f32).sqrt();
        layer.weights = (0..n)
            .map(|_| rng.random_range(-1.0f32..1.0) * bound)
            .collect();
        layer.validate()?;
        Ok(layer)
    }

    fn checked_weight_count(&self) -> Result<usize, String> {
        let (c, h, w) = self.in_shape;
        let (kh, kw) = self.kernel;
        if c == 0 || h == 0 || w == 0 {
            return Err(format!("conv: empty input shape {:?}", self.in_shape));
        }
        if self.out_channels == 0 {
            return Err("conv: zero output channels".into());
        }
        if kh == 0 || kw == 0 {
            return Err(format!("conv: empty kernel {:?}", self.kernel));
        }
        if self.stride.0 == 0 || self.stride.1 == 0 {
            return Err(format!("conv: zero stride {:?}", self.stride));
        }
        let (sy, sx) = self.stride;
        let (py, px) = self.padding;
        let too_big = || {
            format!(
                "conv: kernel {:?} larger than the padded input {:?} (padding {:?})",
                self.kernel,
                (h, w),
                self.padding
            )
        };
        let oh = output_len(h, kh, sy, py).ok_or_else(too_big)?;
        let ow = output_len(w, kw, sx, px).ok_or_else(too_big)?;
        let overflow = || "conv: shape too large".to_string();
        c.checked_mul(h)
            .and_then(|n| n.checked_mul(w))
            .filter(|&n| n <= u32::MAX as usize)
            .ok_or_else(overflow)?;
        self.out_channels
            .checked_mul(oh)
            .and_then(|n| n.checked_mul(ow))
            .ok_or_else(overflow)?;
        self.out_channels
            .checked_mul(c)
            .and_then(|n| n.checked_mul(kh))
            .and_then(|n| n.checked_mul(kw))
            .ok_or_else(overflow)
    }

    /// Checks the invariants the methods rely on: non-zero sizes and
    /// strides, a kernel no larger than the padded input, no size overflow,
    /// `weights.len() == out_c·in_c·kh·kw`.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.checked_weight_count()?;
        if self.weights.len() != n {
            return Err(format!(
                "conv: {} weights, expected {n} (out_c·in_c·kh·kw)",
                self.weights.len()
            ));
        }
        Ok(())
    }

    /// Fan-in of every output neuron: `in_c·kh·kw`.
    pub fn fan_in(&self) -> usize {
        self.in_shape.0 * self.kernel.0 * self.kernel.1
    }

    /// Output shape `(out_channels, height, width)`, PyTorch's
    /// `(H + 2p − k)/s + 1` per axis. `(0, 0, 0)`-like values only for an
    /// invalid layer.
    pub fn out_shape(&self) -> (usize, usize, usize) {
        let (_, h, w) = self.in_shape;
        let oh = output_len(h, self.kernel.0, self.stride.0, self.padding.0).unwrap_or(0);
        let ow = output_len(w, self.kernel.1, self.stride.1, self.padding.1).unwrap_or(0);
        (self.out_channels, oh, ow)
    }

    /// Number of input neurons, `in_c·H·W`.
    pub fn inputs(&self) -> usize {
        self.in_shape.0 * self.in_shape.1 * self.in_shape.2
    }

    /// Number of output neurons, `out_c·OH·OW`.
    pub fn outputs(&self) -> usize {
        let (c, h, w) = self.out_shape();
        c * h * w
    }

    /// Index into [`Conv2d::weights`] of the tap `(ky, kx)` from input
    /// channel `c` to output channel `o`.
    pub fn weight_index(&self, o: usize, c: usize, ky: usize, kx: usize) -> usize {
        ((o * self.in_shape.0 + c) * self.kernel.0 + ky) * self.kernel.1 + kx
    }

    /// The weight of tap `(ky, kx)` from input channel `c` to output channel `o`.
    pub fn weight(&self, o: usize, c: usize, ky: usize, kx: usize) -> f32 {
        self.weights[self.weight_index(o, c, ky, kx)]
    }

    /// `a[k] = W ⊛ (gain·s[k])` for every bin: writes `bins × outputs()`
    /// values into `a`.
    ///
    /// Event-driven: each input spike adds its kernel footprint (`≤ out_c·kh·kw`
    /// values) to the outputs it reaches. A bin whose spikes reach at least as
    /// many taps as there are output positions is accumulated channel-last
    /// (one contiguous `out_c`-wide add per spike and tap, vectorised) and
    /// transposed into `a`; sparser bins are added straight into `a`.
    /// Per call: an `O(H + W)` table, and the channel-last weights when a bin
    /// needs them; silent bins cost only clearing.
    pub fn forward(&self, input: &SpikeTrain, a: &mut [f32]) {
        self.forward_with(input, a, Scatter::Auto);
    }

    fn forward_with(&self, input: &SpikeTrain, a: &mut [f32], how: Scatter) {
        let geo = Geometry::new(self);
        let (ic, oc, ohw, khw, kw) = (geo.ic, geo.oc, geo.ohw, geo.khw, geo.kw);
        let g = input.gain();
        debug_assert_eq!(input.neurons(), self.inputs());
        debug_assert_eq!(a.len(), input.bins() * self.outputs());
        // Channel-last weights (times gain) and accumulator, made on first use.
        let mut hwc: Option<(Vec<f32>, Vec<f32>)> = None;
        for (k, row) in a.chunks_exact_mut(oc * ohw).enumerate() {
            let spikes = if k < input.bins() {
                input.active(k)
            } else {
                &[]
            };
            if spikes.is_empty() {
                row.fill(0.0);
            } else if how.channel_last(spikes.len(), &geo) {
                let (wt, acc) =
                    hwc.get_or_insert_with(|| (self.weights_hwc(g), vec![0f32; ohw * oc]));
                for &n in spikes {
                    let (c, iy, ix) = geo.split(n as usize);
                    geo.for_each_tap(iy, ix, |t, p| {
                        let w = &wt[(c * khw + t) * oc..(c * khw + t + 1) * oc];
                        let d = &mut acc[p * oc..(p + 1) * oc];
                        d.iter_mut().zip(w).for_each(|(d, &w)| *d += w);
                    });
                }
                // Transpose into `a`, leaving the accumulator clear.
                for (p, v) in acc.chunks_exact_mut(oc).enumerate() {
                    for (o, v) in v.iter_mut().enumerate() {
                        row[o * ohw + p] = std::mem::take(v);
                    }
                }
            } else {
                row.fill(0.0);
                for &n in spikes {
                    let (c, iy, ix) = geo.split(n as usize);
                    let ((y0, y1), (x0, x1)) = (geo.ry[iy], geo.rx[ix]);
                    for (o, ao) in row.chunks_exact_mut(ohw).enumerate() {
                        let wk = &self.weights[(o * ic + c) * khw..(o * ic + c + 1) * khw];
                        for oy in y0..y1 {
                            let ky = iy + geo.py - oy * geo.sy;
                            let wr = &wk[ky * kw..(ky + 1) * kw];
                            let ar = &mut ao[oy * geo.ow..(oy + 1) * geo.ow];
                            for ox in x0..x1 {
                                ar[ox] += g * wr[ix + geo.px - ox * geo.sx];
                            }
                        }
                    }
                }
            }
        }
    }

    /// The weights channel-last, `[in_c][ky][kx][out_c]`, times `gain`.
    fn weights_hwc(&self, gain: f32) -> Vec<f32> {
        let (ic, oc) = (self.in_shape.0, self.out_channels);
        let khw = self.kernel.0 * self.kernel.1;
        let mut wt = vec![0f32; self.weights.len()];
        for o in 0..oc {
            for c in 0..ic {
                for t in 0..khw {
                    wt[(c * khw + t) * oc + o] = gain * self.weights[(o * ic + c) * khw + t];
                }
            }
        }
        wt
    }

    /// `g_W += Σ_k g_a[k] ⋆ (gain·s[k])`, sparse in the input spikes:
    /// `g_w[o, c, ky, kx] += gain·Σ g_a[k, o, oy, ox]` over the spikes at
    /// `(c, oy·sy − py + ky, ox·sx − px + kx)`. `g_w` is laid out like `weights`.
    ///
    /// Silent bins cost nothing; busy bins (as in [`Conv2d::forward`]) go
    /// through a channel-last copy of `g_a[k]`.
    pub fn accumulate_grad(&self, input: &SpikeTrain, g_a: &[f32], g_w: &mut [f32]) {
        self.accumulate_grad_with(input, g_a, g_w, Scatter::Auto);
    }

    fn accumulate_grad_with(&self, input: &SpikeTrain, g_a: &[f32], g_w: &mut [f32], how: Scatter) {
        let geo = Geometry::new(self);
        let (ic, oc, ohw, khw, kw) = (geo.ic, geo.oc, geo.ohw, geo.khw, geo.kw);
        let g = input.gain();
        debug_assert_eq!(g_w.len(), self.weights.len());
        // Channel-last bin of g_a and weight gradient `[in_c][ky][kx][out_c]`.
        let mut hwc: Option<(Vec<f32>, Vec<f32>)> = None;
        for (k, ga) in g_a.chunks_exact(oc * ohw).enumerate().take(input.bins()) {
            let spikes = input.active(k);
            if spikes.is_empty() {
                continue;
            }
            if how.channel_last(spikes.len(), &geo) {
                let (ga_t, gw_t) = hwc
                    .get_or_insert_with(|| (vec![0f32; ohw * oc], vec![0f32; self.weights.len()]));
                for (o, go) in ga.chunks_exact(ohw).enumerate() {
                    for (p, &d) in go.iter().enumerate() {
                        ga_t[p * oc + o] = d;
                    }
                }
                for &n in spikes {
                    let (c, iy, ix) = geo.split(n as usize);
                    geo.for_each_tap(iy, ix, |t, p| {
                        let d = &ga_t[p * oc..(p + 1) * oc];
                        let gw = &mut gw_t[(c * khw + t) * oc..(c * khw + t + 1) * oc];
                        gw.iter_mut().zip(d).for_each(|(w, &d)| *w += d);
                    });
                }
            } else {
                for &n in spikes {
                    let (c, iy, ix) = geo.split(n as usize);
                    let ((y0, y1), (x0, x1)) = (geo.ry[iy], geo.rx[ix]);
                    for (o, go) in ga.chunks_exact(ohw).enumerate() {
                        let gk = &mut g_w[(o * ic + c) * khw..(o * ic + c + 1) * khw];
                        for oy in y0..y1 {
                            let ky = iy + geo.py - oy * geo.sy;
                            let gr = &mut gk[ky * kw..(ky + 1) * kw];
                            let dr = &go[oy * geo.ow..(oy + 1) * geo.ow];
                            for ox in x0..x1 {
                                gr[ix + geo.px - ox * geo.sx] += g * dr[ox];
                            }
                        }
                    }
                }
            }
        }
        if let Some((_, gw_t)) = hwc {
            for o in 0..oc {
                for c in 0..ic {
                    for t in 0..khw {
                        g_w[(o * ic + c) * khw + t] += g * gw_t[(c * khw + t) * oc + o];
                    }
                }
            }
        }
    }

    /// `g_in[k] = gain·Wᵀ ⊛ g_a[k]` (the transposed convolution): the gradient
    /// with respect to the 0/1 input spikes, `bins × inputs()` values written
    /// into `g_in`. Dense; output positions whose `g_a` is zero in every
    /// channel are skipped.
    ///
    /// Cost `bins·OH·OW·kh·kw·in_c·out_c` multiply-adds: per output position,
    /// tap and input channel, a dot product over the output channels, on
    /// channel-last copies of the weights (per call) and of `g_a[k]` (per bin).
    pub fn backward_input(&self, gain: f32, g_a: &[f32], g_in: &mut [f32]) {
        let (ic, ih, iw) = self.in_shape;
        let (oc, oh, ow) = self.out_shape();
        let (kh, kw) = self.kernel;
        let (sy, sx) = self.stride;
        let (py, px) = self.padding;
        let (ihw, ohw, khw) = (ih * iw, oh * ow, kh * kw);
        debug_assert_eq!(g_a.len() / (oc * ohw), g_in.len() / (ic * ihw));
        // wt[((ky·kw + kx)·in_c + c)·out_c + o] = gain·w[o, c, ky, kx]
        let mut wt = vec![0f32; self.weights.len()];
        for o in 0..oc {
            for c in 0..ic {
                for t in 0..khw {
                    wt[(t * ic + c) * oc + o] = gain * self.weights[(o * ic + c) * khw + t];
                }
            }
        }
        let mut ga_t = vec![0f32; ohw * oc]; // [oy][ox][o]
        let mut gi_t = vec![0f32; ihw * ic]; // [iy][ix][c]
        for (ga, gi) in g_a
            .chunks_exact(oc * ohw)
            .zip(g_in.chunks_exact_mut(ic * ihw))
        {
            for (o, go) in ga.chunks_exact(ohw).enumerate() {
                for (p, &d) in go.iter().enumerate() {
                    ga_t[p * oc + o] = d;
                }
            }
            gi_t.fill(0.0);
            for oy in 0..oh {
                // Taps whose input row `oy·sy − py + ky` lies inside `[0, ih)`.
                let ky0 = py.saturating_sub(oy * sy);
                let ky1 = (ih + py).saturating_sub(oy * sy).min(kh);
                for ox in 0..ow {
                    let d = &ga_t[(oy * ow + ox) * oc..(oy * ow + ox + 1) * oc];
                    if d.iter().all(|&v| v == 0.0) {
                        continue;
                    }
                    let kx0 = px.saturating_sub(ox * sx);
                    let kx1 = (iw + px).saturating_sub(ox * sx).min(kw);
                    for ky in ky0..ky1 {
                        let iy = oy * sy + ky - py;
                        for kx in kx0..kx1 {
                            let ix = ox * sx + kx - px;
                            let t = ky * kw + kx;
                            let wtap = &wt[t * ic * oc..(t + 1) * ic * oc];
                            let gp = &mut gi_t[(iy * iw + ix) * ic..(iy * iw + ix + 1) * ic];
                            for (gc, wc) in gp.iter_mut().zip(wtap.chunks_exact(oc)) {
                                *gc += dot(wc, d);
                            }
                        }
                    }
                }
            }
            for (c, gc) in gi.chunks_exact_mut(ihw).enumerate() {
                for (p, v) in gc.iter_mut().enumerate() {
                    *v = gi_t[p * ic + c];
                }
            }
        }
    }
}

/// How a bin's spikes are scattered (tests force either path).
#[derive(Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))]
enum Scatter {
    /// Channel-last when the bin's spikes reach at least `OH·OW` taps.
    Auto,
    /// Straight into the channel-first buffer.
    Direct,
    /// Through a channel-last buffer.
    ChannelLast,
}

impl Scatter {
    fn channel_last(self, spikes: usize, geo: &Geometry) -> bool {
        match self {
            Scatter::Auto => spikes.saturating_mul(geo.khw) >= geo.ohw,
            Scatter::Direct => false,
            Scatter::ChannelLast => true,
        }
    }
}

/// The sizes of a valid layer and, per input row / column, the output
/// rows / columns it reaches (`O(H + W)`, built once per call).
struct Geometry {
    ic: usize,
    iw: usize,
    ihw: usize,
    oc: usize,
    ow: usize,
    ohw: usize,
    kw: usize,
    khw: usize,
    sy: usize,
    sx: usize,
    py: usize,
    px: usize,
    ry: Reach,
    rx: Reach,
}

impl Geometry {
    fn new(l: &Conv2d) -> Self {
        let (ic, ih, iw) = l.in_shape;
        let (oc, oh, ow) = l.out_shape();
        let (kh, kw) = l.kernel;
        let (sy, sx) = l.stride;
        let (py, px) = l.padding;
        Self {
            ic,
            iw,
            ihw: ih * iw,
            oc,
            ow,
            ohw: oh * ow,
            kw,
            khw: kh * kw,
            sy,
            sx,
            py,
            px,
            ry: reach(ih, oh, kh, sy, py),
            rx: reach(iw, ow, kw, sx, px),
        }
    }

    /// `(channel, row, column)` of input neuron `n`.
    fn split(&self, n: usize) -> (usize, usize, usize) {
        (n / self.ihw, n % self.ihw / self.iw, n % self.iw)
    }

    /// Calls `f(tap, output position)` (`ky·kw + kx`, `oy·OW + ox`) for every
    /// output position an input at `(iy, ix)` reaches.
    fn for_each_tap(&self, iy: usize, ix: usize, mut f: impl FnMut(usize, usize)) {
        let ((y0, y1), (x0, x1)) = (self.ry[iy], self.rx[ix]);
        for oy in y0..y1 {
            let ky = iy + self.py - oy * self.sy;
            for ox in x0..x1 {
                let kx = ix + self.px - ox * self.sx;
                f(ky * self.kw + kx, oy * self.ow + ox);
            }
        }
    }
}

impl Synapse for Conv2d {
    fn inputs(&self) -> usize {
        Conv2d::inputs(self)
    }
    fn outputs(&self) -> usize {
        Conv2d::outputs(self)
    }
    fn forward(&self, input: &SpikeTrain, a: &mut [f32]) {
        Conv2d::forward(self, input, a);
    }
    fn accumulate_grad(&self, input: &SpikeTrain, g_a: &[f32], g_w: &mut [f32]) {
        Conv2d::accumulate_grad(self, input, g_a, g_w);
    }
    fn backward_input(&self, gain: f32, g_a: &[f32], g_in: &mut [f32]) {
        Conv2d::backward_input(self, gain, g_a, g_in);
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::data::poisson_raster;
    use crate::spikes::SpikeRaster;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// The weight `w[o, c, ky, kx]`, PyTorch layout written out by hand.
    fn w_at(l: &Conv2d, o: usize, c: usize, ky: usize, kx: usize) -> f64 {
        let (ic, (kh, kw)) = (l.in_shape.0, l.kernel);
        f64::from(l.weights[((o * ic + c) * kh + ky) * kw + kx])
    }

    /// Input coordinate read by output `o`'s tap `t` along one axis, if inside.
    fn src(o: usize, t: usize, s: usize, p: usize, n: usize) -> Option<usize> {
        let i = (o * s + t) as isize - p as isize;
        (0..n as isize).contains(&i).then_some(i as usize)
    }

    /// Output shape by counting the window positions that fit.
    fn count_windows(n: usize, k: usize, s: usize, p: usize) -> usize {
        (0..).take_while(|&o| o * s + k <= n + 2 * p).count()
    }

    /// Every (k, o, oy, ox, c, ky, kx, iy, ix) with the tap inside the input.
    fn taps(l: &Conv2d, bins: usize, mut f: impl FnMut([usize; 9])) {
        let (ic, ih, iw) = l.in_shape;
        let (kh, kw) = l.kernel;
        let oh = count_windows(ih, kh, l.stride.0, l.padding.0);
        let ow = count_windows(iw, kw, l.stride.1, l.padding.1);
        for k in 0..bins {
            for o in 0..l.out_channels {
                for oy in 0..oh {
                    for ox in 0..ow {
                        for c in 0..ic {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = src(oy, ky, l.stride.0, l.padding.0, ih);
                                    let ix = src(ox, kx, l.stride.1, l.padding.1, iw);
                                    if let (Some(iy), Some(ix)) = (iy, ix) {
                                        f([k, o, oy, ox, c, ky, kx, iy, ix]);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn idx(l: &Conv2d, t: [usize; 9]) -> (usize, usize, usize) {
        let [k, o, oy, ox, c, _, _, iy, ix] = t;
        let (ic, ih, iw) = l.in_shape;
        let (oc, oh, ow) = l.out_shape();
        (
            k * oc * oh * ow + (o * oh + oy) * ow + ox,
            k * ic * ih * iw + (c * ih + iy) * iw + ix,
            0,
        )
    }

    fn direct_forward(l: &Conv2d, x: &[f64], bins: usize) -> Vec<f64> {
        let mut a = vec![0.0; bins * l.outputs()];
        taps(l, bins, |t| {
            let (j, i, _) = idx(l, t);
            a[j] += w_at(l, t[1], t[4], t[5], t[6]) * x[i];
        });
        a
    }

    fn direct_grad(l: &Conv2d, x: &[f64], ga: &[f64], bins: usize) -> Vec<f64> {
        let mut gw = vec![0.0; l.weights.len()];
        let (ic, (kh, kw)) = (l.in_shape.0, l.kernel);
        taps(l, bins, |t| {
            let (j, i, _) = idx(l, t);
            gw[((t[1] * ic + t[4]) * kh + t[5]) * kw + t[6]] += ga[j] * x[i];
        });
        gw
    }

    fn direct_backward(l: &Conv2d, gain: f64, ga: &[f64], bins: usize) -> Vec<f64> {
        let mut gi = vec![0.0; bins * l.inputs()];
        taps(l, bins, |t| {
            let (j, i, _) = idx(l, t);
            gi[i] += gain * w_at(l, t[1], t[4], t[5], t[6]) * ga[j];
        });
        gi
    }

    fn assert_close(what: &str, got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (f64::from(g) - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    fn random_g(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                if rng.random_bool(0.3) {
                    0.0
                } else {
                    rng.random_range(-1.0f32..1.0)
                }
            })
            .collect()
    }

    /// A random train over the layer's inputs; every other one masked with gain ≠ 1.
    fn random_train(rng: &mut ChaCha8Rng, n: usize, bins: usize, masked: bool) -> SpikeTrain {
        let rate = rng.random_range(50.0..600.0);
        let x = SpikeTrain::from_raster(&poisson_raster(rng, n, bins, 1.0, rate));
        if masked {
            let keep: Vec<bool> = (0..n).map(|_| rng.random_bool(0.8)).collect();
            x.masked(&keep, 1.7)
        } else {
            x
        }
    }

    fn layer(
        in_shape: (usize, usize, usize),
        oc: usize,
        k: (usize, usize),
        s: (usize, usize),
        p: (usize, usize),
        rng: &mut ChaCha8Rng,
    ) -> Conv2d {
        Conv2d::init(in_shape, oc, k, s, p, 1.0, rng).unwrap()
    }

    /// Shapes that must be covered: stride 2, padding 1 and 2, non-square
    /// kernels, padding ≥ kernel, kernel = padded input, the N-MNIST layer.
    fn fixed_layers(rng: &mut ChaCha8Rng) -> Vec<Conv2d> {
        vec![
            layer((2, 8, 8), 3, (3, 3), (1, 1), (0, 0), rng),
            layer((2, 7, 9), 4, (3, 2), (2, 2), (1, 1), rng),
            layer((1, 6, 5), 2, (5, 3), (2, 1), (2, 2), rng),
            layer((3, 5, 5), 2, (1, 1), (2, 2), (2, 2), rng),
            layer((1, 4, 4), 1, (6, 6), (1, 1), (1, 1), rng),
            layer((2, 9, 7), 3, (4, 5), (3, 2), (2, 0), rng),
            layer((3, 6, 6), 11, (2, 3), (2, 2), (1, 2), rng),
            layer((2, 34, 34), 12, (5, 5), (1, 1), (0, 0), rng),
        ]
    }

    fn random_layers(rng: &mut ChaCha8Rng, n: usize) -> Vec<Conv2d> {
        let mut out = Vec::new();
        while out.len() < n {
            let r = Conv2d::init(
                (
                    rng.random_range(1..=3),
                    rng.random_range(1..=9),
                    rng.random_range(1..=9),
                ),
                rng.random_range(1..=10),
                (rng.random_range(1..=5), rng.random_range(1..=5)),
                (rng.random_range(1..=3), rng.random_range(1..=3)),
                (rng.random_range(0..=2), rng.random_range(0..=2)),
                1.0,
                rng,
            );
            if let Ok(l) = r {
                out.push(l);
            }
        }
        out
    }

    fn all_layers(rng: &mut ChaCha8Rng) -> Vec<Conv2d> {
        let mut ls = fixed_layers(rng);
        ls.extend(random_layers(rng, 60));
        ls
    }

    #[test]
    fn forward_matches_direct_convolution() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (t, l) in all_layers(&mut rng).iter().enumerate() {
            let bins = 5;
            let x = random_train(&mut rng, l.inputs(), bins, t % 2 == 1);
            let want = direct_forward(l, &x.to_dense_f64(), bins);
            let mut a = vec![f32::NAN; bins * l.outputs()];
            l.forward(&x, &mut a);
            assert_close(&format!("{l:?}"), &a, &want);
            for (name, how) in [("direct", Scatter::Direct), ("hwc", Scatter::ChannelLast)] {
                let mut a = vec![f32::NAN; bins * l.outputs()];
                l.forward_with(&x, &mut a, how);
                assert_close(&format!("{name} {l:?}"), &a, &want);
            }
        }
    }

    #[test]
    fn every_input_spiking_reaches_every_tap() {
        // All cells spike: each output is the sum of its taps inside the input.
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for l in fixed_layers(&mut rng) {
            let x = SpikeTrain::from_raster(&poisson_raster(&mut rng, l.inputs(), 2, 1.0, 1000.0))
                .masked(&vec![true; l.inputs()], 0.5);
            assert_eq!(x.count(), 2 * l.inputs());
            let want = direct_forward(&l, &x.to_dense_f64(), 2);
            for how in [Scatter::Auto, Scatter::Direct, Scatter::ChannelLast] {
                let mut a = vec![0f32; 2 * l.outputs()];
                l.forward_with(&x, &mut a, how);
                assert_close("dense input", &a, &want);
            }
        }
    }

    #[test]
    fn accumulate_grad_matches_direct() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (t, l) in all_layers(&mut rng).iter().enumerate() {
            let bins = 5;
            let x = random_train(&mut rng, l.inputs(), bins, t % 2 == 0);
            let ga = random_g(&mut rng, bins * l.outputs());
            let ga64: Vec<f64> = ga.iter().map(|&v| f64::from(v)).collect();
            let want: Vec<f64> = direct_grad(l, &x.to_dense_f64(), &ga64, bins)
                .iter()
                .map(|v| v + 0.25)
                .collect();
            for how in [Scatter::Auto, Scatter::Direct, Scatter::ChannelLast] {
                // Accumulates: start from a known offset.
                let mut gw = vec![0.25f32; l.weights.len()];
                l.accumulate_grad_with(&x, &ga, &mut gw, how);
                assert_close(&format!("{l:?}"), &gw, &want);
            }
        }
    }

    #[test]
    fn backward_input_matches_direct_transposed_convolution() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for l in all_layers(&mut rng) {
            let bins = 4;
            let gain = rng.random_range(0.5f32..2.0);
            let mut ga = random_g(&mut rng, bins * l.outputs());
            // A whole zero output position (all channels) exercises the skip.
            let (oc, oh, ow) = l.out_shape();
            for o in 0..oc {
                ga[o * oh * ow] = 0.0;
            }
            let ga64: Vec<f64> = ga.iter().map(|&v| f64::from(v)).collect();
            let mut gi = vec![f32::NAN; bins * l.inputs()];
            l.backward_input(gain, &ga, &mut gi);
            let want = direct_backward(&l, f64::from(gain), &ga64, bins);
            assert_close(&format!("{l:?}"), &gi, &want);
        }
    }

    #[test]
    fn backward_input_is_the_adjoint_of_forward() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for (t, l) in all_layers(&mut rng).iter().enumerate() {
            let bins = 6;
            let x = random_train(&mut rng, l.inputs(), bins, t % 2 == 0);
            let y = random_g(&mut rng, bins * l.outputs());
            let mut a = vec![0f32; y.len()];
            l.forward(&x, &mut a);
            let mut gi = vec![0f32; bins * l.inputs()];
            l.backward_input(x.gain(), &y, &mut gi);
            let lhs: f64 = a.iter().zip(&y).map(|(&a, &y)| f64::from(a * y)).sum();
            // x as a 0/1 train: the gain is inside backward_input.
            let x01 = x.to_raster().to_f32();
            let rhs: f64 = x01.iter().zip(&gi).map(|(&x, &g)| f64::from(x * g)).sum();
            let scale: f64 = a.iter().map(|v| f64::from(v.abs())).sum::<f64>() + 1.0;
            assert!((lhs - rhs).abs() <= 1e-5 * scale, "{l:?}: {lhs} vs {rhs}");
            // And the weight gradient is forward's derivative: <g_W, W> = <a, y>.
            let mut gw = vec![0f32; l.weights.len()];
            l.accumulate_grad(&x, &y, &mut gw);
            let gww: f64 = gw
                .iter()
                .zip(&l.weights)
                .map(|(&g, &w)| f64::from(g) * f64::from(w))
                .sum();
            assert!((lhs - gww).abs() <= 1e-5 * scale, "{l:?}: {lhs} vs {gww}");
        }
    }

    #[test]
    fn output_shapes_are_pytorchs() {
        // (H, k, s, p) → (H + 2p − k)/s + 1, values as torch.nn.Conv2d gives them.
        let table = [
            (34, 5, 1, 0, Some(30)),
            (15, 5, 1, 0, Some(11)),
            (28, 5, 1, 2, Some(28)),
            (7, 3, 2, 1, Some(4)),
            (8, 3, 2, 1, Some(4)),
            (5, 2, 2, 0, Some(2)),
            (10, 3, 3, 0, Some(3)),
            (1, 1, 1, 0, Some(1)),
            (4, 6, 1, 1, Some(1)),
            (3, 1, 1, 2, Some(7)),
            (4, 7, 1, 1, None),
            (0, 1, 1, 0, None),
            (5, 0, 1, 0, None),
            (5, 2, 0, 0, None),
        ];
        for (h, k, s, p, want) in table {
            assert_eq!(output_len(h, k, s, p), want, "H={h} k={k} s={s} p={p}");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        for l in all_layers(&mut rng) {
            let (ic, ih, iw) = l.in_shape;
            let oh = count_windows(ih, l.kernel.0, l.stride.0, l.padding.0);
            let ow = count_windows(iw, l.kernel.1, l.stride.1, l.padding.1);
            assert_eq!(l.out_shape(), (l.out_channels, oh, ow));
            assert_eq!(l.inputs(), ic * ih * iw);
            assert_eq!(l.outputs(), l.out_channels * oh * ow);
            assert_eq!(l.fan_in(), ic * l.kernel.0 * l.kernel.1);
        }
    }

    /// One spike on a 1×3×3 input, two 2×2 kernels [[1,2],[3,4]] and [[10,20],[30,40]].
    fn tiny(stride: usize, padding: usize) -> Conv2d {
        let w = vec![1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0];
        Conv2d::new(
            (1, 3, 3),
            2,
            (2, 2),
            (stride, stride),
            (padding, padding),
            w,
        )
        .unwrap()
    }

    fn one_spike(y: usize, x: usize, gain: f32) -> SpikeTrain {
        let mut r = SpikeRaster::new(1, 9);
        r.set(0, y * 3 + x);
        SpikeTrain::from_raster(&r).masked(&[true; 9], gain)
    }

    #[test]
    fn hand_computed_tiny_case() {
        let run = |l: &Conv2d, x: &SpikeTrain| {
            let mut a = vec![0f32; l.outputs()];
            l.forward(x, &mut a);
            a
        };
        // Centre spike, no padding: output (oy, ox) reads tap (1 − oy, 1 − ox).
        let l = tiny(1, 0);
        assert_eq!(l.out_shape(), (2, 2, 2));
        assert_eq!(
            run(&l, &one_spike(1, 1, 1.0)),
            [4.0, 3.0, 2.0, 1.0, 40.0, 30.0, 20.0, 10.0]
        );
        // Corner spike: only output (0, 0), tap (0, 0); gain 2.
        assert_eq!(
            run(&l, &one_spike(0, 0, 2.0)),
            [2.0, 0.0, 0.0, 0.0, 20.0, 0.0, 0.0, 0.0]
        );
        // Padding 1: 4×4 outputs; the corner spike now reaches the top-left 2×2.
        let l = tiny(1, 1);
        assert_eq!(l.out_shape(), (2, 4, 4));
        let a = run(&l, &one_spike(0, 0, 1.0));
        let mut want = [0f32; 32];
        want[..6].copy_from_slice(&[4.0, 3.0, 0.0, 0.0, 2.0, 1.0]);
        want[16..22].copy_from_slice(&[40.0, 30.0, 0.0, 0.0, 20.0, 10.0]);
        assert_eq!(a, want);
        // Stride 2, padding 1: 2×2 outputs; the centre spike is tap (0, 0) of output (1, 1).
        let l = tiny(2, 1);
        assert_eq!(l.out_shape(), (2, 2, 2));
        assert_eq!(
            run(&l, &one_spike(1, 1, 1.0)),
            [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 10.0]
        );
        // Backward, no padding: g_a = 1 at output (0, 0) of channel 1 and 0.5
        // at (1, 1) of channel 0 spreads the kernels back over the input.
        let l = tiny(1, 0);
        let ga = [0.0, 0.0, 0.0, 0.5, 1.0, 0.0, 0.0, 0.0];
        let mut gi = [0f32; 9];
        l.backward_input(2.0, &ga, &mut gi);
        assert_eq!(gi, [20.0, 40.0, 0.0, 60.0, 81.0, 2.0, 0.0, 3.0, 4.0]);
        // Weight gradient of the centre spike against that g_a.
        let mut gw = [0f32; 8];
        l.accumulate_grad(&one_spike(1, 1, 1.0), &ga, &mut gw);
        assert_eq!(gw, [0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn init_is_the_reference_one_and_rejects_bad_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let l = Conv2d::init((2, 34, 34), 12, (5, 5), (1, 1), (0, 0), 100.0, &mut rng).unwrap();
        assert_eq!(l.weights.len(), 12 * 2 * 5 * 5);
        let bound = 100.0 / 50f32.sqrt();
        assert!(l.weights.iter().all(|w| w.abs() <= bound));
        assert!(l.weights.iter().any(|w| w.abs() > 0.9 * bound));
        let mean: f32 = l.weights.iter().sum::<f32>() / 600.0;
        assert!(mean.abs() < 0.1 * bound);
        let bad = [
            ((0, 5, 5), 1, (1, 1), (1, 1), (0, 0)),
            ((1, 0, 5), 1, (1, 1), (1, 1), (0, 0)),
            ((1, 5, 0), 1, (1, 1), (1, 1), (0, 0)),
            ((1, 5, 5), 0, (1, 1), (1, 1), (0, 0)),
            ((1, 5, 5), 1, (0, 1), (1, 1), (0, 0)),
            ((1, 5, 5), 1, (1, 1), (0, 1), (0, 0)),
            ((1, 5, 5), 1, (1, 1), (1, 0), (0, 0)),
            ((1, 5, 5), 1, (6, 1), (1, 1), (0, 0)),
            ((1, 5, 5), 1, (1, 8), (1, 1), (0, 1)),
            ((usize::MAX, 2, 2), 1, (1, 1), (1, 1), (0, 0)),
            ((1, 5, 5), 1, (1, 1), (1, 1), (usize::MAX, 0)),
        ];
        for (s, oc, k, st, p) in bad {
            assert!(
                Conv2d::init(s, oc, k, st, p, 1.0, &mut rng).is_err(),
                "{s:?} {oc} {k:?} {st:?} {p:?}"
            );
        }
        // Kernel exactly the padded input is fine; a wrong weight count is not.
        assert!(Conv2d::new((1, 5, 5), 1, (7, 7), (1, 1), (1, 1), vec![0.0; 49]).is_ok());
        assert!(Conv2d::new((1, 5, 5), 1, (3, 3), (1, 1), (1, 1), vec![0.0; 8]).is_err());
        let mut broken = l.clone();
        broken.weights.pop();
        assert!(broken.validate().is_err());
        assert!(l.validate().is_ok());
    }

    #[test]
    fn serde_round_trip_and_synapse_trait() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let l = layer((2, 7, 9), 4, (3, 2), (2, 2), (1, 1), &mut rng);
        let back: Conv2d = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l);
        let x = random_train(&mut rng, l.inputs(), 3, true);
        let syn: &dyn Synapse = &l;
        assert_eq!((syn.inputs(), syn.outputs()), (l.inputs(), l.outputs()));
        let (mut a, mut b) = (vec![0f32; 3 * l.outputs()], vec![0f32; 3 * l.outputs()]);
        syn.forward(&x, &mut a);
        l.forward(&x, &mut b);
        assert_eq!(a, b);
    }

    /// Speed of the N-MNIST CNN layers (2×34×34 → 12c5 → pool 2 → 64c5),
    /// 300 bins. `cargo test --release -p slayer-trainer --lib conv::tests::bench -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench_nmnist_layers() {
        use std::time::Instant;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let bins = 300;
        let time = |reps: usize, f: &mut dyn FnMut()| {
            // The fastest of `reps` runs: the machine is shared.
            (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64() * 1e3
                })
                .fold(f64::INFINITY, f64::min)
        };
        for (name, l, rate) in [
            (
                "layer 1: 2x34x34 -> 12c5",
                layer((2, 34, 34), 12, (5, 5), (1, 1), (0, 0), &mut rng),
                6.0,
            ),
            (
                "layer 2: 12x15x15 -> 64c5",
                layer((12, 15, 15), 64, (5, 5), (1, 1), (0, 0), &mut rng),
                20.0,
            ),
        ] {
            let x = SpikeTrain::from_raster(&poisson_raster(&mut rng, l.inputs(), bins, 1.0, rate));
            let mut a = vec![0f32; bins * l.outputs()];
            let fwd = time(20, &mut || l.forward(&x, &mut a));
            let ga = random_g(&mut rng, bins * l.outputs());
            let mut gw = vec![0f32; l.weights.len()];
            let grad = time(20, &mut || l.accumulate_grad(&x, &ga, &mut gw));
            let mut gi = vec![0f32; bins * l.inputs()];
            let back = time(4, &mut || l.backward_input(1.0, &ga, &mut gi));
            let fill = time(20, &mut || a.fill(0.0));
            let density = x.count() as f64 / (bins * l.inputs()) as f64;
            println!(
                "{name}, {bins} bins, input density {:.2} % ({} spikes): forward {fwd:.3} ms \
                 (clearing the output alone {fill:.3} ms), accumulate_grad {grad:.3} ms, \
                 backward_input {back:.1} ms per sample",
                100.0 * density,
                x.count()
            );
        }
    }
}

//! Sum pooling with a fixed weight per tap, applied independently in every
//! time bin, event-driven in the input spikes.
//!
//! Windows are `size × size`, non-overlapping (stride = size), per channel.
//! As in the reference (SLAYER.md §3), an axis of length `H` with
//! `H % size ≠ 0` is first zero-padded by `H % size` (not by the
//! `size − H % size` that would complete the last window) at the bottom /
//! right, so an axis has `(H + H % size) / size` outputs: `ceil(H/size)` for
//! `size = 2`, but fewer for some larger sizes (`H = 7, size = 3` gives 2
//! outputs, and input row 6 reaches none). Tensors are flattened
//! `c·H·W + y·W + x`.

use serde::{Deserialize, Serialize};

use super::Synapse;
use crate::spikes::SpikeTrain;

/// Number of pooled outputs along an axis of `input` cells, the reference's
/// rule: `(input + input % size) / size`. `None` when `input` or `size` is
/// zero or the result would be zero (window larger than the padded axis).
///
/// The core's [`slayer_core::model::pooled_len`] (one rule for the trainer
/// and the engine), on `usize`: `None` also for sizes beyond `u32`.
pub fn pooled_len(input: usize, size: usize) -> Option<usize> {
    let u = |v: usize| u32::try_from(v).ok();
    slayer_core::model::pooled_len(u(input)?, u(size)?).map(|n| n as usize)
}

/// Sum pooling: `a[c, oy, ox] = weight·Σ s[c, oy·size + dy, ox·size + dx]`
/// over `0 ≤ dy, dx < size` (cells past the input are zero).
///
/// The reference uses `weight = 1.1·θ`, so that one input spike drives the
/// pooling neuron over threshold. Nothing is learned.
///
/// **Preconditions** of every method: the layer is valid ([`SumPool::validate`];
/// [`SumPool::new`] only builds valid layers), the input train has
/// [`SumPool::inputs`] neurons, and the dense buffers hold exactly
/// `bins × outputs()` (`a`, `g_a`) or `bins × inputs()` (`g_in`) values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SumPool {
    /// Input shape `(channels, height, width)`.
    pub in_shape: (usize, usize, usize),
    /// Window side and stride.
    pub size: usize,
    /// Weight of every tap.
    pub weight: f32,
}

impl SumPool {
    /// Builds the layer. Fails on a zero size or a window larger than the
    /// padded input (an axis with no output).
    pub fn new(in_shape: (usize, usize, usize), size: usize, weight: f32) -> Result<Self, String> {
        let layer = Self {
            in_shape,
            size,
            weight,
        };
        layer.validate()?;
        Ok(layer)
    }

    /// Checks the invariants the methods rely on.
    pub fn validate(&self) -> Result<(), String> {
        let (c, h, w) = self.in_shape;
        if c == 0 || h == 0 || w == 0 {
            return Err(format!("pool: empty input shape {:?}", self.in_shape));
        }
        if self.size == 0 {
            return Err("pool: zero window size".into());
        }
        if pooled_len(h, self.size).is_none() || pooled_len(w, self.size).is_none() {
            return Err(format!(
                "pool: window {} larger than the padded input {:?}",
                self.size,
                (h, w)
            ));
        }
        c.checked_mul(h)
            .and_then(|n| n.checked_mul(w))
            .filter(|&n| n <= u32::MAX as usize)
            .map(|_| ())
            .ok_or_else(|| "pool: shape too large".to_string())
    }

    /// Output shape `(channels, (H + H % size)/size, (W + W % size)/size)`,
    /// see [`pooled_len`]. Zeros only for an invalid layer.
    pub fn out_shape(&self) -> (usize, usize, usize) {
        let (c, h, w) = self.in_shape;
        (
            c,
            pooled_len(h, self.size).unwrap_or(0),
            pooled_len(w, self.size).unwrap_or(0),
        )
    }

    /// Number of input neurons, `c·H·W`.
    pub fn inputs(&self) -> usize {
        self.in_shape.0 * self.in_shape.1 * self.in_shape.2
    }

    /// Number of output neurons, `c·OH·OW`.
    pub fn outputs(&self) -> usize {
        let (c, h, w) = self.out_shape();
        c * h * w
    }

    /// The output neuron an input neuron feeds, if any.
    fn target(&self, n: usize, oh: usize, ow: usize) -> Option<usize> {
        let (_, ih, iw) = self.in_shape;
        let (c, iy, ix) = (n / (ih * iw), n % (ih * iw) / iw, n % iw);
        let (oy, ox) = (iy / self.size, ix / self.size);
        (oy < oh && ox < ow).then(|| (c * oh + oy) * ow + ox)
    }

    /// `a[k] = weight·pool(gain·s[k])` for every bin: writes
    /// `bins × outputs()` values into `a`. One add per input spike.
    pub fn forward(&self, input: &SpikeTrain, a: &mut [f32]) {
        let (_, oh, ow) = self.out_shape();
        let v = input.gain() * self.weight;
        debug_assert_eq!(input.neurons(), self.inputs());
        debug_assert_eq!(a.len(), input.bins() * self.outputs());
        for (k, row) in a.chunks_exact_mut(self.outputs()).enumerate() {
            row.fill(0.0);
            if k >= input.bins() {
                continue;
            }
            for &n in input.active(k) {
                if let Some(j) = self.target(n as usize, oh, ow) {
                    row[j] += v;
                }
            }
        }
    }

    /// `g_in[k, c, y, x] = gain·weight·g_a[k, c, y/size, x/size]` (zero for
    /// cells that reach no output): `bins × inputs()` values written into `g_in`.
    pub fn backward_input(&self, gain: f32, g_a: &[f32], g_in: &mut [f32]) {
        let (c, ih, iw) = self.in_shape;
        let (_, oh, ow) = self.out_shape();
        let s = self.size;
        let v = gain * self.weight;
        for (ga, gi) in g_a
            .chunks_exact(c * oh * ow)
            .zip(g_in.chunks_exact_mut(c * ih * iw))
        {
            for (go, gc) in ga.chunks_exact(oh * ow).zip(gi.chunks_exact_mut(ih * iw)) {
                for (iy, gr) in gc.chunks_exact_mut(iw).enumerate() {
                    let oy = iy / s;
                    if oy >= oh {
                        gr.fill(0.0);
                        continue;
                    }
                    let dr = &go[oy * ow..(oy + 1) * ow];
                    for (ix, g) in gr.iter_mut().enumerate() {
                        *g = dr.get(ix / s).map_or(0.0, |&d| v * d);
                    }
                }
            }
        }
    }
}

impl Synapse for SumPool {
    fn inputs(&self) -> usize {
        SumPool::inputs(self)
    }
    fn outputs(&self) -> usize {
        SumPool::outputs(self)
    }
    fn forward(&self, input: &SpikeTrain, a: &mut [f32]) {
        SumPool::forward(self, input, a);
    }
    /// No weights to learn: a no-op.
    fn accumulate_grad(&self, _input: &SpikeTrain, _g_a: &[f32], _g_w: &mut [f32]) {}
    fn backward_input(&self, gain: f32, g_a: &[f32], g_in: &mut [f32]) {
        SumPool::backward_input(self, gain, g_a, g_in);
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::data::poisson_raster;
    use crate::spikes::SpikeRaster;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Output size by padding with `H % size` zero cells and counting whole windows.
    fn count_windows(h: usize, size: usize) -> usize {
        let padded = h + h % size;
        (0..).take_while(|&o| (o + 1) * size <= padded).count()
    }

    /// Every (k, c, oy, ox, y, x) with the tap inside the (unpadded) input.
    fn taps(l: &SumPool, bins: usize, mut f: impl FnMut(usize, usize)) {
        let (c, h, w) = l.in_shape;
        let (oh, ow) = (count_windows(h, l.size), count_windows(w, l.size));
        for k in 0..bins {
            for ch in 0..c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        for dy in 0..l.size {
                            for dx in 0..l.size {
                                let (y, x) = (oy * l.size + dy, ox * l.size + dx);
                                if y < h && x < w {
                                    let j = k * c * oh * ow + (ch * oh + oy) * ow + ox;
                                    f(j, k * c * h * w + (ch * h + y) * w + x);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn assert_close(what: &str, got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (f64::from(g) - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    fn layers(rng: &mut ChaCha8Rng) -> Vec<SumPool> {
        let mut ls = vec![
            SumPool::new((12, 30, 30), 2, 11.0).unwrap(),
            SumPool::new((64, 11, 11), 2, 11.0).unwrap(),
            SumPool::new((2, 7, 7), 3, 1.5).unwrap(),
            SumPool::new((1, 5, 8), 4, 2.0).unwrap(),
            SumPool::new((3, 9, 4), 1, 0.7).unwrap(),
        ];
        while ls.len() < 60 {
            let s = (
                rng.random_range(1..=3),
                rng.random_range(1..=11),
                rng.random_range(1..=11),
            );
            if let Ok(l) = SumPool::new(s, rng.random_range(1..=4), rng.random_range(0.5..3.0)) {
                ls.push(l);
            }
        }
        ls
    }

    fn train(rng: &mut ChaCha8Rng, n: usize, bins: usize, masked: bool) -> SpikeTrain {
        let rate = rng.random_range(50.0..800.0);
        let x = SpikeTrain::from_raster(&poisson_raster(rng, n, bins, 1.0, rate));
        if masked {
            let keep: Vec<bool> = (0..n).map(|_| rng.random_bool(0.8)).collect();
            x.masked(&keep, 1.3)
        } else {
            x
        }
    }

    #[test]
    fn pooled_shapes_follow_the_reference_padding() {
        let table = [
            (34, 2, Some(17)),
            (30, 2, Some(15)),
            (11, 2, Some(6)),
            (1, 2, Some(1)),
            (7, 3, Some(2)), // 7 % 3 = 1 → 8 → 2 windows (not ceil = 3)
            (8, 3, Some(3)), // 8 % 3 = 2 → 10 → 3
            (5, 3, Some(2)),
            (4, 3, Some(1)),
            (5, 4, Some(1)),
            (6, 4, Some(2)),
            (2, 3, Some(1)),
            (1, 3, None),
            (0, 2, None),
            (usize::MAX, 2, None),
            (4, 0, None),
        ];
        for (h, k, want) in table {
            assert_eq!(pooled_len(h, k), want, "H={h} size={k}");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for l in layers(&mut rng) {
            let (c, h, w) = l.in_shape;
            let want = (c, count_windows(h, l.size), count_windows(w, l.size));
            assert_eq!(l.out_shape(), want);
            assert_eq!(l.inputs(), c * h * w);
            assert_eq!(l.outputs(), want.0 * want.1 * want.2);
        }
        assert!(SumPool::new((0, 4, 4), 2, 1.0).is_err());
        assert!(SumPool::new((1, 4, 4), 0, 1.0).is_err());
        assert!(SumPool::new((1, 1, 4), 3, 1.0).is_err());
        assert!(SumPool::new((1, 4, 2), 5, 1.0).is_err());
        assert!(SumPool::new((usize::MAX, 2, 2), 2, 1.0).is_err());
    }

    #[test]
    fn forward_and_backward_match_direct_pooling() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        for (t, l) in layers(&mut rng).iter().enumerate() {
            let bins = 4;
            let x = train(&mut rng, l.inputs(), bins, t % 2 == 0);
            let xd = x.to_dense_f64();
            let w = f64::from(l.weight);
            let mut want = vec![0.0; bins * l.outputs()];
            taps(l, bins, |j, i| want[j] += w * xd[i]);
            let mut a = vec![f32::NAN; want.len()];
            l.forward(&x, &mut a);
            assert_close(&format!("forward {l:?}"), &a, &want);

            let ga: Vec<f32> = (0..want.len())
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let gain = 1.7f32;
            let mut want = vec![0.0; bins * l.inputs()];
            taps(l, bins, |j, i| {
                want[i] += f64::from(gain) * w * f64::from(ga[j]);
            });
            let mut gi = vec![f32::NAN; want.len()];
            l.backward_input(gain, &ga, &mut gi);
            assert_close(&format!("backward {l:?}"), &gi, &want);

            // Adjoint: <forward(x), y> = <x, backward_input(gain, y)> for a 0/1 train x.
            let mut gi = vec![0f32; bins * l.inputs()];
            l.backward_input(x.gain(), &ga, &mut gi);
            let lhs: f64 = a.iter().zip(&ga).map(|(&a, &g)| f64::from(a * g)).sum();
            let x01 = x.to_raster().to_f32();
            let rhs: f64 = x01.iter().zip(&gi).map(|(&x, &g)| f64::from(x * g)).sum();
            assert!(
                (lhs - rhs).abs() <= 1e-4 * (1.0 + lhs.abs()),
                "{lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn hand_computed_tiny_case() {
        // 1×5×5, size 2, weight 11: padded to 6×6, 3×3 outputs.
        let l = SumPool::new((1, 5, 5), 2, 11.0).unwrap();
        assert_eq!(l.out_shape(), (1, 3, 3));
        let mut r = SpikeRaster::new(1, 25);
        for (y, x) in [(0, 0), (1, 1), (4, 4), (2, 3)] {
            r.set(0, y * 5 + x);
        }
        let x = SpikeTrain::from_raster(&r);
        let mut a = [0f32; 9];
        l.forward(&x, &mut a);
        assert_eq!(a, [22.0, 0.0, 0.0, 0.0, 11.0, 0.0, 0.0, 0.0, 11.0]);
        let mut gi = [0f32; 25];
        let ga = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -2.0];
        l.backward_input(0.5, &ga, &mut gi);
        let mut want = [0f32; 25];
        for i in [0, 1, 5, 6] {
            want[i] = 5.5;
        }
        want[24] = -11.0;
        assert_eq!(gi, want);
        // size 3 on 7×7: padded to 8×8, 2×2 outputs; row / column 6 reaches nothing.
        let l = SumPool::new((1, 7, 7), 3, 1.0).unwrap();
        assert_eq!(l.out_shape(), (1, 2, 2));
        let mut r = SpikeRaster::new(1, 49);
        r.set(0, 6 * 7 + 6);
        r.set(0, 5 * 7 + 5);
        r.set(0, 2 * 7 + 6);
        let mut a = [0f32; 4];
        l.forward(&SpikeTrain::from_raster(&r), &mut a);
        assert_eq!(a, [0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn synapse_trait_and_serde() {
        let l = SumPool::new((2, 5, 3), 2, 11.0).unwrap();
        let back: SumPool = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l);
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let x = train(&mut rng, l.inputs(), 3, true);
        let syn: &dyn Synapse = &l;
        let (mut a, mut b) = (vec![0f32; 3 * l.outputs()], vec![0f32; 3 * l.outputs()]);
        syn.forward(&x, &mut a);
        l.forward(&x, &mut b);
        assert_eq!(a, b);
        let mut gw: [f32; 0] = [];
        syn.accumulate_grad(&x, &a, &mut gw);
    }
}

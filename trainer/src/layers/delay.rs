//! Learnable axonal delays: one delay (in bins) per neuron (SLAYER.md §3).

use serde::{Deserialize, Serialize};

use crate::spikes::SpikeTrain;

/// Per-neuron axonal delays, stored in bins and clamped to `[0, max_delay]`.
/// The forward pass shifts each neuron's spike train by `floor(d)` bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delay {
    /// Delay of each neuron, in bins.
    pub delays: Vec<f32>,
    /// Upper clamp, in bins.
    pub max_delay: f32,
}

impl Delay {
    /// Delays drawn uniformly from `[0, init_max]` bins (0 for all when `init_max` is 0).
    pub fn init(neurons: usize, max_delay: f32, init_max: f32, rng: &mut impl rand::Rng) -> Self {
        let delays = (0..neurons)
            .map(|_| {
                if init_max > 0.0 {
                    rng.random_range(0.0..init_max)
                } else {
                    0.0
                }
            })
            .collect();
        Self { delays, max_delay }
    }

    /// Integer shifts `floor(d)` of every neuron.
    pub fn shifts(&self) -> Vec<usize> {
        self.delays
            .iter()
            .map(|&d| d.max(0.0).floor() as usize)
            .collect()
    }

    /// Clamps every delay into `[0, max_delay]` (after an optimiser step).
    pub fn clamp(&mut self) {
        for d in &mut self.delays {
            *d = if d.is_finite() {
                d.clamp(0.0, self.max_delay)
            } else {
                0.0
            };
        }
    }

    /// The delayed spike train.
    pub fn forward(&self, input: &SpikeTrain) -> SpikeTrain {
        input.delayed(&self.shifts())
    }

    /// Backward pass. `g_y` is the gradient at the delayed 0/1 spikes (`bins ×
    /// neurons`), `output` the delayed train. Writes the gradient at the input
    /// spikes into `g_x` (`g_y` shifted back) and adds
    /// `g_d = Σ_k g_y[k]·(y[k−1] − y[k])` to `g_delay`.
    pub fn backward(&self, output: &SpikeTrain, g_y: &[f32], g_x: &mut [f32], g_delay: &mut [f32]) {
        let n = self.delays.len();
        let bins = output.bins();
        let shifts = self.shifts();
        for k in 0..bins {
            let gx = &mut g_x[k * n..(k + 1) * n];
            for (j, g) in gx.iter_mut().enumerate() {
                let src = k + shifts[j];
                *g = if src < bins { g_y[src * n + j] } else { 0.0 };
            }
        }
        // Σ_k g_y[k]·y[k−1] − Σ_k g_y[k]·y[k]: each spike at bin k contributes
        // g_y[k+1] − g_y[k].
        for k in 0..bins {
            for &j in output.active(k) {
                let j = j as usize;
                let next = if k + 1 < bins {
                    g_y[(k + 1) * n + j]
                } else {
                    0.0
                };
                g_delay[j] += next - g_y[k * n + j];
            }
        }
    }
}

/// `g_d[j] = Σ_k g_y[k][j]·(y[k−1][j] − y[k][j])` on dense, real-valued
/// trains (`bins × width`; `y[−1] = 0`): the delay gradient of SLAYER.md §3,
/// a backward difference standing in for `−∂y/∂t`. [`Delay::backward`]
/// computes the same sparsely for spike trains.
pub fn delay_gradient(y: &[f32], g_y: &[f32], width: usize) -> Vec<f32> {
    let mut g = vec![0f32; width];
    let mut prev = vec![0f32; width];
    for (yr, gr) in y.chunks_exact(width).zip(g_y.chunks_exact(width)) {
        for (((gj, &gy), &y), p) in g.iter_mut().zip(gr).zip(yr).zip(&prev) {
            *gj += gy * (p - y);
        }
        prev.copy_from_slice(yr);
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spikes::SpikeRaster;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// On a smooth input the backward difference is the derivative of the
    /// loss with respect to the delay: compare with central differences of
    /// `L(d) = Σ_k w[k]·x(k − d)` over integer shifts.
    #[test]
    fn delay_gradient_matches_finite_differences_on_smooth_inputs() {
        let bins = 400;
        let x = |t: f64| (-(t - 150.0).powi(2) / (2.0 * 30.0f64.powi(2))).exp();
        let w: Vec<f32> = (0..bins).map(|k| (k as f32 * 0.01).cos() + 0.5).collect();
        let loss = |d: f64| -> f64 { (0..bins).map(|k| f64::from(w[k]) * x(k as f64 - d)).sum() };
        for d in [10.0, 25.0, 60.0] {
            let y: Vec<f32> = (0..bins).map(|k| x(k as f64 - d) as f32).collect();
            let g = delay_gradient(&y, &w, 1)[0];
            let fd = (loss(d + 1.0) - loss(d - 1.0)) / 2.0;
            assert!(
                (f64::from(g) - fd).abs() < 2e-2 * fd.abs(),
                "d {d}: {g} vs fd {fd}"
            );
        }
    }

    #[test]
    fn sparse_backward_equals_dense_formula_and_shifts_back() {
        let (bins, n) = (50, 4);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut r = SpikeRaster::new(bins, n);
        for k in 0..bins {
            for j in 0..n {
                if rng.random::<f32>() < 0.2 {
                    r.set(k, j);
                }
            }
        }
        let layer = Delay {
            delays: vec![0.0, 1.7, 3.2, 49.5],
            max_delay: 62.0,
        };
        let y = layer.forward(&SpikeTrain::from_raster(&r));
        let g_y: Vec<f32> = (0..bins * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut g_x = vec![0.0; bins * n];
        let mut g_d = vec![0.0; n];
        layer.backward(&y, &g_y, &mut g_x, &mut g_d);
        let want = delay_gradient(&y.to_raster().to_f32(), &g_y, n);
        for (a, b) in g_d.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        for k in 0..bins {
            for (j, s) in [0usize, 1, 3, 49].iter().enumerate() {
                let want = if k + s < bins {
                    g_y[(k + s) * n + j]
                } else {
                    0.0
                };
                assert_eq!(g_x[k * n + j], want);
            }
        }
        // forward shifted by floor(d)
        assert_eq!(
            y.to_raster().spike_bins(2),
            r.spike_bins(2)
                .iter()
                .map(|k| k + 3)
                .filter(|&k| k < bins)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn clamp_keeps_delays_in_range() {
        let mut d = Delay {
            delays: vec![-1.0, 5.0, 100.0, f32::NAN],
            max_delay: 62.0,
        };
        d.clamp();
        assert_eq!(d.delays, vec![0.0, 5.0, 62.0, 0.0]);
    }
}

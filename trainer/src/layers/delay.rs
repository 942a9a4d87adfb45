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
        self.delays.iter().map(|&d| d.max(0.0).floor() as usize).collect()
    }

    /// Clamps every delay into `[0, max_delay]` (after an optimiser step).
    pub fn clamp(&mut self) {
        for d in &mut self.delays {
            *d = if d.is_finite() { d.clamp(0.0, self.max_delay) } else { 0.0 };
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
                let next = if k + 1 < bins { g_y[(k + 1) * n + j] } else { 0.0 };
                g_delay[j] += next - g_y[k * n + j];
            }
        }
    }
}

//! Dense (fully connected) synapses: `a = W·s`, a gather over active inputs.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::spikes::SpikeTrain;

/// A dense weight matrix without bias.
///
/// Stored input-major (`weights[i * outputs + j]` is the weight from input `i`
/// to output `j`), so that one input spike adds one contiguous row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// Number of inputs (fan-in).
    pub inputs: usize,
    /// Number of outputs.
    pub outputs: usize,
    /// Weights, input-major.
    pub weights: Vec<f32>,
}

impl Dense {
    /// The reference initialisation: `U(±1/√fan_in)·weight_scale`.
    pub fn init(inputs: usize, outputs: usize, weight_scale: f32, rng: &mut impl Rng) -> Self {
        let bound = weight_scale / (inputs.max(1) as f32).sqrt();
        let weights = (0..inputs * outputs)
            .map(|_| rng.random_range(-1.0f32..1.0) * bound)
            .collect();
        Self {
            inputs,
            outputs,
            weights,
        }
    }

    /// Builds the layer from an output-major matrix (`w[j][i]`, as the gold
    /// data and most papers print it).
    pub fn from_rows(rows: &[Vec<f32>]) -> Self {
        let outputs = rows.len();
        let inputs = rows.first().map_or(0, Vec::len);
        let mut weights = vec![0.0; inputs * outputs];
        for (j, row) in rows.iter().enumerate() {
            for (i, &w) in row.iter().enumerate().take(inputs) {
                weights[i * outputs + j] = w;
            }
        }
        Self {
            inputs,
            outputs,
            weights,
        }
    }

    /// The weight from input `i` to output `j`.
    pub fn weight(&self, j: usize, i: usize) -> f32 {
        self.weights[i * self.outputs + j]
    }

    /// `a[k] = W·(gain·s[k])` for every bin: writes `bins × outputs` values into `a`.
    pub fn forward(&self, input: &SpikeTrain, a: &mut [f32]) {
        let g = input.gain();
        for (k, row) in a.chunks_exact_mut(self.outputs).enumerate() {
            row.fill(0.0);
            for &i in input.active(k) {
                let w = &self.weights[i as usize * self.outputs..(i as usize + 1) * self.outputs];
                if g == 1.0 {
                    row.iter_mut().zip(w).for_each(|(r, &w)| *r += w);
                } else {
                    row.iter_mut().zip(w).for_each(|(r, &w)| *r += g * w);
                }
            }
        }
    }

    /// `g_W += Σ_k g_a[k]·(gain·s[k])ᵀ`, sparse in the input spikes; `g_w` is
    /// laid out like `weights`.
    pub fn accumulate_grad(&self, input: &SpikeTrain, g_a: &[f32], g_w: &mut [f32]) {
        let g = input.gain();
        for (k, ga) in g_a.chunks_exact(self.outputs).enumerate() {
            for &i in input.active(k) {
                let gw = &mut g_w[i as usize * self.outputs..(i as usize + 1) * self.outputs];
                gw.iter_mut().zip(ga).for_each(|(w, &d)| *w += g * d);
            }
        }
    }

    /// `g_in[k] = gain·Wᵀ·g_a[k]`: the gradient with respect to the 0/1 input
    /// spikes (`bins × inputs` values written into `g_in`).
    pub fn backward_input(&self, gain: f32, g_a: &[f32], g_in: &mut [f32]) {
        // Output-major copy, so each active output adds one contiguous row.
        let mut wt = vec![0f32; self.weights.len()];
        for (i, row) in self.weights.chunks_exact(self.outputs).enumerate() {
            for (j, &w) in row.iter().enumerate() {
                wt[j * self.inputs + i] = gain * w;
            }
        }
        for (ga, gi) in g_a
            .chunks_exact(self.outputs)
            .zip(g_in.chunks_exact_mut(self.inputs))
        {
            gi.fill(0.0);
            for (j, &d) in ga.iter().enumerate() {
                if d != 0.0 {
                    let w = &wt[j * self.inputs..(j + 1) * self.inputs];
                    gi.iter_mut().zip(w).for_each(|(g, &w)| *g += d * w);
                }
            }
        }
    }
}

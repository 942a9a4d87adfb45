//! The common shape of every synaptic layer (dense, conv, pool): a linear map
//! from a sparse input spike train to the input current of a neuron population.

use crate::spikes::SpikeTrain;

/// A linear synaptic layer, evaluated per time bin, followed by SRM neurons.
///
/// `forward` gathers `a = W·s` for every bin (`bins × outputs`); the weight
/// gradient is sparse in the input spikes; the input gradient is `Wᵀ·g_a`.
pub trait Synapse {
    /// Number of input neurons.
    fn inputs(&self) -> usize;
    /// Number of output neurons.
    fn outputs(&self) -> usize;
    /// `a[k] = W·(gain·s[k])` for every bin, written into `a` (`bins × outputs`).
    fn forward(&self, input: &SpikeTrain, a: &mut [f32]);
    /// `g_W += Σ_k g_a[k]·(gain·s[k])ᵀ`; a no-op for layers without weights.
    fn accumulate_grad(&self, input: &SpikeTrain, g_a: &[f32], g_w: &mut [f32]);
    /// `g_in[k] = gain·Wᵀ·g_a[k]` (`bins × inputs`).
    fn backward_input(&self, gain: f32, g_a: &[f32], g_in: &mut [f32]);
}

impl Synapse for super::Dense {
    fn inputs(&self) -> usize {
        self.inputs
    }
    fn outputs(&self) -> usize {
        self.outputs
    }
    fn forward(&self, input: &SpikeTrain, a: &mut [f32]) {
        super::Dense::forward(self, input, a);
    }
    fn accumulate_grad(&self, input: &SpikeTrain, g_a: &[f32], g_w: &mut [f32]) {
        super::Dense::accumulate_grad(self, input, g_a, g_w);
    }
    fn backward_input(&self, gain: f32, g_a: &[f32], g_in: &mut [f32]) {
        super::Dense::backward_input(self, gain, g_a, g_in);
    }
}

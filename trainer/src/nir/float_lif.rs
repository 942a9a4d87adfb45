//! A NIR LIF graph simulated in floating point (`f64`), node by node as
//! the graph states it: each layer's synapse chain unfolded (a recurrent
//! loop taking the layer's spikes of the step before), its neurons stepped
//! with forward Euler at the import's `dt`. This is the network the
//! frameworks simulate; the core model [`lif_model`](super::lif_model) makes
//! of it differs only by the rounding of its weights and states.

use slayer_core::{LifReset, Shape};

use super::chain::{Dense, Op};
use super::lif::Euler;
use crate::SpikeRaster;

/// One layer: synapses, then LIF-family neurons.
#[derive(Debug, Clone, PartialEq)]
pub struct LifLayer {
    /// The neuron node's name.
    pub name: String,
    /// The first synapse node's name.
    pub synapse: String,
    /// The synapse chain, in graph order.
    pub(super) ops: Vec<Op>,
    /// Recurrent synapses from the layer's spikes of the step before.
    pub(super) recurrent: Option<Dense>,
    /// The neurons' Euler step.
    pub(super) neuron: Euler,
    /// What a spike does to the membrane.
    pub reset: LifReset,
    /// Number of neurons.
    pub neurons: usize,
}

/// A LIF network from a NIR graph ([`lif_network`](super::lif_network)):
/// layers in a chain, each with optional recurrent synapses.
#[derive(Debug, Clone, PartialEq)]
pub struct LifNetwork {
    /// The input shape (`(n, 1, 1)` for a flat input).
    pub input: Shape,
    /// The layers, input to output.
    pub layers: Vec<LifLayer>,
}

impl LifNetwork {
    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.input.len().map_or(0, |n| n as usize)
    }

    /// Number of outputs (the last layer's neurons).
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.neurons)
    }

    /// The output spike count of every output neuron over the bins of
    /// `raster` (whose neurons are the network's inputs in flatten order;
    /// extra ones are ignored, missing ones silent).
    pub fn run(&self, raster: &SpikeRaster) -> Vec<u64> {
        // Per layer: synaptic current, membrane and last spikes (0/1) of
        // every neuron.
        let mut state: Vec<[Vec<f64>; 3]> = self
            .layers
            .iter()
            .map(|l| [0, 1, 2].map(|_| vec![0.0; l.neurons]))
            .collect();
        let mut counts = vec![0u64; self.outputs()];
        let n = self.inputs();
        for k in 0..raster.bins() {
            let row = raster.row(k);
            let mut x: Vec<f64> = (0..n)
                .map(|i| f64::from(row.get(i).copied().unwrap_or(0)))
                .collect();
            for (l, [syn, v, last]) in self.layers.iter().zip(&mut state) {
                let mut a = l.ops.iter().fold(x, |x, op| match op {
                    Op::Conv(c) => c.apply(&x),
                    Op::Dense(d) => d.apply(&x),
                });
                if let Some(r) = &l.recurrent {
                    for (a, r) in a.iter_mut().zip(r.apply(last)) {
                        *a += r;
                    }
                }
                x = step(&l.neuron, l.reset, syn, v, &a);
                last.clone_from(&x);
            }
            for (c, s) in counts.iter_mut().zip(&x) {
                *c += u64::from(*s > 0.0);
            }
        }
        counts
    }
}

/// One Euler step of every neuron with input `a`: `syn = α·syn + gain·a`,
/// `v = β·v + syn`, a spike where `v > θ` (then `v ← 0` or `v − θ`).
/// Returns the spikes as 0/1.
fn step(e: &Euler, reset: LifReset, syn: &mut [f64], v: &mut [f64], a: &[f64]) -> Vec<f64> {
    syn.iter_mut()
        .zip(v.iter_mut())
        .zip(a)
        .map(|((s, u), &a)| {
            *s = e.alpha * *s + e.gain * a;
            *u = e.beta * *u + *s;
            if *u > e.theta {
                *u = match reset {
                    LifReset::Zero => 0.0,
                    LifReset::Subtract => *u - e.theta,
                };
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

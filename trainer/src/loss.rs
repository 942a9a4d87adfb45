//! Loss functions on output spike trains (SLAYER.md §4).
//!
//! Both losses are `E = ½·Ts·Σ_k e[k]²` of an error signal `e`, and both send
//! `∂E/∂s[k] = Ts·Σ_i ε[i]·e[k+i]` back to the 0/1 output spikes.

use serde::{Deserialize, Serialize};

use crate::neuron::Srm;
use crate::spikes::SpikeRaster;

/// The loss of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Loss {
    /// Match a target spike train: `e = ε∗(s_out − s_target)`.
    SpikeTime,
    /// Classification by spike counts: inside the window `[start, stop)` (bins)
    /// the count error `(Σ s_out − target)/L` is spread uniformly over the
    /// window; outside it, the PSP of the output spikes counts as error.
    NumSpikes {
        /// First bin of the target window.
        start: usize,
        /// One past the last bin of the window.
        stop: usize,
        /// Target count of the true class's neuron.
        true_count: f32,
        /// Target count of every other neuron.
        false_count: f32,
    },
}

/// What a sample's output should be.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A desired spike raster (`bins × outputs`).
    Spikes(SpikeRaster),
    /// A class label: the index of the output neuron that should fire most.
    Class(usize),
}

impl Loss {
    /// The loss `E` of one sample and `∂E/∂s_out` (`bins × outputs`, time-major).
    ///
    /// Shapes are checked by the caller (see [`Loss::check`]).
    pub fn evaluate(&self, srm: &Srm, out: &SpikeRaster, target: &Target) -> (f64, Vec<f32>) {
        let (bins, n) = (out.bins(), out.neurons());
        let mut e = out.to_f32();
        match (self, target) {
            (Loss::SpikeTime, Target::Spikes(t)) => {
                for (v, &d) in e.iter_mut().zip(t.data()) {
                    *v -= f32::from(d != 0);
                }
                srm.psp(&mut e, n);
            }
            (
                Loss::NumSpikes {
                    start,
                    stop,
                    true_count,
                    false_count,
                },
                _,
            ) => {
                let (start, stop) = ((*start).min(bins), (*stop).min(bins));
                let len = stop.saturating_sub(start).max(1) as f32;
                let class = match target {
                    Target::Class(c) => Some(*c),
                    Target::Spikes(_) => None,
                };
                let mut err = vec![0f32; n];
                for (j, er) in err.iter_mut().enumerate() {
                    let count = (start..stop).filter(|&k| out.get(k, j)).count() as f32;
                    let want = if Some(j) == class {
                        *true_count
                    } else {
                        *false_count
                    };
                    *er = (count - want) / len;
                }
                // PSP of the spikes outside the window …
                for k in start..stop {
                    e[k * n..(k + 1) * n].fill(0.0);
                }
                srm.psp(&mut e, n);
                // … plus the count error inside it.
                for k in start..stop {
                    for (v, &er) in e[k * n..(k + 1) * n].iter_mut().zip(&err) {
                        *v += er;
                    }
                }
            }
            (Loss::SpikeTime, Target::Class(_)) => {
                // Rejected by `check`; treat as an all-silent target.
                srm.psp(&mut e, n);
            }
        }
        let ts = f64::from(srm.ts);
        let loss = 0.5 * ts * e.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
        srm.psp_backward(&mut e, n);
        for v in &mut e {
            *v *= srm.ts;
        }
        (loss, e)
    }

    /// Checks that a target fits this loss and an output of `bins × outputs`.
    pub fn check(&self, target: &Target, bins: usize, outputs: usize) -> Result<(), String> {
        match (self, target) {
            (Loss::SpikeTime, Target::Spikes(t)) => {
                if t.bins() != bins || t.neurons() != outputs {
                    return Err(format!(
                        "target raster is {}×{} (bins×neurons) but the network outputs {bins}×{outputs}",
                        t.bins(),
                        t.neurons()
                    ));
                }
            }
            (Loss::SpikeTime, Target::Class(_)) => {
                return Err("the spike_time loss needs target spike trains, not class labels".into())
            }
            (Loss::NumSpikes { start, stop, .. }, t) => {
                if start >= stop || *stop > bins {
                    return Err(format!(
                        "num_spikes window [{start}, {stop}) must be non-empty and within the {bins} bins"
                    ));
                }
                if let Target::Class(c) = t {
                    if *c >= outputs {
                        return Err(format!(
                            "class label {c} out of range for {outputs} output neurons"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

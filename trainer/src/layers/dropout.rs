//! Dropout of whole neurons for a whole sample (SLAYER.md §3).

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::spikes::SpikeTrain;

/// Drops each neuron with probability `p` for the whole sample while
/// training; survivors are scaled by `1/(1−p)`. Identity at inference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Dropout {
    /// Drop probability in `[0, 1)`.
    pub p: f32,
}

impl Dropout {
    /// Draws the keep-mask of one sample.
    pub fn mask(&self, neurons: usize, rng: &mut impl Rng) -> Vec<bool> {
        (0..neurons)
            .map(|_| rng.random::<f32>() >= self.p)
            .collect()
    }

    /// The train with dropped neurons removed and survivors scaled.
    pub fn forward(&self, input: &SpikeTrain, keep: &[bool]) -> SpikeTrain {
        input.masked(keep, input.gain() / (1.0 - self.p))
    }

    /// Zeroes the gradient of dropped neurons (`g` is `bins × neurons`); the
    /// survivors' scale is applied by the layer that consumes the train.
    pub fn backward(keep: &[bool], g: &mut [f32]) {
        let n = keep.len();
        for row in g.chunks_exact_mut(n.max(1)) {
            for (v, &k) in row.iter_mut().zip(keep) {
                if !k {
                    *v = 0.0;
                }
            }
        }
    }
}

//! Parameters of the SRM neuron and of the time discretisation.
//!
//! Units follow SLAYER.md: times in milliseconds, potentials in the same
//! (arbitrary) unit as the threshold `theta`.

use serde::{Deserialize, Serialize};

/// Spike-response-model neuron constants (SLAYER.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NeuronParams {
    /// Firing threshold `θ`; a neuron spikes when `u ≥ θ`.
    pub theta: f32,
    /// Time constant of the spike-response (alpha) kernel `ε`, in ms.
    pub tau_s: f32,
    /// Time constant of the refractory kernel `ν`, in ms.
    pub tau_r: f32,
    /// Peak of the refractory kernel relative to `θ` (`ν` peaks at `−scale_ref·θ`).
    pub scale_ref: f32,
}

impl NeuronParams {
    /// The defaults of the reference examples: `θ = 10, τs = 10, τr = 1, scaleRef = 2`.
    pub const REFERENCE: Self = Self {
        theta: 10.0,
        tau_s: 10.0,
        tau_r: 1.0,
        scale_ref: 2.0,
    };

    /// These parameters with the threshold given in weight LSB instead:
    /// `theta_lsb = θ / s` for a layer whose float weight is the integer
    /// weight times `s`. This is the form
    /// [`NeuronConsts::derive`](crate::NeuronConsts::derive) takes, since the
    /// fixed-point state counts in weight LSB.
    ///
    /// ```
    /// use slayer_core::{NeuronConsts, NeuronParams};
    /// // θ = 10 at a weight scale of 1/100: θ is 1000 weight LSB.
    /// let p = NeuronParams::REFERENCE.with_theta_lsb(10.0 / 0.01);
    /// assert_eq!(p.tau_s, NeuronParams::REFERENCE.tau_s);
    /// let k = NeuronConsts::derive(&p, 1.0).unwrap();
    /// assert!((k.theta_lsb() - 1000.0).abs() < 1e-6);
    /// ```
    pub fn with_theta_lsb(&self, theta_lsb: f32) -> Self {
        Self {
            theta: theta_lsb,
            ..*self
        }
    }

    /// True when every constant is finite and positive (`scale_ref` may be zero).
    pub fn is_valid(&self) -> bool {
        self.theta.is_finite()
            && self.theta > 0.0
            && self.tau_s.is_finite()
            && self.tau_s > 0.0
            && self.tau_r.is_finite()
            && self.tau_r > 0.0
            && self.scale_ref.is_finite()
            && self.scale_ref >= 0.0
    }
}

/// Time discretisation of a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimulationParams {
    /// Time step `Ts` in ms.
    pub ts: f32,
    /// Number of time bins `T` in one sample.
    pub bins: u32,
}

impl SimulationParams {
    /// Duration of one sample in ms (`Ts · T`).
    pub fn duration_ms(&self) -> f32 {
        self.ts * self.bins as f32
    }

    /// True when `Ts` is finite and positive and there is at least one bin.
    pub fn is_valid(&self) -> bool {
        self.ts.is_finite() && self.ts > 0.0 && self.bins > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_rejects_nonsense() {
        assert!(NeuronParams::REFERENCE.is_valid());
        let mut p = NeuronParams::REFERENCE;
        p.tau_s = 0.0;
        assert!(!p.is_valid());
        p = NeuronParams::REFERENCE;
        p.theta = f32::NAN;
        assert!(!p.is_valid());
        assert!(SimulationParams { ts: 0.1, bins: 500 }.is_valid());
        assert!(!SimulationParams { ts: 0.1, bins: 0 }.is_valid());
        assert!(!SimulationParams { ts: -1.0, bins: 3 }.is_valid());
        assert!((SimulationParams { ts: 0.1, bins: 500 }.duration_ms() - 50.0).abs() < 1e-4);
    }
}

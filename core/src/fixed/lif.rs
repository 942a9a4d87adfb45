//! Fixed-point leaky integrate-and-fire neurons (LIF, current-based LIF,
//! IF): the neurons of the networks other frameworks exchange through NIR.
//!
//! # The update (per neuron and bin; integer only)
//!
//! ```text
//! x   = clamp(a[k], ±(2^31 >> frac_bits)) << frac_bits   (this bin's input + bias, state units)
//! syn = sat(((α·syn + 2^29) >> 30) + x)            (synaptic current; α = 0: syn = x)
//! v   = sat(((β·v + 2^29) >> 30) + syn)            (membrane; β = 1: IF)
//! s   = v > θ;  if s { v = 0 (Zero) or v − θ (Subtract) }
//! ```
//!
//! `α` and `β` are Q2.30 in `[0, 1]`; state is `i32` in units of
//! `2^−frac_bits` weight LSB, `θ` placed as [`NeuronConsts`](super::NeuronConsts)
//! places it. Unlike the SRM neuron, whose spike response starts a bin after
//! its input (`ε[0] = 0`), the input of bin `k` reaches `v` in bin `k`, and a
//! spike resets in the bin it is emitted: snnTorch's `Leaky` / `Synaptic`
//! with `reset_delay = False`, and the forward-Euler discretisation of NIR's
//! `LIF`, `CubaLIF` and `IF` at the frameworks' time step.

use serde::{Deserialize, Serialize};

use super::derive::{place_theta, to_i32, ConstsError};
use super::{COEF_FRAC_BITS, COEF_ONE, MAX_FRAC_BITS};

/// What a spike does to the membrane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LifReset {
    /// `v ← 0`.
    Zero,
    /// `v ← v − θ`.
    Subtract,
}

/// The fixed-point constants of one layer of LIF neurons (LIF, CUBA-LIF, IF).
///
/// Per neuron and bin ([`LifConsts::step`]): `syn = α·syn + x`, `v = β·v +
/// syn` (Q2.30 `α`, `β`, rounded to nearest; `x` this bin's input in state
/// units), a spike when `v > θ`, then `v ← 0` or `v ← v − θ`. The input of
/// bin `k` reaches `v` in bin `k`: snnTorch's `Leaky` / `Synaptic` with
/// `reset_delay = False`, Norse's `LIFBoxCell`, and NIR's `LIF`, `CubaLIF`
/// and `IF` stepped with forward Euler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LifConsts {
    /// Fractional state bits below the weight LSB.
    pub frac_bits: u8,
    /// Threshold `θ` in state units (`≥ 1`); a neuron fires when `v > θ`.
    pub theta: i32,
    /// Decay of the synaptic current per bin, Q2.30 in `[0, 1]` (0: none, a LIF).
    pub alpha: i32,
    /// Decay of the membrane per bin, Q2.30 in `[0, 1]` (1: an IF neuron).
    pub beta: i32,
    /// What a spike does to the membrane.
    pub reset: LifReset,
}

const HALF: i64 = 1 << (COEF_FRAC_BITS - 1);

fn sat(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

impl LifConsts {
    /// The constants of neurons with threshold `theta_lsb` weight LSB and
    /// per-bin decays `alpha` (synaptic current; 0 for a LIF) and `beta`
    /// (membrane; 1 for an IF), both in `[0, 1]`.
    pub fn derive(
        theta_lsb: f64,
        alpha: f64,
        beta: f64,
        reset: LifReset,
    ) -> Result<Self, ConstsError> {
        let (frac_bits, theta) = place_theta(theta_lsb)?;
        let unit_coef = |x: f64| {
            if (0.0..=1.0).contains(&x) {
                to_i32(x * f64::from(COEF_ONE)).ok_or(ConstsError::TimeConstant)
            } else {
                Err(ConstsError::TimeConstant)
            }
        };
        let k = Self {
            frac_bits,
            theta,
            alpha: unit_coef(alpha)?,
            beta: unit_coef(beta)?,
            reset,
        };
        debug_assert!(k.validate());
        Ok(k)
    }

    /// True when the constants are in the ranges the update relies on:
    /// `frac_bits ≤ 24`, `θ ≥ 1`, `α` and `β` in `[0, 1]` (Q2.30).
    pub fn validate(&self) -> bool {
        let unit = |q: i32| (0..=COEF_ONE).contains(&q);
        self.frac_bits <= MAX_FRAC_BITS && self.theta >= 1 && unit(self.alpha) && unit(self.beta)
    }

    /// One bin of one neuron: its synaptic current and membrane after the
    /// bin's summed input `a` (weight LSB), and whether it fired.
    #[inline]
    pub fn step(&self, syn: i32, v: i32, a: i32) -> (i32, i32, bool) {
        // `a` (the summed input plus any bias) clamped so that
        // `a << frac_bits` fits `i32`, here on every path: the scatter
        // leaves a LIF layer's sums unclamped (`engine::lif`).
        let hi = i32::MAX >> self.frac_bits;
        let x = i64::from(a.clamp(-hi - 1, hi) << self.frac_bits);
        let syn = sat(((i64::from(self.alpha) * i64::from(syn) + HALF) >> COEF_FRAC_BITS) + x);
        let v =
            sat(((i64::from(self.beta) * i64::from(v) + HALF) >> COEF_FRAC_BITS) + i64::from(syn));
        if v > self.theta {
            let v = match self.reset {
                LifReset::Zero => 0,
                LifReset::Subtract => v - self.theta,
            };
            (syn, v, true)
        } else {
            (syn, v, false)
        }
    }

    /// A state value converted to weight LSB.
    pub fn to_lsb(&self, state: i32) -> f64 {
        f64::from(state) / f64::from(1u32 << self.frac_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The float neuron the constants stand for.
    fn float_step(
        alpha: f64,
        beta: f64,
        theta: f64,
        reset: LifReset,
        (syn, v): (f64, f64),
        a: f64,
    ) -> (f64, f64, bool) {
        let syn = alpha * syn + a;
        let v = beta * v + syn;
        if v > theta {
            let v = match reset {
                LifReset::Zero => 0.0,
                LifReset::Subtract => v - theta,
            };
            (syn, v, true)
        } else {
            (syn, v, false)
        }
    }

    /// The integer neuron follows the float one on seeded random input
    /// (LIF, CUBA-LIF, IF; both resets): the same spikes while no float
    /// potential comes within the rounding error of the threshold, and
    /// the membranes within that error.
    #[test]
    fn integer_neurons_follow_the_float_ones() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (alpha, beta) in [(0.0, 0.9), (0.8, 0.95), (0.0, 1.0), (0.5, 0.5)] {
            for reset in [LifReset::Zero, LifReset::Subtract] {
                let theta_lsb = 300.0;
                let k = LifConsts::derive(theta_lsb, alpha, beta, reset).unwrap();
                let (mut si, mut vi) = (0i32, 0i32);
                let (mut sf, mut vf) = (0f64, 0f64);
                let mut spikes = 0;
                for _ in 0..2000 {
                    let a = (next() % 241) as i32 - 100;
                    let (s2, v2, fired) = k.step(si, vi, a);
                    let (sf2, vf2, ff) =
                        float_step(alpha, beta, theta_lsb, reset, (sf, vf), f64::from(a));
                    let err = (k.to_lsb(v2) - vf2).abs();
                    if fired != ff {
                        // Only at the threshold, within the rounding drift.
                        assert!((vf2 - theta_lsb).abs() < 0.05 * theta_lsb, "{vf2}");
                        (si, vi, sf, vf) = (s2, v2, k.to_lsb(s2), k.to_lsb(v2));
                        continue;
                    }
                    assert!(
                        err < 1e-3 * theta_lsb,
                        "α {alpha} β {beta} {reset:?}: {err}"
                    );
                    spikes += usize::from(fired);
                    (si, vi, sf, vf) = (s2, v2, sf2, vf2);
                }
                assert!(spikes > 10, "α {alpha} β {beta}: {spikes} spikes");
            }
        }
    }

    #[test]
    fn if_neurons_integrate_exactly_and_reset_as_asked() {
        let k = LifConsts::derive(10.0, 0.0, 1.0, LifReset::Subtract).unwrap();
        let unit = 1i32 << k.frac_bits;
        let (mut syn, mut v) = (0, 0);
        let mut fired = Vec::new();
        for a in [4, 4, 4, 0, 3] {
            let (s, v2, f) = k.step(syn, v, a);
            (syn, v) = (s, v2);
            fired.push(f);
        }
        // 4, 8, 12 > 10 → fire, 2 left; 2; 5.
        assert_eq!(fired, [false, false, true, false, false]);
        assert_eq!(v, 5 * unit);
        let z = LifConsts {
            reset: LifReset::Zero,
            ..k
        };
        assert_eq!(z.step(0, 9 * unit, 2), (2 * unit, 0, true));
        // At the threshold exactly: no spike (v > θ).
        assert!(!z.step(0, 8 * unit, 2).2);
    }

    #[test]
    fn constants_out_of_range_are_refused() {
        assert!(LifConsts::derive(f64::NAN, 0.0, 0.9, LifReset::Zero).is_err());
        assert!(LifConsts::derive(0.0, 0.0, 0.9, LifReset::Zero).is_err());
        assert!(LifConsts::derive(10.0, -0.1, 0.9, LifReset::Zero).is_err());
        assert!(LifConsts::derive(10.0, 0.0, 1.5, LifReset::Zero).is_err());
        let k = LifConsts::derive(10.0, 0.3, 0.9, LifReset::Zero).unwrap();
        assert!(k.validate());
        assert!(!LifConsts { theta: 0, ..k }.validate());
        assert!(!LifConsts {
            beta: COEF_ONE + 1,
            ..k
        }
        .validate());
        assert!((k.to_lsb(k.theta) - 10.0).abs() < 1e-5);
    }
}

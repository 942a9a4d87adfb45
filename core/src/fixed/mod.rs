//! Fixed-point SRM neuron constants and their Q-formats (and, in
//! [`LifConsts`], the LIF neurons of other frameworks' networks).
//!
//! # Units and formats
//!
//! * **Weights and synaptic input** `a[k]` (the sum of the weights of the
//!   input spikes of one bin) are integers in units of the layer's weight
//!   LSB (float weight = integer weight × layer scale).
//! * **State** (`ε` and `ν` filter outputs, the potential `u`, the threshold
//!   `θ`, the refractory step `ν[1]`) is an `i32` in units of
//!   `2^−frac_bits` weight LSB. [`NeuronConsts::derive`] picks `frac_bits` per
//!   layer so that `θ` lands in `(2^19, 2^20]` state units: every layer gets
//!   the same precision relative to its threshold (one unit ≈ `θ·2^−20`) and
//!   the same head-room (`|u|` up to `2^31`, about `2048·θ`, before the state
//!   saturates).
//! * **Filter coefficients** `2α`, `α²`, `c` (of `ε`) and `2β`, `β²` (of `ν`)
//!   are Q2.30 (`i32`, value `= q / 2^30`): `2α < 2` fits, and a
//!   coefficient error of `2^−31` moves the poles by far less than the
//!   weight quantisation does. [`NeuronConsts::coarse`] rounds them to
//!   multiples of `2^15` (15 fractional bits) where that moves a kernel by
//!   at most 0.1 % of its peak: the same update, which a Cortex-M0/M0+ then
//!   computes from 32-bit products (`engine/arch/lean.rs`).
//!
//! # The update (per neuron and bin; integer only)
//!
//! ```text
//! x    = sat(a[k−1] << frac_bits)                            (input in state units)
//! p[k] = sat((2α·p[k−1] − α²·p[k−2] + c·x + 2^29) >> 30)     (PSP, i64 products)
//! r[k] = sat((2β·r[k−1] − β²·r[k−2] + (ν1·s[k−1] << 30) + 2^29) >> 30)
//! u[k] = sat(p[k] + r[k]);   s[k] = (u[k] ≥ θ)
//! ```
//!
//! With the coefficient ranges [`NeuronConsts::validate`] enforces, every
//! `i64` sum stays below `2^63` in magnitude, so the only non-linearity is
//! saturation at the `i32` limits (never reached below `≈ 2048·θ`). The
//! rounding of the double pole adds at most `≈ (1 − α)^−2 / 2` state units of
//! error to `p` (≈ 55 units, `5·10^−5·θ`, at `τs/Ts = 10`); the tests measure it.
//! The bound grows as `(τ/Ts)²`: ≈ `5·10^−3·θ` at `τs/Ts = 100`, so very long
//! time constants (in bins) are where the fixed-point model departs most
//! from the float one.
//!
//! The engine evaluates the two filters in two passes over a population
//! (`ε` then `ν` and the threshold test), each a chain of `smlal`s on a
//! Cortex-M4; see `engine/population.rs`.

mod derive;
mod lif;

pub use derive::{pool_tap_weight, ConstsError, GRID_TOLERANCE};
pub use lif::{LifConsts, LifReset};

use serde::{Deserialize, Serialize};

/// Fractional bits of the filter coefficients (Q2.30).
pub const COEF_FRAC_BITS: u32 = 30;

/// Fractional bits of the coarse coefficient grid ([`NeuronConsts::derive`]
/// puts a filter's coefficients on it when that costs its kernel less than
/// [`GRID_TOLERANCE`] of its peak): multiples of `2^(30 − 15)` in Q2.30.
pub const COEF_GRID_BITS: u32 = 15;

/// One step of the coarse grid in Q2.30: coefficients on it are multiples of this.
pub const COEF_GRID_STEP: i32 = 1 << (COEF_FRAC_BITS - COEF_GRID_BITS);

/// `θ` is placed in `(2^(THETA_BITS−1), 2^THETA_BITS]` state units when possible.
pub const THETA_BITS: u32 = 20;

/// Largest `frac_bits` a layer may use.
pub const MAX_FRAC_BITS: u8 = 24;

/// `1.0` in Q2.30.
pub const COEF_ONE: i32 = 1 << COEF_FRAC_BITS;

/// The fixed-point constants of one layer of SRM neurons (see the
/// [module documentation](self) for units and the update they drive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NeuronConsts {
    /// Fractional state bits below the weight LSB.
    pub frac_bits: u8,
    /// Threshold `θ` in state units (`≥ 1`).
    pub theta: i32,
    /// `2α` of the `ε` filter, Q2.30 (`α = e^{−Ts/τs}`).
    pub eps_a2: i32,
    /// `α²` of the `ε` filter, Q2.30.
    pub eps_a_sq: i32,
    /// Input gain `c = e·(Ts/τs)·α` of the `ε` filter, Q2.30 (`= ε[1]`).
    pub eps_c: i32,
    /// `2β` of the `ν` filter, Q2.30 (`β = e^{−Ts/τr}`).
    pub nu_a2: i32,
    /// `β²` of the `ν` filter, Q2.30.
    pub nu_a_sq: i32,
    /// `ν[1] = −scaleRef·θ·e·(Ts/τr)·β` in state units: what one spike adds
    /// to the refractory filter's input.
    pub nu_1: i32,
}

impl NeuronConsts {
    /// True when the constants are in the ranges the engine's overflow-free
    /// arithmetic relies on: `frac_bits ≤ 24`, `θ ≥ 1`, `0 ≤ 2α, 2β`,
    /// `0 ≤ α², β² ≤ 1`, `|c| ≤ 1` (coefficients in Q2.30). `ν[1]` may be any `i32`.
    pub fn validate(&self) -> bool {
        let unit = |q: i32| (0..=COEF_ONE).contains(&q);
        self.frac_bits <= MAX_FRAC_BITS
            && self.theta >= 1
            && self.eps_a2 >= 0
            && self.nu_a2 >= 0
            && unit(self.eps_a_sq)
            && unit(self.nu_a_sq)
            && (-COEF_ONE..=COEF_ONE).contains(&self.eps_c)
    }

    /// One state unit in weight LSB, `2^−frac_bits`.
    pub fn state_unit(&self) -> f64 {
        let mut u = 1.0f64;
        for _ in 0..self.frac_bits {
            u *= 0.5;
        }
        u
    }

    /// A state value (potential, threshold) converted to weight LSB.
    pub fn to_lsb(&self, state: i32) -> f64 {
        f64::from(state) * self.state_unit()
    }

    /// The threshold in weight LSB (`θ` as stored, not as requested).
    pub fn theta_lsb(&self) -> f64 {
        self.to_lsb(self.theta)
    }
}

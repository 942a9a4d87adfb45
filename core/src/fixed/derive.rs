//! Deriving the fixed-point constants from the float neuron parameters.
//!
//! Computed in `f64` with `libm`, so a host and a microcontroller that derive
//! constants from the same parameters get the same bits.

use super::{NeuronConsts, COEF_FRAC_BITS, MAX_FRAC_BITS, THETA_BITS};
use crate::NeuronParams;

/// Why [`NeuronConsts::derive`] or [`pool_tap_weight`] rejected its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConstsError {
    /// `θ` is not finite and positive, or too large for the state (`> 2^28` LSB)
    /// or too small (`< 2^−24` LSB).
    Theta,
    /// `Ts` is not finite and positive.
    TimeStep,
    /// A time constant is not finite and positive, or more than `10^6·Ts`.
    TimeConstant,
    /// `scaleRef` is not finite and non-negative, or `ν[1]` overflows `i32`.
    ScaleRef,
}

impl core::fmt::Display for ConstsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Theta => "threshold out of range (finite, 2^-24 ..= 2^28 weight LSB)",
            Self::TimeStep => "time step not finite and positive",
            Self::TimeConstant => "time constant not finite, positive and at most 1e6 time steps",
            Self::ScaleRef => "scaleRef not finite and non-negative, or refractory step overflows",
        })
    }
}

impl core::error::Error for ConstsError {}

/// `x·2^n` for `0 ≤ n ≤ 62` (exact in `f64`).
fn pow2(n: u32) -> f64 {
    libm::ldexp(1.0, n as i32)
}

/// `round(v)` (half away from zero) as `i32`, `None` outside the `i32` range.
pub(super) fn to_i32(v: f64) -> Option<i32> {
    let r = libm::round(v);
    (r.is_finite() && r >= f64::from(i32::MIN) && r <= f64::from(i32::MAX)).then_some(r as i32)
}

/// Where a threshold of `theta_lsb` weight LSB sits in the state: the
/// largest `frac_bits ≤ 24` that keeps `θ ≤ 2^20` state units (0 for
/// `θ > 2^20` LSB), and `θ` in state units (`≥ 1`). The placement of every
/// neuron kind (SRM: [`NeuronConsts::derive`]; LIF: `LifConsts::derive`).
/// [`ConstsError::Theta`] outside `2^−24 ..= 2^28` LSB.
pub(super) fn place_theta(theta_lsb: f64) -> Result<(u8, i32), ConstsError> {
    if !(theta_lsb.is_finite() && theta_lsb >= pow2(0) / pow2(24) && theta_lsb <= pow2(28)) {
        return Err(ConstsError::Theta);
    }
    let mut frac_bits = 0u8;
    while frac_bits < MAX_FRAC_BITS
        && theta_lsb * pow2(u32::from(frac_bits) + 1) <= pow2(THETA_BITS)
    {
        frac_bits += 1;
    }
    let theta = to_i32(theta_lsb * pow2(u32::from(frac_bits))).ok_or(ConstsError::Theta)?;
    Ok((frac_bits, theta.max(1)))
}

/// The recursion coefficients of a unit alpha kernel sampled at `r = Ts/τ`:
/// the pole `a = e^{−r}` and the input gain `c·a = e·r·a` (SLAYER.md §1),
/// in `f64`; [`NeuronConsts::derive`] forms `2a`, `a²` and scales them to
/// Q2.30.
///
/// The core's one home for these numbers. The trainer's float filters have
/// their own, `AlphaKernel::recursion` (`trainer/src/neuron/kernel.rs`),
/// on purpose: this one uses `libm` so that a host and a no_std
/// microcontroller deriving constants from the same parameters get the
/// same bits, while the trainer's uses `std`'s `exp`, whose last bit the
/// gold and float64-reference tests pin and which may differ from `libm`'s.
fn coefficients(r: f64) -> (f64, f64) {
    let a = libm::exp(-r);
    (a, core::f64::consts::E * r * a)
}

impl NeuronConsts {
    /// Derives the constants of a layer of neurons `p` simulated at time step
    /// `ts` (same time unit as `p.tau_s` and `p.tau_r`).
    ///
    /// **`p.theta` is the threshold in weight LSB** (`θ / s`, `s` the layer's
    /// weight scale), not the float `θ`: the fixed-point state counts in
    /// weight LSB, so this is the only threshold the constants can use. A
    /// caller holding the float parameters passes
    /// [`p.with_theta_lsb(θ / s)`](NeuronParams::with_theta_lsb).
    ///
    /// `frac_bits` is the largest value `≤ 24` that keeps `θ ≤ 2^20` state
    /// units (0 for `θ > 2^20` LSB).
    ///
    /// ```
    /// use slayer_core::{NeuronConsts, NeuronParams};
    /// let p = NeuronParams { theta: 1000.0, tau_s: 10.0, tau_r: 1.0, scale_ref: 2.0 };
    /// let k = NeuronConsts::derive(&p, 1.0).unwrap();
    /// assert_eq!((k.frac_bits, k.theta), (10, 1_024_000));
    /// ```
    pub fn derive(p: &NeuronParams, ts: f32) -> Result<Self, ConstsError> {
        let theta = f64::from(p.theta);
        let (frac_bits, theta_units) = place_theta(theta)?;
        let ts = f64::from(ts);
        if !(ts.is_finite() && ts > 0.0) {
            return Err(ConstsError::TimeStep);
        }
        let ratio = |tau: f32| {
            let tau = f64::from(tau);
            if tau.is_finite() && tau > 0.0 && tau <= 1e6 * ts {
                Ok(ts / tau)
            } else {
                Err(ConstsError::TimeConstant)
            }
        };
        let (rs, rr) = (ratio(p.tau_s)?, ratio(p.tau_r)?);
        let scale_ref = f64::from(p.scale_ref);
        if !(scale_ref.is_finite() && scale_ref >= 0.0) {
            return Err(ConstsError::ScaleRef);
        }
        let unit = pow2(u32::from(frac_bits));
        let q = pow2(COEF_FRAC_BITS);
        let (a, c) = coefficients(rs);
        let (b, nu) = coefficients(rr);
        // Coefficients of these magnitudes always fit (|c| ≤ 1, a < 1 − 10^−6).
        let coef = |v: f64| to_i32(v * q).ok_or(ConstsError::TimeConstant);
        let consts = Self {
            frac_bits,
            theta: theta_units,
            eps_a2: coef(2.0 * a)?,
            eps_a_sq: coef(a * a)?,
            eps_c: coef(c)?,
            nu_a2: coef(2.0 * b)?,
            nu_a_sq: coef(b * b)?,
            nu_1: to_i32(-scale_ref * theta * unit * nu).ok_or(ConstsError::ScaleRef)?,
        };
        if consts.validate() {
            Ok(consts)
        } else {
            Err(ConstsError::TimeConstant)
        }
    }
}

/// The integer tap weight of a sum-pooling layer, `round(1.1·θ)` weight LSB
/// (the reference's pool weight, SLAYER.md §3), for a pooling layer whose
/// threshold is `theta_lsb` LSB. Choose `theta_lsb` of a pool layer large
/// (e.g. 1000) so the rounding of `1.1·θ` is negligible: a pool layer has
/// no weights of its own to constrain its scale.
pub fn pool_tap_weight(theta_lsb: f32) -> Result<i32, ConstsError> {
    let t = f64::from(theta_lsb);
    if !(t.is_finite() && t > 0.0) {
        return Err(ConstsError::Theta);
    }
    to_i32(1.1 * t).ok_or(ConstsError::Theta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `NeuronConsts::derive` of loose values, `theta` in weight LSB.
    fn derive(
        theta: f32,
        tau_s: f32,
        tau_r: f32,
        scale_ref: f32,
        ts: f32,
    ) -> Result<NeuronConsts, ConstsError> {
        let p = NeuronParams {
            theta,
            tau_s,
            tau_r,
            scale_ref,
        };
        NeuronConsts::derive(&p, ts)
    }

    #[test]
    fn reference_defaults() {
        // θ = 10 at scale 1/100 → 1000 LSB: frac_bits 10 puts θ at 1,024,000.
        let c = derive(1000.0, 10.0, 1.0, 2.0, 1.0).unwrap();
        assert_eq!(c.frac_bits, 10);
        assert_eq!(c.theta, 1_024_000);
        let a = (-0.1f64).exp();
        assert!((f64::from(c.eps_a2) / 2f64.powi(30) - 2.0 * a).abs() < 1e-9);
        assert!((f64::from(c.eps_c) / 2f64.powi(30) - std::f64::consts::E * 0.1 * a).abs() < 1e-9);
        let b = (-1.0f64).exp();
        let nu1 = -2.0 * 1_024_000.0 * std::f64::consts::E * b;
        assert!((f64::from(c.nu_1) - nu1).abs() <= 0.5);
        assert!(c.validate());
        assert!((c.theta_lsb() - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn theta_placement() {
        for t in [
            0.001f32, 0.7, 1.0, 3.0, 127.0, 1000.5, 32767.0, 1.0e6, 2.0e8,
        ] {
            let c = derive(t, 5.0, 1.0, 2.0, 1.0).unwrap();
            assert!(c.theta <= 1 << 20 || c.frac_bits == 0, "{t}: {c:?}");
            assert!(
                c.theta > 1 << 19 || c.frac_bits == MAX_FRAC_BITS,
                "{t}: {c:?}"
            );
            assert!((c.theta_lsb() - f64::from(t)).abs() <= 0.5 * c.state_unit());
        }
    }

    #[test]
    fn rejects_nonsense() {
        let d = derive;
        assert_eq!(d(f32::NAN, 1.0, 1.0, 2.0, 1.0), Err(ConstsError::Theta));
        assert_eq!(d(0.0, 1.0, 1.0, 2.0, 1.0), Err(ConstsError::Theta));
        assert_eq!(d(1e9, 1.0, 1.0, 2.0, 1.0), Err(ConstsError::Theta));
        assert_eq!(d(10.0, 0.0, 1.0, 2.0, 1.0), Err(ConstsError::TimeConstant));
        assert_eq!(d(10.0, 1e7, 1.0, 2.0, 1.0), Err(ConstsError::TimeConstant));
        assert_eq!(d(10.0, 1.0, 1.0, -1.0, 1.0), Err(ConstsError::ScaleRef));
        assert_eq!(d(10.0, 1.0, 1.0, 1e30, 1.0), Err(ConstsError::ScaleRef));
        assert_eq!(
            d(10.0, 1.0, 1.0, 2.0, f32::INFINITY),
            Err(ConstsError::TimeStep)
        );
        assert_eq!(pool_tap_weight(1000.0), Ok(1100));
        assert!(pool_tap_weight(-1.0).is_err());
    }
}

//! Deriving the fixed-point constants from the float neuron parameters.
//!
//! Computed in `f64` with `libm`, so a host and a microcontroller that derive
//! constants from the same parameters get the same bits.

use super::{NeuronConsts, COEF_FRAC_BITS, COEF_GRID_STEP, COEF_ONE, MAX_FRAC_BITS, THETA_BITS};
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

/// Largest departure of a filter on the coarse grid from its kernel with
/// full coefficients, as a fraction of the kernel's peak, that
/// [`NeuronConsts::coarse`] accepts.
pub const GRID_TOLERANCE: f64 = 1e-3;

/// `[2a, a², c]` of a double pole on the coarse grid ([`COEF_GRID_BITS`](super::COEF_GRID_BITS)):
/// each Q2.30 value rounded to the nearest multiple of `2^15`, when that
/// moves the filter's impulse response by at most [`GRID_TOLERANCE`] of its
/// peak; `None` otherwise (time constants past `≈ 20` bins, whose double
/// pole is more sensitive to its coefficients).
fn on_grid(k: [i32; 3]) -> Option<[i32; 3]> {
    let step = i64::from(COEF_GRID_STEP);
    let mut grid = [0i32; 3];
    for (g, &v) in grid.iter_mut().zip(&k) {
        // Round half away from zero, as `to_i32` does.
        let r = (i64::from(v).abs() + step / 2) / step * step;
        *g = i32::try_from(if v < 0 { -r } else { r }).ok()?;
    }
    let real = |k: [i32; 3]| k.map(|v| f64::from(v) / pow2(COEF_FRAC_BITS));
    (kernel_departure(real(k), real(grid)) <= GRID_TOLERANCE).then_some(grid)
}

/// `max |h_b[n] − h_a[n]| / max |h_a[n]|` of the impulse responses of two
/// double poles `[2a, a², c]` (f64 sums and products only, so every
/// machine gets the same answer), until `h_a` has decayed past its peak to
/// `e^−12` of it (at most 2,000 steps, about `τ = 125·Ts`; `∞` for
/// slower filters).
fn kernel_departure(a: [f64; 3], b: [f64; 3]) -> f64 {
    const STEPS: usize = 2000;
    let (mut ya, mut yb) = ([0.0f64; 2], [0.0f64; 2]);
    let (mut peak, mut worst) = (0.0f64, 0.0f64);
    for n in 0..STEPS {
        let x = if n == 1 { 1.0 } else { 0.0 };
        let next = |k: [f64; 3], y: [f64; 2]| k[0] * y[0] - k[1] * y[1] + k[2] * x;
        let (na, nb) = (next(a, ya), next(b, yb));
        (ya, yb) = ([na, ya[0]], [nb, yb[0]]);
        peak = peak.max(na.abs());
        worst = worst.max((nb - na).abs());
        if n > 2 && na.abs() < peak * 6.1e-6 && na.abs() <= ya[1].abs() {
            return worst / peak;
        }
    }
    f64::INFINITY
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

    /// These constants with each filter's coefficients (`2α`, `α²`, `c` of
    /// `ε`; `2β`, `β²` of `ν`) rounded to the coarse grid
    /// ([`COEF_GRID_BITS`](super::COEF_GRID_BITS): 15 fractional bits) where that moves the
    /// filter's kernel by at most [`GRID_TOLERANCE`] of its peak (up to
    /// `τ ≈ 20` bins), the others as they are. The update is the same;
    /// a core without a 32 × 32 → 64-bit multiply (ARMv6-M: Cortex-M0/M0+)
    /// then forms each of its products from two 16-bit multiplies instead of
    /// four. The price: the kernels move by up to 0.1 % of their peak, so
    /// a potential moves by up to that fraction of its input summed over the
    /// kernel's length (up to 2 % of θ in the core's reference tests, whose
    /// layers are driven hard), against `5·10^−5·θ` of rounding with the
    /// full coefficients; `tests/engine_reference.rs` checks both bounds.
    pub fn coarse(&self) -> Self {
        let mut k = *self;
        if let Some([a2, a_sq, c]) = on_grid([k.eps_a2, k.eps_a_sq, k.eps_c]) {
            (k.eps_a2, k.eps_a_sq, k.eps_c) = (a2, a_sq, c);
        }
        // The gain of ν is `ν[1]`, in state units; 1 stands for it here.
        if let Some([b2, b_sq, _]) = on_grid([k.nu_a2, k.nu_a_sq, COEF_ONE]) {
            (k.nu_a2, k.nu_a_sq) = (b2, b_sq);
        }
        if k.validate() {
            k
        } else {
            *self
        }
    }

    /// Whether the coefficients of `ε` and of `ν` lie on the coarse grid
    /// ([`NeuronConsts::coarse`]).
    pub fn on_coarse_grid(&self) -> (bool, bool) {
        let on = |v: i32| v % COEF_GRID_STEP == 0;
        (
            on(self.eps_a2) && on(self.eps_a_sq) && on(self.eps_c),
            on(self.nu_a2) && on(self.nu_a_sq),
        )
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
        assert_eq!(c.on_coarse_grid(), (false, false));
        let b = (-1.0f64).exp();
        let nu1 = -2.0 * 1_024_000.0 * std::f64::consts::E * b;
        assert!((f64::from(c.nu_1) - nu1).abs() <= 0.5);
        assert!(c.validate());
        assert!((c.theta_lsb() - 1000.0).abs() < 1e-9);
    }

    /// `coarse` puts the coefficients on the grid when (and only when) the
    /// kernel they give stays within the tolerance of the sampled alpha
    /// kernel `ε[n] = e·(n·r)·e^{−n·r}` (closed form, not the recursion).
    #[test]
    fn coarse_grid_where_the_kernel_allows() {
        let step = COEF_GRID_STEP;
        let q = pow2(COEF_FRAC_BITS);
        for (tau, grid) in [
            (0.5f32, true),
            (1.0, true),
            (5.0, true),
            (10.0, true),
            (20.0, true),
            (60.0, false),
            (100.0, false),
        ] {
            let fine = derive(1000.0, tau, tau, 2.0, 1.0).unwrap();
            let c = fine.coarse();
            assert_eq!(c.on_coarse_grid(), (grid, grid), "τ {tau}: {c:?}");
            assert_eq!(
                (c.frac_bits, c.theta, c.nu_1),
                (fine.frac_bits, fine.theta, fine.nu_1)
            );
            let on = |v: i32| v % step == 0;
            let coarse = [c.eps_a2, c.eps_a_sq, c.eps_c, c.nu_a2, c.nu_a_sq].map(on);
            assert_eq!(coarse, [grid; 5], "τ {tau}: {c:?}");
            // The recursion with the integer constants, in f64.
            let r = 1.0 / f64::from(tau);
            let (a2, a_sq, gain) = (
                f64::from(c.eps_a2) / q,
                f64::from(c.eps_a_sq) / q,
                f64::from(c.eps_c) / q,
            );
            let (mut y1, mut y2, mut worst, mut peak) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
            for n in 1..(40.0 * f64::from(tau)) as usize + 10 {
                let y = a2 * y1 - a_sq * y2 + if n == 1 { gain } else { 0.0 };
                (y2, y1) = (y1, y);
                let t = n as f64 * r;
                let want = std::f64::consts::E * t * (-t).exp();
                peak = peak.max(want);
                worst = worst.max((y - want).abs());
            }
            let limit = if grid { GRID_TOLERANCE } else { 1e-5 };
            assert!(worst <= limit * peak, "τ {tau}: {worst} of {peak}");
        }
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

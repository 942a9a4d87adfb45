//! The SRM neuron of SLAYER (SLAYER.md §1-2): spike response and refractory
//! kernels, spike generation with superimposed refractoriness, the spike-pdf
//! `ρ` and the backward correlation.

pub mod kernel;

pub use kernel::{AlphaKernel, Cut, Direction, KernelMode, Recursion};

use serde::{Deserialize, Serialize};
use slayer_core::NeuronParams;

/// Width of the spike-state-change density `ρ` (SLAYER.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RhoParams {
    /// Time constant relative to `θ`: `ρ` decays over `tau_rho·θ`.
    pub tau_rho: f32,
    /// Peak scale.
    pub scale_rho: f32,
}

impl Default for RhoParams {
    /// `tauRho = 1, scaleRho = 1`: the width that trains (SLAYER.md §2).
    fn default() -> Self {
        Self {
            tau_rho: 1.0,
            scale_rho: 1.0,
        }
    }
}

/// A layer of SRM neurons, ready to simulate: the kernels sampled at `Ts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Srm {
    /// Threshold `θ`.
    pub theta: f32,
    /// Time step in ms.
    pub ts: f32,
    /// Spike response kernel `ε` (peak 1).
    pub eps: AlphaKernel,
    /// Refractory kernel `ν` (peak `−scaleRef·θ`), always untruncated.
    pub nu: AlphaKernel,
    /// The spike-pdf width.
    pub rho: RhoParams,
}

impl Srm {
    /// Samples the kernels of `p` at time step `ts` (ms) in the given mode.
    pub fn new(p: &NeuronParams, ts: f32, rho: RhoParams, mode: KernelMode) -> Self {
        let (ts64, tau_s) = (f64::from(ts), f64::from(p.tau_s));
        let eps = AlphaKernel::new(ts64, tau_s, 1.0);
        let eps = match mode {
            KernelMode::Exact => eps,
            KernelMode::Truncated => eps.truncated(AlphaKernel::reference_taps(ts64, tau_s, 1.0)),
        };
        let nu = AlphaKernel::new(
            ts64,
            f64::from(p.tau_r),
            -f64::from(p.scale_ref) * f64::from(p.theta),
        );
        Self {
            theta: p.theta,
            ts,
            eps,
            nu,
            rho,
        }
    }

    /// `buf ← ε ∗ buf` along time (the post-synaptic potential of the weighted input).
    pub fn psp(&self, buf: &mut [f32], width: usize) {
        self.eps.apply(buf, width, Direction::Forward);
    }

    /// `buf ← Σ_i ε[i]·buf[k+i]`: the adjoint of [`Srm::psp`].
    pub fn psp_backward(&self, buf: &mut [f32], width: usize) {
        self.eps.apply(buf, width, Direction::Backward);
    }

    /// Spike generation: turns the PSP in `u` into the membrane potential after
    /// refractory additions, writing 0/1 spikes into `spikes` (same shape).
    ///
    /// `s[k] = 1` when `u[k] ≥ θ`; each spike adds `ν[1..]` to the following
    /// bins (superimposed, no reset).
    pub fn fire(&self, u: &mut [f32], spikes: &mut [u8], width: usize) {
        if width == 0 {
            return;
        }
        let nu = self.nu.recursion();
        let (a2, a_sq) = (nu.a2, nu.a_sq);
        // ν[1] = C·a: the refractory input of a spike one step back.
        let nu1 = nu.ca;
        let theta = f64::from(self.theta);
        let mut r1 = vec![0f64; width];
        let mut r2 = vec![0f64; width];
        let mut sp = vec![0f64; width];
        for (row, srow) in u
            .chunks_exact_mut(width)
            .zip(spikes.chunks_exact_mut(width))
        {
            for j in 0..width {
                let r = a2 * r1[j] - a_sq * r2[j] + nu1 * sp[j];
                let v = f64::from(row[j]) + r;
                let s = v >= theta;
                row[j] = v as f32;
                srow[j] = u8::from(s);
                sp[j] = f64::from(u8::from(s));
                r2[j] = r1[j];
                r1[j] = r;
            }
        }
    }

    /// The spike-state-change density `ρ(u)` (SLAYER.md §2).
    pub fn rho(&self, u: f32) -> f32 {
        let width = self.rho.tau_rho * self.theta;
        self.rho.scale_rho / width * (-(u - self.theta).abs() / width).exp()
    }

    /// `g ← Ts·ρ(u) ⊙ g`: the gradient at the spikes carried to the membrane potential.
    pub fn spike_backward(&self, u: &[f32], g: &mut [f32]) {
        let width = self.rho.tau_rho * self.theta;
        let scale = self.ts * self.rho.scale_rho / width;
        let inv = 1.0 / width;
        for (gi, &ui) in g.iter_mut().zip(u) {
            *gi *= scale * (-(ui - self.theta).abs() * inv).exp();
        }
    }
}

#[cfg(test)]
mod tests;

//! The alpha kernel `mult·(t/τ)·e^{1−t/τ}` and its O(1)-per-step filters.
//!
//! `n·aⁿ` (with `a = e^{−Ts/τ}`) is the impulse response of a two-pole filter,
//! so convolving with the sampled, untruncated kernel needs no convolution
//! (SLAYER.md §1):
//!
//! ```text
//! y[n] = 2a·y[n−1] − a²·y[n−2] + C·a·x[n−1],   C = mult·e·Ts/τ
//! ```
//!
//! The reference's kernel cut after `K` taps has an O(1) recursion too: with
//! `z[n] = a·z[n−1] + x[n]`, `y_K[n] = y[n] − a^K·y[n−K] − C·K·a^K·z[n−K]`.
//!
//! [`AlphaKernel::recursion`] is the trainer's one home for these
//! coefficients: the CPU filters here, the neuron's refractory scan and the
//! CUDA kernels all read them from it. The fixed-point core derives its own
//! (`slayer_core::NeuronConsts::derive`, with `libm`, so a board gets the
//! host's bits); the two are kept apart on purpose, see [`Recursion`].
//!
//! Filters run over time-major buffers (`buf[t * width + j]`), vectorised across
//! the `width` neurons, with their state in `f64`: the double pole amplifies
//! `f32` rounding (SLAYER.md §1).

/// How the spike-response kernel `ε` is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelMode {
    /// Both kernels untruncated, computed by recursion (default; what the
    /// fixed-point core runs).
    #[default]
    Exact,
    /// `ε` cut as the reference cuts it (first `t > τ` with `|ε| < 0.01`), `ν`
    /// untruncated: the setting that reproduces the gold data.
    Truncated,
}

/// Direction in which a filter walks time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Causal convolution `y[n] = Σ_i k[i]·x[n−i]` (the forward pass).
    Forward,
    /// Anti-causal correlation `y[n] = Σ_i k[i]·x[n+i]` (the backward pass:
    /// the adjoint of `Forward`).
    Backward,
}

/// The coefficients of an [`AlphaKernel`]'s O(1) recursion (module docs):
/// `y[n] = a2·y[n−1] − a_sq·y[n−2] + ca·x[n−1]`, and for a cut kernel the
/// correction `− cut.a_k·y[n−K] − cut.c_k_a_k·z[n−K]` with
/// `z[n] = a·z[n−1] + x[n]`.
///
/// Computed once, in `f64` with `std`'s `exp`, by [`AlphaKernel::recursion`];
/// every float consumer (CPU filters, refractory scan, CUDA kernels) reads
/// these values so they share their last bit, which the gold and
/// float64-reference tests pin. The fixed-point core computes the same
/// quantities separately with `libm` (`slayer_core::NeuronConsts::derive`),
/// so a no_std board derives the same constants as the host; the trainer's
/// export goes through the core's derive for that reason.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recursion {
    /// Pole `a = e^{−Ts/τ}`.
    pub a: f64,
    /// Gain `C = mult·e·Ts/τ`, so that `k[n] = C·n·aⁿ`.
    pub c: f64,
    /// `2a`.
    pub a2: f64,
    /// `a²`.
    pub a_sq: f64,
    /// `C·a` (`= k[1]`), the weight of the previous input.
    pub ca: f64,
    /// The terms of a cut after `K` taps; `None` for the untruncated kernel.
    pub cut: Option<Cut>,
}

/// The correction terms of a kernel cut after `taps` samples (see [`Recursion`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cut {
    /// Number of taps kept, `K`.
    pub taps: usize,
    /// `a^K`.
    pub a_k: f64,
    /// `C·K·a^K`.
    pub c_k_a_k: f64,
}

/// A sampled alpha kernel `k[n] = mult·(nTs/τ)·e^{1−nTs/τ}`, optionally cut
/// after `taps` samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlphaKernel {
    /// Pole `a = e^{−Ts/τ}`.
    a: f64,
    /// `C = mult·e·Ts/τ`, so that `k[n] = C·n·aⁿ`.
    c: f64,
    /// Number of taps kept (`k[n] = 0` for `n ≥ taps`); `None` = untruncated.
    taps: Option<usize>,
}

/// Threshold below which the reference stops sampling a kernel.
const REFERENCE_CUT: f64 = 0.01;

impl AlphaKernel {
    /// The untruncated kernel with time step `ts` and time constant `tau`
    /// (same unit), scaled by `mult`.
    pub fn new(ts: f64, tau: f64, mult: f64) -> Self {
        let r = ts / tau;
        Self {
            a: (-r).exp(),
            c: mult * std::f64::consts::E * r,
            taps: None,
        }
    }

    /// The kernel cut after `taps` samples (`k[n] = 0` for `n ≥ taps`).
    pub fn truncated(mut self, taps: usize) -> Self {
        self.taps = Some(taps);
        self
    }

    /// The number of taps the reference keeps: sampling stops at the first
    /// `n` with `n·Ts > τ` and `|k[n]| < 0.01` (77 taps at `τ/Ts = 10`, mult 1).
    pub fn reference_taps(ts: f64, tau: f64, mult: f64) -> usize {
        let k = Self::new(ts, tau, mult);
        let mut n = 0usize;
        loop {
            if n as f64 * ts > tau && k.sample(n).abs() < REFERENCE_CUT {
                return n;
            }
            n += 1;
        }
    }

    /// Number of taps kept, `None` when untruncated.
    pub fn taps(&self) -> Option<usize> {
        self.taps
    }

    /// The pole `a = e^{−Ts/τ}`.
    pub fn pole(&self) -> f64 {
        self.a
    }

    /// The coefficients of this kernel's recursion, as every filter uses them.
    pub fn recursion(&self) -> Recursion {
        let a = self.a;
        let cut = self.taps.map(|taps| {
            let a_k = a.powi(taps as i32);
            Cut {
                taps,
                a_k,
                c_k_a_k: self.c * taps as f64 * a_k,
            }
        });
        Recursion {
            a,
            c: self.c,
            a2: 2.0 * a,
            a_sq: a * a,
            ca: self.c * a,
            cut,
        }
    }

    /// The sample `k[n]`.
    pub fn sample(&self, n: usize) -> f64 {
        match self.taps {
            Some(k) if n >= k => 0.0,
            _ => self.c * n as f64 * self.a.powi(n as i32),
        }
    }

    /// The first `len` samples.
    pub fn samples(&self, len: usize) -> Vec<f64> {
        (0..len).map(|n| self.sample(n)).collect()
    }

    /// Filters a time-major buffer of `bins × width` values in place:
    /// convolution (`Forward`) or correlation (`Backward`) with this kernel
    /// along time, independently for each of the `width` columns.
    pub fn apply(&self, buf: &mut [f32], width: usize, dir: Direction) {
        if width == 0 {
            return;
        }
        debug_assert_eq!(buf.len() % width, 0);
        let r = self.recursion();
        match r.cut {
            None => apply_exact(&r, buf, width, dir),
            Some(cut) => apply_truncated(&r, &cut, buf, width, dir),
        }
    }
}

/// [`AlphaKernel::apply`] of an untruncated kernel.
fn apply_exact(r: &Recursion, buf: &mut [f32], width: usize, dir: Direction) {
    let (a2, a_sq, ca) = (r.a2, r.a_sq, r.ca);
    let mut y1 = vec![0f64; width];
    let mut y2 = vec![0f64; width];
    let mut xp = vec![0f64; width];
    let mut step = |row: &mut [f32]| {
        for j in 0..width {
            let y = a2 * y1[j] - a_sq * y2[j] + ca * xp[j];
            xp[j] = f64::from(row[j]);
            row[j] = y as f32;
            y2[j] = y1[j];
            y1[j] = y;
        }
    };
    match dir {
        Direction::Forward => buf.chunks_exact_mut(width).for_each(&mut step),
        Direction::Backward => buf.chunks_exact_mut(width).rev().for_each(&mut step),
    }
}

/// [`AlphaKernel::apply`] of a kernel cut after `cut.taps` samples.
fn apply_truncated(r: &Recursion, cut: &Cut, buf: &mut [f32], width: usize, dir: Direction) {
    let taps = cut.taps;
    if taps == 0 {
        buf.fill(0.0);
        return;
    }
    let (a2, a_sq, ca, a) = (r.a2, r.a_sq, r.ca, r.a);
    let (a_k, ck_ak) = (cut.a_k, cut.c_k_a_k);
    let mut y1 = vec![0f64; width];
    let mut y2 = vec![0f64; width];
    let mut xp = vec![0f64; width];
    let mut z = vec![0f64; width];
    // Ring buffers of the last `taps` values of y and z, per column.
    let mut hist_y = vec![0f64; taps * width];
    let mut hist_z = vec![0f64; taps * width];
    let mut s = 0usize;
    let mut step = |row: &mut [f32]| {
        let slot = (s % taps) * width;
        let hy = &mut hist_y[slot..slot + width];
        let hz = &mut hist_z[slot..slot + width];
        for j in 0..width {
            let x = f64::from(row[j]);
            let y = a2 * y1[j] - a_sq * y2[j] + ca * xp[j];
            let zn = a * z[j] + x;
            row[j] = (y - a_k * hy[j] - ck_ak * hz[j]) as f32;
            hy[j] = y;
            hz[j] = zn;
            xp[j] = x;
            z[j] = zn;
            y2[j] = y1[j];
            y1[j] = y;
        }
        s += 1;
    };
    match dir {
        Direction::Forward => buf.chunks_exact_mut(width).for_each(&mut step),
        Direction::Backward => buf.chunks_exact_mut(width).rev().for_each(&mut step),
    }
}

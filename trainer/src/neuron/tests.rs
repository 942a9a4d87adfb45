//! Fast filters and spike generation against the direct sums of `reference`.

use super::*;
use crate::reference::{column, convolve, correlate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len)
        .map(|_| {
            if rng.random::<f32>() < 0.2 {
                rng.random_range(-2.0..2.0)
            } else {
                0.0
            }
        })
        .collect()
}

fn max_abs_diff(a: &[f64], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, &y)| (x - f64::from(y)).abs())
        .fold(0.0, f64::max)
}

/// Runs `k` over a random `bins × width` buffer both ways and compares every
/// column with the direct sums.
fn check_filter(k: &AlphaKernel, bins: usize, width: usize, tol: f64) {
    let x = random(bins * width, 7);
    let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let taps = k.samples(bins);
    for dir in [Direction::Forward, Direction::Backward] {
        let mut y = x.clone();
        k.apply(&mut y, width, dir);
        for j in 0..width {
            let col = column(&x64, width, j);
            let want = match dir {
                Direction::Forward => convolve(&taps, &col),
                Direction::Backward => correlate(&taps, &col),
            };
            let got: Vec<f32> = y.iter().skip(j).step_by(width).copied().collect();
            let err = max_abs_diff(&want, &got);
            assert!(err < tol, "{dir:?} column {j}: max |Δ| = {err:e}");
        }
    }
}

#[test]
fn reference_truncation_gives_77_taps_at_tau_over_ts_10() {
    assert_eq!(AlphaKernel::reference_taps(0.1, 1.0, 1.0), 77);
    assert_eq!(AlphaKernel::reference_taps(1.0, 10.0, 1.0), 77);
    // The gold data's ν cut at 1e-2 (h_ref.txt) has 110 taps.
    assert_eq!(AlphaKernel::reference_taps(0.1, 1.0, -20.0), 110);
}

#[test]
fn kernel_samples_follow_the_alpha_function() {
    let k = AlphaKernel::new(0.1, 1.0, 1.0);
    assert_eq!(k.sample(0), 0.0);
    for n in [1usize, 5, 10, 33] {
        let t = n as f64 * 0.1;
        let want = t * (1.0 - t).exp();
        assert!((k.sample(n) - want).abs() < 1e-14, "n = {n}");
    }
    assert!((k.sample(10) - 1.0).abs() < 1e-14, "peak 1 at t = τ");
    let t = k.truncated(77);
    assert_eq!(t.sample(77), 0.0);
    assert_eq!(t.sample(76), k.sample(76));
}

#[test]
fn exact_recursion_matches_direct_convolution() {
    check_filter(&AlphaKernel::new(0.1, 1.0, 1.0), 400, 5, 2e-5);
    check_filter(&AlphaKernel::new(1.0, 10.0, 1.0), 300, 3, 2e-5);
    check_filter(&AlphaKernel::new(1.0, 1.0, -20.0), 200, 4, 2e-4);
}

#[test]
fn truncated_recursion_matches_the_fir() {
    let k = AlphaKernel::new(0.1, 1.0, 1.0);
    check_filter(&k.truncated(77), 400, 5, 2e-5);
    check_filter(&k.truncated(5), 60, 2, 2e-5);
    check_filter(
        &AlphaKernel::new(1.0, 10.0, 1.0).truncated(77),
        300,
        3,
        2e-5,
    );
}

#[test]
fn exact_and_truncated_agree_to_the_truncation_error() {
    let (ts, tau) = (1.0, 10.0);
    let exact = AlphaKernel::new(ts, tau, 1.0);
    let taps = AlphaKernel::reference_taps(ts, tau, 1.0);
    let trunc = exact.truncated(taps);
    let x = random(2000, 3);
    // |Δ| ≤ Σ_{n≥K} ε[n] · max|x|
    let tail: f64 = (taps..5000).map(|n| exact.sample(n)).sum();
    let bound = tail * f64::from(x.iter().fold(0.0f32, |m, v| m.max(v.abs())));
    let (mut a, mut b) = (x.clone(), x);
    exact.apply(&mut a, 1, Direction::Forward);
    trunc.apply(&mut b, 1, Direction::Forward);
    let diff = a
        .iter()
        .zip(&b)
        .map(|(p, q)| f64::from((p - q).abs()))
        .fold(0.0, f64::max);
    assert!(diff <= bound + 1e-5, "diff {diff} > bound {bound}");
    assert!(diff > 0.0, "the modes are different models");
}

/// The backward filter is the adjoint of the forward one: ⟨ε∗x, y⟩ = ⟨x, ε⋆y⟩.
#[test]
fn correlation_is_the_adjoint_of_convolution() {
    for k in [
        AlphaKernel::new(1.0, 10.0, 1.0),
        AlphaKernel::new(1.0, 10.0, 1.0).truncated(77),
    ] {
        let x = random(500, 11);
        let y = random(500, 12);
        let (mut fx, mut by) = (x.clone(), y.clone());
        k.apply(&mut fx, 1, Direction::Forward);
        k.apply(&mut by, 1, Direction::Backward);
        let lhs: f64 = fx.iter().zip(&y).map(|(a, b)| f64::from(a * b)).sum();
        let rhs: f64 = x.iter().zip(&by).map(|(a, b)| f64::from(a * b)).sum();
        assert!(
            (lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}

/// Finite differences of `L(x) = ½Σ w·(ε∗x)²` against `ε⋆(w·(ε∗x))`.
#[test]
fn correlation_is_the_gradient_of_the_filter() {
    let k = AlphaKernel::new(1.0, 5.0, 1.0);
    let x: Vec<f64> = random(80, 5).iter().map(|&v| f64::from(v)).collect();
    let w: Vec<f64> = (0..80).map(|n| 1.0 + (f64::from(n) * 0.3).sin()).collect();
    let taps = k.samples(80);
    let loss = |x: &[f64]| -> f64 {
        convolve(&taps, x)
            .iter()
            .zip(&w)
            .map(|(y, w)| 0.5 * w * y * y)
            .sum()
    };
    let mut g: Vec<f32> = convolve(&taps, &x)
        .iter()
        .zip(&w)
        .map(|(y, w)| (y * w) as f32)
        .collect();
    k.apply(&mut g, 1, Direction::Backward);
    let h = 1e-5;
    for n in (0..80).step_by(7) {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[n] += h;
        xm[n] -= h;
        let fd = (loss(&xp) - loss(&xm)) / (2.0 * h);
        assert!(
            (fd - f64::from(g[n])).abs() < 1e-3 * fd.abs().max(1.0),
            "n {n}: fd {fd} vs {}",
            g[n]
        );
    }
}

#[test]
fn fire_matches_direct_refractory_superposition() {
    let p = NeuronParams {
        theta: 10.0,
        tau_s: 1.0,
        tau_r: 1.0,
        scale_ref: 2.0,
    };
    let srm = Srm::new(&p, 0.1, RhoParams::default(), KernelMode::Exact);
    let bins = 600;
    // A slowly varying drive that crosses θ several times.
    let psp: Vec<f32> = (0..bins * 2)
        .map(|i| {
            let (k, j) = (i / 2, i % 2);
            14.0 * ((k as f32) * 0.02 + j as f32).sin() + 4.0
        })
        .collect();
    let mut u = psp.clone();
    let mut s = vec![0u8; bins * 2];
    srm.fire(&mut u, &mut s, 2);
    let nu = srm.nu.samples(bins);
    for j in 0..2 {
        let mut uj: Vec<f64> = psp
            .iter()
            .skip(j)
            .step_by(2)
            .map(|&v| f64::from(v))
            .collect();
        let mut spikes = 0;
        for k in 0..bins {
            let fired = uj[k] >= 10.0;
            assert_eq!(s[k * 2 + j] == 1, fired, "neuron {j} bin {k}");
            assert!(
                (uj[k] - f64::from(u[k * 2 + j])).abs() < 1e-3,
                "neuron {j} bin {k}"
            );
            if fired {
                spikes += 1;
                for m in k + 1..bins {
                    uj[m] += nu[m - k];
                }
            }
        }
        assert!(spikes >= 3, "the test drive must make neuron {j} fire");
    }
}

#[test]
fn rho_peaks_at_threshold_and_integrates_to_twice_scale_rho() {
    let srm = Srm::new(
        &NeuronParams::REFERENCE,
        1.0,
        RhoParams {
            tau_rho: 0.5,
            scale_rho: 2.0,
        },
        KernelMode::Exact,
    );
    let peak = srm.rho(10.0);
    assert!((peak - 2.0 / 5.0).abs() < 1e-6);
    assert!(srm.rho(9.0) < peak && srm.rho(11.0) < peak);
    assert!((srm.rho(9.0) - srm.rho(11.0)).abs() < 1e-7);
    let du = 0.001f64;
    let integral: f64 = (-100_000..100_000)
        .map(|i| f64::from(srm.rho(10.0 + (f64::from(i) * du) as f32)) * du)
        .sum();
    assert!((integral - 4.0).abs() < 1e-2, "{integral}");
    // spike_backward multiplies by Ts·ρ(u)
    let mut g = vec![1.0f32, 2.0];
    srm.spike_backward(&[10.0, 12.0], &mut g);
    assert!((g[0] - srm.rho(10.0)).abs() < 1e-6);
    assert!((g[1] - 2.0 * srm.rho(12.0)).abs() < 1e-6);
}

/// The recursion's coefficients are the kernel's own numbers: `C·a` is
/// `k[1]` to the bit (the refractory scan's `ν[1]`), the cut terms are
/// `a^K` and `k[K]`-shaped, and an untruncated kernel has no cut.
#[test]
fn recursion_holds_the_kernels_coefficients() {
    for (ts, tau, mult) in [(1.0, 10.0, 1.0), (0.1, 1.0, 1.0), (1.0, 1.0, -20.0)] {
        let k = AlphaKernel::new(ts, tau, mult);
        let r = k.recursion();
        assert_eq!(r.a, k.pole());
        assert_eq!((r.a2, r.a_sq, r.ca), (2.0 * r.a, r.a * r.a, r.c * r.a));
        assert_eq!(r.ca.to_bits(), k.sample(1).to_bits());
        assert_eq!(r.cut, None);
        let cut = k.truncated(77).recursion().cut.expect("a cut kernel");
        assert_eq!(cut.taps, 77);
        assert_eq!(cut.a_k, r.a.powi(77));
        assert_eq!(cut.c_k_a_k, r.c * 77.0 * cut.a_k);
    }
}

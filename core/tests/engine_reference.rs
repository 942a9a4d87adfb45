//! The fixed-point engine against a float64 reference simulation (direct
//! convolution with the sampled kernels): spike trains equal except where
//! the reference potential is within a tiny margin of θ, potentials within
//! the error bound of the integer filters.

mod common;

use common::{Case, Params, Trace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use slayer_core::model::Layer;
use slayer_core::{
    state_words, Engine, Model, ModelBuilder, NeuronConsts, NeuronParams, Shape, WeightBits,
};

/// Worst-case rounding error, in state units, of the integer update of a
/// population: each double-pole filter rounds once per bin (≤ ½ unit), and
/// its impulse response `(n+1)·aⁿ` sums to `1/(1 − a)²`; one more unit for
/// the rounding of θ, ν[1] and the coefficients.
fn bound_units(p: &Params) -> f64 {
    let a = (-f64::from(p.ts / p.tau_s)).exp();
    let b = (-f64::from(p.ts / p.tau_r)).exp();
    0.5 / (1.0 - a).powi(2) + 0.5 / (1.0 - b).powi(2) + 1.0
}

#[derive(Debug, Default)]
struct Tally {
    /// (bin, neuron) cells compared.
    cells: usize,
    /// Cells whose reference potential was within the margin of θ.
    near: usize,
    /// Spikes the engine emitted in population layers.
    spikes: usize,
    /// Largest |u_engine − u_ref|, less what the coefficients' kernels
    /// move (coarse grid), relative to θ.
    worst_rel: f64,
    /// Largest bound on what the coefficients' kernels move, relative to θ.
    worst_moved: f64,
    /// Largest |u_engine − u_ref| relative to the bound.
    worst_of_bound: f64,
    /// Free-running output trains identical to the reference.
    free_equal: bool,
    /// Free-running reference had a cell within the margin of θ.
    free_near: bool,
}

/// Checks one case layer by layer with teacher forcing (each layer gets
/// the engine's own input and output spikes, so one near-threshold flip
/// does not spoil the rest), then the whole network free-running.
fn check(case: &Case, input: &[Vec<u32>]) -> Tally {
    let model = Model::decode(&case.bytes).unwrap();
    let (traces, outputs) = common::run_engine(&model, input);
    let dense_in: Vec<Vec<bool>> = input
        .iter()
        .map(|b| {
            let mut v = vec![false; model.inputs() as usize];
            b.iter().for_each(|&i| v[i as usize] = true);
            v
        })
        .collect();
    let mut tally = Tally::default();
    let mut x = dense_in.clone();
    let mut free = dense_in;
    let mut free_near = false;
    for (l, layer) in model.layers().iter().enumerate() {
        let out = &traces[l].spikes;
        match layer {
            Layer::Flatten => assert_eq!(out, &x, "layer {l}: flatten"),
            Layer::Delay(d) => {
                assert_eq!(out, &common::delayed(&x, d.delays), "layer {l}: delay");
                free = common::delayed(&free, d.delays);
            }
            _ => {
                let p = case.params[l].unwrap();
                let k = layer.neuron().unwrap();
                let theta = k.theta_lsb();
                let rounding = bound_units(&p) * k.state_unit();
                let a = common::synaptic_input(&model, layer, &x);
                let r = common::population(&p, theta, &a, Some(out));
                let (d_eps, d_nu) = common::kernel_departure(&p, k, a.len());
                let moved = common::departure(&a, out, &d_eps, &d_nu);
                for (kb, (ur, ue)) in r.u.iter().zip(&traces[l].u).enumerate() {
                    for (j, (&ur, &ue)) in ur.iter().zip(ue).enumerate() {
                        // The integer rounding, plus what the constants'
                        // kernels (coefficients on a coarse grid) move.
                        let bound = rounding + moved[kb][j];
                        let margin = bound;
                        let err = (ur - ue).abs();
                        assert!(
                            err <= bound,
                            "layer {l} bin {kb} neuron {j}: |{ue} − {ur}| = {err} > {bound}"
                        );
                        // The rounding part (what the grid moves is in `bound`).
                        tally.worst_rel = tally.worst_rel.max((err - moved[kb][j]) / theta);
                        tally.worst_moved = tally.worst_moved.max(moved[kb][j] / theta);
                        tally.worst_of_bound = tally.worst_of_bound.max(err / bound);
                        tally.cells += 1;
                        let fired = out[kb][j];
                        tally.spikes += usize::from(fired);
                        if (ur - theta).abs() <= margin {
                            tally.near += 1;
                        } else {
                            assert_eq!(
                                fired,
                                ur >= theta,
                                "layer {l} bin {kb} neuron {j}: u_ref {ur}, θ {theta}"
                            );
                        }
                    }
                }
                let fa = common::synaptic_input(&model, layer, &free);
                let fr: Trace = common::population(&p, theta, &fa, None);
                let moved = common::departure(&fa, &fr.spikes, &d_eps, &d_nu);
                free_near |=
                    fr.u.iter()
                        .flatten()
                        .zip(moved.iter().flatten())
                        .any(|(&u, &m)| (u - theta).abs() <= rounding + m);
                free = fr.spikes;
            }
        }
        x = out.clone();
    }
    let free_lists: Vec<Vec<u32>> = free
        .iter()
        .map(|v| (0..v.len() as u32).filter(|&j| v[j as usize]).collect())
        .collect();
    tally.free_equal = free_lists == outputs;
    tally.free_near = free_near;
    assert!(
        tally.free_equal || tally.free_near,
        "free-running output differs with no near-threshold cell"
    );
    tally
}

fn run(name: &str, cases: impl Iterator<Item = (Case, Vec<Vec<u32>>)>) {
    let (mut free_equal, mut n) = (0, 0);
    for (case, input) in cases {
        let t = check(&case, &input);
        eprintln!("{name}: {t:?}");
        assert!(
            t.spikes > 0,
            "{name}: no spikes at all, the test would be vacuous"
        );
        assert!(
            t.near * 100 <= t.cells,
            "{name}: too many near-threshold cells: {t:?}"
        );
        assert!(
            t.worst_rel < 5e-4,
            "{name}: potential error {} θ",
            t.worst_rel
        );
        free_equal += usize::from(t.free_equal);
        n += 1;
    }
    // Near-threshold flips are rare: most free-running networks match spike for spike.
    assert!(
        free_equal * 4 >= n * 3,
        "{name}: only {free_equal}/{n} free runs matched"
    );
}

fn inputs(seed: u64, n: u32, bins: usize, p: f64) -> Vec<Vec<u32>> {
    common::poisson(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5eed), n, bins, p)
}

#[test]
fn dense_matches_reference() {
    for bits in [WeightBits::I8, WeightBits::I16] {
        run(
            "dense",
            (0..8).map(|s| {
                (
                    common::dense_case(s, bits, s >= 6),
                    inputs(s, 40, 150, 0.08),
                )
            }),
        );
    }
}

#[test]
fn conv_pool_flatten_dense_matches_reference() {
    for bits in [WeightBits::I8, WeightBits::I16] {
        run(
            "conv",
            (0..8).map(|s| {
                (
                    common::conv_case(s, bits, false, s >= 6),
                    inputs(s, 2 * 9 * 7, 120, 0.06),
                )
            }),
        );
        run(
            "odd pool",
            (0..4).map(|s| {
                (
                    common::conv_case(s, bits, true, s == 3),
                    inputs(s, 49, 120, 0.03),
                )
            }),
        );
    }
}

#[test]
fn delays_match_reference() {
    for bits in [WeightBits::I8, WeightBits::I16] {
        run(
            "delay",
            (0..8).map(|s| (common::delay_case(s, bits, s >= 6), inputs(s, 24, 150, 0.1))),
        );
    }
}

/// A single weight-`w` spike into a neuron that never fires: `u[n]` must be
/// `w·ε[n]`, beyond what the constants' coefficients move it, within the
/// double pole's rounding bound `½/(1 − α)²` units, for
/// time constants from 1 to 100 bins.
#[test]
fn eps_impulse_response_matches_sampled_kernel() {
    for tau in [1.0f32, 2.5, 5.0, 10.0, 30.0, 100.0] {
        for (bits, w, coarse) in [
            (WeightBits::I8, 100, false),
            (WeightBits::I16, -20_000, false),
            (WeightBits::I8, 100, true),
        ] {
            let theta = 1000.0f32 * if bits == WeightBits::I16 { 300.0 } else { 1.0 };
            let p = NeuronParams {
                theta,
                tau_s: tau,
                tau_r: 1.0,
                scale_ref: 2.0,
            };
            let mut k = NeuronConsts::derive(&p, 1.0).unwrap();
            if coarse {
                k = k.coarse();
            }
            let mut b = ModelBuilder::new(1.0, 10, bits, Shape::flat(1));
            b.dense(1, 1, &[w], k, 1.0).unwrap();
            let bytes = b.encode().unwrap();
            let model = Model::decode(&bytes).unwrap();
            let mut state = vec![0; state_words(&model)];
            let mut e = Engine::new(&model, &mut state).unwrap();
            let a = (-1.0 / f64::from(tau)).exp();
            let bound = 0.5 / (1.0 - a).powi(2) + 1.0;
            let bins = (12.0 * tau) as usize + 20;
            let params = Params {
                theta_lsb: theta,
                tau_s: tau,
                tau_r: 1.0,
                scale_ref: 2.0,
                ts: 1.0,
                coarse,
            };
            // What the coefficients (on a coarse grid up to τ ≈ 20·Ts) move.
            let (d_eps, _) = common::kernel_departure(&params, &k, bins);
            let (mut worst, mut moved) = (0.0f64, 0.0f64);
            for (n, d) in d_eps.iter().enumerate() {
                let input: &[u32] = if n == 0 { &[0] } else { &[] };
                assert_eq!(e.step(input, |_| {}).outputs, 0);
                let u = f64::from(e.potential(0, 0).unwrap());
                let want = f64::from(w) * common::alpha(n, 1.0, f64::from(tau)) / k.state_unit();
                let d = f64::from(w).abs() * d / k.state_unit();
                worst = worst.max((u - want).abs() - d);
                moved = moved.max(d);
            }
            eprintln!(
                "τ/Ts = {tau}, {bits:?}, coarse {coarse}: worst |Δu| = {worst:.2} units beyond the coefficients' {moved:.2} (bound {bound:.1})"
            );
            assert!(worst <= bound, "τ {tau}: {worst} > {bound}");
        }
    }
}

/// The refractory kernel alone: a neuron driven over θ once spikes once and
/// its potential then follows `ν`.
#[test]
fn refractory_follows_nu() {
    for coarse in [false, true] {
        let p = Params {
            theta_lsb: 500.0,
            tau_s: 1.0,
            tau_r: 4.0,
            scale_ref: 2.0,
            ts: 1.0,
            coarse,
        };
        let k = p.consts();
        let mut b = ModelBuilder::new(1.0, 10, WeightBits::I16, Shape::flat(1));
        b.dense(1, 1, &[600], k, 1.0).unwrap();
        let bytes = b.encode().unwrap();
        let model = Model::decode(&bytes).unwrap();
        let mut state = vec![0; state_words(&model)];
        let mut e = Engine::new(&model, &mut state).unwrap();
        let mut spikes = Vec::new();
        for n in 0..40 {
            let input: &[u32] = if n == 0 { &[0] } else { &[] };
            if e.step(input, |_| {}).outputs > 0 {
                spikes.push(n);
            }
        }
        // ε[1] = 1 at τs = Ts: u[1] = 600 ≥ 500, one spike at bin 1 only.
        assert_eq!(spikes, vec![1]);
        let (_, r) = e.neuron_state(0, 0).unwrap();
        let want = p.nu(39 - 1);
        // Within the rounding, and what the coefficients' grid moves ν.
        let (_, d_nu) = common::kernel_departure(&p, &k, 40);
        assert!(
            (k.to_lsb(r) - want).abs() < 1e-3 + d_nu[39 - 1],
            "{} vs {want}",
            k.to_lsb(r)
        );
    }
}

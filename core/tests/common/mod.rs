//! Shared helpers of the core's integration tests: seeded random models and
//! a slow, obvious float64 reference simulation (direct convolution with the
//! sampled kernels, gather-form synapses), independent of the engine's code.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use slayer_core::model::{ConvGeometry, Layer};
use slayer_core::{
    state_words, Engine, Model, ModelBuilder, NeuronConsts, NeuronParams, Shape, WeightBits,
};

/// Float neuron parameters of one population, `θ` in weight LSB (what
/// `NeuronConsts::derive` gets), and the time step.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub theta_lsb: f32,
    pub tau_s: f32,
    pub tau_r: f32,
    pub scale_ref: f32,
    pub ts: f32,
    /// Coefficients on the coarse grid (`NeuronConsts::coarse`).
    pub coarse: bool,
}

impl Params {
    pub fn consts(&self) -> NeuronConsts {
        let p = NeuronParams {
            theta: self.theta_lsb,
            tau_s: self.tau_s,
            tau_r: self.tau_r,
            scale_ref: self.scale_ref,
        };
        let k = NeuronConsts::derive(&p, self.ts).unwrap();
        if self.coarse {
            k.coarse()
        } else {
            k
        }
    }

    /// `ε[n] = (nTs/τs)·e^{1−nTs/τs}`.
    pub fn eps(&self, n: usize) -> f64 {
        alpha(n, f64::from(self.ts), f64::from(self.tau_s))
    }

    /// `ν[n] = −scaleRef·θ·(nTs/τr)·e^{1−nTs/τr}`.
    pub fn nu(&self, n: usize) -> f64 {
        -f64::from(self.scale_ref)
            * f64::from(self.theta_lsb)
            * alpha(n, f64::from(self.ts), f64::from(self.tau_r))
    }
}

/// The sampled alpha kernel `(t/τ)·e^{1−t/τ}` at `t = n·ts`.
pub fn alpha(n: usize, ts: f64, tau: f64) -> f64 {
    let t = n as f64 * ts / tau;
    t * (1.0 - t).exp()
}

/// A model's bytes plus the float parameters of each layer (`None` for
/// layers without neurons).
pub struct Case {
    pub bytes: Vec<u8>,
    pub params: Vec<Option<Params>>,
}

/// Seeded random integer weights in `[lo·max, max]`.
pub fn weights(rng: &mut ChaCha8Rng, n: usize, bits: WeightBits, lo: f64) -> Vec<i32> {
    let m = f64::from(bits.max());
    (0..n)
        .map(|_| (rng.random_range(lo..1.0) * m).round() as i32)
        .collect()
}

/// Random per-layer parameters; `theta_lsb` scaled to the expected drive.
pub fn params(rng: &mut ChaCha8Rng, theta_lsb: f32) -> Params {
    let ts = [1.0f32, 0.5, 1.0][rng.random_range(0..3)];
    Params {
        theta_lsb: theta_lsb * rng.random_range(0.8..1.25),
        tau_s: ts * rng.random_range(2.0..12.0),
        tau_r: ts * rng.random_range(0.8..3.0),
        scale_ref: rng.random_range(1.0..3.0),
        ts,
        coarse: false,
    }
}

/// Random input spikes: `bins` lists over `n` inputs with probability `p`.
pub fn poisson(rng: &mut ChaCha8Rng, n: u32, bins: usize, p: f64) -> Vec<Vec<u32>> {
    (0..bins)
        .map(|_| (0..n).filter(|_| rng.random_bool(p)).collect())
        .collect()
}

/// Random per-layer parameters ([`params`]), with `coarse` as given.
fn params_for(coarse: bool) -> impl Fn(&mut ChaCha8Rng, f32) -> Params {
    move |rng, theta| Params {
        coarse,
        ..params(rng, theta)
    }
}

/// Dense `inputs → hidden → outputs` (`coarse`: coefficients on the coarse grid).
pub fn dense_case(seed: u64, bits: WeightBits, coarse: bool) -> Case {
    let params = params_for(coarse);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (ni, nh, no) = (40u32, 30u32, 10u32);
    let m = f32::from(bits.max() as i16);
    let p1 = params(&mut rng, 9.0 * m);
    let p2 = params(&mut rng, 4.0 * m);
    let mut b = ModelBuilder::new(p1.ts, 100, bits, Shape::flat(ni));
    let w1 = weights(&mut rng, (ni * nh) as usize, bits, -0.4);
    let w2 = weights(&mut rng, (nh * no) as usize, bits, -0.3);
    let p2 = Params { ts: p1.ts, ..p2 };
    b.dense(ni, nh, &w1, p1.consts(), 0.01).unwrap();
    b.dense(nh, no, &w2, p2.consts(), 0.01).unwrap();
    Case {
        bytes: b.encode().unwrap(),
        params: vec![Some(p1), Some(p2)],
    }
}

/// `(2,9,7)` → conv 3×(3×2), stride (2,1), pad (1,0) → `(3,5,6)` → pool 2
/// → `(3,3,3)` → flatten → dense 27 → 5; or, with `odd_pool`, a pool of 3
/// straight on a `(1,7,7)` input (rows and columns 6 reach no output).
/// `coarse`: coefficients on the coarse grid.
pub fn conv_case(seed: u64, bits: WeightBits, odd_pool: bool, coarse: bool) -> Case {
    let params = params_for(coarse);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let m = f32::from(bits.max() as i16);
    let base = params(&mut rng, 1.0);
    let ts = base.ts;
    let with = |rng: &mut ChaCha8Rng, theta: f32| Params {
        ts,
        ..params(rng, theta)
    };
    if odd_pool {
        let input = Shape::new(1, 7, 7);
        let pp = Params {
            theta_lsb: 1000.0,
            scale_ref: 2.0,
            ..with(&mut rng, 1.0)
        };
        let pd = with(&mut rng, 2.0 * m);
        let mut b = ModelBuilder::new(ts, 80, bits, input);
        let tap = slayer_core::pool_tap_weight(pp.theta_lsb).unwrap();
        b.sum_pool(input, 3, tap, pp.consts(), 0.01);
        b.flatten();
        let w = weights(&mut rng, 4 * 3, bits, -0.2);
        b.dense(4, 3, &w, pd.consts(), 0.01).unwrap();
        return Case {
            bytes: b.encode().unwrap(),
            params: vec![Some(pp), None, Some(pd)],
        };
    }
    let input = Shape::new(2, 9, 7);
    let geometry = ConvGeometry {
        input,
        out_channels: 3,
        kernel: (3, 2),
        stride: (2, 1),
        padding: (1, 0),
    };
    let pc = with(&mut rng, 2.0 * m);
    let pp = Params {
        theta_lsb: 1000.0,
        ..with(&mut rng, 1.0)
    };
    let pd = with(&mut rng, 2.5 * m);
    let mut b = ModelBuilder::new(ts, 80, bits, input);
    let wc = weights(
        &mut rng,
        geometry.weight_count().unwrap() as usize,
        bits,
        -0.3,
    );
    b.conv2d(geometry, &wc, pc.consts(), 0.01).unwrap();
    let tap = slayer_core::pool_tap_weight(pp.theta_lsb).unwrap();
    b.sum_pool(Shape::new(3, 5, 6), 2, tap, pp.consts(), 0.01);
    b.flatten();
    let wd = weights(&mut rng, 27 * 5, bits, -0.3);
    b.dense(27, 5, &wd, pd.consts(), 0.01).unwrap();
    Case {
        bytes: b.encode().unwrap(),
        params: vec![Some(pc), Some(pp), None, Some(pd)],
    }
}

/// Delays on the input, then dense 24 → 16 → delays → dense 16 → 6
/// (`coarse`: coefficients on the coarse grid).
pub fn delay_case(seed: u64, bits: WeightBits, coarse: bool) -> Case {
    let params = params_for(coarse);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let m = f32::from(bits.max() as i16);
    let p1 = params(&mut rng, 6.0 * m);
    let p2 = Params {
        ts: p1.ts,
        ..params(&mut rng, 3.0 * m)
    };
    let mut b = ModelBuilder::new(p1.ts, 100, bits, Shape::new(2, 3, 4));
    let d0: Vec<u8> = (0..24).map(|_| rng.random_range(0..=3)).collect();
    b.delay(&d0, 3);
    let w1 = weights(&mut rng, 24 * 16, bits, -0.4);
    b.dense(24, 16, &w1, p1.consts(), 0.01).unwrap();
    let d1: Vec<u8> = (0..16).map(|_| rng.random_range(0..=9)).collect();
    b.delay(&d1, 9);
    let w2 = weights(&mut rng, 16 * 6, bits, -0.3);
    b.dense(16, 6, &w2, p2.consts(), 0.01).unwrap();
    Case {
        bytes: b.encode().unwrap(),
        params: vec![None, Some(p1), None, Some(p2)],
    }
}

/// What a simulation produced for one layer: per bin, the spikes (as a
/// 0/1 vector over the layer's output) and, for populations, the
/// potentials in weight LSB.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub spikes: Vec<Vec<bool>>,
    pub u: Vec<Vec<f64>>,
}

fn to_dense(list: &[u32], n: usize) -> Vec<bool> {
    let mut v = vec![false; n];
    for &i in list {
        v[i as usize] = true;
    }
    v
}

/// Runs the fixed-point engine over `input`, recording every layer.
pub fn run_engine(model: &Model<'_>, input: &[Vec<u32>]) -> (Vec<Trace>, Vec<Vec<u32>>) {
    let mut state = vec![0i32; state_words(model)];
    let mut engine = Engine::new(model, &mut state).unwrap();
    let layers = model.layers();
    let mut traces = vec![Trace::default(); layers.len()];
    let mut outputs = Vec::new();
    for bin in input {
        let mut out = Vec::new();
        engine.step(bin, |j| out.push(j));
        outputs.push(out);
        let mut prev = to_dense(bin, model.inputs() as usize);
        for (l, layer) in layers.iter().enumerate() {
            let n = model.width_after(l).unwrap() as usize;
            let spikes = match engine.spikes(l) {
                Some(s) => to_dense(&s.collect::<Vec<_>>(), n),
                None => prev.clone(),
            };
            if let Some(k) = layer.neuron() {
                traces[l].u.push(
                    (0..n)
                        .map(|j| k.to_lsb(engine.potential(l, j).unwrap()))
                        .collect(),
                );
            }
            traces[l].spikes.push(spikes.clone());
            prev = spikes;
        }
    }
    (traces, outputs)
}

/// Synaptic input `a[k]` (weight LSB) of a population layer for input
/// spikes `x[k]` (dense 0/1 over the layer's input), gather form.
pub fn synaptic_input(model: &Model<'_>, layer: &Layer<'_>, x: &[Vec<bool>]) -> Vec<Vec<f64>> {
    let bits = model.bits();
    x.iter()
        .map(|s| match layer {
            Layer::Dense(d) => {
                let (ni, no) = (d.inputs as usize, d.outputs as usize);
                (0..no)
                    .map(|o| {
                        (0..ni)
                            .filter(|&i| s[i])
                            .map(|i| f64::from(bits.get(d.weights, i * no + o).unwrap()))
                            .sum()
                    })
                    .collect()
            }
            Layer::Conv2d(c) => {
                let g = c.geometry;
                let out = g.output().unwrap();
                let (ic, ih, iw) = (
                    i64::from(g.input.c),
                    i64::from(g.input.h),
                    i64::from(g.input.w),
                );
                let (kh, kw) = (i64::from(g.kernel.0), i64::from(g.kernel.1));
                let mut a = Vec::new();
                for o in 0..i64::from(out.c) {
                    for oy in 0..i64::from(out.h) {
                        for ox in 0..i64::from(out.w) {
                            let mut sum = 0.0;
                            for ch in 0..ic {
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        let y = oy * i64::from(g.stride.0) - i64::from(g.padding.0)
                                            + ky;
                                        let xx = ox * i64::from(g.stride.1)
                                            - i64::from(g.padding.1)
                                            + kx;
                                        if y < 0 || y >= ih || xx < 0 || xx >= iw {
                                            continue;
                                        }
                                        if s[((ch * ih + y) * iw + xx) as usize] {
                                            let wi = ((o * ic + ch) * kh + ky) * kw + kx;
                                            sum += f64::from(
                                                bits.get(c.weights, wi as usize).unwrap(),
                                            );
                                        }
                                    }
                                }
                            }
                            a.push(sum);
                        }
                    }
                }
                a
            }
            Layer::SumPool(p) => {
                let out = p.output().unwrap();
                let (ih, iw, k) = (p.input.h as usize, p.input.w as usize, p.size as usize);
                let mut a = Vec::new();
                for ch in 0..out.c as usize {
                    for oy in 0..out.h as usize {
                        for ox in 0..out.w as usize {
                            let mut n = 0;
                            for dy in 0..k {
                                for dx in 0..k {
                                    let (y, xx) = (oy * k + dy, ox * k + dx);
                                    if y < ih && xx < iw && s[(ch * ih + y) * iw + xx] {
                                        n += 1;
                                    }
                                }
                            }
                            a.push(f64::from(n) * f64::from(p.tap));
                        }
                    }
                }
                a
            }
            _ => unreachable!(),
        })
        .collect()
}

/// The SRM population by direct convolution: `u[k] = Σ_{j<k} ε[k−j]·a[j] +
/// Σ_{j<k} ν[k−j]·s[j]`, `s[k] = u[k] ≥ θ`. With `forced`, the refractory
/// sum uses those spikes instead of the population's own (teacher forcing).
pub fn population(p: &Params, theta: f64, a: &[Vec<f64>], forced: Option<&[Vec<bool>]>) -> Trace {
    let bins = a.len();
    let n = a.first().map_or(0, Vec::len);
    let eps: Vec<f64> = (0..bins).map(|i| p.eps(i)).collect();
    let nu: Vec<f64> = (0..bins).map(|i| p.nu(i)).collect();
    let mut t = Trace::default();
    for k in 0..bins {
        let mut u = vec![0.0; n];
        let mut s = vec![false; n];
        for j in 0..n {
            let mut v = 0.0;
            for i in 0..k {
                v += eps[k - i] * a[i][j];
                let fired = match forced {
                    Some(f) => f[i][j],
                    None => t.spikes[i][j],
                };
                if fired {
                    v += nu[k - i];
                }
            }
            u[j] = v;
            s[j] = v >= theta;
        }
        t.u.push(u);
        t.spikes.push(s);
    }
    t
}

/// How far the kernels of the integer constants `k` lie from the sampled
/// ones, per lag `n < bins`: `(|h_ε[n] − ε[n]|, |h_ν[n] − ν[n]|)` in weight
/// LSB per unit of input and per spike, with `h` the double poles of `k`'s
/// coefficients run in f64 (`NeuronConsts::derive` may round them to a
/// coarse grid; the engine's own rounding of the state is not in this).
pub fn kernel_departure(p: &Params, k: &NeuronConsts, bins: usize) -> (Vec<f64>, Vec<f64>) {
    let q = f64::from(1u32 << 30);
    let response = |a2: i32, a_sq: i32, gain: f64| {
        let (mut y1, mut y2) = (0.0f64, 0.0f64);
        (0..bins)
            .map(|n| {
                let y = f64::from(a2) / q * y1 - f64::from(a_sq) / q * y2
                    + if n == 1 { gain } else { 0.0 };
                (y2, y1) = (y1, y);
                y
            })
            .collect::<Vec<f64>>()
    };
    let h_eps = response(k.eps_a2, k.eps_a_sq, f64::from(k.eps_c) / q);
    let h_nu = response(k.nu_a2, k.nu_a_sq, k.to_lsb(k.nu_1));
    let d_eps = (0..bins).map(|n| (h_eps[n] - p.eps(n)).abs()).collect();
    let d_nu = (0..bins).map(|n| (h_nu[n] - p.nu(n)).abs()).collect();
    (d_eps, d_nu)
}

/// Per cell, the most the kernel departures (see [`kernel_departure`]) can
/// move a potential: `Σ_{i<k} dε[k−i]·|a[i][j]| + dν[k−i]·s[i][j]`.
pub fn departure(
    a: &[Vec<f64>],
    spikes: &[Vec<bool>],
    d_eps: &[f64],
    d_nu: &[f64],
) -> Vec<Vec<f64>> {
    (0..a.len())
        .map(|k| {
            (0..a[k].len())
                .map(|j| {
                    (0..k)
                        .map(|i| {
                            d_eps[k - i] * a[i][j].abs()
                                + if spikes[i][j] { d_nu[k - i] } else { 0.0 }
                        })
                        .sum()
                })
                .collect()
        })
        .collect()
}

/// Delays: `y[k][j] = x[k − d_j][j]`.
pub fn delayed(x: &[Vec<bool>], delays: &[u8]) -> Vec<Vec<bool>> {
    (0..x.len())
        .map(|k| {
            delays
                .iter()
                .enumerate()
                .map(|(j, &d)| k >= d as usize && x[k - d as usize][j])
                .collect()
        })
        .collect()
}

/// A random valid model (any chain of layers the format allows, small
/// sizes), from a seed.
pub fn random_model(seed: u64) -> ModelBuilder {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bits = if rng.random_bool(0.5) {
        WeightBits::I8
    } else {
        WeightBits::I16
    };
    let mut shape = Shape::new(
        rng.random_range(1..=3),
        rng.random_range(1..=8),
        rng.random_range(1..=8),
    );
    let ts = rng.random_range(0.05f32..2.0);
    let mut b = ModelBuilder::new(ts, rng.random_range(0..1000), bits, shape);
    let consts = |rng: &mut ChaCha8Rng| {
        // Fields in this order: the draws keep the seeded sequence.
        let p = NeuronParams {
            theta: rng.random_range(0.5f32..5000.0),
            tau_s: ts * rng.random_range(0.5f32..50.0),
            tau_r: ts * rng.random_range(0.5f32..10.0),
            scale_ref: rng.random_range(0.0f32..4.0),
        };
        let k = NeuronConsts::derive(&p, ts).unwrap();
        // Odd seeds: coefficients on the coarse grid where they allow it.
        if seed % 2 == 1 {
            k.coarse()
        } else {
            k
        }
    };
    for _ in 0..rng.random_range(0..=7) {
        let n = shape.len().unwrap();
        match rng.random_range(0..5) {
            0 => {
                let out = rng.random_range(1..=12);
                let w = weights(&mut rng, (n * out) as usize, bits, -1.0);
                let k = consts(&mut rng);
                b.dense(n, out, &w, k, rng.random_range(1e-4..1.0)).unwrap();
                shape = Shape::flat(out);
            }
            1 => {
                let padding = (rng.random_range(0..=2), rng.random_range(0..=2));
                let kernel = (
                    rng.random_range(1..=(shape.h + 2 * padding.0).min(4)),
                    rng.random_range(1..=(shape.w + 2 * padding.1).min(4)),
                );
                let g = ConvGeometry {
                    input: shape,
                    out_channels: rng.random_range(1..=4),
                    kernel,
                    stride: (rng.random_range(1..=3), rng.random_range(1..=3)),
                    padding,
                };
                let w = weights(&mut rng, g.weight_count().unwrap() as usize, bits, -1.0);
                let k = consts(&mut rng);
                b.conv2d(g, &w, k, rng.random_range(1e-4..1.0)).unwrap();
                shape = g.output().unwrap();
            }
            2 => {
                let size = rng.random_range(1..=3u32);
                let p = slayer_core::model::SumPool {
                    input: shape,
                    size,
                    tap: 0,
                    neuron: consts(&mut rng),
                    scale: 1.0,
                };
                let Some(out) = p.output() else { continue };
                let tap = rng.random_range(-100..5000);
                b.sum_pool(shape, size, tap, p.neuron, rng.random_range(1e-4..1.0));
                shape = out;
            }
            3 => {
                b.flatten();
            }
            _ => {
                let max = rng.random_range(0..=12u8);
                let d: Vec<u8> = (0..n).map(|_| rng.random_range(0..=max)).collect();
                b.delay(&d, max);
            }
        }
    }
    b
}

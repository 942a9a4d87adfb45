//! The optimised engine against a plain transcription of the integer update
//! (the engine as first written: every neuron every bin, saturating scatter
//! in input order, delay rings of past inputs): spikes of every layer and
//! the `p`/`r` state of every neuron must be bit-for-bit equal, on random
//! models of every layer kind, int8 and int16, quiet and saturating inputs,
//! with and without a scratch arena.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use slayer_core::model::{ConvGeometry, Layer};
use slayer_core::{
    scratch_words, state_words, Engine, EngineError, Model, ModelBuilder, NeuronConsts,
    NeuronParams, Shape, WeightBits,
};

const HALF: i64 = 1 << 29;

fn narrow(acc: i64) -> i32 {
    (acc >> 30).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

fn pole(a2: i32, neg_a_sq: i32, y1: i32, y2: i32, start: i64) -> i32 {
    narrow(start + i64::from(a2) * i64::from(y1) + i64::from(neg_a_sq) * i64::from(y2))
}

/// One population: filters, pending input, last spikes.
#[derive(Clone)]
struct Pop {
    p: Vec<[i32; 4]>,
    acc: Vec<i32>,
    s: Vec<bool>,
}

impl Pop {
    fn new(n: usize) -> Self {
        Self {
            p: vec![[0; 4]; n],
            acc: vec![0; n],
            s: vec![false; n],
        }
    }

    fn update(&mut self, k: &NeuronConsts) {
        let f = u32::from(k.frac_bits);
        let hi = i32::MAX >> f;
        let lo = -hi - 1;
        for (j, cell) in self.p.iter_mut().enumerate() {
            let x = std::mem::take(&mut self.acc[j]).clamp(lo, hi) << f;
            let p = pole(
                k.eps_a2,
                -k.eps_a_sq,
                cell[0],
                cell[1],
                i64::from(k.eps_c) * i64::from(x) + HALF,
            );
            cell[1] = cell[0];
            cell[0] = p;
            let start = if self.s[j] {
                (i64::from(k.nu_1) << 30) + HALF
            } else {
                HALF
            };
            let r = pole(k.nu_a2, -k.nu_a_sq, cell[2], cell[3], start);
            cell[3] = cell[2];
            cell[2] = r;
            self.s[j] = cell[0].saturating_add(r) >= k.theta;
        }
    }
}

enum St {
    Pop(Pop),
    Delay {
        ring: Vec<Vec<bool>>,
        pos: usize,
        out: Vec<bool>,
    },
    Flat,
}

/// The reference simulator.
struct Reference<'m, 'a> {
    model: &'m Model<'a>,
    st: Vec<St>,
}

fn w(bits: WeightBits, blob: &[u8], i: usize) -> i32 {
    bits.get(blob, i).unwrap()
}

impl<'m, 'a> Reference<'m, 'a> {
    fn new(model: &'m Model<'a>) -> Self {
        let st = model
            .layers()
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let n = model.width_after(l).unwrap() as usize;
                match layer {
                    Layer::Flatten => St::Flat,
                    Layer::Delay(d) => St::Delay {
                        ring: vec![vec![false; n]; usize::from(d.max_delay) + 1],
                        pos: 0,
                        out: vec![false; n],
                    },
                    _ => St::Pop(Pop::new(n)),
                }
            })
            .collect();
        Self { model, st }
    }

    /// One bin; returns the spikes (index lists) of every layer.
    fn step(&mut self, input: &[u32]) -> Vec<Vec<u32>> {
        let bits = self.model.bits();
        let limit = self.model.inputs();
        let mut x: Vec<u32> = input.iter().copied().filter(|&i| i < limit).collect();
        let mut all = Vec::new();
        for (l, layer) in self.model.layers().iter().enumerate() {
            let st = &mut self.st[l];
            match (layer, st) {
                (Layer::Dense(d), St::Pop(pop)) => {
                    pop.update(&d.neuron);
                    let no = d.outputs as usize;
                    for &i in &x {
                        for o in 0..no {
                            pop.acc[o] =
                                pop.acc[o].saturating_add(w(bits, d.weights, i as usize * no + o));
                        }
                    }
                }
                (Layer::Conv2d(c), St::Pop(pop)) => {
                    pop.update(&c.neuron);
                    let g = c.geometry;
                    let out = g.output().unwrap();
                    let (ih, iw) = (i64::from(g.input.h), i64::from(g.input.w));
                    let (kh, kw) = (i64::from(g.kernel.0), i64::from(g.kernel.1));
                    for &n in &x {
                        let n = i64::from(n);
                        let (ch, iy, ix) = (n / (ih * iw), n % (ih * iw) / iw, n % iw);
                        for o in 0..i64::from(out.c) {
                            for oy in 0..i64::from(out.h) {
                                for ox in 0..i64::from(out.w) {
                                    let ky =
                                        iy + i64::from(g.padding.0) - oy * i64::from(g.stride.0);
                                    let kx =
                                        ix + i64::from(g.padding.1) - ox * i64::from(g.stride.1);
                                    if (0..kh).contains(&ky) && (0..kw).contains(&kx) {
                                        let wi =
                                            ((o * i64::from(g.input.c) + ch) * kh + ky) * kw + kx;
                                        let a = ((o * i64::from(out.h) + oy) * i64::from(out.w)
                                            + ox)
                                            as usize;
                                        pop.acc[a] = pop.acc[a].saturating_add(w(
                                            bits,
                                            c.weights,
                                            wi as usize,
                                        ));
                                    }
                                }
                            }
                        }
                    }
                }
                (Layer::SumPool(p), St::Pop(pop)) => {
                    pop.update(&p.neuron);
                    let out = p.output().unwrap();
                    let (ih, iw, s) = (p.input.h, p.input.w, p.size);
                    for &n in &x {
                        let (ch, iy, ix) = (n / (ih * iw), n % (ih * iw) / iw, n % iw);
                        let (oy, ox) = (iy / s, ix / s);
                        if oy < out.h && ox < out.w {
                            let a = ((ch * out.h + oy) * out.w + ox) as usize;
                            pop.acc[a] = pop.acc[a].saturating_add(p.tap);
                        }
                    }
                }
                (Layer::Delay(d), St::Delay { ring, pos, out }) => {
                    let slots = ring.len();
                    ring[*pos].fill(false);
                    for &i in &x {
                        ring[*pos][i as usize] = true;
                    }
                    for (j, o) in out.iter_mut().enumerate() {
                        let dj = usize::from(d.delays[j]) % slots;
                        *o = ring[(*pos + slots - dj) % slots][j];
                    }
                    *pos = (*pos + 1) % slots;
                }
                (Layer::Flatten, St::Flat) => {}
                _ => unreachable!(),
            }
            let spikes: Vec<u32> = match &self.st[l] {
                St::Pop(p) => (0..p.s.len() as u32).filter(|&j| p.s[j as usize]).collect(),
                St::Delay { out, .. } => {
                    (0..out.len() as u32).filter(|&j| out[j as usize]).collect()
                }
                St::Flat => x.clone(),
            };
            x = spikes.clone();
            all.push(spikes);
        }
        all
    }
}

/// Runs both for `input`; asserts equality after every bin.
fn compare(model: &Model<'_>, input: &[Vec<u32>], scratch: bool, what: &str) -> usize {
    let mut state = vec![0i32; state_words(model)];
    let mut space = vec![0i32; if scratch { scratch_words(model) } else { 0 }];
    let mut engine = if scratch {
        Engine::with_scratch(model, &mut state, &mut space).unwrap()
    } else {
        Engine::new(model, &mut state).unwrap()
    };
    let mut reference = Reference::new(model);
    let mut spikes = 0;
    for (k, bin) in input.iter().enumerate() {
        let mut out = Vec::new();
        engine.step(bin, |j| out.push(j));
        let r = reference.step(bin);
        assert_eq!(&out, r.last().unwrap(), "{what}: outputs of bin {k}");
        for (l, layer) in model.layers().iter().enumerate() {
            if let Some(s) = engine.spikes(l) {
                let s: Vec<u32> = s.collect();
                assert_eq!(s, r[l], "{what}: spikes of layer {l} in bin {k}");
                spikes += s.len();
            }
            if layer.neuron().is_some() {
                let St::Pop(pop) = &reference.st[l] else {
                    unreachable!()
                };
                for (j, cell) in pop.p.iter().enumerate() {
                    assert_eq!(
                        engine.neuron_state(l, j),
                        Some((cell[0], cell[2])),
                        "{what}: state of neuron {j} of layer {l} in bin {k}"
                    );
                }
            }
        }
    }
    spikes
}

fn consts(rng: &mut ChaCha8Rng, theta_lsb: f32) -> NeuronConsts {
    let ts = 1.0;
    // Fields in this order: the draws keep the seeded sequence.
    let p = NeuronParams {
        theta: theta_lsb * rng.random_range(0.7..1.4),
        tau_s: rng.random_range(1.5..15.0),
        tau_r: rng.random_range(0.6..3.0),
        scale_ref: rng.random_range(0.0..3.0),
    };
    let k = NeuronConsts::derive(&p, ts).unwrap();
    // About half the layers with their coefficients on the coarse grid.
    if p.tau_s < 8.0 {
        k.coarse()
    } else {
        k
    }
}

fn weights(rng: &mut ChaCha8Rng, n: usize, bits: WeightBits, lo: f64) -> Vec<i32> {
    let m = f64::from(bits.max());
    (0..n)
        .map(|_| (rng.random_range(lo..1.0) * m).round() as i32)
        .collect()
}

/// A random conv/pool/delay/dense network on a small image.
fn random_model(seed: u64, bits: WeightBits) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let m = bits.max() as f32;
    let c0 = rng.random_range(1..=2);
    let (h, wd) = (rng.random_range(6..=14), rng.random_range(6..=14));
    let input = Shape::new(c0, h, wd);
    let mut b = ModelBuilder::new(1.0, 50, bits, input);
    let mut shape = input;
    if rng.random_bool(0.5) {
        let s = rng.random_range(1..=3);
        let tap = slayer_core::pool_tap_weight(1000.0).unwrap();
        b.sum_pool(shape, s, tap, consts(&mut rng, 1000.0), 0.01);
        shape = Shape::new(
            shape.c,
            (shape.h + shape.h % s) / s,
            (shape.w + shape.w % s) / s,
        );
    }
    let k = (rng.random_range(1..=5), rng.random_range(1..=5));
    let g = ConvGeometry {
        input: shape,
        out_channels: rng.random_range(1..=6),
        kernel: (k.0.min(shape.h + 2), k.1.min(shape.w + 2)),
        stride: (rng.random_range(1..=2), rng.random_range(1..=2)),
        padding: (
            rng.random_range(0..=k.0 / 2 + 1),
            rng.random_range(0..=k.1 / 2 + 1),
        ),
    };
    if let Some(out) = g.output() {
        let wc = weights(&mut rng, g.weight_count().unwrap() as usize, bits, -0.3);
        b.conv2d(g, &wc, consts(&mut rng, 1.5 * m), 0.01).unwrap();
        shape = out;
    }
    let n = shape.len().unwrap();
    if rng.random_bool(0.7) {
        let max = rng.random_range(0..=12u8);
        let d: Vec<u8> = (0..n).map(|_| rng.random_range(0..=max)).collect();
        b.delay(&d, max);
    }
    b.flatten();
    let no = rng.random_range(1..=40);
    let w1 = weights(&mut rng, (n * no) as usize, bits, -0.4);
    b.dense(n, no, &w1, consts(&mut rng, 4.0 * m), 0.01)
        .unwrap();
    let max = rng.random_range(1..=5u8);
    let d: Vec<u8> = (0..no).map(|_| rng.random_range(0..=max)).collect();
    b.delay(&d, max);
    let w2 = weights(&mut rng, (no * 7) as usize, bits, -0.3);
    b.dense(no, 7, &w2, consts(&mut rng, 3.0 * m), 0.01)
        .unwrap();
    b.encode().unwrap()
}

fn poisson(rng: &mut ChaCha8Rng, n: u32, bins: usize, p: f64, repeats: bool) -> Vec<Vec<u32>> {
    (0..bins)
        .map(|k| {
            // Bursts, then silence (so neurons settle), then more.
            let p = if (k / 40) % 2 == 0 { p } else { 0.0 };
            let mut v: Vec<u32> = (0..n + 3).filter(|_| rng.random_bool(p)).collect();
            if repeats && !v.is_empty() {
                let extra = v[rng.random_range(0..v.len())];
                v.push(extra);
                v.push(extra);
            }
            v
        })
        .collect()
}

#[test]
fn random_networks_match_the_plain_update_bit_for_bit() {
    let mut spikes = 0;
    for seed in 0..24u64 {
        for bits in [WeightBits::I8, WeightBits::I16] {
            let bytes = random_model(seed, bits);
            let model = Model::decode(&bytes).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
            let p = [0.02, 0.1, 0.4][seed as usize % 3];
            let input = poisson(&mut rng, model.inputs(), 160, p, seed % 2 == 0);
            for scratch in [false, true] {
                spikes += compare(&model, &input, scratch, &format!("seed {seed} {bits:?}"));
            }
        }
    }
    assert!(spikes > 10_000, "too quiet to compare: {spikes} spikes");
}

/// Extreme constants: saturating potentials, input clamps at 24 fractional
/// bits, huge pool taps and repeated inputs that saturate accumulators.
#[test]
fn saturating_networks_match_the_plain_update() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    for case in 0..6 {
        let bits = if case % 2 == 0 {
            WeightBits::I8
        } else {
            WeightBits::I16
        };
        let input = Shape::new(1, 6, 6);
        let hot = NeuronConsts {
            frac_bits: 24,
            theta: i32::MAX - case,
            eps_a2: i32::MAX - 1000 * case,
            eps_a_sq: 1 << 30,
            eps_c: if case < 3 { 1 << 30 } else { -(1 << 30) },
            nu_a2: 1 << 30,
            nu_a_sq: 1 << 28,
            nu_1: i32::MIN + case,
        };
        let mut b = ModelBuilder::new(1.0, 10, bits, input);
        b.sum_pool(input, 2, i32::MAX / 3, hot, 1.0);
        let g = ConvGeometry {
            input: Shape::new(1, 3, 3),
            out_channels: 2,
            kernel: (3, 3),
            stride: (1, 1),
            padding: (1, 1),
        };
        let wc: Vec<i32> = (0..18)
            .map(|i| {
                if i % 2 == 0 {
                    bits.max()
                } else {
                    -bits.max() - 1
                }
            })
            .collect();
        b.conv2d(g, &wc, hot, 1.0).unwrap();
        b.flatten();
        let wd = weights(&mut rng, 18 * 4, bits, -1.0);
        b.dense(18, 4, &wd, consts(&mut rng, 2.0 * bits.max() as f32), 1.0)
            .unwrap();
        let bytes = b.encode().unwrap();
        let model = Model::decode(&bytes).unwrap();
        let input: Vec<Vec<u32>> = (0..60)
            .map(|k| {
                if k % 7 < 3 {
                    (0..36).flat_map(|i| [i, i, i]).collect()
                } else {
                    vec![]
                }
            })
            .collect();
        for scratch in [false, true] {
            compare(&model, &input, scratch, &format!("saturating case {case}"));
        }
        // A dense first layer fed thousands of repeats of one input.
        let mut b = ModelBuilder::new(1.0, 10, bits, Shape::flat(3));
        let w = [bits.max(), -bits.max() - 1, bits.max()];
        b.dense(3, 1, &w, hot, 1.0).unwrap();
        let bytes = b.encode().unwrap();
        let model = Model::decode(&bytes).unwrap();
        let input: Vec<Vec<u32>> = (0..20)
            .map(|k| {
                if k % 3 == 0 {
                    vec![0; 70_000]
                } else {
                    vec![1, 2, 2]
                }
            })
            .collect();
        for scratch in [false, true] {
            compare(&model, &input, scratch, &format!("repeated inputs {case}"));
        }
    }
}

/// An engine with or without scratch.
fn make<'m, 'a, 's>(
    scratch: bool,
    m: &'m Model<'a>,
    st: &'s mut [i32],
    sp: &'s mut [i32],
) -> Engine<'m, 'a, 's> {
    if scratch {
        Engine::with_scratch(m, st, sp).unwrap()
    } else {
        Engine::new(m, st).unwrap()
    }
}

/// An engine moved into the head and tail of `Model::split_at` mid-run
/// (`Engine::load_state`), the head's output spikes fed to the tail as its
/// input list, gives the whole engine's spikes in every later bin, at
/// every cut, with and without scratch.
#[test]
fn split_engines_continue_the_whole_run() {
    let mut compared = 0usize;
    for seed in 0..8u64 {
        let bits = if seed % 2 == 0 {
            WeightBits::I8
        } else {
            WeightBits::I16
        };
        let bytes = random_model(100 + seed, bits);
        let model = Model::decode(&bytes).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let input = poisson(&mut rng, model.inputs(), 120, 0.1, seed % 2 == 0);
        let (before, after) = input.split_at(37 + seed as usize);
        let n = model.layers().len();
        assert!(model.split_at(0).is_none() && model.split_at(n).is_none());
        for scratch in [false, true] {
            let space_for = |m: &Model<'_>| vec![0i32; if scratch { scratch_words(m) } else { 0 }];
            for at in 1..n {
                let (head_m, tail_m) = model.split_at(at).unwrap();
                assert_eq!(head_m.outputs(), tail_m.inputs(), "cut {at}");
                assert_eq!(tail_m.outputs(), model.outputs());
                assert_eq!(
                    state_words(&head_m) + state_words(&tail_m),
                    state_words(&model)
                );
                let (mut st, mut sp) = (vec![0i32; state_words(&model)], space_for(&model));
                let mut whole = make(scratch, &model, &mut st, &mut sp);
                for bin in before {
                    whole.step(bin, |_| {});
                }
                let (mut hs, mut hsp) = (vec![0i32; state_words(&head_m)], space_for(&head_m));
                let (mut ts, mut tsp) = (vec![0i32; state_words(&tail_m)], space_for(&tail_m));
                let mut head = make(scratch, &head_m, &mut hs, &mut hsp);
                let mut tail = make(scratch, &tail_m, &mut ts, &mut tsp);
                // The wrong layers are refused.
                assert_eq!(
                    tail.load_state(&whole, at - 1).err(),
                    Some(EngineError::NotAPart)
                );
                head.load_state(&whole, 0).unwrap();
                tail.load_state(&whole, at).unwrap();
                for (k, bin) in after.iter().enumerate() {
                    let mut want = Vec::new();
                    whole.step(bin, |j| want.push(j));
                    let mut mid = Vec::new();
                    head.step(bin, |j| mid.push(j));
                    let mut got = Vec::new();
                    tail.step(&mid, |j| got.push(j));
                    assert_eq!(got, want, "seed {seed} cut {at} scratch {scratch} bin {k}");
                    for l in 0..n {
                        let part = if l < at {
                            head.spikes(l)
                        } else {
                            tail.spikes(l - at)
                        };
                        let (a, b): (Option<Vec<u32>>, Option<Vec<u32>>) = (
                            whole.spikes(l).map(std::iter::Iterator::collect),
                            part.map(std::iter::Iterator::collect),
                        );
                        assert_eq!(a, b, "seed {seed} cut {at} layer {l} bin {k}");
                        compared += a.map_or(0, |s| s.len());
                    }
                }
            }
        }
    }
    assert!(compared > 5_000, "too quiet to compare: {compared} spikes");
}

/// Scratch and no scratch keep a convolution's state in different orders:
/// state cannot move between them.
#[test]
fn load_state_refuses_a_different_state_order() {
    let bytes = random_model(3, WeightBits::I8);
    let model = Model::decode(&bytes).unwrap();
    let conv = model
        .layers()
        .iter()
        .position(|l| matches!(l, Layer::Conv2d(_)))
        .expect("the random models have a convolution");
    let mut st = vec![0i32; state_words(&model)];
    let mut sp = vec![0i32; scratch_words(&model)];
    let with = Engine::with_scratch(&model, &mut st, &mut sp).unwrap();
    let mut st2 = vec![0i32; state_words(&model)];
    let mut without = Engine::new(&model, &mut st2).unwrap();
    assert_eq!(
        without.load_state(&with, 0).err(),
        Some(EngineError::NotAPart),
        "conv {conv}"
    );
}

//! LIF layers (dense synapses + LIF, CUBA-LIF or IF neurons) in the engine
//! against a plain simulation written from the update's definition
//! (`LifConsts::step` per neuron, each layer taking the spikes of the layer
//! before in the same bin, a delay shifting a neuron's spikes by whole
//! bins): the same spikes in every bin, with int8 and int16 weights, with
//! and without biases (`Layer::LifBias`), with recurrent synapses from a
//! layer's spikes of the bin before (`Layer::LifRec`), through an
//! encode/decode round trip.
//! Convolutions with LIF neurons (`Layer::LifConv`) against a gather-form
//! convolution (each output summing its window, PyTorch's definition) in
//! the same way. `cargo test -p slayer-core --features lean` runs the same
//! through the 32-bit Arm code path.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use slayer_core::model::ConvGeometry;
use slayer_core::{
    state_words, Engine, LifConsts, LifReset, Model, ModelBuilder, Shape, WeightBits,
};

struct Layer {
    inputs: usize,
    outputs: usize,
    w: Vec<i32>,
    /// Per output, added to the summed input every bin (empty: none).
    bias: Vec<i32>,
    /// `[j][o]`: from the layer's own neuron `j` of the bin before (empty:
    /// none).
    rec: Vec<i32>,
    k: LifConsts,
}

/// The plain simulation: output spikes of every bin.
fn reference(layers: &[Layer], delay: &[u8], input: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let mut state: Vec<Vec<(i32, i32)>> = layers.iter().map(|l| vec![(0, 0); l.outputs]).collect();
    let mut history: Vec<Vec<bool>> = Vec::new();
    // Each layer's spikes of the bin before.
    let mut prev: Vec<Vec<bool>> = layers.iter().map(|l| vec![false; l.outputs]).collect();
    let mut out = Vec::new();
    for spikes in input {
        let mut x: Vec<bool> = vec![false; layers[0].inputs];
        for &i in spikes {
            x[i as usize] = true;
        }
        for (l, layer) in layers.iter().enumerate() {
            if l == 1 {
                // The delay layer between the two LIF layers.
                history.push(x.clone());
                let now = history.len() - 1;
                x = (0..layer.inputs)
                    .map(|j| {
                        let d = usize::from(delay[j]);
                        now >= d && history[now - d][j]
                    })
                    .collect();
            }
            let mut next = vec![false; layer.outputs];
            for (o, fired) in next.iter_mut().enumerate() {
                let a: i64 = (0..layer.inputs)
                    .filter(|&i| x[i])
                    .map(|i| i64::from(layer.w[i * layer.outputs + o]))
                    .sum();
                let r: i64 = (0..layer.outputs)
                    .filter(|&j| !layer.rec.is_empty() && prev[l][j])
                    .map(|j| i64::from(layer.rec[j * layer.outputs + o]))
                    .sum();
                let a = a + r;
                let a = a.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
                let a = a.saturating_add(layer.bias.get(o).copied().unwrap_or(0));
                let (s, v) = state[l][o];
                let (s, v, f) = layer.k.step(s, v, a);
                state[l][o] = (s, v);
                *fired = f;
            }
            prev[l].clone_from(&next);
            x = next;
        }
        out.push((0..x.len() as u32).filter(|&j| x[j as usize]).collect());
    }
    out
}

fn run(model: &Model<'_>, input: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let mut state = vec![0i32; state_words(model)];
    let mut engine = Engine::new(model, &mut state).unwrap();
    input
        .iter()
        .map(|x| {
            let mut out = Vec::new();
            engine.step(x, |j| out.push(j));
            out
        })
        .collect()
}

#[test]
fn lif_layers_match_the_plain_simulation_bit_for_bit() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut spikes = 0usize;
    for (case, bits) in [
        WeightBits::I8,
        WeightBits::I16,
        WeightBits::I8,
        WeightBits::I16,
    ]
    .into_iter()
    .enumerate()
    {
        let (n_in, n_hid, n_out) = (60, 40, 6);
        let max = bits.max();
        let kinds = [
            (0.0, 0.9, LifReset::Zero),
            (0.7, 0.95, LifReset::Subtract),
            (0.0, 1.0, LifReset::Subtract),
            (0.5, 0.8, LifReset::Zero),
        ];
        let (alpha, beta, reset) = kinds[case];
        let theta = f64::from(max) * 2.5;
        let k1 = LifConsts::derive(theta, alpha, beta, reset).unwrap();
        let k2 = LifConsts::derive(
            theta * 0.8,
            kinds[(case + 1) % 4].0,
            kinds[(case + 1) % 4].1,
            reset,
        )
        .unwrap();
        let mut weights =
            |n: usize| -> Vec<i32> { (0..n).map(|_| rng.random_range(-max / 2..=max)).collect() };
        let (w1, w2) = (weights(n_in * n_hid), weights(n_hid * n_out));
        // Recurrent synapses, inhibitory on the whole so that the layer
        // does not fire every bin.
        let mut recurrent = |n: usize, on: bool| -> Vec<i32> {
            if !on {
                return Vec::new();
            }
            (0..n * n)
                .map(|_| rng.random_range(-max..=max / 2))
                .collect()
        };
        // Cases 1 and 3: the hidden layer recurrent.
        let rec = recurrent(n_hid, case % 2 == 1);
        // Case 3: the output layer recurrent too (its input the delay
        // layer's spike bits, then its own).
        let rec_out = recurrent(n_out, case == 3);
        // Cases 2 and 3 with biases, a saturating one among them.
        let mut biases = |n: usize| -> Vec<i32> {
            if case < 2 {
                return Vec::new();
            }
            let mut b: Vec<i32> = (0..n).map(|_| rng.random_range(-max..=max / 2)).collect();
            b[0] = i32::MAX;
            b
        };
        let layers = [
            Layer {
                inputs: n_in,
                outputs: n_hid,
                w: w1,
                bias: biases(n_hid),
                rec,
                k: k1,
            },
            Layer {
                inputs: n_hid,
                outputs: n_out,
                w: w2,
                bias: biases(n_out),
                rec: rec_out,
                k: k2,
            },
        ];
        let delay: Vec<u8> = (0..n_hid).map(|_| rng.random_range(0..=5)).collect();
        let mut b = ModelBuilder::new(1.0, 200, bits, Shape::flat(n_in as u32));
        for (l, layer) in layers.iter().enumerate() {
            if l == 1 {
                b.delay(&delay, 5);
            }
            let (i, o) = (layer.inputs as u32, layer.outputs as u32);
            if !layer.rec.is_empty() {
                let w = [layer.w.as_slice(), &layer.rec].concat();
                let bias = (!layer.bias.is_empty()).then_some(layer.bias.as_slice());
                b.lif_rec(i, o, &w, bias, layer.k, 0.01).unwrap();
            } else if layer.bias.is_empty() {
                b.lif(i, o, &layer.w, layer.k, 0.01).unwrap();
            } else {
                b.lif_bias(i, o, &layer.w, &layer.bias, layer.k, 0.01)
                    .unwrap();
            }
        }
        let bytes = b.encode().unwrap();
        let model = Model::decode(&bytes).unwrap();
        let kinds: Vec<&str> = model
            .layers()
            .iter()
            .map(slayer_core::Layer::kind)
            .collect();
        let lif = if case < 2 { "lif" } else { "lif_bias" };
        let first = if case % 2 == 1 { "lif_rec" } else { lif };
        let last = if case == 3 { "lif_rec" } else { lif };
        assert_eq!(kinds, [first, "delay", last]);
        assert_eq!(model.encode().unwrap(), bytes, "encode/decode round trip");
        let input: Vec<Vec<u32>> = (0..200)
            .map(|_| (0..n_in as u32).filter(|_| rng.random_bool(0.1)).collect())
            .collect();
        let ours = run(&model, &input);
        assert_eq!(ours, reference(&layers, &delay, &input), "case {case}");
        spikes += ours.iter().map(Vec::len).sum::<usize>();
        // A fresh engine after a reset gives the same again.
        assert_eq!(run(&model, &input), ours);
    }
    assert!(spikes > 200, "the outputs should spike: {spikes}");
}

#[test]
fn bad_lif_layers_are_refused() {
    let k = LifConsts::derive(10.0, 0.0, 0.9, LifReset::Zero).unwrap();
    let mut b = ModelBuilder::new(1.0, 10, WeightBits::I8, Shape::flat(4));
    b.lif(4, 2, &[1; 8], LifConsts { theta: 0, ..k }, 0.1)
        .unwrap();
    assert!(b.encode().is_err(), "θ = 0");
    let mut b = ModelBuilder::new(1.0, 10, WeightBits::I8, Shape::flat(4));
    b.lif(5, 2, &[1; 10], k, 0.1).unwrap();
    assert!(b.encode().is_err(), "5 inputs after 4");
    let mut b = ModelBuilder::new(1.0, 10, WeightBits::I8, Shape::flat(4));
    assert!(b.lif(4, 2, &[300; 8], k, 0.1).is_err(), "int8 range");
    let mut b = ModelBuilder::new(1.0, 10, WeightBits::I8, Shape::flat(4));
    b.lif_bias(4, 2, &[1; 8], &[5, 6, 7], k, 0.1).unwrap();
    assert!(b.encode().is_err(), "3 biases for 2 neurons");
    let rec = |weights: usize, bias: Option<&[i32]>| {
        let mut b = ModelBuilder::new(1.0, 10, WeightBits::I8, Shape::flat(4));
        b.lif_rec(4, 2, &vec![1; weights], bias, k, 0.1).unwrap();
        b.encode()
    };
    assert!(rec(12, None).is_ok(), "(4 + 2) rows of 2");
    assert!(rec(12, Some(&[1, -1])).is_ok(), "one bias per neuron");
    assert!(rec(8, None).is_err(), "no recurrent rows");
    assert!(rec(12, Some(&[1])).is_err(), "1 bias for 2 neurons");
}

/// A convolution with LIF neurons, stated as PyTorch states it.
struct ConvLayer {
    g: ConvGeometry,
    /// `[out][in][ky][kx]`.
    w: Vec<i32>,
    /// Per output channel (empty: none).
    bias: Vec<i32>,
    k: LifConsts,
}

impl ConvLayer {
    /// The summed input of every output `(o, oy, ox)` (channel-major):
    /// `Σ_{c, ky, kx} w[o][c][ky][kx] · x[c][oy·sy + ky − py][ox·sx + kx − px]`.
    fn gather(&self, x: &[bool]) -> Vec<i32> {
        let (i, out) = (self.g.input, self.g.output().unwrap());
        let n = |v: u32| i64::from(v);
        let (ic, ih, iw) = (n(i.c), n(i.h), n(i.w));
        let (kh, kw) = (n(self.g.kernel.0), n(self.g.kernel.1));
        let (sy, sx) = (n(self.g.stride.0), n(self.g.stride.1));
        let (py, px) = (n(self.g.padding.0), n(self.g.padding.1));
        let mut a = Vec::new();
        for o in 0..n(out.c) {
            for oy in 0..n(out.h) {
                for ox in 0..n(out.w) {
                    let mut sum = 0i64;
                    for c in 0..ic {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let (y, xx) = (oy * sy + ky - py, ox * sx + kx - px);
                                let inside = (0..ih).contains(&y) && (0..iw).contains(&xx);
                                if inside && x[((c * ih + y) * iw + xx) as usize] {
                                    let w = (((o * ic + c) * kh + ky) * kw + kx) as usize;
                                    sum += i64::from(self.w[w]);
                                }
                            }
                        }
                    }
                    let sum = sum.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
                    let bias = self.bias.get(o as usize).copied().unwrap_or(0);
                    a.push(sum.saturating_add(bias));
                }
            }
        }
        a
    }
}

#[test]
fn lif_convolutions_match_a_gather_convolution_bit_for_bit() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut spikes = 0usize;
    for (case, bits) in [
        WeightBits::I8,
        WeightBits::I16,
        WeightBits::I16,
        WeightBits::I8,
    ]
    .into_iter()
    .enumerate()
    {
        let max = bits.max();
        let input = Shape::new(2, 13, 12);
        // Stride 2 and padding 1, then an unpadded 3 × 2 kernel.
        let g1 = ConvGeometry {
            input,
            out_channels: 4,
            kernel: (3, 3),
            stride: (2, 2),
            padding: (1, 1),
        };
        let g2 = ConvGeometry {
            input: g1.output().unwrap(),
            out_channels: 3,
            kernel: (3, 2),
            stride: (1, 1),
            padding: (0, 0),
        };
        let resets = [LifReset::Zero, LifReset::Subtract];
        let reset = resets[case % 2];
        let theta = f64::from(max) * 2.0;
        let k1 = LifConsts::derive(theta, [0.0, 0.6][case / 2], 0.9, reset).unwrap();
        let k2 = LifConsts::derive(theta * 0.7, 0.0, [1.0, 0.85][case % 2], reset).unwrap();
        let mut layer = |g: ConvGeometry, k: LifConsts| {
            let n = g.weight_count().unwrap() as usize;
            let w = (0..n).map(|_| rng.random_range(-max / 3..=max)).collect();
            // Cases 1 and 2 with a bias per channel, a saturating one among them.
            let bias = if case == 1 || case == 2 {
                let mut b: Vec<i32> = (0..g.out_channels)
                    .map(|_| rng.random_range(-max..=max / 3))
                    .collect();
                b[1] = i32::MIN;
                b
            } else {
                Vec::new()
            };
            ConvLayer { g, w, bias, k }
        };
        let convs = [layer(g1, k1), layer(g2, k2)];
        let mut b = ModelBuilder::new(1.0, 120, bits, input);
        for c in &convs {
            let bias = (!c.bias.is_empty()).then_some(c.bias.as_slice());
            b.lif_conv(c.g, &c.w, bias, c.k, 0.01).unwrap();
        }
        let bytes = b.encode().unwrap();
        let model = Model::decode(&bytes).unwrap();
        assert_eq!(model.encode().unwrap(), bytes, "encode/decode round trip");
        assert_eq!(model.outputs(), g2.output().unwrap().len().unwrap());
        let n_in = input.len().unwrap();
        let stimulus: Vec<Vec<u32>> = (0..120)
            .map(|_| (0..n_in).filter(|_| rng.random_bool(0.15)).collect())
            .collect();
        // The plain simulation: each layer's gathered input, then the step.
        let mut state: Vec<Vec<(i32, i32)>> = convs
            .iter()
            .map(|c| vec![(0, 0); c.g.output().unwrap().len().unwrap() as usize])
            .collect();
        let expected: Vec<Vec<u32>> = stimulus
            .iter()
            .map(|bin| {
                let mut x = vec![false; n_in as usize];
                for &i in bin {
                    x[i as usize] = true;
                }
                for (c, st) in convs.iter().zip(&mut state) {
                    let a = c.gather(&x);
                    x = a
                        .iter()
                        .zip(st.iter_mut())
                        .map(|(&a, (s, v))| {
                            let (s2, v2, f) = c.k.step(*s, *v, a);
                            (*s, *v) = (s2, v2);
                            f
                        })
                        .collect();
                }
                (0..x.len() as u32).filter(|&j| x[j as usize]).collect()
            })
            .collect();
        let ours = run(&model, &stimulus);
        assert_eq!(ours, expected, "case {case}");
        spikes += ours.iter().map(Vec::len).sum::<usize>();
        // The first layer's spikes too: the engine reports them.
        let mut st = vec![0i32; state_words(&model)];
        let mut engine = Engine::new(&model, &mut st).unwrap();
        let mut hidden = 0;
        for bin in &stimulus {
            engine.step(bin, |_| {});
            hidden += engine.spike_count(0).unwrap();
        }
        assert!(hidden > 100, "case {case}: {hidden} hidden spikes");
    }
    assert!(spikes > 100, "the outputs should spike: {spikes}");
}

#[test]
fn bad_lif_convolutions_are_refused() {
    let k = LifConsts::derive(10.0, 0.0, 0.9, LifReset::Zero).unwrap();
    let g = ConvGeometry {
        input: Shape::new(2, 5, 5),
        out_channels: 3,
        kernel: (3, 3),
        stride: (1, 1),
        padding: (0, 0),
    };
    let w = vec![1; 54];
    let build = |g: ConvGeometry, w: &[i32], bias: Option<&[i32]>, k: LifConsts| {
        let mut b = ModelBuilder::new(1.0, 10, WeightBits::I8, Shape::new(2, 5, 5));
        b.lif_conv(g, w, bias, k, 0.1)?;
        b.encode()
    };
    assert!(build(g, &w, None, k).is_ok());
    assert!(build(g, &w, Some(&[1, 2, 3]), k).is_ok());
    assert!(
        build(g, &w, Some(&[1, 2]), k).is_err(),
        "2 biases, 3 channels"
    );
    assert!(build(g, &w[1..], None, k).is_err(), "53 weights");
    assert!(
        build(g, &w, None, LifConsts { theta: 0, ..k }).is_err(),
        "θ = 0"
    );
    let wide = ConvGeometry {
        kernel: (6, 3),
        ..g
    };
    assert!(
        build(wide, &[1; 108], None, k).is_err(),
        "kernel past the input"
    );
    let other = ConvGeometry {
        input: Shape::new(1, 5, 5),
        ..g
    };
    assert!(
        build(other, &[1; 27], None, k).is_err(),
        "fed 50 values, takes 25"
    );
    assert!(build(g, &[300; 54], None, k).is_err(), "int8 range");
}

/// A bias that pulls a sum back from beyond what the step can hold: the
/// sum, then the bias, then the clamp (`LifConsts::step`), on the host and
/// on the 32-bit Arm path alike (whose scatter clamps the SRM layers' sums
/// itself), for dense, recurrent and convolutional LIF layers.
#[test]
fn a_bias_is_added_before_the_sum_is_clamped() {
    // θ of 4 LSB: the finest state grid, so the step holds only small sums.
    let k = LifConsts::derive(4.0, 0.5, 0.9, LifReset::Subtract).unwrap();
    let hi = i32::MAX >> k.frac_bits;
    let (n, w) = (8usize, 2000);
    assert!(
        n as i32 * w > hi,
        "the sum must exceed what the step holds ({hi})"
    );
    // With every input on, the sum is 16,000 and the bias takes it back to
    // 2, 3 and 4 LSB: spikes every bin or two, when the bias is added first.
    let bias: Vec<i32> = (2..5).map(|t| t - n as i32 * w).collect();
    let every_bin: Vec<Vec<u32>> = (0..40).map(|_| (0..n as u32).collect()).collect();
    let dense = Layer {
        inputs: n,
        outputs: 3,
        w: vec![w; n * 3],
        bias: bias.clone(),
        rec: Vec::new(),
        k,
    };
    let rec = Layer {
        inputs: n,
        outputs: 3,
        w: vec![w; n * 3],
        bias: bias.clone(),
        rec: vec![0; 9],
        k,
    };
    let expected = reference(std::slice::from_ref(&dense), &[], &every_bin);
    assert!(
        expected.iter().map(Vec::len).sum::<usize>() > 40,
        "the neurons should spike: {expected:?}"
    );
    let mut b = ModelBuilder::new(1.0, 40, WeightBits::I16, Shape::flat(n as u32));
    b.lif_bias(8, 3, &dense.w, &bias, k, 0.01).unwrap();
    let bytes = b.encode().unwrap();
    assert_eq!(
        run(&Model::decode(&bytes).unwrap(), &every_bin),
        expected,
        "lif_bias"
    );
    let mut b = ModelBuilder::new(1.0, 40, WeightBits::I16, Shape::flat(n as u32));
    let weights = [rec.w.as_slice(), &rec.rec].concat();
    b.lif_rec(8, 3, &weights, Some(&bias), k, 0.01).unwrap();
    let bytes = b.encode().unwrap();
    let expected_rec = reference(std::slice::from_ref(&rec), &[], &every_bin);
    assert_eq!(expected_rec, expected, "zero recurrent weights");
    assert_eq!(
        run(&Model::decode(&bytes).unwrap(), &every_bin),
        expected,
        "lif_rec"
    );
    // A 1 × 1 convolution over 8 channels is the dense layer per pixel.
    let g = ConvGeometry {
        input: Shape::new(n as u32, 1, 1),
        out_channels: 3,
        kernel: (1, 1),
        stride: (1, 1),
        padding: (0, 0),
    };
    let mut b = ModelBuilder::new(1.0, 40, WeightBits::I16, g.input);
    b.lif_conv(g, &vec![w; n * 3], Some(&bias), k, 0.01)
        .unwrap();
    let bytes = b.encode().unwrap();
    assert_eq!(
        run(&Model::decode(&bytes).unwrap(), &every_bin),
        expected,
        "lif_conv2d"
    );
}

//! LIF layers (dense synapses + LIF, CUBA-LIF or IF neurons) in the engine
//! against a plain simulation written from the update's definition
//! (`LifConsts::step` per neuron, each layer taking the spikes of the layer
//! before in the same bin, a delay shifting a neuron's spikes by whole
//! bins): the same spikes in every bin, with int8 and int16 weights, with
//! and without biases (`Layer::LifBias`), through an encode/decode round trip. `cargo test -p slayer-core --features lean`
//! runs the same through the 32-bit Arm code path.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use slayer_core::{
    state_words, Engine, LifConsts, LifReset, Model, ModelBuilder, Shape, WeightBits,
};

struct Layer {
    inputs: usize,
    outputs: usize,
    w: Vec<i32>,
    /// Per output, added to the summed input every bin (empty: none).
    bias: Vec<i32>,
    k: LifConsts,
}

/// The plain simulation: output spikes of every bin.
fn reference(layers: &[Layer], delay: &[u8], input: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let mut state: Vec<Vec<(i32, i32)>> = layers.iter().map(|l| vec![(0, 0); l.outputs]).collect();
    let mut history: Vec<Vec<bool>> = Vec::new();
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
                let a = a.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
                let a = a.saturating_add(layer.bias.get(o).copied().unwrap_or(0));
                let (s, v) = state[l][o];
                let (s, v, f) = layer.k.step(s, v, a);
                state[l][o] = (s, v);
                *fired = f;
            }
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
                k: k1,
            },
            Layer {
                inputs: n_hid,
                outputs: n_out,
                w: w2,
                bias: biases(n_out),
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
            if layer.bias.is_empty() {
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
        assert_eq!(kinds, [lif, "delay", lif]);
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
}

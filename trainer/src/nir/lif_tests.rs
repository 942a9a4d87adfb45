//! Convolutional and recurrent LIF graphs: the core model of `lif_model` against the
//! float network of `lif_network` (the graph unfolded, node by node).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use slayer_core::{Layer, LifReset, Model};
use slayer_nir::{
    Affine, Conv2d, CubaLif, Flatten, If, Input, NirGraph, Node, Output, Padding, Pool2d, Scale,
    Tensor,
};

use super::*;
use crate::infer::CoreRunner;
use crate::SpikeRaster;

/// One weight step: every weight and bias below is a multiple of it, and
/// each synapse holds `±127` steps, so that int8 quantisation is exact.
const STEP: f32 = 1.0 / 128.0;

fn steps(rng: &mut ChaCha8Rng, n: usize, lo: i32) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n)
        .map(|_| rng.random_range(lo..=127) as f32 * STEP)
        .collect();
    v[n / 2] = 127.0 * STEP;
    v
}

fn iff(n: usize, theta: f32) -> Node {
    Node::If(If {
        r: Tensor::from_f32(vec![1.0; n]),
        v_threshold: Tensor::from_f32(vec![theta; n]),
        v_reset: Tensor::from_f32(vec![0.0; n]),
        metadata: Default::default(),
    })
}

fn conv(
    rng: &mut ChaCha8Rng,
    hw: i64,
    shape: [usize; 4],
    stride: i64,
    pad: i64,
    bias: bool,
) -> Node {
    let n = shape.iter().product();
    Node::Conv2d(Conv2d {
        input_shape: Some([hw, hw]),
        weight: Tensor::f32(shape.to_vec(), steps(rng, n, -60)).unwrap(),
        stride: [stride, stride],
        padding: Padding::Explicit([pad, pad]),
        dilation: [1, 1],
        groups: 1,
        bias: Tensor::from_f32(if bias {
            (0..shape[0])
                .map(|_| rng.random_range(-40..=40) as f32 * STEP)
                .collect()
        } else {
            vec![0.0; shape[0]]
        }),
        metadata: Default::default(),
    })
}

fn pool(k: i64) -> Node {
    Node::SumPool2d(Pool2d {
        kernel_size: [k, k],
        stride: [k, k],
        padding: [0, 0],
        metadata: Default::default(),
    })
}

/// Sinabs' kind of network: 2×side×side → Conv2d(4, 3×3, stride 2, padding 1,
/// bias) → IF → SumPool2d(2) → Conv2d(3, 3×3, padding 1) → IF →
/// SumPool2d(2) → Flatten → Affine(5) → IF.
fn graph(rng: &mut ChaCha8Rng, side: usize) -> NirGraph {
    let s1 = (side - 1) / 2 + 1;
    let (s2, s3) = (s1 / 2, s1 / 4);
    let mut g = NirGraph::new();
    let mut add = |name: &str, node: Node| {
        g.nodes.insert(name.into(), node);
    };
    let side_i = side as i64;
    add(
        "input",
        Node::Input(Input {
            shape: vec![2, side_i, side_i],
            ..Default::default()
        }),
    );
    add("conv1", conv(rng, side_i, [4, 2, 3, 3], 2, 1, true));
    add("if1", iff(4 * s1 * s1, 2.0));
    add("pool1", pool(2));
    add("conv2", conv(rng, s2 as i64, [3, 4, 3, 3], 1, 1, false));
    add("if2", iff(3 * s2 * s2, 2.0));
    add("pool2", pool(2));
    add(
        "flat",
        Node::Flatten(Flatten {
            input_type: None,
            start_dim: 0,
            end_dim: -1,
            metadata: Default::default(),
        }),
    );
    add(
        "fc",
        Node::Affine(Affine {
            weight: Tensor::f32(vec![5, 3 * s3 * s3], steps(rng, 15 * s3 * s3, -60)).unwrap(),
            bias: Tensor::from_f32(
                (0..5)
                    .map(|_| rng.random_range(-20..=20) as f32 * STEP)
                    .collect(),
            ),
            metadata: Default::default(),
        }),
    );
    add("if3", iff(5, 1.5));
    add(
        "output",
        Node::Output(Output {
            shape: vec![5],
            ..Default::default()
        }),
    );
    let chain = [
        "input", "conv1", "if1", "pool1", "conv2", "if2", "pool2", "flat", "fc", "if3", "output",
    ];
    g.edges = chain
        .windows(2)
        .map(|w| (w[0].into(), w[1].into()))
        .collect();
    g
}

fn random_raster(rng: &mut ChaCha8Rng, bins: usize, n: usize, p: f64) -> SpikeRaster {
    let mut r = SpikeRaster::new(bins, n);
    for k in 0..bins {
        for i in 0..n {
            if rng.random_bool(p) {
                r.set(k, i);
            }
        }
    }
    r
}

/// The core engine's output spike counts for one recording.
fn core_counts(runner: &mut CoreRunner, r: &SpikeRaster) -> Vec<u64> {
    let counts = runner.run(r).unwrap().counts();
    counts.into_iter().map(u64::from).collect()
}

/// Asserts that importing `g` fails with one error holding every needle.
fn refused(g: &NirGraph, needles: &[&str]) {
    let e = lif_model(g, &options(8)).unwrap_err().to_string();
    assert!(needles.iter().all(|n| e.contains(n)), "{e}");
}

fn options(bits: u32) -> LifOptions {
    LifOptions {
        dt: 1e-3,
        reset: LifReset::Subtract,
        bits,
        bins: 60,
        ts_ms: 1.0,
        input_shape: None,
    }
}

#[test]
fn convolutional_lif_graphs_run_on_the_core_as_the_float_network_does() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let g = graph(&mut rng, 16);
    let net = lif_network(&g, &options(8)).unwrap();
    assert_eq!((net.inputs(), net.outputs(), net.layers.len()), (512, 5, 3));
    let names: Vec<(&str, &str)> = net
        .layers
        .iter()
        .map(|l| (l.synapse.as_str(), l.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [("conv1", "if1"), ("pool1", "if2"), ("pool2", "if3")]
    );
    let ex = lif_model(&g, &options(8)).unwrap();
    let model = Model::decode(&ex.bytes).unwrap();
    let kinds: Vec<&str> = model.layers().iter().map(Layer::kind).collect();
    assert_eq!(kinds, ["lif_conv2d", "lif_conv2d", "flatten", "lif_bias"]);
    // The pooling folded into the second convolution: 6×6 at stride 2.
    let Layer::LifConv(c2) = &model.layers()[1] else {
        unreachable!()
    };
    assert_eq!(
        (c2.geometry.kernel, c2.geometry.stride, c2.geometry.padding),
        ((6, 6), (2, 2), (2, 2))
    );
    assert!(c2.bias.is_empty());
    // Every weight on the int8 grid, IF neurons subtracting θ: the integer
    // core and the float network are the same arithmetic.
    assert!(
        ex.layers.iter().all(|r| r.max_error == 0.0),
        "{:?}",
        ex.layers
    );
    let mut runner = CoreRunner::new(&model).unwrap();
    let mut total = 0;
    for sample in 0..6 {
        let r = random_raster(&mut rng, 60, 512, 0.25);
        let float = net.run(&r);
        assert_eq!(core_counts(&mut runner, &r), float, "sample {sample}");
        total += float.iter().sum::<u64>();
    }
    assert!(total > 30, "the network should spike: {total}");
}

#[test]
fn what_cannot_fold_is_one_error_naming_the_nodes() {
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    // conv1 gives 7×7: pool1 leaves a row and a column, which the padded
    // conv2 reads.
    let g = graph(&mut rng, 14);
    refused(&g, &["`if2`", "`pool1`", "left over"]);
    // A convolution of flat data.
    let mut g = graph(&mut rng, 16);
    g.edges.retain(|(a, _)| a != "input");
    g.edges.push(("input".into(), "fc".into()));
    g.nodes.insert(
        "input".into(),
        Node::Input(Input {
            shape: vec![512],
            ..Default::default()
        }),
    );
    refused(&g, &["`fc`", "512"]);
    // Neurons without synapses.
    let mut g = graph(&mut rng, 16);
    g.edges.retain(|(a, _)| a != "input");
    g.edges.push(("input".into(), "if1".into()));
    refused(&g, &["`if1`", "without synapses"]);
}

fn affine(rng: &mut ChaCha8Rng, outputs: usize, inputs: usize, lo: i32) -> Node {
    Node::Affine(Affine {
        weight: Tensor::f32(vec![outputs, inputs], steps(rng, outputs * inputs, lo)).unwrap(),
        bias: Tensor::from_f32(
            (0..outputs)
                .map(|_| rng.random_range(-20..=20) as f32 * STEP)
                .collect(),
        ),
        metadata: Default::default(),
    })
}

/// snnTorch's `RLeaky` export, with IF neurons: 40 → Affine(24) → IF, with
/// a loop IF → Affine(24) → IF (`rec`), → Affine(5) → IF.
fn recurrent_graph(rng: &mut ChaCha8Rng) -> NirGraph {
    let mut g = NirGraph::new();
    let nodes = [
        (
            "input",
            Node::Input(Input {
                shape: vec![40],
                ..Default::default()
            }),
        ),
        ("fc1", affine(rng, 24, 40, -60)),
        ("if1", iff(24, 2.0)),
        ("rec", affine(rng, 24, 24, -127)),
        ("fc2", affine(rng, 5, 24, -60)),
        ("if2", iff(5, 1.5)),
        (
            "output",
            Node::Output(Output {
                shape: vec![5],
                ..Default::default()
            }),
        ),
    ];
    for (name, node) in nodes {
        g.nodes.insert(name.into(), node);
    }
    let edges = [
        ("input", "fc1"),
        ("fc1", "if1"),
        ("if1", "rec"),
        ("rec", "if1"),
        ("if1", "fc2"),
        ("fc2", "if2"),
        ("if2", "output"),
    ];
    g.edges = edges.map(|(a, b)| (a.into(), b.into())).to_vec();
    g
}

#[test]
fn recurrent_lif_graphs_run_on_the_core_as_the_float_network_does() {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let g = recurrent_graph(&mut rng);
    same_on_the_core(&g, &mut rng);
    // CUBA-LIF neurons in the loop (snnTorch's `RSynaptic`): α = β ≈ 1/2
    // and a gain ≈ 1/4 at dt = 1 ms (exact but for the float32 of τ).
    let mut g = recurrent_graph(&mut rng);
    let half = |v: f32| Tensor::from_f32(vec![v; 24]);
    g.nodes.insert(
        "if1".into(),
        Node::CubaLif(CubaLif {
            tau_mem: half(2e-3),
            tau_syn: half(2e-3),
            r: half(1.0),
            v_leak: half(0.0),
            v_threshold: half(1.0),
            v_reset: half(0.0),
            w_in: half(1.0),
            metadata: Default::default(),
        }),
    );
    same_on_the_core(&g, &mut rng);
}

/// `g` (a recurrent hidden layer, then a plain one) imported int8: the
/// weights on the int8 grid (to float32 rounding), the core's spike counts equal to the float network's on
/// random recordings, and the loop in use.
fn same_on_the_core(g: &NirGraph, rng: &mut ChaCha8Rng) {
    let net = lif_network(g, &options(8)).unwrap();
    assert_eq!((net.inputs(), net.outputs(), net.layers.len()), (40, 5, 2));
    assert!(net.layers[0].recurrent.is_some() && net.layers[1].recurrent.is_none());
    let ex = lif_model(g, &options(8)).unwrap();
    let model = Model::decode(&ex.bytes).unwrap();
    let kinds: Vec<&str> = model.layers().iter().map(Layer::kind).collect();
    assert_eq!(kinds, ["lif_rec", "lif_bias"]);
    assert!(
        ex.layers.iter().all(|r| r.max_error < 1e-6),
        "{:?}",
        ex.layers
    );
    // Without the loop the same weights give other spikes: the recurrent
    // synapses are in use.
    let mut open = net.clone();
    open.layers[0].recurrent = None;
    let mut runner = CoreRunner::new(&model).unwrap();
    let (mut total, mut differ) = (0, 0);
    for sample in 0..6 {
        let r = random_raster(rng, 60, 40, 0.2);
        let float = net.run(&r);
        assert_eq!(core_counts(&mut runner, &r), float, "sample {sample}");
        total += float.iter().sum::<u64>();
        differ += usize::from(open.run(&r) != float);
    }
    assert!(total > 30, "the network should spike: {total}");
    assert!(differ > 0, "the loop should change the spikes");
}

#[test]
fn recurrent_loops_the_core_cannot_hold_are_refused() {
    let mut rng = ChaCha8Rng::seed_from_u64(24);
    // A loop of the wrong width.
    let mut g = recurrent_graph(&mut rng);
    g.nodes.insert("rec".into(), affine(&mut rng, 20, 24, -60));
    refused(&g, &["`rec`", "20 values for 24"]);
    // A loop around convolutional neurons.
    let mut g = graph(&mut rng, 16);
    let n = 4 * 8 * 8;
    g.nodes.insert("back".into(), affine(&mut rng, n, n, -60));
    g.edges.push(("if1".into(), "back".into()));
    g.edges.push(("back".into(), "if1".into()));
    refused(&g, &["`if1`", "convolutional"]);
    // Two loops.
    let mut g = recurrent_graph(&mut rng);
    g.nodes.insert("rec2".into(), affine(&mut rng, 24, 24, -60));
    g.edges.push(("if1".into(), "rec2".into()));
    g.edges.push(("rec2".into(), "if1".into()));
    refused(&g, &["`if1`", "two recurrent loops"]);
    // A loop through a node other than Linear / Affine: named, not taken
    // for a branch.
    let mut g = recurrent_graph(&mut rng);
    g.nodes.insert(
        "gain".into(),
        Node::Scale(Scale {
            scale: Tensor::from_f32(vec![0.5; 24]),
            metadata: Default::default(),
        }),
    );
    g.edges
        .retain(|(a, b)| (a.as_str(), b.as_str()) != ("rec", "if1"));
    g.edges.push(("rec".into(), "gain".into()));
    g.edges.push(("gain".into(), "if1".into()));
    refused(
        &g,
        &["`if1`", "loop back through `rec` (Affine) → `gain` (Scale)"],
    );
    // A branch that does not come back is a branch.
    let mut g = recurrent_graph(&mut rng);
    g.nodes.insert("side".into(), affine(&mut rng, 3, 5, -60));
    g.edges.push(("if2".into(), "side".into()));
    refused(&g, &["`if2`", "2 outgoing edges; slayer imports a chain"]);
}

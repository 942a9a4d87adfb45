use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use slayer_nir::{Lif, MetaValue, Node, Tensor};

use super::*;
use crate::config::{ExperimentConfig, LayerConfig};
use crate::network::{Layer, Network};
use crate::neuron::AlphaKernel;
use crate::SpikeRaster;

/// The default experiment with `layers`, time step `ts` and the neuron `neuron`.
fn config(layers: Vec<LayerConfig>, ts: f32) -> ExperimentConfig {
    let mut cfg = ExperimentConfig::default_experiment();
    cfg.name = "nir".into();
    cfg.simulation.ts = ts;
    cfg.neuron.theta = 10.0;
    cfg.neuron.tau_s = 5.0;
    cfg.neuron.tau_r = 2.5;
    cfg.neuron.scale_ref = 2.0;
    cfg.neuron.tau_rho = 0.5;
    cfg.neuron.scale_rho = 1.5;
    cfg.network.layers = layers;
    cfg
}

/// A dense network with delays and dropout (the N-MNIST MLP's kinds of layer).
fn mlp() -> (ExperimentConfig, Network) {
    let cfg = config(
        vec![
            LayerConfig::Dense {
                outputs: 12,
                weight_scale: 60.0,
            },
            LayerConfig::Delay {
                max_delay: 20.0,
                init_max: 8.0,
            },
            LayerConfig::Dropout { p: 0.1 },
            LayerConfig::Dense {
                outputs: 4,
                weight_scale: 60.0,
            },
        ],
        1.0,
    );
    let net = Network::from_config(&cfg, 20, None, 5).unwrap();
    (cfg, net)
}

/// Conv, pool, flatten, dense and delay, on a 2×8×8 input.
fn cnn() -> Network {
    let cfg = config(
        vec![
            LayerConfig::Pool { size: 2 },
            LayerConfig::Conv {
                channels: 3,
                kernel: 3,
                stride: 1,
                padding: 1,
                weight_scale: 60.0,
            },
            LayerConfig::Delay {
                max_delay: 10.0,
                init_max: 4.0,
            },
            LayerConfig::Flatten,
            LayerConfig::Dense {
                outputs: 5,
                weight_scale: 20.0,
            },
        ],
        0.5,
    );
    Network::from_config(&cfg, 128, Some((2, 8, 8)), 9).unwrap()
}

fn through_file(g: &slayer_nir::NirGraph) -> slayer_nir::NirGraph {
    slayer_nir::from_bytes(slayer_nir::to_bytes(g).unwrap()).unwrap()
}

fn random_input(n: usize, bins: usize, seed: u64) -> SpikeRaster {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut raster = SpikeRaster::new(bins, n);
    for k in 0..bins {
        for i in 0..n {
            if rng.random_bool(0.15) {
                raster.set(k, i);
            }
        }
    }
    raster
}

fn output_counts(net: &Network, x: &SpikeRaster) -> Vec<u32> {
    let t = net.forward::<ChaCha8Rng>(&net.srm(), x, None);
    t.output().to_raster().counts()
}

#[test]
fn a_network_survives_slayer_to_nir_to_slayer() {
    let (cfg, net) = mlp();
    let toml = cfg.to_toml();
    let g = through_file(&to_nir(&net, Some(&toml)).unwrap());
    let back = from_nir(&g, 3.0).unwrap();
    assert!(back.had_settings);
    assert_eq!(back.network, net, "weights, delays, neuron parameters");
    assert_eq!(back.config_toml.as_deref(), Some(toml.as_str()));
    // And the same spikes (a forward pass of each).
    let x = random_input(20, 40, 1);
    let a = output_counts(&net, &x);
    assert_eq!(a, output_counts(&back.network, &x));
    assert!(
        a.iter().sum::<u32>() > 0,
        "the test network should spike: {a:?}"
    );

    let net = cnn();
    let g = through_file(&to_nir(&net, None).unwrap());
    let back = from_nir(&g, 1.0).unwrap();
    assert_eq!(back.network, net);
    assert_eq!(back.config_toml, None);
}

#[test]
fn the_graph_holds_the_documented_nodes() {
    let net = cnn();
    let g = to_nir(&net, None).unwrap();
    let kinds: Vec<(&str, &str)> = g
        .nodes
        .iter()
        .map(|(n, node)| (n.as_str(), node.type_name()))
        .collect();
    for want in [
        ("input", "Input"),
        ("l0_pool", "SumPool2d"),
        ("l0_scale", "Scale"),
        ("l0_epsilon", "CubaLI"),
        ("l0_threshold", "Threshold"),
        ("l0_refractory", "CubaLI"),
        ("l1_conv", "Conv2d"),
        ("l2_delay", "Delay"),
        ("l3_flatten", "Flatten"),
        ("l3_linear", "Linear"),
        ("output", "Output"),
    ] {
        assert!(kinds.contains(&want), "{want:?} in {kinds:?}");
    }
    // The refractory loop.
    for e in [
        ("l1_threshold", "l1_refractory"),
        ("l1_refractory", "l1_threshold"),
        ("l1_epsilon", "l1_threshold"),
    ] {
        assert!(
            g.edges.contains(&(e.0.to_string(), e.1.to_string())),
            "{e:?}"
        );
    }
    let Node::Input(i) = &g.nodes["input"] else {
        panic!()
    };
    assert_eq!(i.shape, [2, 8, 8]);
    let Node::Output(o) = &g.nodes["output"] else {
        panic!()
    };
    assert_eq!(o.shape, [5]);
}

/// The `CubaLI` the exporter writes, driven by a unit-area spike at `t = 0`,
/// has the membrane `v(t) = r·w_in/(τ_syn·τ_mem)·t·e^{−t/τ}` (NIR's
/// equations solved by hand); sampled at `nTs` it must be the trainer's
/// sampled kernels ε and ν.
#[test]
fn the_exported_kernels_are_the_trainers_kernels() {
    let (_, net) = mlp();
    let g = to_nir(&net, None).unwrap();
    let ts = f64::from(net.ts) * 1e-3;
    let srm = net.srm();
    for (node, kernel) in [("l0_epsilon", srm.eps), ("l0_refractory", srm.nu)] {
        let Node::CubaLi(c) = &g.nodes[node] else {
            panic!("{node}")
        };
        let one = |t: &Tensor| t.to_f64_vec()[0];
        let (tau, gain) = (one(&c.tau_mem), one(&c.r) * one(&c.w_in));
        assert_eq!(one(&c.tau_syn), tau);
        let taps = kernel.samples(200);
        for (n, &k) in taps.iter().enumerate() {
            let t = n as f64 * ts;
            let v = gain / (tau * tau) * t * (-t / tau).exp();
            assert!(
                (v - k).abs() <= 1e-12 * (1.0 + k.abs()),
                "{node} n={n}: {v} vs {k}"
            );
        }
        assert!(
            taps.iter().any(|&k| k.abs() > 0.5),
            "{node}: a kernel with a peak"
        );
    }
    // ν peaks at −scaleRef·θ.
    let nu = AlphaKernel::new(1.0, 1.0, -20.0).samples(3)[1];
    assert!((nu + 20.0).abs() < 1e-12, "{nu}");
}

#[test]
fn foreign_graphs_import_with_the_defaults_and_the_given_step() {
    let (_, net) = mlp();
    let mut g = to_nir(&net, None).unwrap();
    g.metadata.clear();
    let back = from_nir(&g, 0.5).unwrap();
    assert!(!back.had_settings);
    let n = back.network;
    assert_eq!(n.ts, 0.5);
    assert_eq!(n.neuron, net.neuron);
    assert_eq!(n.rho, crate::neuron::RhoParams::default());
    // The delay in seconds is the same; in steps of 0.5 ms it is twice the count.
    let (Layer::Delay(a), Layer::Delay(b)) = (&net.layers[1], &n.layers[1]) else {
        panic!("delay layers")
    };
    for (x, y) in a.delays.iter().zip(&b.delays) {
        assert!((2.0 * x - y).abs() <= 1e-5 * (1.0 + x), "{x} {y}");
    }
    assert_eq!(b.max_delay, 62.0);
    // No dropout node in NIR: three layers, not four.
    assert_eq!(n.layers.len(), 3);
}

#[test]
fn what_slayer_cannot_run_is_one_error_naming_the_node() {
    let (_, net) = mlp();
    let g0 = to_nir(&net, None).unwrap();
    let err = |g: &slayer_nir::NirGraph| from_nir(g, 1.0).unwrap_err().to_string();

    // A LIF neuron where the spike response should be.
    let mut g = g0.clone();
    let lif = Lif {
        tau: Tensor::from_f32(vec![0.01; 12]),
        r: Tensor::from_f32(vec![1.0; 12]),
        v_leak: Tensor::from_f32(vec![0.0; 12]),
        v_threshold: Tensor::from_f32(vec![1.0; 12]),
        v_reset: Tensor::from_f32(vec![0.0; 12]),
        metadata: Default::default(),
    };
    g.nodes.insert("l0_epsilon".into(), Node::Lif(lif));
    let e = err(&g);
    assert!(e.contains("`l0_epsilon`") && e.contains("LIF"), "{e}");

    // Unequal time constants.
    let mut g = g0.clone();
    if let Some(Node::CubaLi(c)) = g.nodes.get_mut("l3_epsilon") {
        c.tau_syn = c.tau_syn.filled_like(0.002);
    }
    let e = err(&g);
    assert!(e.contains("`l3_epsilon`") && e.contains("τ_syn"), "{e}");

    // A gain that is not e·τ.
    let mut g = g0.clone();
    if let Some(Node::CubaLi(c)) = g.nodes.get_mut("l0_epsilon") {
        c.r = c.r.filled_like(2.0);
    }
    let e = err(&g);
    assert!(e.contains("`l0_epsilon`") && e.contains("r·w_in"), "{e}");

    // Layers with different neurons.
    let mut g = g0.clone();
    if let Some(Node::Threshold(t)) = g.nodes.get_mut("l3_threshold") {
        t.threshold = t.threshold.filled_like(7.0);
    }
    let e = err(&g);
    assert!(e.contains("`l3_threshold`") && e.contains("θ = 7"), "{e}");

    // A branch.
    let mut g = g0.clone();
    g.edges.push(("input".into(), "output".into()));
    let e = err(&g);
    assert!(e.contains("`input`") && e.contains("2 outgoing"), "{e}");

    // Settings that are not ours.
    let mut g = g0.clone();
    g.metadata
        .insert(META_KEY.into(), MetaValue::Text("{\"x\":1}".into()));
    assert!(err(&g).contains("not SLAYER's"));

    // No input.
    let mut g = g0;
    g.nodes.remove("input");
    g.edges.retain(|(s, _)| s != "input");
    assert!(err(&g).contains("no Input"));
}

#[test]
fn pooling_with_a_remainder_is_refused_on_export() {
    let cfg = config(
        vec![
            LayerConfig::Pool { size: 2 },
            LayerConfig::Flatten,
            LayerConfig::Dense {
                outputs: 2,
                weight_scale: 10.0,
            },
        ],
        1.0,
    );
    let net = Network::from_config(&cfg, 49, Some((1, 7, 7)), 1).unwrap();
    let e = to_nir(&net, None).unwrap_err().to_string();
    assert!(e.contains("layer 0") && e.contains("multiples"), "{e}");
}

#[test]
fn an_imported_network_gets_a_matching_config() {
    let net = cnn();
    let base = ExperimentConfig::default_experiment();
    let cfg = config_for(&net, &base).unwrap();
    assert_eq!(cfg.simulation.ts, net.ts);
    // The config builds a network of the same shapes.
    let rebuilt = Network::from_config(&cfg, net.inputs, Some((2, 8, 8)), 3).unwrap();
    assert_eq!(rebuilt.widths(), net.widths());
    assert_eq!(rebuilt.param_sizes(), net.param_sizes());
    assert_eq!(rebuilt.neuron, net.neuron);
}

/// Every tensor field of every node of two exported networks, replaced in
/// turn by NaN, ±∞, zero, a negative value, a huge value, and an empty or
/// reshaped tensor: the import gives an error or a network that checks and
/// holds finite parameters, never a panic.
#[test]
fn damaged_graphs_are_errors_or_sound_networks_never_panics() {
    let values = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -1.0, 1e300];
    let mut imported = 0;
    let mut refused = 0;
    for net in [mlp().1, cnn()] {
        let g0 = to_nir(&net, None).unwrap();
        for name in g0.nodes.keys() {
            let fields = g0.nodes[name].fields().len();
            for f in 0..fields {
                for m in 0..values.len() + 2 {
                    let mut g = g0.clone();
                    let Some(t) = tensor_mut(g.nodes.get_mut(name).unwrap(), f) else {
                        continue;
                    };
                    *t = match m {
                        m if m < values.len() => t.filled_like(values[m]),
                        m if m == values.len() => Tensor::from_f32(Vec::new()),
                        _ => Tensor::from_f32(t.to_f32_vec().into_iter().chain([1.0]).collect()),
                    };
                    match from_nir(&g, 1.0) {
                        Ok(back) => {
                            imported += 1;
                            let n = back.network;
                            n.check().unwrap();
                            let p = n.neuron;
                            for v in [p.theta, p.tau_s, p.tau_r, p.scale_ref, n.ts] {
                                assert!(
                                    v.is_finite() && v >= 0.0,
                                    "{name} field {f} value {m}: {p:?}"
                                );
                            }
                            for l in &n.layers {
                                if let Some(w) = l.params() {
                                    assert!(w.iter().all(|x| x.is_finite()), "{name} {f} {m}");
                                }
                            }
                        }
                        Err(e) => {
                            refused += 1;
                            assert!(!e.to_string().is_empty());
                        }
                    }
                }
            }
        }
    }
    assert!(
        refused > 50 && imported > 0,
        "{refused} refused, {imported} imported"
    );
}

/// The `i`-th tensor field of a node (in the order of `Node::fields`).
fn tensor_mut(node: &mut Node, i: usize) -> Option<&mut Tensor> {
    let mut v: Vec<&mut Tensor> = match node {
        Node::Linear(l) => vec![&mut l.weight],
        Node::Conv2d(c) => vec![&mut c.weight, &mut c.bias],
        Node::Scale(s) => vec![&mut s.scale],
        Node::Delay(d) => vec![&mut d.delay],
        Node::Threshold(t) => vec![&mut t.threshold],
        Node::CubaLi(c) => vec![
            &mut c.tau_mem,
            &mut c.tau_syn,
            &mut c.r,
            &mut c.v_leak,
            &mut c.w_in,
        ],
        _ => Vec::new(),
    };
    (i < v.len()).then(|| v.swap_remove(i))
}

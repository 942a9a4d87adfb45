//! Gold conformance (SLAYER.md §5): the float trainer against the outputs of
//! the original MATLAB/C++ SLAYER on its 250 → 25 → 1 network.

use slayer_core::NeuronParams;
use slayer_trainer::layers::Dense;
use slayer_trainer::loss::{Loss, Target};
use slayer_trainer::network::{Layer, Network};
use slayer_trainer::neuron::{KernelMode, RhoParams};
use slayer_trainer::SpikeRaster;

use crate::common::{read_matrix, shared_data};

const TS: f32 = 0.1;

fn gold(name: &str) -> Vec<Vec<f64>> {
    read_matrix(&shared_data().join("slayer-reference/snnData").join(name))
}

fn dense(rows: &[Vec<f64>]) -> Dense {
    let rows: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .collect();
    Dense::from_rows(&rows)
}

/// The gold network with the given weight files, in the conformance setting:
/// ε truncated as the reference, ν untruncated, `tauRho = 0.1`, `scaleRho = 1`.
fn network(w1: &str, w2: &str) -> Network {
    Network {
        inputs: 250,
        layers: vec![
            Layer::Dense(dense(&gold(w1))),
            Layer::Dense(dense(&gold(w2))),
        ],
        neuron: NeuronParams {
            theta: 10.0,
            tau_s: 1.0,
            tau_r: 1.0,
            scale_ref: 2.0,
        },
        rho: RhoParams {
            tau_rho: 0.1,
            scale_rho: 1.0,
        },
        kernel: KernelMode::Truncated,
        ts: TS,
    }
}

/// `spikeInMat.txt` (250 × 501, spikes stored as 1/Ts) cut to `bins`.
fn input(bins: usize) -> SpikeRaster {
    let m = gold("spikeInMat.txt");
    assert_eq!(m.len(), 250);
    let mut r = SpikeRaster::new(bins, 250);
    for (n, row) in m.iter().enumerate() {
        assert_eq!(row.len(), 501);
        for (k, &v) in row.iter().enumerate().take(bins) {
            if v != 0.0 {
                r.set(k, n);
            }
        }
    }
    r
}

fn bin_of(t_ms: f64) -> usize {
    (t_ms / f64::from(TS)).round() as usize
}

/// `‖Δ‖/‖gold‖` and `max |Δ|` of a gradient laid out input-major against an
/// output-major gold matrix.
fn compare(got: &[f32], outputs: usize, gold: &[Vec<f64>]) -> (f64, f64) {
    let (mut num, mut den, mut max) = (0.0f64, 0.0f64, 0.0f64);
    for (j, row) in gold.iter().enumerate() {
        for (i, &g) in row.iter().enumerate() {
            let d = f64::from(got[i * outputs + j]) - g;
            num += d * d;
            den += g * g;
            max = max.max(d.abs());
        }
    }
    ((num / den).sqrt(), max)
}

#[test]
fn weight_gradients_at_the_initial_weights_match_gold() {
    let net = network("w1Initial.txt", "w2Initial.txt");
    let srm = net.srm();
    let bins = 500;
    let x = input(bins);
    let mut target = SpikeRaster::new(bins, 1);
    for row in gold("spikeOut.txt") {
        target.set(bin_of(row[0]), 0);
    }
    assert_eq!(target.spike_bins(0), vec![203, 355, 447]);
    let trace = net.forward::<rand_chacha::ChaCha8Rng>(&srm, &x, None);
    let out = trace.output().to_raster();
    let (_, g_out) = Loss::SpikeTime.evaluate(&srm, &out, &Target::Spikes(target));
    let mut grads = net.zero_grads();
    net.backward(&srm, &trace, g_out, &mut grads);
    let (rel1, max1) = compare(&grads[0], 25, &gold("gradW1Initial.txt"));
    let (rel2, max2) = compare(&grads[1], 1, &gold("gradW2Initial.txt"));
    eprintln!("gradW1: rel {rel1:.3e} max {max1:.3e}; gradW2: rel {rel2:.3e} max {max2:.3e}");
    assert!(
        rel1 <= 1e-4 && max1 <= 2e-4,
        "gradW1: rel {rel1:e}, max {max1:e}"
    );
    assert!(
        rel2 <= 1e-4 && max2 <= 2e-4,
        "gradW2: rel {rel2:e}, max {max2:e}"
    );
}

/// Membrane traces before and after refractory additions, and the spikes, of
/// one neuron against a `spikeFunc*.txt` file (501 × 3, spikes stored as 1/Ts).
fn check_trace(name: &str, psp: &[f64], u: &[f32], spikes: &[usize]) {
    let g = gold(name);
    assert_eq!(g.len(), 501, "{name}");
    let gold_spikes: Vec<usize> = (0..501).filter(|&k| g[k][2] != 0.0).collect();
    assert_eq!(spikes, gold_spikes.as_slice(), "{name}: spike bins");
    let (mut d_before, mut d_after) = (0.0f64, 0.0f64);
    for k in 0..501 {
        d_before = d_before.max((psp[k] - g[k][0]).abs());
        d_after = d_after.max((f64::from(u[k]) - g[k][1]).abs());
    }
    eprintln!("{name}: max |Δu| before {d_before:.2e}, after {d_after:.2e}");
    assert!(
        d_before <= 1e-3 && d_after <= 1e-3,
        "{name}: {d_before:e} / {d_after:e}"
    );
}

#[test]
fn learned_network_reproduces_gold_spikes_and_membrane_traces() {
    let net = network("w1learned.txt", "w2learned.txt");
    let srm = net.srm();
    let x = input(501);
    let trace = net.forward::<rand_chacha::ChaCha8Rng>(&srm, &x, None);
    // u before refractory = the PSP: recompute it from the layer input.
    let psp_of = |layer: usize, neuron: usize| -> Vec<f64> {
        let Layer::Dense(d) = &net.layers[layer] else {
            unreachable!()
        };
        let mut a = vec![0f32; 501 * d.outputs];
        d.forward(trace.spikes_before(layer), &mut a);
        srm.psp(&mut a, d.outputs);
        a.iter()
            .skip(neuron)
            .step_by(d.outputs)
            .map(|&v| f64::from(v))
            .collect()
    };
    let hid = &trace.layers[0];
    let u_hid: Vec<f32> = hid.u.iter().step_by(25).copied().collect();
    let s_hid = trace.spikes(0).to_raster().spike_bins(0);
    check_trace("spikeFuncHid.txt", &psp_of(0, 0), &u_hid, &s_hid);
    let out = &trace.layers[1];
    let s_out = trace.spikes(1).to_raster().spike_bins(0);
    check_trace("spikeFuncOut.txt", &psp_of(1, 0), &out.u, &s_out);
    // The learned network produces the desired output spikes.
    let want: Vec<usize> = gold("spikeOut.txt").iter().map(|r| bin_of(r[0])).collect();
    assert_eq!(s_out, want);
    // And every hidden spike of spikeHid.txt (time, 1-based neuron).
    let hid_raster = trace.spikes(0).to_raster();
    let mut want_hid: Vec<(usize, usize)> = gold("spikeHid.txt")
        .iter()
        .map(|r| (bin_of(r[0]), r[1] as usize - 1))
        .collect();
    want_hid.sort();
    let mut got_hid: Vec<(usize, usize)> = (0..501)
        .flat_map(|k| (0..25).map(move |n| (k, n)))
        .filter(|&(k, n)| hid_raster.get(k, n))
        .collect();
    got_hid.sort();
    assert_eq!(got_hid, want_hid);
}

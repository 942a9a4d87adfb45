//! Slow, obviously-correct implementations of every kernel, in `f64`, for the
//! tests to compare the fast paths against. Direct convolutions with the
//! sampled kernels, dense matrices, no recursion, no sparsity.

use crate::layers::Dense;
use crate::network::{Layer, Network};
use crate::neuron::Srm;
use crate::spikes::SpikeRaster;

/// `y[n] = Σ_{i=0..=n} k[i]·x[n−i]` for one time series.
pub fn convolve(k: &[f64], x: &[f64]) -> Vec<f64> {
    (0..x.len())
        .map(|n| {
            (0..=n)
                .map(|i| k.get(i).copied().unwrap_or(0.0) * x[n - i])
                .sum()
        })
        .collect()
}

/// `y[n] = Σ_i k[i]·x[n+i]` for one time series (the adjoint of [`convolve`]).
pub fn correlate(k: &[f64], x: &[f64]) -> Vec<f64> {
    (0..x.len())
        .map(|n| {
            (n..x.len())
                .map(|m| k.get(m - n).copied().unwrap_or(0.0) * x[m])
                .sum()
        })
        .collect()
}

/// Column `j` of a time-major `bins × width` buffer.
pub fn column(buf: &[f64], width: usize, j: usize) -> Vec<f64> {
    buf.iter().skip(j).step_by(width).copied().collect()
}

/// The output of one dense + SRM layer, time-major `bins × outputs`.
#[derive(Debug, Clone)]
pub struct LayerOut {
    /// Potential after refractory additions.
    pub u: Vec<f64>,
    /// 0/1 spikes.
    pub spikes: Vec<f64>,
}

/// Dense layer forward: `u = ε∗(W·x) + ν∗s`, `s = [u ≥ θ]`, by direct sums.
/// `x` holds the input values (`bins × inputs`, spikes times their gain).
pub fn dense_forward(srm: &Srm, d: &Dense, x: &[f64], bins: usize) -> LayerOut {
    let (ni, no) = (d.inputs, d.outputs);
    let eps = srm.eps.samples(bins);
    let nu = srm.nu.samples(bins);
    let mut u = vec![0.0; bins * no];
    let mut s = vec![0.0; bins * no];
    for j in 0..no {
        let a: Vec<f64> = (0..bins)
            .map(|k| {
                (0..ni)
                    .map(|i| f64::from(d.weight(j, i)) * x[k * ni + i])
                    .sum()
            })
            .collect();
        let mut uj = convolve(&eps, &a);
        for k in 0..bins {
            if uj[k] >= f64::from(srm.theta) {
                s[k * no + j] = 1.0;
                for m in k + 1..bins {
                    uj[m] += nu[m - k];
                }
            }
            u[k * no + j] = uj[k];
        }
    }
    LayerOut { u, spikes: s }
}

/// Dense layer backward from `g_s = ∂E/∂s` (`bins × outputs`): returns
/// `(g_W output-major [j][i], g_x = ∂E/∂x bins × inputs)`.
pub fn dense_backward(
    srm: &Srm,
    d: &Dense,
    x: &[f64],
    out: &LayerOut,
    g_s: &[f64],
    bins: usize,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let (ni, no) = (d.inputs, d.outputs);
    let eps = srm.eps.samples(bins);
    let w_rho = f64::from(srm.rho.tau_rho) * f64::from(srm.theta);
    let mut g_w = vec![vec![0.0; ni]; no];
    let mut g_x = vec![0.0; bins * ni];
    for j in 0..no {
        let g_u: Vec<f64> = (0..bins)
            .map(|k| {
                let u = out.u[k * no + j];
                let rho = f64::from(srm.rho.scale_rho) / w_rho
                    * (-(u - f64::from(srm.theta)).abs() / w_rho).exp();
                f64::from(srm.ts) * rho * g_s[k * no + j]
            })
            .collect();
        let g_a = correlate(&eps, &g_u);
        for i in 0..ni {
            g_w[j][i] = (0..bins).map(|k| g_a[k] * x[k * ni + i]).sum();
        }
        for k in 0..bins {
            for i in 0..ni {
                g_x[k * ni + i] += f64::from(d.weight(j, i)) * g_a[k];
            }
        }
    }
    (g_w, g_x)
}

/// The spike-time loss and its gradient by direct sums: `e = ε∗(s − t)`,
/// `E = ½·Ts·Σe²`, `∂E/∂s[k] = Ts·Σ_i ε[i]·e[k+i]`. Inputs are `bins × n`.
pub fn spike_time_loss(srm: &Srm, s: &[f64], target: &[f64], n: usize) -> (f64, Vec<f64>) {
    let bins = s.len() / n;
    let eps = srm.eps.samples(bins);
    let ts = f64::from(srm.ts);
    let mut loss = 0.0;
    let mut g = vec![0.0; s.len()];
    for j in 0..n {
        let diff: Vec<f64> = (0..bins)
            .map(|k| s[k * n + j] - target[k * n + j])
            .collect();
        let e = convolve(&eps, &diff);
        loss += 0.5 * ts * e.iter().map(|v| v * v).sum::<f64>();
        let gj = correlate(&eps, &e);
        for k in 0..bins {
            g[k * n + j] = ts * gj[k];
        }
    }
    (loss, g)
}

/// Forward and backward of a whole network of dense, delay and dropout layers
/// by direct sums. Dropout uses the given keep-masks (one per dropout layer,
/// in order). Returns `(output spikes, parameter gradients)` with gradients in
/// the layout of [`Network::zero_grads`], for the spike-time loss against `target`.
///
/// Covers dense, delay and dropout layers; conv and pool layers have their own
/// direct-sum checks (`layers::conv`, `layers::pool`), and this panics on them.
pub fn network_grads(
    net: &Network,
    input: &SpikeRaster,
    target: &SpikeRaster,
    masks: &[Vec<bool>],
) -> (Vec<f64>, f64, Vec<Vec<f64>>) {
    let srm = net.srm();
    let bins = input.bins();
    // Forward, keeping every layer's input values.
    let mut x: Vec<f64> = input.data().iter().map(|&v| f64::from(v)).collect();
    let mut width = net.inputs;
    // Per layer: (input values, width, dense output / delayed 0/1 train, gain)
    let mut xs = Vec::new();
    let mut outs = Vec::new();
    let mut mask_i = 0;
    let mut gain = 1.0f64; // value of a spike in `x`
    let mut gains = Vec::new();
    for layer in &net.layers {
        xs.push(x.clone());
        gains.push(gain);
        match layer {
            Layer::Dense(d) => {
                let o = dense_forward(&srm, d, &x, bins);
                x = o.spikes.clone();
                width = d.outputs;
                gain = 1.0;
                outs.push(Some(o));
            }
            Layer::Conv(_) | Layer::Pool(_) => {
                panic!("reference::network_grads covers dense, delay and dropout layers")
            }
            Layer::Delay(d) => {
                let sh = d.shifts();
                let mut y = vec![0.0; x.len()];
                for k in 0..bins {
                    for j in 0..width {
                        if k + sh[j] < bins {
                            y[(k + sh[j]) * width + j] = x[k * width + j];
                        }
                    }
                }
                x = y;
                outs.push(None);
            }
            Layer::Dropout(d) => {
                let keep = &masks[mask_i];
                mask_i += 1;
                let scale = 1.0 / (1.0 - f64::from(d.p));
                for k in 0..bins {
                    for j in 0..width {
                        x[k * width + j] *= if keep[j] { scale } else { 0.0 };
                    }
                }
                gain *= scale;
                outs.push(None);
            }
        }
    }
    let out_spikes: Vec<f64> = x
        .iter()
        .map(|&v| if v == 0.0 { 0.0 } else { 1.0 })
        .collect();
    let tgt: Vec<f64> = target.data().iter().map(|&v| f64::from(v)).collect();
    let (loss, mut g) = spike_time_loss(&srm, &out_spikes, &tgt, width);
    // `g` is the gradient w.r.t. the layer's output *values*; convert to
    // 0/1 spikes by multiplying with the gain where it matters (dense inputs).
    let mut grads: Vec<Vec<f64>> = net.param_sizes().iter().map(|&n| vec![0.0; n]).collect();
    let mut p = grads.len();
    let widths = net.widths();
    for (l, layer) in net.layers.iter().enumerate().rev() {
        let w_in = if l == 0 { net.inputs } else { widths[l - 1] };
        match layer {
            Layer::Dense(d) => {
                p -= 1;
                let o = outs[l].as_ref().expect("dense output");
                let (gw, gx) = dense_backward(&srm, d, &xs[l], o, &g, bins);
                for j in 0..d.outputs {
                    for i in 0..d.inputs {
                        grads[p][i * d.outputs + j] = gw[j][i];
                    }
                }
                // ∂E/∂(0/1 spike) = gain · ∂E/∂(value)
                g = gx.iter().map(|v| v * gains[l]).collect();
            }
            Layer::Conv(_) | Layer::Pool(_) => unreachable!("rejected in the forward pass"),
            Layer::Delay(d) => {
                p -= 1;
                let sh = d.shifts();
                // Gradient and values here are w.r.t. 0/1 spikes of the delayed train.
                let y: Vec<f64> = {
                    let mut y = vec![0.0; bins * w_in];
                    for k in 0..bins {
                        for j in 0..w_in {
                            if k + sh[j] < bins && xs[l][k * w_in + j] != 0.0 {
                                y[(k + sh[j]) * w_in + j] = 1.0;
                            }
                        }
                    }
                    y
                };
                for j in 0..w_in {
                    let mut gd = 0.0;
                    for k in 0..bins {
                        let prev = if k == 0 { 0.0 } else { y[(k - 1) * w_in + j] };
                        gd += g[k * w_in + j] * (prev - y[k * w_in + j]);
                    }
                    grads[p][j] = gd;
                }
                let mut gx = vec![0.0; bins * w_in];
                for k in 0..bins {
                    for j in 0..w_in {
                        if k + sh[j] < bins {
                            gx[k * w_in + j] = g[(k + sh[j]) * w_in + j];
                        }
                    }
                }
                g = gx;
            }
            Layer::Dropout(_) => {
                let idx = net.layers[..l]
                    .iter()
                    .filter(|l| matches!(l, Layer::Dropout(_)))
                    .count();
                let keep = &masks[idx];
                for k in 0..bins {
                    for j in 0..w_in {
                        if !keep[j] {
                            g[k * w_in + j] = 0.0;
                        }
                    }
                }
            }
        }
    }
    (out_spikes, loss, grads)
}

//! Loss functions on output spike trains (SLAYER.md §4).
//!
//! Both losses are `E = ½·Ts·Σ_k e[k]²` of an error signal `e`, and both send
//! `∂E/∂s[k] = Ts·Σ_i ε[i]·e[k+i]` back to the 0/1 output spikes.

use serde::{Deserialize, Serialize};

use crate::neuron::Srm;
use crate::spikes::SpikeRaster;

/// The loss of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Loss {
    /// Match a target spike train: `e = ε∗(s_out − s_target)`.
    SpikeTime,
    /// Classification by spike counts: inside the window `[start, stop)` (bins)
    /// the count error `(Σ s_out − target)/L` is spread uniformly over the
    /// window; outside it, the PSP of the output spikes counts as error.
    NumSpikes {
        /// First bin of the target window.
        start: usize,
        /// One past the last bin of the window.
        stop: usize,
        /// Target count of the true class's neuron.
        true_count: f32,
        /// Target count of every other neuron.
        false_count: f32,
    },
}

/// What a sample's output should be.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A desired spike raster (`bins × outputs`).
    Spikes(SpikeRaster),
    /// A class label: the index of the output neuron that should fire most.
    Class(usize),
}

impl Loss {
    /// The loss `E` of one sample and `∂E/∂s_out` (`bins × outputs`, time-major).
    ///
    /// Shapes are checked by the caller (see [`Loss::check`]).
    pub fn evaluate(&self, srm: &Srm, out: &SpikeRaster, target: &Target) -> (f64, Vec<f32>) {
        self.evaluate_values(srm, &out.to_f32(), out.neurons(), target)
    }

    /// [`Loss::evaluate`] on real-valued output trains (`bins × n`, time-major),
    /// for finite-difference checks.
    pub fn evaluate_values(
        &self,
        srm: &Srm,
        out: &[f32],
        n: usize,
        target: &Target,
    ) -> (f64, Vec<f32>) {
        let bins = out.len() / n.max(1);
        let mut e = out.to_vec();
        match (self, target) {
            (Loss::SpikeTime, Target::Spikes(t)) => {
                for (v, &d) in e.iter_mut().zip(t.data()) {
                    *v -= f32::from(d != 0);
                }
                srm.psp(&mut e, n);
            }
            (
                Loss::NumSpikes {
                    start,
                    stop,
                    true_count,
                    false_count,
                },
                _,
            ) => {
                let (start, stop) = ((*start).min(bins), (*stop).min(bins));
                let len = stop.saturating_sub(start).max(1) as f32;
                let class = match target {
                    Target::Class(c) => Some(*c),
                    Target::Spikes(_) => None,
                };
                let mut err = vec![0f32; n];
                for (j, er) in err.iter_mut().enumerate() {
                    let count: f32 = (start..stop).map(|k| out[k * n + j]).sum();
                    let want = if Some(j) == class {
                        *true_count
                    } else {
                        *false_count
                    };
                    *er = (count - want) / len;
                }
                // PSP of the spikes outside the window …
                for k in start..stop {
                    e[k * n..(k + 1) * n].fill(0.0);
                }
                srm.psp(&mut e, n);
                // … plus the count error inside it.
                for k in start..stop {
                    for (v, &er) in e[k * n..(k + 1) * n].iter_mut().zip(&err) {
                        *v += er;
                    }
                }
            }
            (Loss::SpikeTime, Target::Class(_)) => {
                // Rejected by `check`; treat as an all-silent target.
                srm.psp(&mut e, n);
            }
        }
        let ts = f64::from(srm.ts);
        let loss = 0.5 * ts * e.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
        srm.psp_backward(&mut e, n);
        for v in &mut e {
            *v *= srm.ts;
        }
        (loss, e)
    }

    /// Checks that a target fits this loss and an output of `bins × outputs`.
    pub fn check(&self, target: &Target, bins: usize, outputs: usize) -> Result<(), String> {
        match (self, target) {
            (Loss::SpikeTime, Target::Spikes(t)) => {
                if t.bins() != bins || t.neurons() != outputs {
                    return Err(format!(
                        "target raster is {}×{} (bins×neurons) but the network outputs {bins}×{outputs}",
                        t.bins(),
                        t.neurons()
                    ));
                }
            }
            (Loss::SpikeTime, Target::Class(_)) => {
                return Err(
                    "the spike_time loss needs target spike trains, not class labels".into(),
                )
            }
            (Loss::NumSpikes { start, stop, .. }, t) => {
                if start >= stop || *stop > bins {
                    return Err(format!(
                        "num_spikes window [{start}, {stop}) must be non-empty and within the {bins} bins"
                    ));
                }
                if let Target::Class(c) = t {
                    if *c >= outputs {
                        return Err(format!(
                            "class label {c} out of range for {outputs} output neurons"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neuron::{KernelMode, RhoParams};
    use crate::reference;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use slayer_core::NeuronParams;

    fn srm(mode: KernelMode) -> Srm {
        Srm::new(&NeuronParams::REFERENCE, 1.0, RhoParams::default(), mode)
    }

    /// Each cell spikes with probability `p` (a Poisson raster at 1 ms bins).
    fn random_raster(bins: usize, n: usize, p: f64, seed: u64) -> SpikeRaster {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        crate::data::poisson_raster(&mut rng, n, bins, 1.0, p * 1000.0)
    }

    #[test]
    fn spike_time_matches_direct_sums_and_finite_differences() {
        for mode in [KernelMode::Exact, KernelMode::Truncated] {
            let srm = srm(mode);
            let (bins, n) = (120, 3);
            let out = random_raster(bins, n, 0.05, 1);
            let tgt = random_raster(bins, n, 0.05, 2);
            let (loss, g) = Loss::SpikeTime.evaluate(&srm, &out, &Target::Spikes(tgt.clone()));
            let s64: Vec<f64> = out.data().iter().map(|&v| f64::from(v)).collect();
            let t64: Vec<f64> = tgt.data().iter().map(|&v| f64::from(v)).collect();
            let (want_loss, want_g) = reference::spike_time_loss(&srm, &s64, &t64, n);
            assert!(
                (loss - want_loss).abs() < 1e-4 * want_loss.max(1.0),
                "{loss} vs {want_loss}"
            );
            for (a, b) in g.iter().zip(&want_g) {
                assert!((f64::from(*a) - b).abs() < 1e-4, "{a} vs {b}");
            }
            // The loss is quadratic in s, so central differences are exact up to rounding.
            let vals = out.to_f32();
            let target = Target::Spikes(tgt);
            for idx in (0..bins * n).step_by(17) {
                let h = 1e-2f32;
                let (mut p, mut m) = (vals.clone(), vals.clone());
                p[idx] += h;
                m[idx] -= h;
                let fd = (Loss::SpikeTime.evaluate_values(&srm, &p, n, &target).0
                    - Loss::SpikeTime.evaluate_values(&srm, &m, n, &target).0)
                    / f64::from(2.0 * h);
                assert!(
                    (fd - f64::from(g[idx])).abs() < 2e-3 * fd.abs().max(1.0),
                    "{mode:?} idx {idx}: fd {fd} vs {}",
                    g[idx]
                );
            }
        }
    }

    #[test]
    fn num_spikes_counts_the_window_and_spreads_the_error() {
        let srm = srm(KernelMode::Exact);
        let (bins, n) = (100, 2);
        let loss = Loss::NumSpikes {
            start: 20,
            stop: 70,
            true_count: 10.0,
            false_count: 2.0,
        };
        let out = random_raster(bins, n, 0.1, 3);
        let (e_val, g) = loss.evaluate(&srm, &out, &Target::Class(1));
        // Direct: e = ε∗(s outside the window) + (count − target)/L inside it.
        let eps = srm.eps.samples(bins);
        let mut total = 0.0;
        let mut want_g = vec![0.0f64; bins * n];
        for j in 0..n {
            let want = if j == 1 { 10.0 } else { 2.0 };
            let count = (20..70).filter(|&k| out.get(k, j)).count() as f64;
            let outside: Vec<f64> = (0..bins)
                .map(|k| {
                    if (20..70).contains(&k) || !out.get(k, j) {
                        0.0
                    } else {
                        1.0
                    }
                })
                .collect();
            let mut e = reference::convolve(&eps, &outside);
            for v in &mut e[20..70] {
                *v += (count - want) / 50.0;
            }
            total += 0.5 * e.iter().map(|v| v * v).sum::<f64>();
            for (k, v) in reference::correlate(&eps, &e).into_iter().enumerate() {
                want_g[k * n + j] = v;
            }
        }
        assert!(
            (e_val - total).abs() < 1e-4 * total.max(1.0),
            "{e_val} vs {total}"
        );
        for (a, b) in g.iter().zip(&want_g) {
            assert!((f64::from(*a) - b).abs() < 1e-4, "{a} vs {b}");
        }
        // Outside the window the count does not depend on s[k], so there the
        // gradient is the true derivative: check it by finite differences.
        let vals = out.to_f32();
        let target = Target::Class(1);
        for k in (0..20).chain(70..bins).step_by(5) {
            for j in 0..n {
                let idx = k * n + j;
                let h = 1e-2f32;
                let (mut p, mut m) = (vals.clone(), vals.clone());
                p[idx] += h;
                m[idx] -= h;
                let fd = (loss.evaluate_values(&srm, &p, n, &target).0
                    - loss.evaluate_values(&srm, &m, n, &target).0)
                    / f64::from(2.0 * h);
                assert!(
                    (fd - f64::from(g[idx])).abs() < 2e-3 * fd.abs().max(1.0),
                    "bin {k}: fd {fd} vs {}",
                    g[idx]
                );
            }
        }
    }

    #[test]
    fn check_rejects_mismatched_targets() {
        let l = Loss::NumSpikes {
            start: 0,
            stop: 10,
            true_count: 1.0,
            false_count: 0.0,
        };
        assert!(l.check(&Target::Class(3), 10, 3).is_err());
        assert!(l.check(&Target::Class(2), 10, 3).is_ok());
        assert!(
            l.check(&Target::Class(0), 5, 3).is_err(),
            "window past the end"
        );
        assert!(Loss::SpikeTime.check(&Target::Class(0), 10, 1).is_err());
        assert!(Loss::SpikeTime
            .check(&Target::Spikes(SpikeRaster::new(10, 2)), 10, 1)
            .is_err());
    }
}

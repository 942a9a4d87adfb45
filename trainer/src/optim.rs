//! Optimisers: Adam (optionally AMSGrad) and NAdam, with PyTorch's update rules.

use serde::{Deserialize, Serialize};

/// Optimiser settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimiserConfig {
    /// Adam; `amsgrad` keeps the running maximum of the second moment.
    Adam {
        /// Learning rate.
        #[serde(default = "default_lr")]
        lr: f32,
        /// Use AMSGrad (the reference examples do).
        #[serde(default = "default_true")]
        amsgrad: bool,
        /// Moment decay rates.
        #[serde(default = "default_betas")]
        betas: (f32, f32),
        /// Denominator guard.
        #[serde(default = "default_eps")]
        eps: f32,
    },
    /// Adam with Nesterov momentum (the reference's Loihi examples).
    Nadam {
        /// Learning rate.
        #[serde(default = "default_nadam_lr")]
        lr: f32,
        /// Moment decay rates.
        #[serde(default = "default_betas")]
        betas: (f32, f32),
        /// Denominator guard.
        #[serde(default = "default_eps")]
        eps: f32,
        /// Momentum decay `ψ` of the schedule `μ_t = β₁(1 − ½·0.96^{tψ})`.
        #[serde(default = "default_momentum_decay")]
        momentum_decay: f32,
    },
}

fn default_lr() -> f32 {
    0.01
}
fn default_nadam_lr() -> f32 {
    0.002
}
fn default_true() -> bool {
    true
}
fn default_betas() -> (f32, f32) {
    (0.9, 0.999)
}
fn default_eps() -> f32 {
    1e-8
}
fn default_momentum_decay() -> f32 {
    4e-3
}

impl Default for OptimiserConfig {
    /// Adam with AMSGrad, lr 0.01: the reference examples' choice.
    fn default() -> Self {
        OptimiserConfig::Adam {
            lr: default_lr(),
            amsgrad: true,
            betas: default_betas(),
            eps: default_eps(),
        }
    }
}

impl OptimiserConfig {
    /// Checks the settings are usable.
    pub fn validate(&self) -> Result<(), String> {
        let (lr, betas, eps) = match self {
            OptimiserConfig::Adam { lr, betas, eps, .. }
            | OptimiserConfig::Nadam { lr, betas, eps, .. } => (*lr, *betas, *eps),
        };
        if !(lr.is_finite() && lr > 0.0) {
            return Err(format!("optimiser lr must be positive, got {lr}"));
        }
        if !(0.0..1.0).contains(&betas.0) || !(0.0..1.0).contains(&betas.1) {
            return Err(format!("optimiser betas must lie in [0, 1), got {betas:?}"));
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(format!("optimiser eps must be positive, got {eps}"));
        }
        Ok(())
    }
}

/// Moments of one parameter tensor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Moments {
    m: Vec<f32>,
    v: Vec<f32>,
    v_max: Vec<f32>,
}

/// The evolving state of an optimiser (what a checkpoint stores).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimiserState {
    step: u64,
    /// NAdam's running product of `μ_t`.
    mu_product: f64,
    moments: Vec<Moments>,
}

/// An optimiser with its state, for a fixed list of parameter tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimiser {
    config: OptimiserConfig,
    st: OptimiserState,
    /// Multiplies the configured learning rate (a schedule's factor).
    lr_scale: f32,
}

impl Optimiser {
    /// A fresh optimiser for parameter tensors of the given sizes.
    pub fn new(config: OptimiserConfig, sizes: &[usize]) -> Self {
        let amsgrad = matches!(config, OptimiserConfig::Adam { amsgrad: true, .. });
        let state = sizes
            .iter()
            .map(|&n| Moments {
                m: vec![0.0; n],
                v: vec![0.0; n],
                v_max: if amsgrad { vec![0.0; n] } else { Vec::new() },
            })
            .collect();
        Self {
            config,
            st: OptimiserState {
                step: 0,
                mu_product: 1.0,
                moments: state,
            },
            lr_scale: 1.0,
        }
    }

    /// Resumes an optimiser from a saved state; `None` when the state does not
    /// fit the configuration or the parameter sizes.
    pub fn restore(
        config: OptimiserConfig,
        state: OptimiserState,
        sizes: &[usize],
    ) -> Option<Self> {
        let fresh = Self::new(config, sizes);
        let fits = state.moments.len() == sizes.len()
            && state.moments.iter().zip(&fresh.st.moments).all(|(a, b)| {
                a.m.len() == b.m.len() && a.v.len() == b.v.len() && a.v_max.len() == b.v_max.len()
            });
        fits.then_some(Self {
            config: fresh.config,
            st: state,
            lr_scale: 1.0,
        })
    }

    /// The state to save in a checkpoint.
    pub fn state(&self) -> &OptimiserState {
        &self.st
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.st.step
    }

    /// The learning rate in use (the configured one times the scale).
    pub fn lr(&self) -> f32 {
        let lr = match self.config {
            OptimiserConfig::Adam { lr, .. } | OptimiserConfig::Nadam { lr, .. } => lr,
        };
        lr * self.lr_scale
    }

    /// Scales the configured learning rate by `scale` from the next step on
    /// (a schedule sets it; it is not part of the saved state).
    pub fn set_lr_scale(&mut self, scale: f32) {
        self.lr_scale = scale;
    }

    /// Sizes of the parameter tensors this optimiser was made for.
    pub fn sizes(&self) -> Vec<usize> {
        self.st.moments.iter().map(|s| s.m.len()).collect()
    }

    /// One update of every parameter tensor from its gradient (same order and
    /// sizes as at construction).
    pub fn step(&mut self, params: &mut [&mut [f32]], grads: &[&[f32]]) {
        self.st.step += 1;
        let t = self.st.step as f64;
        let lr = self.lr();
        match self.config {
            OptimiserConfig::Adam {
                amsgrad,
                betas: (b1, b2),
                eps,
                ..
            } => {
                let bc1 = 1.0 - f64::from(b1).powf(t);
                let bc2 = 1.0 - f64::from(b2).powf(t);
                let step = (f64::from(lr) / bc1) as f32;
                let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
                for ((p, g), st) in params.iter_mut().zip(grads).zip(&mut self.st.moments) {
                    let Moments { m, v, v_max } = st;
                    let has_max = amsgrad && v_max.len() == p.len();
                    for_chunks(p, g, m, v, v_max, &|p, g, m, v, vm| {
                        for i in 0..p.len() {
                            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                            let second = if has_max {
                                vm[i] = vm[i].max(v[i]);
                                vm[i]
                            } else {
                                v[i]
                            };
                            p[i] -= step * m[i] / (second.sqrt() * inv_sqrt_bc2 + eps);
                        }
                    });
                }
            }
            OptimiserConfig::Nadam {
                betas: (b1, b2),
                eps,
                momentum_decay,
                ..
            } => {
                let (b1d, psi) = (f64::from(b1), f64::from(momentum_decay));
                let mu = b1d * (1.0 - 0.5 * 0.96f64.powf(t * psi));
                let mu_next = b1d * (1.0 - 0.5 * 0.96f64.powf((t + 1.0) * psi));
                self.st.mu_product *= mu;
                let bc2 = 1.0 - f64::from(b2).powf(t);
                let lr = f64::from(lr);
                let c_grad = (lr * (1.0 - mu) / (1.0 - self.st.mu_product)) as f32;
                let c_mom = (lr * mu_next / (1.0 - self.st.mu_product * mu_next)) as f32;
                let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
                for ((p, g), st) in params.iter_mut().zip(grads).zip(&mut self.st.moments) {
                    let Moments { m, v, v_max } = st;
                    for_chunks(p, g, m, v, v_max, &|p, g, m, v, _| {
                        for i in 0..p.len() {
                            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                            let denom = v[i].sqrt() * inv_sqrt_bc2 + eps;
                            p[i] -= c_grad * g[i] / denom + c_mom * m[i] / denom;
                        }
                    });
                }
            }
        }
    }
}

/// Elements per parallel chunk of an optimiser update.
const CHUNK: usize = 1 << 14;

/// A per-element update over aligned pieces of (parameters, gradient, m, v,
/// v_max); v_max's piece is empty when the tensor keeps no running maximum.
type ChunkUpdate<'a> = dyn Fn(&mut [f32], &[f32], &mut [f32], &mut [f32], &mut [f32]) + Sync + 'a;

/// Applies `f` to aligned chunks of one tensor, in parallel with `parallel`.
fn for_chunks(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    v_max: &mut [f32],
    f: &ChunkUpdate<'_>,
) {
    let pieces = p.len().div_ceil(CHUNK);
    let mut vms: Vec<&mut [f32]> = if v_max.len() == p.len() {
        v_max.chunks_mut(CHUNK).collect()
    } else {
        Vec::new()
    };
    vms.resize_with(pieces, Default::default);
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(vms)
            .for_each(|((((p, g), m), v), vm)| f(p, g, m, v, vm));
    }
    #[cfg(not(feature = "parallel"))]
    {
        p.chunks_mut(CHUNK)
            .zip(g.chunks(CHUNK))
            .zip(m.chunks_mut(CHUNK))
            .zip(v.chunks_mut(CHUNK))
            .zip(vms)
            .for_each(|((((p, g), m), v), vm)| f(p, g, m, v, vm));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimises a convex quadratic; every optimiser must get close to the optimum.
    fn minimise(cfg: OptimiserConfig, steps: usize) -> Vec<f32> {
        let target = [3.0f32, -2.0, 0.5];
        let mut x = vec![0.0f32; 3];
        let mut opt = Optimiser::new(cfg, &[3]);
        for _ in 0..steps {
            let g: Vec<f32> = x.iter().zip(&target).map(|(a, b)| 2.0 * (a - b)).collect();
            opt.step(&mut [&mut x], &[&g]);
        }
        x.iter().zip(&target).map(|(a, b)| (a - b).abs()).collect()
    }

    #[test]
    fn adam_amsgrad_and_nadam_converge_on_a_quadratic() {
        let adam = OptimiserConfig::Adam {
            lr: 0.05,
            amsgrad: true,
            betas: (0.9, 0.999),
            eps: 1e-8,
        };
        let plain = OptimiserConfig::Adam {
            lr: 0.05,
            amsgrad: false,
            betas: (0.9, 0.999),
            eps: 1e-8,
        };
        let nadam = OptimiserConfig::Nadam {
            lr: 0.05,
            betas: (0.9, 0.999),
            eps: 1e-8,
            momentum_decay: 4e-3,
        };
        for cfg in [adam, plain, nadam] {
            let err = minimise(cfg.clone(), 3000);
            assert!(err.iter().all(|&e| e < 1e-2), "{cfg:?}: {err:?}");
        }
    }

    /// Hand-computed first Adam step: with bias correction the first update is
    /// `lr·sign(g)` (up to eps), whatever the gradient's size.
    #[test]
    fn first_adam_step_is_lr_times_sign() {
        let mut p = vec![1.0f32, 1.0];
        let mut opt = Optimiser::new(OptimiserConfig::default(), &[2]);
        opt.step(&mut [&mut p], &[&[1e-3, -50.0]]);
        assert!((p[0] - 0.99).abs() < 1e-6);
        assert!((p[1] - 1.01).abs() < 1e-6);
    }

    /// AMSGrad keeps the largest second moment: after a big gradient, a small
    /// one moves the parameter less than plain Adam does.
    #[test]
    fn amsgrad_uses_the_running_max() {
        let run = |amsgrad| {
            let mut p = vec![0.0f32];
            let cfg = OptimiserConfig::Adam {
                lr: 0.1,
                amsgrad,
                betas: (0.0, 0.5),
                eps: 1e-8,
            };
            let mut opt = Optimiser::new(cfg, &[1]);
            opt.step(&mut [&mut p], &[&[10.0]]);
            let before = p[0];
            for _ in 0..5 {
                opt.step(&mut [&mut p], &[&[0.01]]);
            }
            (before - p[0]).abs()
        };
        assert!(run(true) < run(false));
    }

    #[test]
    fn validation_rejects_bad_settings() {
        assert!(OptimiserConfig::default().validate().is_ok());
        let bad = OptimiserConfig::Adam {
            lr: -1.0,
            amsgrad: true,
            betas: (0.9, 0.999),
            eps: 1e-8,
        };
        assert!(bad.validate().is_err());
    }

    /// A learning-rate scale scales every update: the first Adam and NAdam
    /// steps (sign-like, `lr` in size) shrink by exactly the scale.
    #[test]
    fn lr_scale_scales_the_step() {
        for cfg in [
            OptimiserConfig::default(),
            OptimiserConfig::Nadam {
                lr: 0.002,
                betas: (0.9, 0.999),
                eps: 1e-8,
                momentum_decay: 4e-3,
            },
        ] {
            let g = [0.5f32, -2.0, 1e-3];
            let step = |scale: f32| {
                let mut x = vec![1.0f32; 3];
                let mut opt = Optimiser::new(cfg.clone(), &[3]);
                opt.set_lr_scale(scale);
                opt.step(&mut [&mut x], &[&g]);
                (x.iter().map(|v| 1.0 - v).collect::<Vec<f32>>(), opt.lr())
            };
            let (full, lr) = step(1.0);
            let (quarter, lr4) = step(0.25);
            assert!((lr4 - lr / 4.0).abs() < 1e-9);
            for (f, q) in full.iter().zip(&quarter) {
                assert!(f.abs() > 1e-4, "{cfg:?}: step {f}");
                assert!((q * 4.0 - f).abs() <= 1e-6 * f.abs().max(1.0), "{f} vs {q}");
            }
        }
    }
}

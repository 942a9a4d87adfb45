//! The synapses between two layers of LIF neurons in a NIR graph.
//!
//! Between two neuron nodes a framework may write any chain of `Linear`,
//! `Affine`, `Conv2d`, `SumPool2d`, `AvgPool2d` and `Flatten` nodes (Sinabs:
//! `SumPool2d → Conv2d`; snnTorch: `AvgPool2d → Flatten → Affine`). The chain
//! is one affine map of the spikes; a core LIF layer has one synapse, dense
//! or convolutional. [`fold`] turns the chain into that synapse, exactly:
//!
//! * a pooling is a convolution whose kernel is `tap` on its own channel
//!   and 0 elsewhere (1 for a sum, `1/(kh·kw)` for an average);
//! * two convolutions are one, with kernel `s₁(k₂ − 1) + k₁`, stride
//!   `s₁s₂` and padding `p₁ + s₁p₂` (per axis), where the second one's zero
//!   padding of the intermediate map is also zero in the composite: where
//!   it is not ([`compose`] checks), the fold is refused;
//! * a chain ending in dense maps is one dense map (`W·A`, formed row by
//!   row through the convolutions' transposes), biases carried through.

use std::fmt::Write as _;

/// One affine map of a chain.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Op {
    /// A convolution (or a pooling).
    Conv(Conv),
    /// A dense map.
    Dense(Dense),
}

/// A 2-D convolution in PyTorch's semantics (cross-correlation, symmetric
/// zero padding), with a bias per output channel.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Conv {
    /// `[channels, height, width]` of the input.
    pub input: [usize; 3],
    /// Output channels.
    pub out_c: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sy, sx]`.
    pub stride: [usize; 2],
    /// `[py, px]`, on both sides.
    pub padding: [usize; 2],
    /// `[out][in][ky][kx]`.
    pub weight: Vec<f64>,
    /// One per output channel.
    pub bias: Vec<f64>,
}

/// Outputs along one axis, `(n + 2p − k)/s + 1` (`None` when the kernel
/// does not fit or a size is zero).
pub(super) fn out_len(n: usize, k: usize, s: usize, p: usize) -> Option<usize> {
    let padded = n.checked_add(p.checked_mul(2)?)?;
    (n > 0 && k > 0 && s > 0 && k <= padded).then(|| (padded - k) / s + 1)
}

impl Conv {
    /// The output shape (`None` for a geometry that does not fit).
    pub fn output(&self) -> Option<[usize; 3]> {
        let [c, h, w] = self.input;
        (c > 0 && self.out_c > 0).then_some(())?;
        Some([
            self.out_c,
            out_len(h, self.kernel[0], self.stride[0], self.padding[0])?,
            out_len(w, self.kernel[1], self.stride[1], self.padding[1])?,
        ])
    }

    /// A pooling of `input` (window `kernel`, `stride`, zero `padding`)
    /// whose taps weigh `tap`, as a convolution.
    pub fn pool(
        input: [usize; 3],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        tap: f64,
    ) -> Self {
        let c = input[0];
        let khw = kernel[0] * kernel[1];
        let mut weight = vec![0.0; c * c * khw];
        for ch in 0..c {
            let at = (ch * c + ch) * khw;
            weight[at..at + khw].fill(tap);
        }
        Self {
            input,
            out_c: c,
            kernel,
            stride,
            padding,
            weight,
            bias: vec![0.0; c],
        }
    }

    /// Visits every `(output index, input index, weight index)` of the
    /// convolution whose input lies inside the (unpadded) input.
    fn taps(&self, mut f: impl FnMut(usize, usize, usize)) {
        let Some([oc, oh, ow]) = self.output() else {
            return;
        };
        let [ic, ih, iw] = self.input;
        let [kh, kw] = self.kernel;
        for o in 0..oc {
            for oy in 0..oh {
                for ox in 0..ow {
                    let out = (o * oh + oy) * ow + ox;
                    for c in 0..ic {
                        for ky in 0..kh {
                            let Some(y) = (oy * self.stride[0] + ky)
                                .checked_sub(self.padding[0])
                                .filter(|&y| y < ih)
                            else {
                                continue;
                            };
                            for kx in 0..kw {
                                let Some(x) = (ox * self.stride[1] + kx)
                                    .checked_sub(self.padding[1])
                                    .filter(|&x| x < iw)
                                else {
                                    continue;
                                };
                                let wi = ((o * ic + c) * kh + ky) * kw + kx;
                                f(out, (c * ih + y) * iw + x, wi);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The convolution of `x` (flatten order), bias included.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        let Some([oc, oh, ow]) = self.output() else {
            return Vec::new();
        };
        let plane = oh * ow;
        let mut y: Vec<f64> = (0..oc * plane).map(|j| self.bias[j / plane]).collect();
        self.taps(|o, i, w| y[o] += self.weight[w] * x[i]);
        y
    }

    /// The transpose of the convolution's linear part applied to `y`.
    fn apply_t(&self, y: &[f64]) -> Vec<f64> {
        let mut x = vec![0.0; self.input.iter().product()];
        self.taps(|o, i, w| x[i] += self.weight[w] * y[o]);
        x
    }

    /// Multiply-adds of one [`Conv::apply`] (saturating).
    fn work(&self) -> usize {
        let out: usize = self.output().map_or(0, |s| s.iter().product());
        out.saturating_mul(self.input[0] * self.kernel[0] * self.kernel[1])
    }
}

/// A dense map `y = W·x + b`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Dense {
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// `[out][in]`.
    pub weight: Vec<f64>,
    /// One per output.
    pub bias: Vec<f64>,
}

impl Dense {
    /// `W·x + b`.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        (0..self.outputs)
            .map(|o| {
                let row = &self.weight[o * self.inputs..(o + 1) * self.inputs];
                self.bias[o] + row.iter().zip(x).map(|(w, x)| w * x).sum::<f64>()
            })
            .collect()
    }
}

/// Largest number of multiply-adds a fold may take (a few seconds).
const MAX_WORK: usize = 20_000_000_000;

/// Folds `ops` (applied in order, at least one; each taking the shape the
/// one before gives) into one synapse. `Err` says why it cannot be exact.
pub(super) fn fold(ops: Vec<Op>) -> Result<Op, String> {
    let mut ops = ops.into_iter().peekable();
    let mut convs = Vec::new();
    while let Some(Op::Conv(c)) = ops.next_if(|op| matches!(op, Op::Conv(_))) {
        convs.push(c);
    }
    let mut dense: Option<Dense> = None;
    for op in ops {
        let Op::Dense(d) = op else {
            return Err("a convolution after a dense map".into());
        };
        dense = Some(match dense {
            None => d,
            Some(a) => dense_after_dense(&a, &d),
        });
    }
    match dense {
        None => {
            let mut it = convs.into_iter();
            let first = it.next().ok_or("no synapse")?;
            it.try_fold(first, |a, b| compose(&a, &b)).map(Op::Conv)
        }
        Some(d) => dense_after_convs(&convs, &d).map(Op::Dense),
    }
}

/// `b ∘ a` of two dense maps.
fn dense_after_dense(a: &Dense, b: &Dense) -> Dense {
    let mut weight = vec![0.0; b.outputs * a.inputs];
    for o in 0..b.outputs {
        for m in 0..a.outputs {
            let w = b.weight[o * b.inputs + m];
            if w != 0.0 {
                let row = &a.weight[m * a.inputs..(m + 1) * a.inputs];
                for (dst, &v) in weight[o * a.inputs..(o + 1) * a.inputs].iter_mut().zip(row) {
                    *dst += w * v;
                }
            }
        }
    }
    Dense {
        inputs: a.inputs,
        outputs: b.outputs,
        weight,
        bias: b.apply(&a.bias),
    }
}

/// `d ∘ convs`: each row of `d` taken back through the convolutions'
/// transposes; the bias is `d` applied to the convolutions' output for no
/// input.
fn dense_after_convs(convs: &[Conv], d: &Dense) -> Result<Dense, String> {
    let Some(first) = convs.first() else {
        return Ok(d.clone());
    };
    let work: usize = convs.iter().map(Conv::work).sum();
    if work.saturating_mul(d.outputs + 1) > MAX_WORK {
        return Err(format!(
            "folding {} convolutions into {} outputs takes over {MAX_WORK} multiply-adds",
            convs.len(),
            d.outputs
        ));
    }
    let inputs: usize = first.input.iter().product();
    let mut weight = Vec::with_capacity(d.outputs * inputs);
    for o in 0..d.outputs {
        let row = d.weight[o * d.inputs..(o + 1) * d.inputs].to_vec();
        let back = convs.iter().rev().fold(row, |y, c| c.apply_t(&y));
        weight.extend(back);
    }
    let zero = convs.iter().fold(vec![0.0; inputs], |x, c| c.apply(&x));
    Ok(Dense {
        inputs,
        outputs: d.outputs,
        weight,
        bias: d.apply(&zero),
    })
}

/// `b ∘ a` of two convolutions as one (see the module docs), or why the
/// composite would differ from the chain.
pub(super) fn compose(a: &Conv, b: &Conv) -> Result<Conv, String> {
    let mid = a
        .output()
        .ok_or("the first convolution does not fit its input")?;
    let out = b
        .output()
        .ok_or("the second convolution does not fit its input")?;
    if b.input != mid {
        return Err(format!(
            "the second convolution takes {:?}, the first gives {mid:?}",
            b.input
        ));
    }
    let mut why = String::new();
    let mut reaches_padding = false;
    let mut axis = |d: usize| -> [usize; 4] {
        let (n, m, o) = (a.input[d + 1], mid[d + 1], out[d + 1]);
        let (ka, sa, pa) = (a.kernel[d], a.stride[d], a.padding[d]);
        let (kb, sb, pb) = (b.kernel[d], b.stride[d], b.padding[d]);
        let k = sa * (kb - 1) + ka;
        let (s, p) = (sa * sb, pa + sa * pb);
        let name = ["height", "width"][d];
        // Intermediate positions the second one reads from its padding:
        // the first one's window there must lie wholly in its own padding.
        if pb > 0 {
            reaches_padding = true;
            if ka > sa + pa {
                let _ = write!(
                    why,
                    "{name}: the first window before the start reaches the data; "
                );
            }
        }
        if sb * (o - 1) + kb - pb > m {
            reaches_padding = true;
            if sa * m < n + pa {
                let _ = write!(
                    why,
                    "{name}: {} of {n} rows/columns are left over by the first and read by the \
                     second through its padding; ",
                    n + pa - sa * m
                );
            }
        }
        if out_len(n, k, s, p) != Some(o) {
            let _ = write!(why, "{name}: the composite gives another size; ");
        }
        [k, s, p, o]
    };
    let [kh, sy, py, _] = axis(0);
    let [kw, sx, px, _] = axis(1);
    if reaches_padding && a.bias.iter().any(|&v| v != 0.0) {
        why.push_str("the first has a bias, which the second's padding does not see; ");
    }
    if !why.is_empty() {
        return Err(format!(
            "cannot fold the two convolutions into one exactly: {}",
            why.trim_end_matches("; ")
        ));
    }
    let (ic, c1, oc) = (a.input[0], a.out_c, b.out_c);
    let mut weight = vec![0.0; oc * ic * kh * kw];
    for o in 0..oc {
        for m in 0..c1 {
            for by in 0..b.kernel[0] {
                for bx in 0..b.kernel[1] {
                    let wb = b.weight[((o * c1 + m) * b.kernel[0] + by) * b.kernel[1] + bx];
                    if wb == 0.0 {
                        continue;
                    }
                    for c in 0..ic {
                        for ay in 0..a.kernel[0] {
                            for ax in 0..a.kernel[1] {
                                let wa =
                                    a.weight[((m * ic + c) * a.kernel[0] + ay) * a.kernel[1] + ax];
                                let (ty, tx) = (a.stride[0] * by + ay, a.stride[1] * bx + ax);
                                weight[((o * ic + c) * kh + ty) * kw + tx] += wb * wa;
                            }
                        }
                    }
                }
            }
        }
    }
    let bias = (0..oc)
        .map(|o| {
            let khw = b.kernel[0] * b.kernel[1];
            b.bias[o]
                + (0..c1)
                    .map(|m| {
                        let at = (o * c1 + m) * khw;
                        a.bias[m] * b.weight[at..at + khw].iter().sum::<f64>()
                    })
                    .sum::<f64>()
        })
        .collect();
    Ok(Conv {
        input: a.input,
        out_c: oc,
        kernel: [kh, kw],
        stride: [sy, sx],
        padding: [py, px],
        weight,
        bias,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn conv(
        rng: &mut ChaCha8Rng,
        input: [usize; 3],
        out_c: usize,
        k: usize,
        s: usize,
        p: usize,
        bias: bool,
    ) -> Conv {
        let n = out_c * input[0] * k * k;
        Conv {
            input,
            out_c,
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p],
            weight: (0..n).map(|_| rng.random_range(-1.0..1.0)).collect(),
            bias: (0..out_c)
                .map(|_| {
                    if bias {
                        rng.random_range(-1.0..1.0)
                    } else {
                        0.0
                    }
                })
                .collect(),
        }
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    /// The folded synapse gives the chain's outputs on random spikes.
    fn same(chain: &[Op], folded: &Op, rng: &mut ChaCha8Rng) {
        let inputs = match &chain[0] {
            Op::Conv(c) => c.input.iter().product(),
            Op::Dense(d) => d.inputs,
        };
        let run = |op: &Op, x: &[f64]| match op {
            Op::Conv(c) => c.apply(x),
            Op::Dense(d) => d.apply(x),
        };
        for _ in 0..20 {
            let x: Vec<f64> = (0..inputs)
                .map(|_| f64::from(u8::from(rng.random_bool(0.3))))
                .collect();
            let want = chain.iter().fold(x.clone(), |x, op| run(op, &x));
            assert!(close(&run(folded, &x), &want));
        }
    }

    #[test]
    fn pooling_then_convolution_folds_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Sinabs' SumPool2d(2) → Conv2d(3, padding 1) on 8 × 8 and an
        // average pooling on an odd side without padding after it.
        for (side, p, tap, bias) in [(8, 1, 1.0, true), (7, 0, 0.25, false), (8, 0, 1.0, true)] {
            let pool = Conv::pool([3, side, side], [2, 2], [2, 2], [0, 0], tap);
            let half = pool.output().unwrap();
            let c = conv(&mut rng, half, 4, 3, 1, p, bias);
            let chain = [Op::Conv(pool), Op::Conv(c)];
            let f = fold(chain.to_vec()).unwrap();
            let Op::Conv(g) = &f else {
                panic!("a convolution")
            };
            assert_eq!(
                (g.kernel, g.stride, g.padding),
                ([6, 6], [2, 2], [2 * p, 2 * p])
            );
            same(&chain, &f, &mut rng);
        }
        // Two convolutions with strides and padding, biases on both.
        let a = conv(&mut rng, [2, 13, 13], 3, 3, 2, 0, true);
        let b = conv(&mut rng, a.output().unwrap(), 2, 3, 2, 0, true);
        let chain = [Op::Conv(a), Op::Conv(b)];
        same(&chain, &fold(chain.to_vec()).unwrap(), &mut rng);
    }

    #[test]
    fn what_would_not_be_exact_is_refused() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        // A pooling of 7 rows leaves one over, which a padded convolution reads.
        let pool = Conv::pool([1, 7, 7], [2, 2], [2, 2], [0, 0], 1.0);
        let c = conv(&mut rng, pool.output().unwrap(), 1, 3, 1, 1, false);
        let err = compose(&pool, &c).unwrap_err();
        assert!(err.contains("left over"), "{err}");
        // A padded first convolution's window before the start reaches the data.
        let a = conv(&mut rng, [1, 8, 8], 2, 3, 1, 0, false);
        let b = conv(&mut rng, a.output().unwrap(), 1, 3, 1, 1, false);
        assert!(compose(&a, &b).unwrap_err().contains("before the start"));
        // A bias seen through padding.
        let a = conv(&mut rng, [1, 8, 8], 1, 2, 2, 0, true);
        let b = conv(&mut rng, a.output().unwrap(), 1, 3, 1, 1, false);
        assert!(compose(&a, &b).unwrap_err().contains("bias"));
    }

    #[test]
    fn chains_ending_in_dense_maps_fold_into_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let pool = Conv::pool([2, 6, 5], [2, 2], [2, 2], [0, 0], 0.25);
        let c = conv(&mut rng, pool.output().unwrap(), 3, 2, 1, 1, true);
        let n = c.output().unwrap().iter().product::<usize>();
        let dense = |rng: &mut ChaCha8Rng, inputs: usize, outputs: usize| Dense {
            inputs,
            outputs,
            weight: (0..inputs * outputs)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect(),
            bias: (0..outputs).map(|_| rng.random_range(-1.0..1.0)).collect(),
        };
        let d1 = dense(&mut rng, n, 7);
        let d2 = dense(&mut rng, 7, 4);
        let chain = [Op::Conv(pool), Op::Conv(c), Op::Dense(d1), Op::Dense(d2)];
        let f = fold(chain.to_vec()).unwrap();
        assert!(matches!(&f, Op::Dense(d) if d.inputs == 60 && d.outputs == 4));
        same(&chain, &f, &mut rng);
    }
}

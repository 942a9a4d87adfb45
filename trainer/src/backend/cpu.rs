//! The CPU backend: the sparse, recursive kernels of [`Network`], with the
//! batch spread over all cores by rayon (feature `parallel`).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{check_batch, Backend, BatchResult, Sample};
use crate::error::Result;
use crate::loss::Loss;
use crate::network::Network;
use crate::spikes::SpikeRaster;

/// Runs on the CPU; one chunk of the batch per thread.
#[derive(Debug, Clone, Default)]
pub struct CpuBackend;

impl CpuBackend {
    /// The CPU backend on rayon's global thread pool.
    pub fn new() -> Self {
        Self
    }
}

/// Number of worker threads.
fn threads() -> usize {
    #[cfg(feature = "parallel")]
    {
        rayon::current_num_threads()
    }
    #[cfg(not(feature = "parallel"))]
    {
        1
    }
}

/// Runs `f` over contiguous chunks of `items` (one per thread) and returns the
/// chunk results in order.
fn chunked<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &[T]) -> R + Sync) -> Vec<R> {
    let size = items.len().div_ceil(threads()).max(1);
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        items
            .par_chunks(size)
            .enumerate()
            .map(|(c, chunk)| f(c * size, chunk))
            .collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        items
            .chunks(size)
            .enumerate()
            .map(|(c, chunk)| f(c * size, chunk))
            .collect()
    }
}

/// Seed of sample `i`'s dropout masks within a batch seeded `seed`.
pub(crate) fn sample_seed(seed: u64, i: usize) -> u64 {
    // SplitMix64 finaliser: distinct, well-mixed seeds per sample.
    let mut z = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        format!("cpu ({} threads)", threads())
    }

    fn infer(&self, net: &Network, inputs: &[&SpikeRaster]) -> Result<Vec<SpikeRaster>> {
        let srm = net.srm();
        let out = chunked(inputs, |_, chunk| {
            chunk
                .iter()
                .map(|x| {
                    net.forward::<ChaCha8Rng>(&srm, x, None)
                        .output()
                        .to_raster()
                })
                .collect::<Vec<_>>()
        });
        Ok(out.into_iter().flatten().collect())
    }

    fn train_batch(
        &self,
        net: &Network,
        batch: &[Sample<'_>],
        loss: &Loss,
        seed: u64,
    ) -> Result<BatchResult> {
        check_batch(net, batch, loss)?;
        let srm = net.srm();
        let parts = chunked(batch, |first, chunk| {
            let mut grads = net.zero_grads();
            let mut total = 0.0;
            let mut outputs = Vec::with_capacity(chunk.len());
            for (i, s) in chunk.iter().enumerate() {
                let mut rng = ChaCha8Rng::seed_from_u64(sample_seed(seed, first + i));
                let trace = net.forward(&srm, s.input, Some(&mut rng));
                let out = trace.output().to_raster();
                let (l, g) = loss.evaluate(&srm, &out, s.target);
                net.backward(&srm, &trace, g, &mut grads);
                total += l;
                outputs.push(out);
            }
            (total, grads, outputs)
        });
        let mut it = parts.into_iter();
        let (mut loss_sum, mut grads, mut outputs) = it
            .next()
            .unwrap_or_else(|| (0.0, net.zero_grads(), Vec::new()));
        for (l, g, o) in it {
            loss_sum += l;
            for (acc, part) in grads.iter_mut().zip(&g) {
                acc.iter_mut().zip(part).for_each(|(a, b)| *a += b);
            }
            outputs.extend(o);
        }
        Ok(BatchResult {
            loss: loss_sum,
            grads,
            outputs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Dense, Dropout};
    use crate::loss::Target;
    use crate::network::Layer;
    use crate::neuron::{KernelMode, RhoParams};
    use slayer_core::NeuronParams;

    /// A batch spread over threads gives the sum of the samples run one by one.
    #[test]
    fn batch_equals_the_sum_of_single_samples() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let net = Network {
            inputs: 40,
            layers: vec![
                Layer::Dense(Dense::init(40, 16, 50.0, &mut rng)),
                Layer::Dropout(Dropout { p: 0.2 }),
                Layer::Dense(Dense::init(16, 4, 50.0, &mut rng)),
            ],
            neuron: NeuronParams::REFERENCE,
            rho: RhoParams::default(),
            kernel: KernelMode::Exact,
            ts: 1.0,
        };
        let samples: Vec<(SpikeRaster, Target)> = (0..7)
            .map(|i| {
                let r = crate::data::poisson_raster(&mut rng, 40, 100, 1.0, 50.0);
                (r, Target::Class(i % 4))
            })
            .collect();
        let loss = Loss::NumSpikes {
            start: 0,
            stop: 100,
            true_count: 20.0,
            false_count: 3.0,
        };
        let batch: Vec<Sample<'_>> = samples
            .iter()
            .map(|(x, t)| Sample {
                input: x,
                target: t,
            })
            .collect();
        let b = CpuBackend::new();
        let all = b.train_batch(&net, &batch, &loss, 42).unwrap();
        let srm = net.srm();
        let mut grads = net.zero_grads();
        let mut total = 0.0;
        for (i, s) in batch.iter().enumerate() {
            let mut r = ChaCha8Rng::seed_from_u64(sample_seed(42, i));
            let trace = net.forward(&srm, s.input, Some(&mut r));
            let out = trace.output().to_raster();
            assert_eq!(out, all.outputs[i], "sample {i}");
            let (l, g) = loss.evaluate(&srm, &out, s.target);
            net.backward(&srm, &trace, g, &mut grads);
            total += l;
        }
        assert!((all.loss - total).abs() < 1e-9 * total.max(1.0));
        for (a, b) in all.grads.iter().flatten().zip(grads.iter().flatten()) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert!(grads.iter().flatten().any(|&g| g != 0.0));
        // And inference agrees with the training outputs when dropout is off.
        let inputs: Vec<&SpikeRaster> = samples.iter().map(|(x, _)| x).collect();
        assert_eq!(b.infer(&net, &inputs).unwrap().len(), 7);
    }

    #[test]
    fn shape_errors_are_reported_not_panics() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let net = Network {
            inputs: 10,
            layers: vec![Layer::Dense(Dense::init(10, 2, 1.0, &mut rng))],
            neuron: NeuronParams::REFERENCE,
            rho: RhoParams::default(),
            kernel: KernelMode::Exact,
            ts: 1.0,
        };
        let x = SpikeRaster::new(20, 9);
        let t = Target::Class(0);
        let batch = [Sample {
            input: &x,
            target: &t,
        }];
        let loss = Loss::NumSpikes {
            start: 0,
            stop: 20,
            true_count: 1.0,
            false_count: 0.0,
        };
        let err = CpuBackend::new()
            .train_batch(&net, &batch, &loss, 0)
            .unwrap_err();
        assert!(err.to_string().contains("9 input channels"), "{err}");
    }
}

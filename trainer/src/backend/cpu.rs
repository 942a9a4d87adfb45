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
fn sample_seed(seed: u64, i: usize) -> u64 {
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

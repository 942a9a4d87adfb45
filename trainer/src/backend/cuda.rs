//! Stand-in for the CUDA backend: this build has no CUDA support, so opening
//! it returns an error (never a panic) and the CPU path is unaffected.

use super::{Backend, BatchResult, Sample};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::network::Network;
use crate::spikes::SpikeRaster;

/// The CUDA backend. Not available in this build.
#[derive(Debug)]
pub struct CudaBackend {
    _private: (),
}

impl CudaBackend {
    /// Always fails: CUDA kernels are not part of this build yet.
    pub fn new(ordinal: usize) -> Result<Self> {
        Err(Error::Device(format!(
            "cuda:{ordinal} requested, but this build of slayer has no CUDA backend; use --device cpu"
        )))
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> String {
        "cuda (unavailable)".into()
    }

    fn infer(&self, _net: &Network, _inputs: &[&SpikeRaster]) -> Result<Vec<SpikeRaster>> {
        Err(Error::Device("no CUDA backend in this build".into()))
    }

    fn train_batch(&self, _: &Network, _: &[Sample<'_>], _: &Loss, _: u64) -> Result<BatchResult> {
        Err(Error::Device("no CUDA backend in this build".into()))
    }
}

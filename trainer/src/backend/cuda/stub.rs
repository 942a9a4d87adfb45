//! Stand-in for the CUDA backend in builds without the `cuda` feature:
//! opening it returns an error (never a panic) and the CPU path is unaffected.

use super::{CudaOptions, MemoryReport};
use crate::backend::{Backend, BatchResult, Sample};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::network::Network;
use crate::spikes::SpikeRaster;

/// The CUDA backend. Not available in this build.
#[derive(Debug)]
pub struct CudaBackend {
    _private: (),
}

fn unavailable() -> Error {
    Error::Device("no CUDA backend in this build (built without the `cuda` feature)".into())
}

impl CudaBackend {
    /// Always fails: this build has no CUDA backend.
    pub fn new(ordinal: usize) -> Result<Self> {
        Self::with_options(ordinal, CudaOptions::default())
    }

    /// Always fails: this build has no CUDA backend.
    pub fn with_options(ordinal: usize, _options: CudaOptions) -> Result<Self> {
        Err(Error::Device(format!(
            "cuda:{ordinal} requested, but this build of slayer has no CUDA backend (rebuild with the `cuda` feature); use --device cpu"
        )))
    }

    /// Never: this build has no CUDA backend.
    pub fn available() -> bool {
        false
    }

    /// The default options.
    pub fn options(&self) -> CudaOptions {
        CudaOptions::default()
    }

    /// Nothing was ever allocated.
    pub fn memory(&self) -> MemoryReport {
        MemoryReport::default()
    }

    /// Nothing to reset.
    pub fn reset_memory_peaks(&self) {}

    /// Always fails: this build has no CUDA backend.
    pub fn resident<'a>(
        &'a self,
        _net: &Network,
        _batch: &[Sample<'_>],
        _loss: &Loss,
        _input_grad: bool,
    ) -> Result<ResidentStep<'a>> {
        Err(unavailable())
    }
}

/// A network and batch resident on the device (never, in this build).
#[derive(Debug)]
pub struct ResidentStep<'a> {
    _backend: &'a CudaBackend,
}

impl ResidentStep<'_> {
    /// Always fails: this build has no CUDA backend.
    pub fn run(&self) -> Result<(f64, f64)> {
        Err(unavailable())
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> String {
        "cuda (unavailable)".into()
    }

    fn infer(&self, _net: &Network, _inputs: &[&SpikeRaster]) -> Result<Vec<SpikeRaster>> {
        Err(unavailable())
    }

    fn train_batch(&self, _: &Network, _: &[Sample<'_>], _: &Loss, _: u64) -> Result<BatchResult> {
        Err(unavailable())
    }
}

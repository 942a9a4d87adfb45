//! Compute backends: where a batch's forward and backward passes run.
//!
//! One small trait at the level of spiking-network operations: a backend
//! runs whole samples through a [`Network`] (inference), or computes a batch's
//! loss and parameter gradients (training). The optimiser step stays with
//! the caller. The CLI picks a backend once from a [`Device`].

mod cpu;
pub mod cuda;

#[cfg(feature = "cuda")]
pub(crate) use cpu::sample_seed;
pub use cpu::CpuBackend;
pub use cuda::{CudaBackend, CudaOptions};

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::loss::{Loss, Target};
use crate::network::Network;
use crate::spikes::SpikeRaster;

/// One training sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// Input spikes, `bins × network inputs`.
    pub input: &'a SpikeRaster,
    /// What the output should be.
    pub target: &'a Target,
}

/// The result of one training batch.
#[derive(Debug, Clone)]
pub struct BatchResult {
    /// Sum of the samples' losses.
    pub loss: f64,
    /// Sum of the samples' parameter gradients, laid out as [`Network::zero_grads`].
    pub grads: Vec<Vec<f32>>,
    /// Output spikes of every sample, in batch order.
    pub outputs: Vec<SpikeRaster>,
}

/// A place where SLAYER's forward and backward passes run.
pub trait Backend: Send + Sync {
    /// Human-readable name (`cpu (2 threads)`, `cuda:0 (NVIDIA H200)`).
    fn name(&self) -> String;

    /// Output spikes of every input, dropout off.
    fn infer(&self, net: &Network, inputs: &[&SpikeRaster]) -> Result<Vec<SpikeRaster>>;

    /// Loss and parameter gradients summed over a batch, dropout on. Dropout
    /// masks are drawn from `seed` and the sample's position in the batch, so
    /// a batch gives the same result on every run.
    fn train_batch(
        &self,
        net: &Network,
        batch: &[Sample<'_>],
        loss: &Loss,
        seed: u64,
    ) -> Result<BatchResult>;
}

/// Which device to run on: `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// All CPU cores, through rayon.
    #[default]
    Cpu,
    /// An NVIDIA GPU by ordinal.
    Cuda(usize),
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            _ => match s.strip_prefix("cuda:") {
                Some(n) => n
                    .parse()
                    .map(Device::Cuda)
                    .map_err(|_| format!("bad device {s:?}: expected cpu, cuda or cuda:N")),
                None => Err(format!(
                    "unknown device {s:?}: expected cpu, cuda or cuda:N"
                )),
            },
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl Device {
    /// Opens the backend for this device (CUDA with the default options).
    pub fn open(self) -> Result<Box<dyn Backend>> {
        self.open_with(CudaOptions::default())
    }

    /// Opens the backend for this device; a CUDA device with `options`.
    pub fn open_with(self, options: CudaOptions) -> Result<Box<dyn Backend>> {
        match self {
            Device::Cpu => Ok(Box::new(CpuBackend::new())),
            Device::Cuda(n) => Ok(Box::new(CudaBackend::with_options(n, options)?)),
        }
    }
}

/// Checks a batch against a network before any work starts.
pub fn check_batch(net: &Network, batch: &[Sample<'_>], loss: &Loss) -> Result<()> {
    let outputs = net.outputs();
    for (i, s) in batch.iter().enumerate() {
        if s.input.neurons() != net.inputs {
            return Err(Error::Shape(format!(
                "sample {i} has {} input channels but the network takes {}",
                s.input.neurons(),
                net.inputs
            )));
        }
        loss.check(s.target, s.input.bins(), outputs)
            .map_err(|m| Error::Shape(format!("sample {i}: {m}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print() {
        assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
        assert_eq!("cuda".parse::<Device>(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:3".parse::<Device>(), Ok(Device::Cuda(3)));
        assert!("cuda:x".parse::<Device>().is_err());
        assert!("tpu".parse::<Device>().is_err());
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
    }

    #[test]
    fn cuda_without_support_is_a_clean_error() {
        // This build has no `cuda` feature (or no driver): an error, never a panic.
        match Device::Cuda(0).open() {
            Err(Error::Device(msg)) => assert!(msg.contains("CUDA"), "{msg}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(b) => eprintln!("a CUDA device is present: {}", b.name()),
        }
    }
}

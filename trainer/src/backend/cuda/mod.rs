//! The CUDA backend: SLAYER's forward and backward passes on an NVIDIA GPU.
//!
//! * cudarc with dynamic loading and bindings pinned to CUDA 13.0: the crate
//!   builds with plain `cargo build` on any machine, and a machine without a
//!   driver gets a clean [`Error::Device`](crate::Error::Device), never a panic.
//! * Kernels are CUDA C (`trainer/kernels/*.cu`) compiled at run time by
//!   NVRTC for the device's own architecture, so every GPU generation works
//!   without a rebuild ([`kernels`] lists them).
//! * Layout `[T, B, N]`: the neuron and loss scans run one thread per
//!   (sample, neuron) walking time, so neighbouring threads read neighbouring
//!   addresses; dense products over all `T·B` rows at once go to cuBLAS
//!   (f32, TF32 or bf16: [`Precision`]), convolution and pooling to direct
//!   kernels that sum as the CPU does.
//! * Same numbers as the CPU backend: filter state in `f64`, kernels compiled
//!   without FMA contraction, the CPU's order of operations, dropout masks
//!   from the same seeded generators. Spikes match exactly; gradients to
//!   rounding (`tests/cuda_parity.rs`, and on machines without a GPU the same
//!   code run through a host emulator of the kernels).
//!
//! Without the `cuda` feature a stand-in of the same name returns an error.

pub mod kernels;

#[cfg(feature = "cuda")]
mod device;
#[cfg(all(test, feature = "cuda"))]
mod emu;
#[cfg(feature = "cuda")]
mod exec;
#[cfg(feature = "cuda")]
pub mod parity;
#[cfg(feature = "cuda")]
mod runner;
#[cfg(not(feature = "cuda"))]
mod stub;

use std::fmt;
use std::str::FromStr;

#[cfg(feature = "cuda")]
pub use device::{
    arch_name, compile, compile_options, cublas_present, driver_present, nvrtc_present,
};
#[cfg(feature = "cuda")]
pub use imp::{CudaBackend, ResidentStep};
#[cfg(not(feature = "cuda"))]
pub use stub::{CudaBackend, ResidentStep};

/// Arithmetic of the dense layers' cuBLAS products (`--precision`). Neuron
/// state is always `f32` tensors with `f64` filter state; convolution and
/// pooling kernels, and the gather kernels, always compute in `f32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// IEEE single precision (the default; what the parity tests check).
    #[default]
    F32,
    /// TF32 tensor cores for the products (10-bit mantissa inputs, f32 sums).
    Tf32,
    /// BF16 tensor cores for the products: operands rounded to bf16 (8-bit
    /// mantissas, nearest even) by a kernel, f32 sums and output.
    Bf16,
}

impl Precision {
    /// Every precision, f32 first.
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::Tf32, Precision::Bf16];

    /// Explicit mantissa bits the products keep of their inputs (f32: 23).
    pub fn mantissa_bits(self) -> u32 {
        match self {
            Precision::F32 => 23,
            Precision::Tf32 => 10,
            Precision::Bf16 => 7,
        }
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" | "fp32" => Ok(Precision::F32),
            "tf32" => Ok(Precision::Tf32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(format!(
                "unknown precision {s:?}: expected f32, tf32 or bf16"
            )),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Tf32 => "tf32",
            Precision::Bf16 => "bf16",
        })
    }
}

/// How dense products are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Products {
    /// cuBLAS when it was found, else the gather kernels.
    #[default]
    Auto,
    /// Always the gather kernels: slower, but the forward pass sums in the
    /// CPU's order, so membrane potentials match the CPU bit for bit.
    Gather,
}

/// Peak memory figures of a device, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryReport {
    /// Most bytes held by the backend's tensors at once (like PyTorch's
    /// `max_memory_allocated`).
    pub tensors_peak: usize,
    /// Most device memory in use (`total − free` from `cuMemGetInfo`) seen
    /// during the passes, minus `baseline`.
    pub device_peak: usize,
    /// Device memory in use when the backend was opened (CUDA context,
    /// kernel modules, cuBLAS), including other processes'.
    pub baseline: usize,
    /// The device's memory.
    pub total: usize,
}

/// Options of the CUDA backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CudaOptions {
    /// Arithmetic of the dense products.
    pub precision: Precision,
    /// cuBLAS or the gather kernels.
    pub products: Products,
}

#[cfg(feature = "cuda")]
mod imp {
    use std::sync::Mutex;
    use std::time::Instant;

    use super::device::CudaExec;
    use super::runner::{self, Resident};
    use super::{CudaOptions, MemoryReport};
    use crate::backend::{Backend, BatchResult, Sample};
    use crate::error::{Error, Result};
    use crate::loss::Loss;
    use crate::network::Network;
    use crate::spikes::SpikeRaster;

    /// The CUDA backend on one device.
    pub struct CudaBackend {
        exec: CudaExec,
        options: CudaOptions,
        /// One batch at a time on the device's stream.
        lock: Mutex<()>,
    }

    impl std::fmt::Debug for CudaBackend {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("CudaBackend")
                .field("device", &self.exec.name)
                .field("options", &self.options)
                .finish()
        }
    }

    impl CudaBackend {
        /// Opens device `ordinal` with the default options (f32 products).
        pub fn new(ordinal: usize) -> Result<Self> {
            Self::with_options(ordinal, CudaOptions::default())
        }

        /// Opens device `ordinal`. Fails with [`Error::Device`] when there
        /// is no driver, no such device, or the kernels cannot be compiled.
        pub fn with_options(ordinal: usize, options: CudaOptions) -> Result<Self> {
            // cudarc panics on a few unexpected driver states; turn any such
            // panic into an error as well.
            let exec = std::panic::catch_unwind(|| CudaExec::new(ordinal, options.precision))
                .map_err(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| {
                            p.downcast_ref::<&str>()
                                .map(std::string::ToString::to_string)
                        })
                        .unwrap_or_default();
                    Error::Device(format!("cuda:{ordinal}: CUDA initialisation failed: {msg}"))
                })??;
            Ok(Self {
                exec,
                options,
                lock: Mutex::new(()),
            })
        }

        /// Whether a CUDA driver and at least one device are present.
        pub fn available() -> bool {
            super::device::driver_present()
                && std::panic::catch_unwind(|| {
                    cudarc::driver::CudaContext::device_count().is_ok_and(|n| n > 0)
                })
                .unwrap_or(false)
        }

        /// The options this backend was opened with.
        pub fn options(&self) -> CudaOptions {
            self.options
        }

        /// Peak memory since the last [`CudaBackend::reset_memory_peaks`].
        pub fn memory(&self) -> MemoryReport {
            self.exec.memory()
        }

        /// Restarts peak-memory tracking.
        pub fn reset_memory_peaks(&self) {
            self.exec.reset_peaks();
        }

        /// Uploads a network and a batch once, for timing forward + backward
        /// passes without host transfers (the benchmarks). With
        /// `input_grad`, the backward pass also computes the gradient at the
        /// network's input.
        pub fn resident<'a>(
            &'a self,
            net: &Network,
            batch: &[Sample<'_>],
            loss: &Loss,
            input_grad: bool,
        ) -> Result<ResidentStep<'a>> {
            Ok(ResidentStep {
                inner: Resident::new(
                    &self.exec,
                    net,
                    batch,
                    loss,
                    self.options.products,
                    input_grad,
                )?,
                backend: self,
            })
        }

        fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
            self.lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }

    /// A network and batch resident on the device (see [`CudaBackend::resident`]).
    pub struct ResidentStep<'a> {
        inner: Resident<'a, CudaExec>,
        backend: &'a CudaBackend,
    }

    impl ResidentStep<'_> {
        /// One forward + loss + backward pass; returns the batch loss and the
        /// wall time in seconds (the step ends with a device synchronisation).
        pub fn run(&self) -> Result<(f64, f64)> {
            let _g = self.backend.guard();
            let t0 = Instant::now();
            let loss = self.inner.run()?;
            self.backend.exec.synchronize()?;
            Ok((loss, t0.elapsed().as_secs_f64()))
        }
    }

    impl Backend for CudaBackend {
        fn name(&self) -> String {
            self.exec.name.clone()
        }

        fn infer(&self, net: &Network, inputs: &[&SpikeRaster]) -> Result<Vec<SpikeRaster>> {
            let _g = self.guard();
            runner::infer(&self.exec, net, inputs, self.options.products)
        }

        fn train_batch(
            &self,
            net: &Network,
            batch: &[Sample<'_>],
            loss: &Loss,
            seed: u64,
        ) -> Result<BatchResult> {
            let _g = self.guard();
            runner::train_batch(&self.exec, net, batch, loss, seed, self.options.products)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_parses() {
        assert_eq!("tf32".parse::<Precision>(), Ok(Precision::Tf32));
        assert_eq!("f32".parse::<Precision>(), Ok(Precision::F32));
        assert_eq!("bf16".parse::<Precision>(), Ok(Precision::Bf16));
        assert_eq!(Precision::Bf16.to_string(), "bf16");
        assert!("bf17".parse::<Precision>().is_err());
        assert_eq!(Precision::Tf32.to_string(), "tf32");
    }

    /// Without a driver (or without the feature) opening fails cleanly.
    #[test]
    fn opening_without_a_gpu_is_an_error_not_a_panic() {
        match CudaBackend::new(0) {
            Err(crate::Error::Device(msg)) => assert!(msg.contains("CUDA"), "{msg}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => eprintln!("a CUDA device is present"),
        }
    }
}

//! What the network code of [`super::runner`] needs from a device: buffers,
//! kernel launches and matrix products. The GPU implements it with cudarc
//! ([`super::device::CudaExec`]); the tests implement it on the host by
//! compiling the same kernel sources with the system C++ compiler, so the
//! whole CUDA code path runs against the CPU backend on machines without a GPU.

use super::kernels::{Kernel, Param};
use crate::error::{Error, Result};

/// An element type of device buffers.
pub(crate) trait Elem:
    cudarc::driver::DeviceRepr
    + cudarc::driver::ValidAsZeroBits
    + Copy
    + Default
    + Send
    + Sync
    + Unpin
    + std::fmt::Debug
    + 'static
{
}

impl Elem for f32 {}
impl Elem for f64 {}
impl Elem for i32 {}
impl Elem for u16 {}

/// One kernel argument. Buffers are borrowed (mutably when the kernel writes
/// them), scalars by value; [`check_args`] compares them with the kernel's
/// signature before every launch.
pub(crate) enum Arg<'a, E: Exec + ?Sized> {
    /// A `float*` the kernel only reads.
    F32(&'a E::Buf<f32>),
    /// A `float*` the kernel writes.
    F32Mut(&'a mut E::Buf<f32>),
    /// A `double*` the kernel writes.
    F64Mut(&'a mut E::Buf<f64>),
    /// An `int*` the kernel only reads.
    I32(&'a E::Buf<i32>),
    /// An `int*` the kernel writes.
    I32Mut(&'a mut E::Buf<i32>),
    /// An `unsigned short*` the kernel writes (raw bf16 values).
    U16Mut(&'a mut E::Buf<u16>),
    /// `int`.
    Int(i32),
    /// `long long`.
    Long(i64),
    /// `float`.
    Float(f32),
    /// `double`.
    Double(f64),
}

impl<E: Exec + ?Sized> Arg<'_, E> {
    /// The C type this argument passes.
    pub fn param(&self) -> Param {
        match self {
            Arg::F32(_) | Arg::F32Mut(_) => Param::F32Ptr,
            Arg::F64Mut(_) => Param::F64Ptr,
            Arg::I32(_) | Arg::I32Mut(_) => Param::I32Ptr,
            Arg::U16Mut(_) => Param::U16Ptr,
            Arg::Int(_) => Param::Int,
            Arg::Long(_) => Param::Long,
            Arg::Float(_) => Param::Float,
            Arg::Double(_) => Param::Double,
        }
    }
}

/// Fails unless `args` match the kernel's parameters in number and type.
pub(crate) fn check_args<E: Exec + ?Sized>(k: Kernel, args: &[Arg<'_, E>]) -> Result<()> {
    let want = k.params();
    let got: Vec<Param> = args.iter().map(Arg::param).collect();
    if want != got {
        return Err(Error::Device(format!(
            "kernel {} takes {want:?}, launched with {got:?}",
            k.name()
        )));
    }
    Ok(())
}

/// A launch grid: `blocks.0 × blocks.1` blocks of `threads` threads (1-D blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    /// Blocks along x and y.
    pub blocks: (u32, u32),
    /// Threads per block (x).
    pub threads: u32,
}

/// Most blocks along y.
const MAX_GRID_Y: usize = 65_535;

impl Grid {
    /// One thread per item of `n`, in blocks of `threads`.
    pub fn linear(n: usize, threads: u32) -> Result<Self> {
        let blocks = n.div_ceil(threads as usize).max(1);
        let blocks = u32::try_from(blocks)
            .map_err(|_| Error::Device(format!("{n} threads do not fit one launch")))?;
        Ok(Self {
            blocks: (blocks, 1),
            threads,
        })
    }

    /// One thread per column for the neuron and loss scans.
    pub fn columns(n: usize) -> Result<Self> {
        Self::linear(n, 128)
    }

    /// One thread per element.
    pub fn elements(n: usize) -> Result<Self> {
        Self::linear(n, 256)
    }

    /// Threads over `n` along x, block rows over `rows` along y (kernels loop
    /// over rows beyond the grid).
    pub fn rows(n: usize, rows: usize) -> Result<Self> {
        let mut g = Self::linear(n, 128)?;
        g.blocks.1 = rows.clamp(1, MAX_GRID_Y) as u32;
        Ok(g)
    }
}

/// A cuBLAS-style single-precision product in column-major terms:
/// `C = alpha·op(A)·op(B) + beta·C` with `op(A)` `m × k`, `op(B)` `k × n`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Gemm {
    /// `op(A) = Aᵀ`.
    pub trans_a: bool,
    /// `op(B) = Bᵀ`.
    pub trans_b: bool,
    /// Rows of `op(A)` and `C`.
    pub m: usize,
    /// Columns of `op(B)` and `C`.
    pub n: usize,
    /// The summed dimension.
    pub k: usize,
    /// Leading dimension of `A`.
    pub lda: usize,
    /// Leading dimension of `B`.
    pub ldb: usize,
    /// Leading dimension of `C`.
    pub ldc: usize,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of the old `C`.
    pub beta: f32,
}

/// A device the network code runs on.
pub(crate) trait Exec {
    /// A buffer of `T` in device memory.
    type Buf<T: Elem>;

    /// A zeroed buffer of `len` elements.
    fn alloc<T: Elem>(&self, len: usize) -> Result<Self::Buf<T>>;
    /// A buffer holding `data`.
    fn upload<T: Elem>(&self, data: &[T]) -> Result<Self::Buf<T>>;
    /// The first `len` elements of `buf`.
    fn download<T: Elem>(&self, buf: &Self::Buf<T>, len: usize) -> Result<Vec<T>>;
    /// Number of elements of `buf`.
    fn len<T: Elem>(&self, buf: &Self::Buf<T>) -> usize;
    /// A copy of `buf`.
    fn duplicate(&self, buf: &Self::Buf<f32>) -> Result<Self::Buf<f32>>;
    /// Runs kernel `k` over `grid` (the arguments were checked by the caller
    /// with [`check_args`]).
    fn launch(&self, k: Kernel, grid: Grid, args: &mut [Arg<'_, Self>]) -> Result<()>;
    /// Whether [`Exec::gemm`] is available (cuBLAS was found).
    fn has_gemm(&self) -> bool;
    /// `C = alpha·op(A)·op(B) + beta·C` (cuBLAS semantics, column-major).
    fn gemm(
        &self,
        g: &Gemm,
        a: &Self::Buf<f32>,
        b: &Self::Buf<f32>,
        c: &mut Self::Buf<f32>,
    ) -> Result<()>;
    /// Notes the memory in use now (peak tracking); a no-op by default.
    fn mark_memory(&self) {}
}

/// Launches `k` after checking its arguments against the signature table.
pub(crate) fn launch<E: Exec + ?Sized>(
    e: &E,
    k: Kernel,
    grid: Grid,
    args: &mut [Arg<'_, E>],
) -> Result<()> {
    check_args(k, args)?;
    e.launch(k, grid, args)
}

//! The GPU side of [`Exec`]: a cudarc context and stream, the kernel modules
//! compiled by NVRTC for the device's architecture, and cuBLAS.
//!
//! Every CUDA library is loaded at run time (cudarc's dynamic loading), so a
//! missing driver, NVRTC or cuBLAS is an error message or a fallback, never a
//! link failure or a panic:
//!
//! * no `libcuda`: [`CudaExec::new`] fails with "no CUDA driver found";
//! * no `libnvrtc`: PTX is read from `$SLAYER_PTX_DIR/<module>.ptx` when that
//!   is set (`scripts/gpu-build.sh` writes it), else an error names the library;
//! * no `libcublas`: dense products run on the gather kernels.

// The workspace denies `unsafe_code`; cudarc launches kernels through `unsafe` calls (raw argument lists).
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::cublas::{CudaBlas, Gemm as _, GemmConfig};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{CompileOptions, Ptx};

use super::exec::{Arg, Elem, Exec, Gemm, Grid};
use super::kernels::{Kernel, Module};
use super::{MemoryReport, Precision};
use crate::error::{Error, Result};

fn device_err(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Device(format!("{what}: {e:?}"))
}

/// Whether `libcuda` can be loaded.
pub fn driver_present() -> bool {
    // SAFETY: only tries to open the shared library by its usual names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Whether `libnvrtc` can be loaded.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the shared library by its usual names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Whether `libcublas` can be loaded.
pub fn cublas_present() -> bool {
    // SAFETY: only tries to open the shared library by its usual names.
    unsafe { cudarc::cublas::sys::is_culib_present() }
}

/// NVRTC's name for a compute capability (`sm_90`).
pub fn arch_name(major: i32, minor: i32) -> &'static str {
    static NAMES: OnceLock<Mutex<HashMap<(i32, i32), &'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    names
        .entry((major, minor))
        // One short string per architecture seen, for the life of the process.
        .or_insert_with(|| Box::leak(format!("sm_{major}{minor}").into_boxed_str()))
}

/// NVRTC options of every module: the architecture, and no fused
/// multiply-add contraction, so the kernels round like the CPU code.
pub fn compile_options(arch: &'static str) -> CompileOptions {
    CompileOptions {
        arch: Some(arch),
        fmad: Some(false),
        name: None,
        ..Default::default()
    }
}

/// Compiles one module for `arch` (`sm_90`) with NVRTC and returns the PTX
/// text (errors carry NVRTC's log). Needs `libnvrtc` ([`nvrtc_present`]).
pub fn compile(module: Module, arch: &'static str) -> Result<String> {
    if !nvrtc_present() {
        return Err(Error::Device("no NVRTC found (libnvrtc.so)".into()));
    }
    let mut opts = compile_options(arch);
    opts.name = Some(module.file().to_string());
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(module.source(), opts).map_err(|e| match e {
        cudarc::nvrtc::CompileError::CompileError { log, .. } => Error::Device(format!(
            "NVRTC could not compile {} for {arch}:\n{}",
            module.file(),
            log.to_string_lossy()
        )),
        e => device_err(&format!("NVRTC on {}", module.file()), e),
    })?;
    Ok(ptx.to_src())
}

/// PTX text of `module` for `arch`, compiled once per process by NVRTC.
fn nvrtc_ptx(module: Module, arch: &'static str) -> Result<String> {
    static CACHE: OnceLock<Mutex<HashMap<(&'static str, Module), String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&(arch, module))
    {
        return Ok(p.clone());
    }
    let text = compile(module, arch)?;
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert((arch, module), text.clone());
    Ok(text)
}

/// Prebuilt PTX of `module` from `$SLAYER_PTX_DIR` (`scripts/gpu-build.sh`
/// writes `sm_80/` and `sm_90/` there), if that is set: the device's own
/// architecture when it was built, else `sm_80` (which every GPU from the
/// A100 on runs). Returns the text and the file it came from.
fn prebuilt_ptx(module: Module, arch: &'static str) -> Option<Result<(String, String)>> {
    let dir = std::path::PathBuf::from(std::env::var_os("SLAYER_PTX_DIR")?);
    let file = module.file().replace(".cu", ".ptx");
    let path = [dir.join(arch).join(&file), dir.join("sm_80").join(&file)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| dir.join("sm_80").join(&file));
    Some(
        std::fs::read_to_string(&path)
            .map(|t| (t, path.display().to_string()))
            .map_err(|e| Error::Device(format!("{}: {e}", path.display()))),
    )
}

/// Whether `$SLAYER_PTX_ONLY` asks for the prebuilt PTX even where NVRTC
/// is found (the GPU check tests that path this way).
fn ptx_only() -> bool {
    std::env::var("SLAYER_PTX_ONLY").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Loads `module` into `ctx`: NVRTC's PTX for the device's architecture,
/// else (no NVRTC, a PTX version newer than the driver takes, or
/// `$SLAYER_PTX_ONLY`) the prebuilt PTX of `$SLAYER_PTX_DIR`. Returns the
/// module and where its code came from.
fn load_module(
    ctx: &Arc<CudaContext>,
    module: Module,
    arch: &'static str,
) -> Result<(Arc<CudaModule>, String)> {
    let load = |text: String, from: &str| {
        ctx.load_module(Ptx::from_src(text))
            .map_err(|e| device_err(&format!("loading {} ({from})", module.file()), e))
    };
    let first = if ptx_only() {
        Err(Error::Device("SLAYER_PTX_ONLY is set".into()))
    } else if nvrtc_present() {
        nvrtc_ptx(module, arch).and_then(|t| load(t, &format!("NVRTC, {arch}")))
    } else {
        Err(Error::Device(
            "no NVRTC found (libnvrtc.so): install the CUDA toolkit or `pip install nvidia-cuda-nvrtc` and put its lib folder on LD_LIBRARY_PATH, or set SLAYER_PTX_DIR to prebuilt PTX".into(),
        ))
    };
    match (first, prebuilt_ptx(module, arch)) {
        (Ok(m), _) => Ok((m, format!("NVRTC {arch}"))),
        (Err(e), None) => Err(e),
        (Err(e), Some(text)) => text
            .and_then(|(t, path)| load(t, &path).map(|m| (m, format!("prebuilt PTX {path}"))))
            .map_err(|e2| Error::Device(format!("{e}; and {e2}"))),
    }
}

/// Lets the device's stream-ordered memory pool keep freed memory instead of
/// returning it to the driver at every synchronisation: each batch
/// allocates the same sizes again (a caching allocator, like PyTorch's).
/// Best effort: on failure allocations simply go to the driver each time.
fn keep_pool_memory(ctx: &CudaContext) {
    use cudarc::driver::sys;
    if !ctx.has_async_alloc() {
        return;
    }
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    let mut threshold = u64::MAX;
    // SAFETY: plain driver calls on the live device of `ctx`; `pool` and
    // `threshold` outlive the calls, and the attribute takes a u64.
    unsafe {
        if sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device())
            .result()
            .is_ok()
        {
            let _ = sys::cuMemPoolSetAttribute(
                pool,
                sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut threshold as *mut u64).cast(),
            )
            .result();
        }
    }
}

/// A device buffer that counts its bytes while it lives.
pub(crate) struct DevBuf<T> {
    slice: CudaSlice<T>,
    live: Arc<AtomicUsize>,
    bytes: usize,
}

impl<T> Drop for DevBuf<T> {
    fn drop(&mut self) {
        self.live.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A CUDA device ready to run the backend's kernels.
pub(crate) struct CudaExec {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: Option<CudaBlas>,
    precision: Precision,
    functions: HashMap<Kernel, CudaFunction>,
    live: Arc<AtomicUsize>,
    tensors_peak: AtomicUsize,
    device_peak: AtomicUsize,
    baseline: usize,
    total: usize,
    /// `cuda:0 (NVIDIA H200, sm_90, cuBLAS f32)`.
    pub name: String,
}

impl CudaExec {
    /// Opens device `ordinal`: driver check, context, kernels, cuBLAS.
    pub fn new(ordinal: usize, precision: Precision) -> Result<Self> {
        if !driver_present() {
            return Err(Error::Device(format!(
                "cuda:{ordinal}: no CUDA driver found (libcuda.so); use --device cpu"
            )));
        }
        let count = CudaContext::device_count().map_err(|e| device_err("cuInit", e))?;
        if ordinal >= count.max(0) as usize {
            return Err(Error::Device(format!(
                "cuda:{ordinal}: this machine has {count} CUDA device(s)"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| device_err("CUDA context", e))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| device_err("compute capability", e))?;
        let arch = arch_name(major, minor);
        // SAFETY: all work (kernels, copies, cuBLAS, frees) goes to the one
        // stream below, which orders it; cudarc's per-buffer events, meant
        // for several streams, would only add two driver calls per argument
        // of every launch.
        unsafe { ctx.disable_event_tracking() };
        keep_pool_memory(&ctx);
        let stream = ctx.default_stream();
        let mut functions = HashMap::new();
        // Where the kernels' code came from, for the backend's name.
        let mut sources: Vec<String> = Vec::new();
        for m in Module::ALL {
            let (module, from) = load_module(&ctx, m, arch)?;
            let from = if from.starts_with("prebuilt") {
                "prebuilt PTX".to_string()
            } else {
                from
            };
            if !sources.contains(&from) {
                sources.push(from);
            }
            for k in m.kernels() {
                let f = module
                    .load_function(k.name())
                    .map_err(|e| device_err(&format!("kernel {}", k.name()), e))?;
                functions.insert(k, f);
            }
        }
        let blas = if cublas_present() {
            let b = CudaBlas::new(stream.clone()).map_err(|e| device_err("cuBLAS", e))?;
            // bf16 is asked per product (its compute type, see `gemm`).
            let mode = match precision {
                Precision::F32 | Precision::Bf16 => {
                    cudarc::cublas::sys::cublasMath_t::CUBLAS_DEFAULT_MATH
                }
                Precision::Tf32 => cudarc::cublas::sys::cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH,
            };
            // SAFETY: sets a mode on the live handle `b` owns.
            unsafe { cudarc::cublas::sys::cublasSetMathMode(*b.handle(), mode) }
                .result()
                .map_err(|e| device_err("cuBLAS math mode", e))?;
            Some(b)
        } else {
            None
        };
        let gpu = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        let (free, total) = ctx
            .mem_get_info()
            .map_err(|e| device_err("cuMemGetInfo", e))?;
        let products = match (&blas, precision) {
            (Some(_), Precision::F32) => "cuBLAS f32",
            (Some(_), Precision::Tf32) => "cuBLAS tf32",
            (Some(_), Precision::Bf16) => "cuBLAS bf16",
            (None, _) => "no cuBLAS: gather kernels",
        };
        Ok(Self {
            name: format!(
                "cuda:{ordinal} ({gpu}, {arch}, {products}, kernels: {})",
                sources.join(" + ")
            ),
            ctx,
            stream,
            blas,
            precision,
            functions,
            live: Arc::new(AtomicUsize::new(0)),
            tensors_peak: AtomicUsize::new(0),
            device_peak: AtomicUsize::new(0),
            baseline: total - free,
            total,
        })
    }

    /// Peak memory since the last [`CudaExec::reset_peaks`].
    pub fn memory(&self) -> MemoryReport {
        MemoryReport {
            tensors_peak: self.tensors_peak.load(Ordering::Relaxed),
            device_peak: self.device_peak.load(Ordering::Relaxed),
            baseline: self.baseline,
            total: self.total,
        }
    }

    /// Restarts peak tracking.
    pub fn reset_peaks(&self) {
        self.tensors_peak
            .store(self.live.load(Ordering::Relaxed), Ordering::Relaxed);
        self.device_peak.store(0, Ordering::Relaxed);
    }

    /// Waits for all queued work.
    pub fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(|e| device_err("synchronize", e))
    }

    fn wrap<T>(&self, slice: CudaSlice<T>) -> DevBuf<T> {
        let bytes = slice.num_bytes();
        let now = self.live.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.tensors_peak.fetch_max(now, Ordering::Relaxed);
        DevBuf {
            slice,
            live: self.live.clone(),
            bytes,
        }
    }
}

impl CudaExec {
    /// `buf` rounded to bf16 (nearest, ties to even) in a new buffer of raw
    /// bf16 values (the `to_bf16` kernel).
    fn to_bf16(&self, buf: &DevBuf<f32>) -> Result<DevBuf<u16>> {
        let n = buf.slice.len();
        let mut out = self.alloc::<u16>(n)?;
        super::exec::launch(
            self,
            Kernel::ToBf16,
            Grid::elements(n)?,
            &mut [Arg::F32(buf), Arg::U16Mut(&mut out), Arg::Long(n as i64)],
        )?;
        Ok(out)
    }

    /// The product of `gemm` with bf16 tensor-core arithmetic: A and B
    /// rounded to bf16 (`to_bf16`, into buffers freed after the product),
    /// then `cublasGemmEx` with bf16 inputs, f32 output and f32 sums
    /// (`CUBLAS_COMPUTE_32F`).
    fn gemm_bf16(
        &self,
        cfg: &GemmConfig<f32>,
        a: &DevBuf<f32>,
        b: &DevBuf<f32>,
        c: &mut DevBuf<f32>,
    ) -> Result<()> {
        use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cudaDataType_t};
        use cudarc::driver::{DevicePtr, DevicePtrMut};
        let blas = self
            .blas
            .as_ref()
            .ok_or_else(|| Error::Device("no cuBLAS".into()))?;
        let (a16, b16) = (self.to_bf16(a)?, self.to_bf16(b)?);
        self.mark_memory();
        let (pa, _ra) = a16.slice.device_ptr(&self.stream);
        let (pb, _rb) = b16.slice.device_ptr(&self.stream);
        let (pc, _rc) = c.slice.device_ptr_mut(&self.stream);
        // SAFETY: as for the f32 product: the bf16 copies have the f32
        // buffers' lengths, so the runner's dimensions and leading
        // dimensions (checked by the emulator) hold for them; C is a live
        // f32 buffer; alpha and beta are host f32 values, as
        // CUBLAS_COMPUTE_32F takes. The copies outlive the call, which is
        // ordered on the one stream before their frees.
        unsafe {
            cudarc::cublas::result::gemm_ex(
                *blas.handle(),
                cfg.transa,
                cfg.transb,
                cfg.m,
                cfg.n,
                cfg.k,
                (&cfg.alpha as *const f32).cast(),
                pa as *const _,
                cudaDataType_t::CUDA_R_16BF,
                cfg.lda,
                pb as *const _,
                cudaDataType_t::CUDA_R_16BF,
                cfg.ldb,
                (&cfg.beta as *const f32).cast(),
                pc as *mut _,
                cudaDataType_t::CUDA_R_32F,
                cfg.ldc,
                cublasComputeType_t::CUBLAS_COMPUTE_32F,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|e| device_err("cuBLAS gemm (bf16)", e))
    }
}

impl Exec for CudaExec {
    type Buf<T: Elem> = DevBuf<T>;

    fn alloc<T: Elem>(&self, len: usize) -> Result<DevBuf<T>> {
        let s = self
            .stream
            .alloc_zeros::<T>(len.max(1))
            .map_err(|e| device_err(&format!("allocating {len} elements"), e))?;
        Ok(self.wrap(s))
    }

    fn upload<T: Elem>(&self, data: &[T]) -> Result<DevBuf<T>> {
        if data.is_empty() {
            return self.alloc(1);
        }
        let s = self
            .stream
            .clone_htod(data)
            .map_err(|e| device_err("upload", e))?;
        Ok(self.wrap(s))
    }

    fn download<T: Elem>(&self, buf: &DevBuf<T>, len: usize) -> Result<Vec<T>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        self.stream
            .clone_dtoh(&buf.slice.slice(..len.min(buf.slice.len())))
            .map_err(|e| device_err("download", e))
    }

    fn len<T: Elem>(&self, buf: &DevBuf<T>) -> usize {
        buf.slice.len()
    }

    fn duplicate(&self, buf: &DevBuf<f32>) -> Result<DevBuf<f32>> {
        let s = self
            .stream
            .clone_dtod(&buf.slice)
            .map_err(|e| device_err("device copy", e))?;
        Ok(self.wrap(s))
    }

    fn launch(&self, k: Kernel, grid: Grid, args: &mut [Arg<'_, Self>]) -> Result<()> {
        let f = self
            .functions
            .get(&k)
            .ok_or_else(|| Error::Device(format!("kernel {} not loaded", k.name())))?;
        let mut b = self.stream.launch_builder(f);
        for a in args.iter_mut() {
            match a {
                Arg::F32(s) => b.arg(&s.slice),
                Arg::F32Mut(s) => b.arg(&mut s.slice),
                Arg::F64Mut(s) => b.arg(&mut s.slice),
                Arg::I32(s) => b.arg(&s.slice),
                Arg::I32Mut(s) => b.arg(&mut s.slice),
                Arg::U16Mut(s) => b.arg(&mut s.slice),
                Arg::Int(v) => b.arg(&*v),
                Arg::Long(v) => b.arg(&*v),
                Arg::Float(v) => b.arg(&*v),
                Arg::Double(v) => b.arg(&*v),
            };
        }
        let cfg = LaunchConfig {
            grid_dim: (grid.blocks.0, grid.blocks.1, 1),
            block_dim: (grid.threads, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the arguments were checked against the kernel's signature
        // (exec::launch → check_args, the table itself checked against the
        // .cu sources by a test), every buffer is a live allocation of the
        // size the runner computed for the grid, and kernels guard their
        // indices against the sizes passed.
        unsafe { b.launch(cfg) }.map_err(|e| device_err(&format!("launching {}", k.name()), e))?;
        Ok(())
    }

    fn has_gemm(&self) -> bool {
        self.blas.is_some()
    }

    fn gemm(&self, g: &Gemm, a: &DevBuf<f32>, b: &DevBuf<f32>, c: &mut DevBuf<f32>) -> Result<()> {
        let blas = self
            .blas
            .as_ref()
            .ok_or_else(|| Error::Device("no cuBLAS".into()))?;
        let op = |t: bool| {
            if t {
                cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let int = |v: usize| {
            i32::try_from(v).map_err(|_| Error::Device(format!("GEMM dimension {v} over 2^31")))
        };
        let cfg = GemmConfig {
            transa: op(g.trans_a),
            transb: op(g.trans_b),
            m: int(g.m)?,
            n: int(g.n)?,
            k: int(g.k)?,
            alpha: g.alpha,
            lda: int(g.lda)?,
            ldb: int(g.ldb)?,
            beta: g.beta,
            ldc: int(g.ldc)?,
        };
        if self.precision == Precision::Bf16 {
            return self.gemm_bf16(&cfg, a, b, c);
        }
        // SAFETY: the runner sizes A, B and C for these dimensions and
        // leading dimensions (the host emulator checks every access of the
        // same calls in the tests).
        unsafe { blas.gemm(cfg, &a.slice, &b.slice, &mut c.slice) }
            .map_err(|e| device_err("cuBLAS sgemm", e))
    }

    fn mark_memory(&self) {
        if let Ok((free, total)) = self.ctx.mem_get_info() {
            let used = (total - free).saturating_sub(self.baseline);
            self.device_peak.fetch_max(used, Ordering::Relaxed);
        }
    }
}

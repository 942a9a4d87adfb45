//! Every CUDA kernel source compiles to PTX with NVRTC, for `sm_80` (A100)
//! and `sm_90` (H100/H200), with the options the backend uses at run time.
//!
//! Needs `libnvrtc` on the library path (`pip install nvidia-cuda-nvrtc`
//! provides it; `.ci/run` installs it). Without it the test says it was
//! skipped, unless `SLAYER_REQUIRE_NVRTC=1` (as in CI), where that fails.
//! With `SLAYER_PTX_OUT=DIR`, the PTX is written there as
//! `<arch>/<module>.ptx` (what `scripts/gpu-build.sh` ships for machines
//! without NVRTC).
#![cfg(feature = "cuda")]

use slayer_trainer::backend::cuda::kernels::Module;
use slayer_trainer::backend::cuda::{compile, nvrtc_present};

fn required() -> bool {
    std::env::var("SLAYER_REQUIRE_NVRTC").is_ok_and(|v| !v.is_empty() && v != "0")
}

#[test]
fn every_kernel_compiles_to_ptx_for_sm80_and_sm90() {
    if !nvrtc_present() {
        let path = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
        assert!(
            !required(),
            "SLAYER_REQUIRE_NVRTC is set but libnvrtc.so was not found (LD_LIBRARY_PATH={path:?})"
        );
        eprintln!("skipped: libnvrtc not found (pip install nvidia-cuda-nvrtc, put its lib folder on LD_LIBRARY_PATH)");
        return;
    }
    let out = std::env::var_os("SLAYER_PTX_OUT").map(std::path::PathBuf::from);
    let mut compiled = 0;
    for arch in ["sm_80", "sm_90"] {
        for m in Module::ALL {
            let ptx = compile(m, arch).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                ptx.contains(&format!(".target {arch}")),
                "{}: PTX not for {arch}",
                m.file()
            );
            for k in m.kernels() {
                assert!(
                    ptx.contains(&format!(".entry {}(", k.name())),
                    "{}: no entry point {} in the PTX for {arch}",
                    m.file(),
                    k.name()
                );
                compiled += 1;
            }
            if let Some(dir) = &out {
                let dir = dir.join(arch);
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join(m.file().replace(".cu", ".ptx"));
                std::fs::write(&path, &ptx).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
    eprintln!(
        "NVRTC compiled {compiled} kernel entry points ({} per architecture)",
        compiled / 2
    );
}

/// A broken source is reported with NVRTC's log, not a panic.
#[test]
fn compile_errors_carry_the_nvrtc_log() {
    if !nvrtc_present() {
        eprintln!("skipped: libnvrtc not found");
        return;
    }
    let opts = slayer_trainer::backend::cuda::compile_options("sm_90");
    let err = cudarc_compile(
        "extern \"C\" __global__ void broken() { undefined_name = 1; }",
        opts,
    );
    assert!(err.contains("undefined_name"), "{err}");
}

fn cudarc_compile(src: &str, opts: cudarc::nvrtc::CompileOptions) -> String {
    match cudarc::nvrtc::compile_ptx_with_opts(src, opts) {
        Ok(_) => "compiled".into(),
        Err(cudarc::nvrtc::CompileError::CompileError { log, .. }) => {
            log.to_string_lossy().into_owned()
        }
        Err(e) => format!("{e:?}"),
    }
}

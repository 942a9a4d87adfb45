#!/usr/bin/env bash
# Builds, on a machine with Rust, everything scripts/gpu-check.sh runs on a GPU
# machine without Rust, into gpu-bin/ (ignored by git; carry it to the GPU
# machine, 64 MiB at most):
#
#   gpu-bin/slayer                  release CLI (benchmarks)
#   gpu-bin/tests/cuda_parity       CUDA-vs-CPU parity tests
#   gpu-bin/tests/cuda_kernels      NVRTC compile test (on the GPU machine's NVRTC)
#   gpu-bin/ptx/*.ptx               sm_80 PTX, for a GPU machine without NVRTC
#   gpu-bin/data/snnData/           the gold network's files (parity test)
#
# Needs NVRTC here for the PTX (pip install nvidia-cuda-nvrtc; see .ci/run);
# without it the PTX is skipped and the GPU machine must have NVRTC.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=gpu-bin
LIMIT=$((64 * 1024 * 1024))
# A separate target folder: no debug info and stripped symbols keep the
# binaries small without disturbing the usual release build.
export CARGO_TARGET_DIR="${GPU_BUILD_TARGET_DIR:-target/gpu-build}"
export CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols
export CARGO_PROFILE_BENCH_DEBUG=0 CARGO_PROFILE_BENCH_STRIP=symbols

rm -rf "$OUT"
mkdir -p "$OUT/tests" "$OUT/ptx" "$OUT/data"

cargo build --release --locked -p slayer-trainer --bin slayer
cp "$CARGO_TARGET_DIR/release/slayer" "$OUT/slayer"

# `cargo test --no-run` names each test executable: "Executable tests/x.rs (path)".
log=$(cargo test --release --locked -p slayer-trainer --test cuda_parity --test cuda_kernels --no-run 2>&1)
echo "$log" | tail -3
for t in cuda_parity cuda_kernels; do
  exe=$(echo "$log" | sed -n "s|.*Executable tests/$t.rs (\(.*\))|\1|p" | tail -1)
  if [ -z "$exe" ] || [ ! -x "$exe" ]; then
    echo "gpu-build: no executable for tests/$t.rs in cargo's output" >&2
    exit 1
  fi
  cp "$exe" "$OUT/tests/$t"
done

# sm_80 PTX (runs on every GPU from the A100 on), written by the NVRTC test.
ptx_log=$(SLAYER_PTX_OUT="$PWD/$OUT/ptx" "$OUT/tests/cuda_kernels" --nocapture 2>&1 || true)
if [[ "$ptx_log" == *"NVRTC compiled"* ]]; then
  echo "gpu-build: wrote $(ls "$OUT/ptx" | wc -l) PTX modules"
else
  echo "gpu-build: no NVRTC here, so no fallback PTX (the GPU machine's NVRTC must be found)"
fi

gold=../shared/data/slayer-reference/snnData
if [ -d "$gold" ]; then
  cp -r "$gold" "$OUT/data/snnData"
else
  echo "gpu-build: $gold not found: the gold parity test will fail on the GPU machine" >&2
fi

size=$(du -sb "$OUT" | cut -f1)
echo "gpu-build: $OUT is $((size / 1024 / 1024)) MiB"
ls -la "$OUT" "$OUT/tests"
if [ "$size" -gt "$LIMIT" ]; then
  echo "gpu-build: $OUT is over the 64 MiB a run can carry" >&2
  exit 1
fi

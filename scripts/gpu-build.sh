#!/usr/bin/env bash
# Builds, on a machine with Rust, everything scripts/gpu-check.sh runs on a GPU
# machine without Rust, into gpu-bin/ (ignored by git; carry it to the GPU
# machine, 64 MiB at most):
#
#   gpu-bin/slayer                  release CLI (benchmarks)
#   gpu-bin/tests/cuda_parity       CUDA-vs-CPU parity tests
#   gpu-bin/tests/cuda_kernels      NVRTC compile test (on the GPU machine's NVRTC)
#   gpu-bin/ptx/sm_{80,90}/*.ptx    PTX, for a GPU machine without NVRTC
#   gpu-bin/data/snnData/           the gold network's files (parity test)
#   gpu-bin/data/nmnist-300/        300 N-MNIST samples (the real training run)
#   gpu-bin/wheels/                 snnTorch, Norse, lava-dl (+ lava-nc, nir,
#                                   nirtorch) for Python 3.12, no dependencies:
#                                   the GPU machine has PyTorch but no internet
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

# sm_80 (every GPU from the A100 on) and sm_90 PTX, written by the NVRTC test.
ptx_log=$(SLAYER_PTX_OUT="$PWD/$OUT/ptx" "$OUT/tests/cuda_kernels" --nocapture 2>&1 || true)
if [[ "$ptx_log" == *"NVRTC compiled"* ]]; then
  echo "gpu-build: wrote $(find "$OUT/ptx" -name '*.ptx' | wc -l) PTX modules (sm_80, sm_90)"
else
  echo "gpu-build: no NVRTC here, so no fallback PTX (the GPU machine's NVRTC must be found)"
fi

nmnist=../shared/data/nmnist-small
if [ -d "$nmnist" ]; then
  mkdir -p "$OUT/data/nmnist-300"
  head -301 "$nmnist/train1K.txt" >"$OUT/data/nmnist-300/train1K.txt"
  tail -n +2 "$OUT/data/nmnist-300/train1K.txt" | while read -r id _; do
    cp "$nmnist/$id.bs2" "$OUT/data/nmnist-300/"
  done
else
  echo "gpu-build: $nmnist not found: the real training run will fail on the GPU machine" >&2
fi

# The peers' wheels, cached in target/peer-wheels (PyPI is reachable here, not there).
WHEELS=target/peer-wheels
if [ ! -f "$WHEELS/.complete" ]; then
  rm -rf "$WHEELS" && mkdir -p "$WHEELS"
  plat=(--only-binary=:all: --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any)
  python3 -m pip download -q --no-deps "${plat[@]}" --python-version 3.12 -d "$WHEELS" \
    snntorch==1.0.0 nir==1.0.8 nirtorch==2.6
  # lava-dl and lava-nc declare Python < 3.11 (installed there with
  # --ignore-requires-python); lava-dl's wheel carries 99 MB of tests and
  # trained YOLO weights, dropped here so that it fits a device call.
  python3 -m pip download -q --no-deps "${plat[@]}" --python-version 3.10 -d "$WHEELS" \
    lava-dl==0.6.0 lava-nc==0.10.0
  python3 scripts/trim_wheel.py "$WHEELS"/lava_dl-0.6.0-py3-none-any.whl 'tests/' '/object_detection/models/Trained_'
  # Norse 1.1.0 is published as a source distribution only (pure Python).
  python3 -m pip wheel -q --no-deps -w "$WHEELS" norse==1.1.0
  touch "$WHEELS/.complete"
fi
mkdir -p "$OUT/wheels"
cp "$WHEELS"/*.whl "$OUT/wheels/"

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

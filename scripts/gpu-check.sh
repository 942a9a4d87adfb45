#!/usr/bin/env bash
# The GPU check of the CUDA backend (issue 5), for a GPU machine without Rust:
# run scripts/gpu-build.sh on a machine with Rust first, carry gpu-bin/ over,
# then `bash scripts/gpu-check.sh` from the repository root. Finishes in
# well under 8 minutes on an H200:
#
#   1. where libcuda, libnvrtc and libcublas are found (and the GPU);
#   2. NVRTC compiles every kernel for sm_80 and sm_90 on this machine;
#   3. CUDA-vs-CPU parity: gold network, random dense + delay networks,
#      the N-MNIST shape, TF32 against f32;
#   4. benchmarks: N-MNIST MLP training (batch 32) on cuda and cpu; the
#      public SNN-library benchmark shape (dense n → n + spiking layer,
#      batch 16, 500 bins, forward + backward) at n = 4,096 and 16,384 with
#      peak GPU memory, f32 and tf32, and the CPU on the same cases;
#   5. a table of the benchmark figures, last.
#
# Everything printed is also written to $OUT (when set) or gpu-check-out/.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${GPU_BIN:-gpu-bin}
OUTDIR=${OUT:-gpu-check-out}
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu-check.log"
JSON="$OUTDIR/bench.jsonl"
: > "$JSON"
exec > >(tee "$LOG") 2>&1
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start ))s; }
status=0

if [ ! -x "$BIN/slayer" ]; then
  echo "gpu-check: $BIN/slayer not found: run scripts/gpu-build.sh on a machine with Rust and carry $BIN" >&2
  exit 1
fi

echo "== 1. GPU and CUDA libraries"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: not found"
LIBDIRS=""
add_dir() {
  [ -d "$1" ] || return 0
  case ":$LIBDIRS:" in *":$1:"*) ;; *) LIBDIRS="${LIBDIRS:+$LIBDIRS:}$1" ;; esac
}
for lib in libcuda.so libnvrtc.so libcublas.so; do
  echo "-- $lib"
  ldconfig -p 2>/dev/null | grep -E "$lib" | head -3 || true
  for d in /usr/local/cuda*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    for f in "$d"/$lib*; do [ -e "$f" ] && { echo "   $f"; add_dir "$d"; }; done
  done 2>/dev/null
done
# NVIDIA's pip wheels (PyTorch's dependencies): nvidia/<pkg>/lib and nvidia/cu13/lib.
pyroots=$(python3 - <<'PY' 2>/dev/null
import importlib.util, os
spec = importlib.util.find_spec("nvidia")
if spec and spec.submodule_search_locations:
    for root in spec.submodule_search_locations:
        print(root)
try:
    import torch
    print(os.path.join(os.path.dirname(torch.__file__), "lib"))
    print("torch", torch.__version__, "cuda", torch.version.cuda, file=__import__("sys").stderr)
except Exception as e:
    print("torch: not importable:", e, file=__import__("sys").stderr)
PY
)
for root in $pyroots; do
  for d in "$root" "$root"/*/lib; do
    for f in "$d"/libnvrtc.so* "$d"/libcublas.so*; do
      [ -e "$f" ] && { echo "   (pip) $f"; add_dir "$d"; }
    done
  done
done
export LD_LIBRARY_PATH="$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
if [ -d "$BIN/ptx" ] && [ -n "$(ls "$BIN/ptx" 2>/dev/null)" ]; then
  export SLAYER_PTX_DIR="$PWD/$BIN/ptx"   # used only when no NVRTC is found
fi
export SLAYER_GOLD_DIR="$PWD/$BIN/data/snnData"

run() { # name timeout command...
  local name=$1 t=$2; shift 2
  echo "== $name ($(elapsed))"
  timeout "$t" "$@"
  local rc=$?
  [ $rc -ne 0 ] && { echo "!! $name failed (exit $rc)"; status=1; }
  return 0
}

echo "== 2. NVRTC compiles every kernel here"
run "cuda_kernels" 120 "$BIN/tests/cuda_kernels" --nocapture --test-threads=1

echo "== 3. CUDA vs CPU parity"
run "cuda_parity" 240 "$BIN/tests/cuda_parity" --nocapture --test-threads=1

echo "== 4. Benchmarks"
bench() { # timeout args...
  local t=$1; shift
  echo "-- slayer bench $*  ($(elapsed))"
  local out
  out=$(timeout "$t" "$BIN/slayer" bench --json "$@" 2>&1)
  local rc=$?
  echo "$out" | grep -v '^{'
  if [ $rc -eq 0 ]; then
    echo "$out" | grep '^{' >> "$JSON"
  else
    echo "!! bench $* failed (exit $rc$([ $rc -eq 124 ] && echo ": over ${t} s"))"
    echo "{\"failed\": \"$*\", \"exit\": $rc}" >> "$JSON"
    # A CUDA benchmark that fails is a failed check; a slow CPU one is not.
    case "$*" in *"--device cuda"*) status=1 ;; esac
  fi
}
bench 60 --device cuda --case nmnist-mlp-32 --seconds 5
bench 60 --device cpu --case nmnist-mlp-32 --seconds 5
for p in f32 tf32; do
  bench 60 --device cuda --case snn-4096 --precision $p --seconds 3
  bench 90 --device cuda --case snn-16384 --precision $p --seconds 5
done
bench 90 --device cuda --case snn-16384 --precision tf32 --input-grad --seconds 5
bench 90 --device cpu --case snn-4096 --seconds 1
bench 150 --device cpu --case snn-16384 --seconds 1

echo "== 5. Table ($(elapsed))"
python3 - "$JSON" <<'PY' | tee "$OUTDIR/table.md"
import json, sys
rows = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    d = json.loads(line)
    if "failed" in d:
        rows.append(("FAILED: " + d["failed"], "", "", "", "", "", ""))
        continue
    for r in d.get("rows", []):
        rows.append((r["name"], d["device"], r["shape"], str(r["batch"]),
                     "train step", f'{r["batch"] / r["train_samples_per_s"]:.4f}',
                     f'{r["train_samples_per_s"]:.1f}', "-"))
    for r in d.get("fwd_bwd", []):
        mem = "-"
        if r.get("tensors_peak_bytes") is not None:
            mem = f'{r["tensors_peak_bytes"] / 1e9:.2f} / {r["device_peak_bytes"] / 1e9:.2f}'
        rows.append((r["name"], r["device"], r["shape"], str(r["batch"]),
                     "fwd+bwd (" + ("full" if r["input_grad"] else "weights") + ")",
                     f'{r["seconds_per_iter"]:.4f}', f'{r["samples_per_s"]:.1f}', mem))
print("| case | device | shape | batch | what | s/iter | samples/s | peak GB (tensors / device) |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    r = list(r) + [""] * (8 - len(r))
    print("| " + " | ".join(r) + " |")
PY
echo "gpu-check: done in $(elapsed), status $status"
exit $status

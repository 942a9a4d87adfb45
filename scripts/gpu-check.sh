#!/usr/bin/env bash
# The GPU check of the CUDA backend (issue 12), for a GPU machine without Rust.
# On a machine with Rust: `bash scripts/gpu-build.sh` (writes gpu-bin/, with
# the binaries, fallback PTX, the data the check reads and the peers' wheels);
# then on the GPU machine, from the repository root:
#
#   bash scripts/gpu-check.sh            (carry: gpu-bin)
#
# Strict: it exits non-zero when no GPU, no NVRTC or no cuBLAS is found, when
# a parity test fails or is skipped, or when one of our CUDA steps fails. A
# peer framework that cannot run is reported with its error (not a failure
# of our check). One overall time limit ($GPU_CHECK_LIMIT seconds, default
# 320); every step's figure is printed as it finishes and the table last, so
# a run cut short still returns what it measured. Steps:
#
#   1. the GPU, libcuda, libnvrtc, libcublas (and which PTX path is used);
#   2. NVRTC compiles every kernel for sm_80 and sm_90 here;
#   3. CUDA-vs-CPU parity (gold network, random dense + delay, conv + pool,
#      f32 / tf32 / bf16 against f32), SLAYER_REQUIRE_GPU=1;
#   4. our benchmarks: N-MNIST MLP (batch 32) and DVS Gesture CNN (batch 16)
#      training on cuda and on this machine's CPU; the public SNN-library
#      shape (dense n -> n + spiking layer, batch 16, 500 bins, forward +
#      backward) at n = 4,096 and 16,384 per precision, with peak memory;
#   5. a real run: `slayer train nmnist_cnn.toml` for two epochs on 300
#      N-MNIST samples, cuda and cpu, accuracy side by side, and the cuda
#      checkpoint through `slayer eval` on both devices;
#   6. the peers (snnTorch, Norse, lava-dl) on the same shapes and GPU;
#   7. the table.
#
# Everything printed is also written to $OUT (when set) or gpu-check-out/.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${GPU_BIN:-gpu-bin}
OUTDIR=${OUT:-gpu-check-out}
LIMIT=${GPU_CHECK_LIMIT:-320}
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu-check.log"
JSON="$OUTDIR/bench.jsonl"
: > "$JSON"
exec > >(tee "$LOG") 2>&1
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start))s; }
left() { echo $((LIMIT - ($(date +%s) - start))); }
status=0
fail() { echo "!! FAIL: $*"; status=1; }

if [ ! -x "$BIN/slayer" ]; then
  echo "gpu-check: $BIN/slayer not found: run scripts/gpu-build.sh on a machine with Rust and carry $BIN" >&2
  exit 1
fi

# Runs "$@" with at most `t` seconds, never past the overall limit.
# Prints the step's time; a step that fails or times out fails the check
# unless `soft` is given.
step() { # name t soft|hard command...
  local name=$1 t=$2 mode=$3
  shift 3
  local rest
  rest=$(left)
  if [ "$rest" -le 5 ]; then
    echo "!! $name: not run, the ${LIMIT} s limit is spent"
    [ "$mode" = hard ] && status=1
    return 1
  fi
  [ "$t" -gt "$rest" ] && t=$rest
  local s0
  s0=$(date +%s)
  timeout "$t" "$@"
  local rc=$?
  echo "-- $name: exit $rc in $(($(date +%s) - s0)) s (at $(elapsed))"
  if [ $rc -ne 0 ]; then
    if [ "$mode" = hard ]; then
      fail "$name (exit $rc$([ $rc -eq 124 ] && echo ", over $t s"))"
    else
      echo "   $name: exit $rc (reported, not a failure of this check)"
    fi
    return 1
  fi
  return 0
}

echo "== 1. GPU and CUDA libraries ($(elapsed))"
if command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; then
  :
else
  fail "no GPU (nvidia-smi found none)"
fi
LIBDIRS=""
add_dir() {
  [ -d "$1" ] || return 0
  case ":$LIBDIRS:" in *":$1:"*) ;; *) LIBDIRS="${LIBDIRS:+$LIBDIRS:}$1" ;; esac
}
for d in /usr/local/cuda*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu /usr/local/nvidia/lib64; do
  for f in "$d"/libnvrtc.so* "$d"/libcublas.so* "$d"/libcuda.so*; do [ -e "$f" ] && add_dir "$d"; done
done 2>/dev/null
# NVIDIA's pip wheels (PyTorch's dependencies): nvidia/<pkg>/lib and nvidia/cu13/lib.
pyroots=$(python3 -c '
import importlib.util
s = importlib.util.find_spec("nvidia")
print("\n".join(s.submodule_search_locations) if s and s.submodule_search_locations else "")
' 2>/dev/null)
for root in $pyroots; do
  for d in "$root" "$root"/*/lib; do
    for f in "$d"/libnvrtc.so* "$d"/libcublas.so*; do [ -e "$f" ] && add_dir "$d"; done
  done
done
export LD_LIBRARY_PATH="$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
found() { # library name: the first file found on LD_LIBRARY_PATH or by ldconfig
  local lib=$1 d
  for d in ${LD_LIBRARY_PATH//:/ }; do
    for f in "$d"/$lib.so*; do [ -e "$f" ] && { echo "$f"; return 0; }; done
  done
  ldconfig -p 2>/dev/null | grep -o "/.*$lib\.so[.0-9]*" | head -1 | grep .
}
for lib in libcuda libnvrtc libcublas; do
  if f=$(found $lib); then
    echo "$lib: $f"
  else
    fail "$lib not found"
  fi
done
if [ -d "$BIN/ptx" ] && [ -n "$(ls "$BIN/ptx" 2>/dev/null)" ]; then
  export SLAYER_PTX_DIR="$PWD/$BIN/ptx" # read only when NVRTC cannot be used
fi
if found libnvrtc >/dev/null; then
  echo "kernels: compiled here by NVRTC for this GPU (prebuilt PTX only as a fallback)"
elif [ -n "${SLAYER_PTX_DIR:-}" ]; then
  echo "kernels: prebuilt sm_80 PTX from $SLAYER_PTX_DIR (no NVRTC here)"
fi
export SLAYER_GOLD_DIR="$PWD/$BIN/data/snnData"
export SLAYER_REQUIRE_GPU=1 SLAYER_REQUIRE_NVRTC=1
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())' 2>&1 | tail -1

# The peers' wheels, installed now so that lava-dl's CUDA extension (a JIT
# compile of minutes) builds in the background while our steps run.
PEERS="$BIN/wheels"
PEERS_OK=0
if [ -d "$PEERS" ] && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --ignore-requires-python --upgrade --target /tmp/peers "$PEERS"/*.whl >/dev/null 2>&1; then
  PEERS_OK=1
  export PYTHONPATH=/tmp/peers${PYTHONPATH:+:$PYTHONPATH}
  export TORCH_EXTENSIONS_DIR=/tmp/torch-ext MAX_JOBS=2
  timeout $((LIMIT - 30)) python3 scripts/peer_bench.py --framework lava-dl --case snn-4096 --compile-only \
    >/tmp/lava-compile.log 2>&1 &
  LAVA_COMPILE=$!
fi

echo "== 2. NVRTC compiles every kernel here ($(elapsed))"
step cuda_kernels 60 hard "$BIN/tests/cuda_kernels" --nocapture --test-threads=1

echo "== 3. CUDA vs CPU parity ($(elapsed))"
plog="$OUTDIR/parity.log"
step cuda_parity 120 hard "$BIN/tests/cuda_parity" --nocapture --test-threads=4 > "$plog" 2>&1
grep -E "^parity|^precision|test result|panicked|FAILED|skipped" "$plog"
if grep -q "skipped" "$plog"; then fail "a parity test was skipped"; fi
if ! grep -q "test result: ok" "$plog"; then fail "cuda_parity did not pass"; fi
# The fallback: the same gold-network parity on the PTX built with the NVRTC
# wheel on the build machine, NVRTC here not used.
if [ -n "${SLAYER_PTX_DIR:-}" ]; then
  step "parity on the prebuilt PTX" 60 hard env SLAYER_PTX_ONLY=1 \
    "$BIN/tests/cuda_parity" cuda_matches_cpu_on_the_gold_network --nocapture >"$OUTDIR/ptx.log" 2>&1
  grep -E "^parity .*gold|test result|panicked" "$OUTDIR/ptx.log" | head -3
  grep -q "kernels: prebuilt PTX" "$OUTDIR/ptx.log" || fail "the prebuilt-PTX run did not use the prebuilt PTX"
  rm -f "$OUTDIR/ptx.log"
else
  fail "no prebuilt PTX in $BIN/ptx (scripts/gpu-build.sh writes it where the NVRTC wheel is installed)"
fi

echo "== 4. Our benchmarks ($(elapsed))"
bench() { # timeout args...
  local t=$1
  shift
  local out
  out=$(step "slayer bench $*" "$t" soft "$BIN/slayer" bench --json "$@" 2>&1)
  local rc=$?
  echo "$out" | grep -v '^{'
  if [ $rc -eq 0 ]; then
    echo "$out" | grep '^{' >>"$JSON"
  else
    echo "{\"failed\": \"$*\"}" >>"$JSON"
    case "$*" in *"--device cuda"*) fail "slayer bench $*" ;; esac
  fi
}
bench 40 --device cuda --case nmnist-mlp-32 --seconds 3
bench 60 --device cuda --case dvs-cnn-16 --seconds 4
for p in f32 tf32 bf16; do
  bench 40 --device cuda --case snn-4096 --precision $p --seconds 2
  bench 60 --device cuda --case snn-16384 --precision $p --seconds 3
done
bench 40 --device cpu --case nmnist-mlp-32 --seconds 3
bench 60 --device cpu --case dvs-cnn-16 --seconds 1
bench 40 --device cpu --case snn-4096 --seconds 1

echo "== 5. A real run: nmnist_cnn, two epochs on 300 samples, cuda and cpu ($(elapsed))"
for dev in cuda cpu; do
  rlog="$OUTDIR/real-run-$dev.log"
  step "train nmnist_cnn --device $dev" 90 "$([ $dev = cuda ] && echo hard || echo soft)" \
    "$BIN/slayer" train trainer/configs/nmnist_cnn.toml --data "$BIN/data/nmnist-300" \
    --epochs 2 --device $dev --quiet --json --out "/tmp/run-$dev" >"$rlog" 2>&1
  tail -3 "$rlog"
  line=$(grep '^{' "$rlog" | tail -1)
  [ -n "$line" ] && echo "{\"real_run\": \"$dev\", \"result\": $line}" >>"$JSON"
  [ -f "/tmp/run-$dev/metrics.csv" ] && cp "/tmp/run-$dev/metrics.csv" "$OUTDIR/real-run-$dev.csv" &&
    cat "$OUTDIR/real-run-$dev.csv"
done
# The cuda run's checkpoint evaluated on both devices (slayer eval --device).
for dev in cuda cpu; do
  out=$(step "eval --device $dev" 40 "$([ $dev = cuda ] && echo hard || echo soft)" \
    "$BIN/slayer" eval /tmp/run-cuda/checkpoint.slyc --data "$BIN/data/nmnist-300" --device $dev --json 2>&1)
  line=$(echo "$out" | grep '^{' | tail -1)
  echo "$out" | grep -v '^{' | tail -3
  [ -n "$line" ] && echo "{\"real_run\": \"eval on $dev\", \"result\": $(echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({k: d[k] for k in ("accuracy", "samples", "loss") if k in d}))')}" >>"$JSON"
  [ $dev = cuda ] && [ -z "$line" ] && fail "slayer eval --device cuda gave no result"
done


echo "== 6. Peers on the same GPU ($(elapsed))"
if [ "$PEERS_OK" = 1 ]; then
  cases="nmnist-mlp-32 dvs-cnn-16 snn-4096 snn-16384"
  for fw in snntorch norse lava-dl; do
    t=60
    if [ $fw = lava-dl ]; then
      # Its extension was compiling since step 1: wait for that first.
      wait "$LAVA_COMPILE" 2>/dev/null
      tail -1 /tmp/lava-compile.log
      t=90
    fi
    plines="$OUTDIR/peer-$fw.jsonl"
    step "peer $fw" $t soft python3 scripts/peer_bench.py --framework $fw --case $cases --seconds 2 \
      >"$plines" 2>"$OUTDIR/peer.err"
    tail -2 "$OUTDIR/peer.err"
    cat "$plines"
    for c in $cases; do
      if ! grep -q "\"case\": \"$c\"" "$plines"; then
        echo "{\"peer\": \"$fw\", \"case\": \"$c\", \"error\": \"no result (killed at the time limit, or the process died)\"}" >>"$plines"
      fi
    done
    cat "$plines" >>"$JSON"
    rm -f "$plines"
  done
  rm -f "$OUTDIR/peer.err"
else
  echo "!! peers: wheels not found or not installable from $PEERS (reported, not a failure)"
  echo '{"peer": "all", "case": "-", "error": "wheels not installable"}' >>"$JSON"
fi

echo "== 7. Table ($(elapsed))"
python3 scripts/gpu_table.py "$JSON" | tee "$OUTDIR/table.md"
echo "gpu-check: done in $(elapsed), status $status"
exit $status

#!/usr/bin/env bash
# Fuzzes every input parser (issue 15) with cargo-fuzz (libFuzzer), seeded
# with the data kit's real files and generated seeds, and prints the table
# docs/benchmarks.md carries: target, runs, edges, result.
#
#   scripts/fuzz-parsers.sh [SECONDS] [TARGET...]   (default 600 s each, every target)
#
# Needs `cargo install cargo-fuzz` and a nightly toolchain. Each target runs
# with an allocation bound: libFuzzer's -malloc_limit_mb=512 fails the run on
# any single allocation over 512 MiB and -rss_limit_mb=2048 on a process over
# 2 GiB (an absurd size field must not allocate gigabytes); -timeout=10 fails
# any input that takes over 10 s (a hang). JOBS targets run at a time
# (default 2). Logs and crash inputs: fuzz/artifacts/, fuzz/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-600}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(config checkpoint bs1 bs2 idx wav evt2 evt3 parse_aedat31 stream_aedat31 parse_aedat4 stream_aedat4)
fi
JOBS=${JOBS:-2}
DATA=../shared/data
CORPUS=fuzz/corpus
LOGS=fuzz/logs
mkdir -p "$LOGS"

cargo +nightly fuzz build -O
cargo +nightly run -q --manifest-path fuzz/Cargo.toml --example seeds >/dev/null

# Real files from the data kit (the first 64 KiB of large ones).
seed() { # target file...
  local t=$1
  shift
  mkdir -p "$CORPUS/$t"
  for f in "$@"; do
    [ -f "$f" ] && head -c 65536 "$f" >"$CORPUS/$t/$(basename "$f")"
  done
}
seed config trainer/configs/*.toml
seed bs2 "$DATA"/nmnist-small/1.bs2 "$DATA"/nmnist-small/2.bs2 "$DATA"/event-fixtures/tonic_sample_nmnist.bin \
  "$DATA"/dvs-gesture/*.bs2
seed bs1 "$DATA"/slayer-reference/oxford/*.bs1 "$DATA"/event-fixtures/NTIDIGITS_1.bs1
seed idx "$DATA"/mnist/*
seed wav $(ls "$DATA"/fsdd/recordings/*.wav | head -8)
seed parse_aedat31 "$DATA"/dvs-gesture/aedat31/slayer10_concat.aedat
seed stream_aedat31 "$DATA"/dvs-gesture/aedat31/slayer10_concat.aedat
seed parse_aedat4 "$DATA"/event-fixtures/tonic_sample.aedat4
seed stream_aedat4 "$DATA"/event-fixtures/tonic_sample.aedat4

run() { # target
  local t=$1 log="$LOGS/$1.log"
  cargo +nightly fuzz run -O "$t" "$CORPUS/$t" -- \
    -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
    -malloc_limit_mb=512 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  echo $? >"$LOGS/$t.rc"
}

running=0
for t in "${TARGETS[@]}"; do
  run "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

echo "| target | seconds | runs | edges (cov) | features (ft) | result |"
echo "|---|---|---|---|---|---|"
for t in "${TARGETS[@]}"; do
  log="$LOGS/$t.log"
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
  cov=$(grep -oE '(DONE|pulse|NEW|REDUCE) +cov: [0-9]+' "$log" | awk '{print $NF}' | tail -1)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | awk '{print $2}' | tail -1)
  rc=$(cat "$LOGS/$t.rc" 2>/dev/null || echo "?")
  if [ "$rc" = 0 ]; then result="no crash"; else result="FAILED (exit $rc; see $log)"; fi
  echo "| $t | $SECONDS_EACH | ${runs:-?} | ${cov:-?} | ${ft:-?} | $result |"
done

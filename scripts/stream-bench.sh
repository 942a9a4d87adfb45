#!/usr/bin/env bash
# The streaming figures of docs/benchmarks.md ("Streaming (issue 6)"):
# throughput and real-time factor over the whole concatenated DVS Gesture
# recording, a time-compressed replay at about 1 M events/s (lag), per-bin
# latency at 1 ms bins in real time, and peak memory for 1x and 10x the
# recording on standard input.
#
#   scripts/stream-bench.sh [MODEL]        (default runs/dvs8.slym)
#
# Environment: DATA (folder of slayer10_concat.aedat, default
# ../shared/data/dvs-gesture/aedat31), SLAYER (binary, default
# target/release/slayer, built if missing), OUT (JSON results, default
# target/stream-bench), SKIP_REALTIME=1 skips the 15 s real-time replay,
# CUT=LAYER fixes the cut of the two-thread runs (default: timed),
# NATIVE=1 builds and measures a binary for this machine's CPU instead
# (`-C target-cpu=native` in target/native: AVX2/AVX-512 where present; the
# build an edge box would run) with results in target/stream-bench-native.
set -euo pipefail

MODEL=${1:-runs/dvs8.slym}
DATA=${DATA:-../shared/data/dvs-gesture/aedat31}
FILE=$DATA/slayer10_concat.aedat
if [ "${NATIVE:-0}" = 1 ]; then
    RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=target/native \
        cargo build --release -p slayer-trainer
    SLAYER=${SLAYER:-target/native/release/slayer}
    OUT=${OUT:-target/stream-bench-native}
fi
SLAYER=${SLAYER:-target/release/slayer}
OUT=${OUT:-target/stream-bench}
mkdir -p "$OUT"
if [ ! -x "$SLAYER" ]; then
    cargo build --release -p slayer-trainer
fi
for f in "$MODEL" "$FILE"; do
    [ -f "$f" ] || { echo "missing $f" >&2; exit 2; }
done

last() { tail -n 1; }

# The real-time replay asks for real-time scheduling when allowed (root,
# or CAP_SYS_NICE): on a shared machine it keeps other processes from
# delaying a bin by milliseconds. It sleeps between bins. The fast replays
# do not: their waits are too short to sleep, and a SCHED_FIFO task that
# keeps its core busy is throttled by the kernel (50 ms every second).
RT=()
if chrt -f 50 true 2>/dev/null; then
    RT=(chrt -f 50)
    echo "(the real-time replay runs under ${RT[*]})"
fi

echo "== throughput, as fast as possible (whole file, one core)"
"$SLAYER" stream "$MODEL" --input "$FILE" --quiet --profile --json | tee "$OUT/throughput.txt" | sed '$d'
last < "$OUT/throughput.txt" > "$OUT/throughput.json"
jq -r '"events \(.events_in), stream \(.stream_s) s, wall \(.wall_s) s: \(.realtime_factor)x real time, \(.events_per_s_in) events/s; per-bin p50 \(.latency.p50_us) us, p99 \(.latency.p99_us) us"' "$OUT/throughput.json"

# Replay speed at which the events arrive at 1 M events/s.
SPEED=$(jq -r '1000000 / (.events_in / .stream_s)' "$OUT/throughput.json")
echo "== replay at ${SPEED}x (1 M events/s arriving)"
"$SLAYER" stream "$MODEL" --input "$FILE" --speed "$SPEED" --quiet --json | last > "$OUT/peak.json"
jq -r '"arrival \(.paced.arrival_events_per_s) events/s: lag p50 \(.paced.lag.p50_us) us, p99 \(.paced.lag.p99_us) us, max \(.paced.lag.max_us) us, final \(.paced.final_lag_us) us (first/last 1000 bins \(.paced.lag_first_bins_mean_us) / \(.paced.lag_last_bins_mean_us) us)"' "$OUT/peak.json"

# The fastest replay the stream sustains: 80 % of the measured real-time factor.
KEEP=$(jq -r '(.realtime_factor * 0.8 * 10 | floor) / 10' "$OUT/throughput.json")
echo "== replay at ${KEEP}x (80 % of the real-time factor)"
"$SLAYER" stream "$MODEL" --input "$FILE" --speed "$KEEP" --quiet --json | last > "$OUT/sustained.json"
jq -r '"arrival \(.paced.arrival_events_per_s) events/s: lag p50 \(.paced.lag.p50_us) us, p99 \(.paced.lag.p99_us) us, max \(.paced.lag.max_us) us, final \(.paced.final_lag_us) us (first/last 1000 bins \(.paced.lag_first_bins_mean_us) / \(.paced.lag_last_bins_mean_us) us)"' "$OUT/sustained.json"

# Two cores: the network cut into a two-stage pipeline (`--threads 2`; the
# cut is timed over the first 500 bins, or CUT=LAYER forces it).
TWO=(--threads 2 ${CUT:+--cut "$CUT"})
echo "== two threads (${TWO[*]}), as fast as possible"
"$SLAYER" stream "$MODEL" --input "$FILE" "${TWO[@]}" --quiet --json | last > "$OUT/two.json"
jq -r '"cut before layer \(.cut_at): \(.realtime_factor)x real time, \(.events_per_s_in) events/s"' "$OUT/two.json"
echo "== two threads, replay at ${SPEED}x (1 M events/s arriving)"
"$SLAYER" stream "$MODEL" --input "$FILE" "${TWO[@]}" --speed "$SPEED" --quiet --json | last > "$OUT/peak-two.json"
jq -r '"cut before layer \(.cut_at); arrival \(.paced.arrival_events_per_s) events/s: lag p50 \(.paced.lag.p50_us) us, p99 \(.paced.lag.p99_us) us, max \(.paced.lag.max_us) us, final \(.paced.final_lag_us) us (first/last 1000 bins \(.paced.lag_first_bins_mean_us) / \(.paced.lag_last_bins_mean_us) us)"' "$OUT/peak-two.json"

if [ "${SKIP_REALTIME:-0}" != 1 ]; then
    echo "== real time, 1 ms bins"
    "${RT[@]}" "$SLAYER" stream "$MODEL" --input "$FILE" --realtime --quiet --json | last > "$OUT/realtime.json"
    jq -r '"per-bin processing p50 \(.latency.p50_us) us, p99 \(.latency.p99_us) us, max \(.latency.max_us) us; end-to-end (bin end to decision) p50 \(.paced.end_to_end.p50_us) us, p99 \(.paced.end_to_end.p99_us) us, max \(.paced.end_to_end.max_us) us"' "$OUT/realtime.json"
fi

echo "== memory: 1x and 10x the recording on stdin"
for n in 1 10; do
    for _ in $(seq "$n"); do cat "$FILE"; done |
        /usr/bin/time -v "$SLAYER" stream "$MODEL" --input - --quiet --json 2> "$OUT/time$n.txt" | last > "$OUT/stdin$n.json"
    rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$OUT/time$n.txt")
    jq -r --arg n "$n" --arg rss "$rss" '"\($n)x: \(.events_in) events, \(.segments) segments, \(.bins) bins, dropped \(.dropped), malformed \(.malformed), max RSS \($rss) KiB"' "$OUT/stdin$n.json"
done

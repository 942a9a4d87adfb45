#!/usr/bin/env bash
# Runs the default Poisson spike-train experiment over a range of seeds and
# prints, per seed, the epoch of the first exact match (or "none").
# Usage: scripts/poisson-seeds.sh [FIRST] [LAST] [extra `slayer train` args...]
set -euo pipefail
first=${1:-1}; last=${2:-20}; shift $(( $# > 2 ? 2 : $# )) || true
cd "$(dirname "$0")/.."
cargo build --release -q -p slayer-trainer
bin=target/release/slayer
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
matched=0; total=0; epochs=()
printf '%-6s %-10s %-8s\n' seed converged loss
for s in $(seq "$first" "$last"); do
  line=$("$bin" train --seed "$s" --out "$out/$s" --quiet --json "$@" | tail -n 1)
  conv=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["converged_epoch"] if d["converged_epoch"] is not None else "none")' "$line")
  loss=$(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["final_loss"], 4))' "$line")
  printf '%-6s %-10s %-8s\n' "$s" "$conv" "$loss"
  total=$((total + 1))
  if [ "$conv" != none ]; then matched=$((matched + 1)); epochs+=("$conv"); fi
done
sorted=$(printf '%s\n' "${epochs[@]:-}" | sort -n | tr '\n' ' ')
echo "matched $matched of $total seeds; epochs: $sorted"

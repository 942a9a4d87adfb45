#!/usr/bin/env bash
# Footprint and cost of an N-MNIST model on the Cortex-M4F firmware (issue 4):
# exports the checkpoint int8, packs 20 real N-MNIST samples, builds firmware/
# with both embedded, prints arm-none-eabi-size (flash = text + data, RAM =
# data + bss), the network-state arena, and the mean and worst instructions per
# 1 ms step from QEMU (-icount shift=0), and checks every sample's spike counts
# against the host engine (tests/examples/firmware_report.rs).
#
# Usage: scripts/firmware-report.sh [CHECKPOINT] [--bits 8|16] [--samples N] [--out DIR]
# Without CHECKPOINT it uses runs/nmnist_mlp128/best.slyc, training
# trainer/configs/nmnist_mlp128.toml (2312 -> 128 -> 10) for $EPOCHS epochs
# (default 15, a few minutes) first if that run does not exist yet.
# Needs: rustup target thumbv7em-none-eabihf, qemu-system-arm, binutils-arm-none-eabi
# (.ci/run installs them). DATA overrides ../shared/data/nmnist-small.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data/nmnist-small}

if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  checkpoint=$1
  shift
else
  checkpoint=runs/nmnist_mlp128/best.slyc
  if [ ! -f "$checkpoint" ]; then
    echo "no checkpoint given: training trainer/configs/nmnist_mlp128.toml for ${EPOCHS:-15} epochs" >&2
    cargo run --release -q --bin slayer -- train trainer/configs/nmnist_mlp128.toml \
      --data "$data" --out runs/nmnist_mlp128 --epochs "${EPOCHS:-15}" --quiet
  fi
fi

cargo run --release -q -p slayer-tests --example firmware_report -- "$checkpoint" --data "$data" "$@"

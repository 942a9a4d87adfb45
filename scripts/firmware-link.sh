#!/usr/bin/env bash
# The link firmware on every QEMU target (issue 13): trains (if needed) and
# exports the N-MNIST MLP 2312-128-10 and the microcontroller gesture model
# (trainer/configs/dvs_gesture_mcu.toml) int8 with their model images, builds
# the firmware once per target (Cortex-M0/M0+, M4F, M7, RISC-V), swaps each
# model into the model region, sends 20 N-MNIST samples and the 10 DVS
# Gesture clips over the serial link and checks every decision against the
# host core engine; prints flash, static RAM, stack high-water mark and the
# mean and worst instructions per 1 ms bin (QEMU -icount shift=0).
#
# Usage: scripts/firmware-link.sh [--targets m0,m4,m7,riscv] [--nmnist N] [--json FILE]
# COEFFICIENTS=coarse exports both models with `--coefficients coarse` (the
# Cortex-M0/M0+ figures of docs/benchmarks.md); the default is full.
# Needs: rustup targets thumbv6m-none-eabi thumbv7em-none-eabihf
# riscv32imac-unknown-none-elf, qemu-system-arm, qemu-system-misc (RISC-V),
# binutils (.ci/run installs them). DATA overrides ../shared/data. The whole
# gesture clips take a while: the emulated UART moves about 18 KB/s.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data}
coefficients=${COEFFICIENTS:-full}
out=target/firmware-link/report-$coefficients
mkdir -p "$out"
cargo build --release -q --bin slayer
slayer=target/release/slayer
if [ ! -f runs/nmnist_mlp128/best.slyc ]; then
  "$slayer" train trainer/configs/nmnist_mlp128.toml --data "$data/nmnist-small" \
    --out runs/nmnist_mlp128 --epochs 15 --quiet
fi
if [ ! -f runs/dvs_gesture_mcu/best.slyc ]; then
  "$slayer" train trainer/configs/dvs_gesture_mcu.toml --data "$data/dvs-gesture" \
    --out runs/dvs_gesture_mcu --quiet
fi
"$slayer" export runs/nmnist_mlp128/best.slyc --out "$out/nmnist.slym" --image "$out/nmnist.img" \
  --coefficients "$coefficients" | head -1
"$slayer" export runs/dvs_gesture_mcu/best.slyc --out "$out/gesture.slym" --image "$out/gesture.img" \
  --coefficients "$coefficients" | head -1
cargo run --release -q -p slayer-tests --example firmware_link_report -- \
  "$out/nmnist.slym" "$out/gesture.slym" --data "$data" "$@"

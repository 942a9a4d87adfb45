//! The one place where the engine's arithmetic path is chosen, by target.
//!
//! * **host** ([`host`], 64-bit targets): the population update works in
//!   blocks of 256 neurons with loops the compiler vectorises, reads the
//!   accumulators and clears them; the scatter adds into them.
//! * **lean** ([`lean`], 32-bit Arm and RISC-V, or any target with the
//!   `lean` feature): scalar loops for an in-order core without SIMD; the
//!   update of a linear population leaves the accumulators as they are,
//!   so every scatter overwrites them or clears them first ([`fresh`]) and
//!   then bounds them ([`fit`]).
//!
//! Both give the same spikes and states, bit for bit (`lean.rs` tests the
//! two against each other; `cargo test -p slayer-core --features lean` runs
//! every core test through the lean path). Each module provides:
//!
//! * `update(pop, k, order, parity, look) -> bool`: one bin of a population
//!   (see `Population::update`);
//! * `dense_i8(acc, dense, spikes)`: the int8 dense scatter with plain
//!   additions (the caller checked that no sum can overflow), onto
//!   accumulators the update left ready;
//! * `fresh(acc)`: readies the accumulators for a scatter that adds;
//! * `fit(acc, k, bound)`: after a scatter whose sums are at most `bound`
//!   in magnitude, clamps them to what the update takes.

#[cfg(not(any(target_arch = "arm", target_arch = "riscv32", feature = "lean")))]
mod host;
// Compiled on hosts too for its tests, which compare it with the host path.
#[cfg(any(target_arch = "arm", target_arch = "riscv32", feature = "lean", test))]
mod lean;

#[cfg(not(any(target_arch = "arm", target_arch = "riscv32", feature = "lean")))]
pub(crate) use host::{dense_i8, fit, fresh, update};
#[cfg(any(target_arch = "arm", target_arch = "riscv32", feature = "lean"))]
pub(crate) use lean::{dense_i8, fit, fresh, update};

//! `slayer-firmware`: runs an exported slayer-rs model on a microcontroller.
//!
//! * **Link mode** (the default, `link.rs`): the model is read from its own
//!   flash region (`memory/*.x`, written apart from the firmware: `slayer
//!   export --image`), checked (magic, length, CRC) at boot; events arrive
//!   over the UART as COBS frames ([`slayer_core::link`]), are binned on
//!   the model's `Ts`, stepped through the engine, and class decisions,
//!   acknowledgements and counters go back on the same link. A missing or
//!   corrupt model is an error code on the link, never a fault.
//! * **Bench mode** (`--features bench`, Cortex-M only, `bench/`): the model
//!   and a sample pack compiled in, every sample's counts and the step cost
//!   printed over semihosting.
//!
//! Targets: Cortex-M0/M0+ (`thumbv6m-none-eabi`), Cortex-M4F and M7
//! (`thumbv7em-none-eabihf`), RISC-V (`riscv32imac-unknown-none-elf`); the
//! chip-specific parts are in `arch/`. No allocator; all buffers are fixed
//! sizes chosen at build time (`build.rs`).
#![no_std]
#![no_main]
#![warn(missing_docs)]
#![deny(unsafe_code)]

// The bench build uses only the entry point and the cost clock of `arch`;
// the UART and its ring are still compiled (the interrupt handler is there).
#[cfg_attr(feature = "bench", allow(dead_code))]
mod arch;
#[cfg(feature = "bench")]
mod bench;
#[cfg(not(feature = "bench"))]
mod link;
#[cfg_attr(feature = "bench", allow(dead_code))]
mod ring;
#[cfg_attr(feature = "bench", allow(dead_code))]
mod stack;

/// Buffer sizes `build.rs` chose.
mod sizes {
    include!(concat!(env!("OUT_DIR"), "/sizes.rs"));
}

#[cfg(all(feature = "bench", not(target_arch = "arm")))]
compile_error!("the `bench` feature prints over Arm semihosting: build it for a Cortex-M target");

#[cfg(all(target_arch = "arm", feature = "defmt"))]
use defmt_rtt as _;
#[cfg(all(target_arch = "arm", feature = "defmt"))]
use panic_probe as _;
#[cfg(all(target_arch = "arm", not(feature = "defmt")))]
use panic_semihosting as _;

/// The firmware's main loop (called by the architecture's entry point).
pub fn run() -> ! {
    #[cfg(feature = "bench")]
    {
        bench::run()
    }
    #[cfg(not(feature = "bench"))]
    {
        link::run()
    }
}

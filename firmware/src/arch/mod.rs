//! What differs between the targets: UART, interrupt wiring, cost clock,
//! memory map symbols and entry point. One module per architecture, as
//! embassy keeps per-chip code apart; the rest of the firmware is shared.

#[cfg(target_arch = "arm")]
mod cortex_m;
#[cfg(target_arch = "arm")]
pub use cortex_m::*;

#[cfg(target_arch = "riscv32")]
mod riscv;
#[cfg(target_arch = "riscv32")]
pub use riscv::*;

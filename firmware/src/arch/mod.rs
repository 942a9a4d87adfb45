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

/// The model region (`__model_start..__model_end`, the MODEL region of
/// every `memory/*.x`).
#[allow(unsafe_code)]
pub fn model_region() -> &'static [u8] {
    extern "C" {
        static __model_start: u8;
        static __model_end: u8;
    }
    // SAFETY: the linker script reserves `__model_start..__model_end` for
    // the model image; it is flash (or ROM-like RAM under QEMU) that
    // nothing writes while the firmware runs.
    unsafe {
        let start = core::ptr::addr_of!(__model_start);
        let end = core::ptr::addr_of!(__model_end);
        core::slice::from_raw_parts(start, end as usize - start as usize)
    }
}

//! The stack's high-water mark: at boot the free stack is filled with a
//! pattern; the deepest word no longer holding it marks the most stack
//! ever used.
#![allow(unsafe_code)]

use crate::arch;

const PATTERN: u32 = 0x5AC3_5AC3;
/// Bytes below the current stack pointer left alone while painting.
const MARGIN: usize = 256;

/// Fills the unused stack with the pattern (call first thing at boot).
pub fn paint() {
    let (bottom, _) = arch::stack_bounds();
    let sp = arch::stack_pointer().saturating_sub(MARGIN) & !3;
    let mut a = (bottom + 3) & !3;
    while a < sp {
        // SAFETY: `bottom..sp` is stack that nothing uses yet (below the
        // live frames), word-aligned.
        unsafe { core::ptr::write_volatile(a as *mut u32, PATTERN) };
        a += 4;
    }
}

/// The most stack used since [`paint`], in bytes.
pub fn high_water() -> u32 {
    let (bottom, top) = arch::stack_bounds();
    let mut a = (bottom + 3) & !3;
    // SAFETY: reads of the word-aligned stack region, which is RAM.
    while a < top && unsafe { core::ptr::read_volatile(a as *const u32) } == PATTERN {
        a += 4;
    }
    u32::try_from(top - a).unwrap_or(u32::MAX)
}

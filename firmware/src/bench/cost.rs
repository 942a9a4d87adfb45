//! The cost of one engine step, measured with SysTick.
//!
//! SysTick runs from the core clock, counting down from `0xFF_FFFF`; one step
//! costs `(before − after) mod 2^24` ticks (one wrap-around is handled, a
//! step never takes anywhere near `2^24` ticks).
//!
//! On a real board a tick is a core clock cycle. Under QEMU with
//! `-icount shift=0` every guest instruction advances virtual time by exactly
//! 1 ns, and the MPS2-AN386's SysTick counts at its 25 MHz core clock, so one
//! tick is [`INSTRUCTIONS_PER_TICK`] = 40 instructions, deterministically.
//! The mean over many steps is exact up to rounding; a single step (the
//! worst case) is known to ±40 instructions.

use core::sync::atomic::{compiler_fence, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use slayer_core::Engine;

/// Guest instructions per SysTick tick under QEMU `mps2-an386 -icount
/// shift=0`: 1 ns per instruction, a 25 MHz (40 ns) tick.
#[cfg(not(feature = "defmt"))]
pub const INSTRUCTIONS_PER_TICK: u64 = 40;

/// Largest SysTick reload value (the counter is 24 bits wide).
const RELOAD: u32 = 0x00FF_FFFF;

/// Tick statistics over all measured steps.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cost {
    /// Steps measured.
    pub steps: u64,
    /// Ticks of all steps.
    pub total: u64,
    /// Ticks of the most expensive step.
    pub max: u32,
}

impl Cost {
    /// Starts SysTick free-running from the core clock (no interrupt).
    pub fn start(syst: &mut SYST) -> Self {
        syst.disable_interrupt();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_counter();
        Self::default()
    }

    /// Runs one engine step on `input`, adding the output spikes to
    /// `counts`, and records its ticks.
    pub fn step(&mut self, engine: &mut Engine<'_, '_, '_>, input: &[u32], counts: &mut [u32]) {
        let ticks = timed_step(engine, input, counts);
        self.steps += 1;
        self.total += u64::from(ticks);
        self.max = self.max.max(ticks);
    }

    /// Mean ticks per step, in tenths.
    pub fn mean_ticks_tenths(&self) -> u64 {
        (self.total * 10).checked_div(self.steps).unwrap_or(0)
    }

    /// Mean instructions per step under QEMU, in tenths.
    #[cfg(not(feature = "defmt"))]
    pub fn mean_tenths(&self) -> u64 {
        (self.total * INSTRUCTIONS_PER_TICK * 10)
            .checked_div(self.steps)
            .unwrap_or(0)
    }

    /// Instructions of the most expensive step under QEMU.
    #[cfg(not(feature = "defmt"))]
    pub fn max_instructions(&self) -> u64 {
        u64::from(self.max) * INSTRUCTIONS_PER_TICK
    }
}

/// One step between two SysTick reads; the fences keep the compiler from
/// moving the step's memory accesses across the reads.
#[inline(never)]
fn timed_step(engine: &mut Engine<'_, '_, '_>, input: &[u32], counts: &mut [u32]) -> u32 {
    let before = SYST::get_current();
    compiler_fence(Ordering::SeqCst);
    engine.step_counts(input, counts);
    compiler_fence(Ordering::SeqCst);
    let after = SYST::get_current();
    before.wrapping_sub(after) & RELOAD
}

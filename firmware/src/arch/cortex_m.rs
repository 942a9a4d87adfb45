//! Cortex-M (ARMv6-M and ARMv7E-M) on the MPS2 boards QEMU models
//! (AN385 Cortex-M3, AN386 Cortex-M4, AN500 Cortex-M7): the CMSDK APB UART0
//! with its receive interrupt (IRQ 0) feeding the ring, SysTick as the
//! cost clock, the core's CPUID for the target name. A real board replaces
//! the UART and the memory map (`memory/`), nothing else.
#![allow(unsafe_code)]

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{NVIC, SYST};
use cortex_m_rt::{entry, exception};

use crate::ring;

/// Guest instructions per SysTick tick under QEMU `-icount shift=0` (1 ns
/// per instruction; the MPS2 SysTick counts at 25 MHz).
pub const INSTRUCTIONS_PER_TICK: u32 = 40;
/// SysTick ticks per microsecond of the board's clock (25 MHz).
pub const TICKS_PER_US: u32 = 25;

/// CMSDK APB UART0.
const UART: usize = 0x4000_4000;
const DATA: usize = UART;
const STATE: usize = UART + 0x04;
const CTRL: usize = UART + 0x08;
const INTCLEAR: usize = UART + 0x0C;
const BAUDDIV: usize = UART + 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_INT_EN: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;
/// UART0's receive interrupt line on the MPS2 boards.
const UART0_RX_IRQ: u16 = 0;

/// Largest SysTick reload value (the counter is 24 bits wide).
const RELOAD: u32 = 0x00FF_FFFF;

#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: the number is an external interrupt line of the MPS2 boards.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

fn read(addr: usize) -> u32 {
    // SAFETY: `addr` is a 32-bit UART or System Control Block register.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn write(addr: usize, v: u32) {
    // SAFETY: `addr` is one of the UART's 32-bit registers above.
    unsafe { core::ptr::write_volatile(addr as *mut u32, v) }
}

#[entry]
fn main() -> ! {
    crate::stack::paint();
    crate::run()
}

/// Starts the UART (receive interrupt on) and SysTick.
pub fn init() {
    if let Some(mut p) = cortex_m::Peripherals::take() {
        start_systick(&mut p.SYST);
    }
    write(BAUDDIV, 16);
    write(CTRL, CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN);
    // SAFETY: the handler only touches the ring through a critical section.
    unsafe { NVIC::unmask(Irq(UART0_RX_IRQ)) };
}

fn start_systick(syst: &mut SYST) {
    syst.disable_interrupt();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_counter();
}

/// Sends bytes, waiting while the transmit buffer is full.
pub fn send(bytes: &[u8]) {
    for &b in bytes {
        while read(STATE) & STATE_TX_FULL != 0 {}
        write(DATA, u32::from(b));
    }
}

/// Sleeps until an interrupt when no byte is waiting (interrupts are masked
/// across the check so that a byte arriving just before `wfi` still wakes it).
pub fn idle() {
    cortex_m::interrupt::disable();
    if ring::is_empty() {
        cortex_m::asm::wfi();
    }
    // SAFETY: interrupts were enabled before `disable` above.
    unsafe { cortex_m::interrupt::enable() };
}

/// A cost-clock reading.
pub fn stamp() -> u32 {
    SYST::get_current()
}

/// Ticks since `start` (SysTick counts down; one wrap is handled).
pub fn elapsed(start: u32) -> u32 {
    start.wrapping_sub(SYST::get_current()) & RELOAD
}

/// The core, from its CPUID part number.
pub fn target() -> &'static str {
    // The System Control Block's CPUID register.
    let part = (read(0xE000_ED00) >> 4) & 0xFFF;
    let core = match part {
        0xC20 => "cortex-m0",
        0xC60 => "cortex-m0+",
        0xC23 => "cortex-m3",
        0xC24 => "cortex-m4",
        0xC27 => "cortex-m7",
        _ => "cortex-m",
    };
    if !cfg!(armv6m) || !matches!(part, 0xC23 | 0xC24 | 0xC27) {
        core
    } else {
        // An ARMv6-M build on a bigger core (QEMU has no Cortex-M0 board
        // with room for the N-MNIST model): the instruction stream is the
        // ARMv6-M one.
        match part {
            0xC23 => "armv6m@cortex-m3",
            0xC24 => "armv6m@cortex-m4",
            _ => "armv6m@cortex-m7",
        }
    }
}

/// The receive interrupt: every byte the UART holds goes into the ring.
///
/// The interrupt is cleared before the data register is drained: a byte
/// that lands after the last read raises it again. (Clearing it after the
/// drain loses that byte's interrupt, and the UART, full, never receives
/// another one.)
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == UART0_RX_IRQ as i16 {
        write(INTCLEAR, INT_RX);
        while read(STATE) & STATE_RX_FULL != 0 {
            ring::push(read(DATA) as u8);
        }
    }
}

/// Bounds of the stack: its lowest address (the end of static RAM) and
/// its top.
pub fn stack_bounds() -> (usize, usize) {
    extern "C" {
        static __sheap: u8;
        static _stack_start: u8;
    }
    (
        core::ptr::addr_of!(__sheap) as usize,
        core::ptr::addr_of!(_stack_start) as usize,
    )
}

/// The current stack pointer.
pub fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}

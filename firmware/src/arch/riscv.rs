//! RISC-V (RV32IMAC, machine mode) on QEMU's `virt` board: the NS16550A
//! UART0 with its receive interrupt routed through the PLIC to the ring,
//! `minstret` as the cost clock (exact instructions under QEMU `-icount`;
//! `mcycle` would give cycles on silicon). A real board replaces the UART,
//! the PLIC addresses and the memory map (`memory/`).
#![allow(unsafe_code)]

use riscv::register::{mie, minstret, mstatus};
use riscv_rt::entry;

use crate::ring;

/// Instructions per cost tick: `minstret` counts instructions.
pub const INSTRUCTIONS_PER_TICK: u32 = 1;
/// Ticks per microsecond: under `-icount shift=0` the virtual CPU retires
/// one instruction per nanosecond.
pub const TICKS_PER_US: u32 = 1000;

/// NS16550A UART0 of `virt`.
const UART: usize = 0x1000_0000;
const RBR_THR: usize = UART;
const IER: usize = UART + 1;
const LSR: usize = UART + 5;
const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;
const IER_RX_AVAILABLE: u8 = 1 << 0;
/// The UART's interrupt source on the PLIC.
const UART_IRQ: usize = 10;
/// PLIC of `virt`: priorities, hart 0 machine-mode enables, threshold and
/// claim/complete.
const PLIC: usize = 0x0C00_0000;
const PLIC_ENABLE: usize = PLIC + 0x2000;
const PLIC_THRESHOLD: usize = PLIC + 0x20_0000;
const PLIC_CLAIM: usize = PLIC + 0x20_0004;

fn read8(addr: usize) -> u8 {
    // SAFETY: `addr` is one of the UART's byte registers above.
    unsafe { core::ptr::read_volatile(addr as *const u8) }
}

fn write8(addr: usize, v: u8) {
    // SAFETY: `addr` is one of the UART's byte registers above.
    unsafe { core::ptr::write_volatile(addr as *mut u8, v) }
}

fn read32(addr: usize) -> u32 {
    // SAFETY: `addr` is one of the PLIC's word registers above.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn write32(addr: usize, v: u32) {
    // SAFETY: `addr` is one of the PLIC's word registers above.
    unsafe { core::ptr::write_volatile(addr as *mut u32, v) }
}

#[entry]
fn main() -> ! {
    crate::stack::paint();
    crate::run()
}

/// Starts the UART's receive interrupt through the PLIC.
pub fn init() {
    write32(PLIC + 4 * UART_IRQ, 1);
    write32(PLIC_ENABLE, 1 << UART_IRQ);
    write32(PLIC_THRESHOLD, 0);
    write8(IER, IER_RX_AVAILABLE);
    // SAFETY: the handler only touches the ring through a critical section.
    unsafe {
        mie::set_mext();
        mstatus::set_mie();
    }
}

/// Sends bytes, waiting for room in the transmitter.
pub fn send(bytes: &[u8]) {
    for &b in bytes {
        while read8(LSR) & LSR_THR_EMPTY == 0 {}
        write8(RBR_THR, b);
    }
}

/// Sleeps until an interrupt when no byte is waiting (`wfi` wakes on a
/// pending enabled interrupt even with `mstatus.MIE` clear).
pub fn idle() {
    // SAFETY: toggles the global interrupt enable around the check.
    unsafe { mstatus::clear_mie() };
    if ring::is_empty() {
        riscv::asm::wfi();
    }
    // SAFETY: as above.
    unsafe { mstatus::set_mie() };
}

/// A cost-clock reading.
pub fn stamp() -> u32 {
    minstret::read() as u32
}

/// Ticks since `start`.
pub fn elapsed(start: u32) -> u32 {
    (minstret::read() as u32).wrapping_sub(start)
}

/// The core.
pub fn target() -> &'static str {
    "riscv32imac"
}

/// The machine external interrupt: every byte the UART holds goes into
/// the ring.
#[export_name = "MachineExternal"]
fn machine_external() {
    let source = read32(PLIC_CLAIM);
    while read8(LSR) & LSR_DATA_READY != 0 {
        ring::push(read8(RBR_THR));
    }
    write32(PLIC_CLAIM, source);
}

/// Bounds of the stack: the end of static RAM (`_sheap`, no heap) and
/// its top.
pub fn stack_bounds() -> (usize, usize) {
    extern "C" {
        static _sheap: u8;
        static _stack_start: u8;
    }
    (
        core::ptr::addr_of!(_sheap) as usize,
        core::ptr::addr_of!(_stack_start) as usize,
    )
}

/// The current stack pointer.
pub fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp) };
    sp
}

/// Halts on a panic (the link code does not panic; this is the last
/// resort, not a report channel).
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        riscv::asm::wfi();
    }
}

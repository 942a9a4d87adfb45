//! The receive ring: the UART interrupt pushes bytes, the main loop takes
//! them. Shared through a critical section; when the ring is full, bytes are
//! dropped and counted (the frame they belonged to fails its CRC and is
//! counted again by the session).

use core::cell::{Cell, RefCell};

use critical_section::Mutex;
use heapless::Deque;

/// Bytes the ring holds: several frames, so that the host can keep a few in
/// flight while the board steps a bin.
pub const RING_BYTES: usize = 4096;

static RX: Mutex<RefCell<Deque<u8, RING_BYTES>>> = Mutex::new(RefCell::new(Deque::new()));
static OVERRUNS: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));

/// Adds a received byte (called from the interrupt handler).
pub fn push(byte: u8) {
    critical_section::with(|cs| {
        if RX.borrow_ref_mut(cs).push_back(byte).is_err() {
            let o = OVERRUNS.borrow(cs);
            o.set(o.get().saturating_add(1));
        }
    });
}

/// Moves up to `out.len()` bytes out of the ring; returns how many.
pub fn take(out: &mut [u8]) -> usize {
    critical_section::with(|cs| {
        let mut q = RX.borrow_ref_mut(cs);
        let mut n = 0;
        for slot in out.iter_mut() {
            match q.pop_front() {
                Some(b) => {
                    *slot = b;
                    n += 1;
                }
                None => break,
            }
        }
        n
    })
}

/// True when no byte is waiting (call with interrupts masked before
/// sleeping, see `arch::idle`).
pub fn is_empty() -> bool {
    critical_section::with(|cs| RX.borrow_ref(cs).is_empty())
}

/// Bytes dropped since the last call.
pub fn take_overruns() -> u32 {
    critical_section::with(|cs| OVERRUNS.borrow(cs).replace(0))
}

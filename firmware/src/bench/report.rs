//! What the firmware prints: plain text lines over semihosting (QEMU, a
//! debugger with semihosting), or defmt frames over RTT with the `defmt`
//! feature (real boards, probe-rs). The text lines are read by the QEMU
//! parity test (`tests/firmware.rs`); keep their words stable.

use super::cost::Cost;

/// Facts about the embedded model and samples, printed once.
pub struct Header {
    /// Input neurons.
    pub inputs: u32,
    /// Output neurons.
    pub outputs: u32,
    /// Layers.
    pub layers: usize,
    /// Weight width in bits.
    pub bits: u32,
    /// Bins per sample.
    pub bins: u32,
    /// Samples in the pack.
    pub samples: usize,
    /// State arena words.
    pub state_words: usize,
}

#[cfg(not(feature = "defmt"))]
mod imp {
    use core::fmt::{self, Write};

    use cortex_m_semihosting::hio::{self, HostStream};

    use super::{Cost, Header};
    use crate::bench::cost::INSTRUCTIONS_PER_TICK;

    /// The host's stdout, opened once (`None` if the host refused).
    pub struct Console(Option<HostStream>);

    /// A line assembled in a fixed buffer and written in one semihosting
    /// call (flushed early if it outgrows the buffer).
    struct Line<'c> {
        out: &'c mut Option<HostStream>,
        buf: [u8; 256],
        len: usize,
    }

    impl Line<'_> {
        fn flush(&mut self) {
            if let Some(s) = self.out.as_mut() {
                let _ = s.write_all(&self.buf[..self.len]);
            }
            self.len = 0;
        }
    }

    impl Write for Line<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for &b in s.as_bytes() {
                if self.len == self.buf.len() {
                    self.flush();
                }
                self.buf[self.len] = b;
                self.len += 1;
            }
            Ok(())
        }
    }

    impl Console {
        /// Opens the host's stdout.
        pub fn new() -> Self {
            Self(hio::hstdout().ok())
        }

        fn line(&mut self, args: fmt::Arguments<'_>) {
            let mut l = Line {
                out: &mut self.0,
                buf: [0; 256],
                len: 0,
            };
            let _ = l.write_fmt(args);
            let _ = l.write_str("\n");
            l.flush();
        }

        /// The model and pack summary.
        pub fn header(&mut self, h: &Header) {
            self.line(format_args!(
                "slayer-firmware: model {} -> {}, {} layers, int{} weights; {} samples of {} bins; state {} words ({} bytes)",
                h.inputs, h.outputs, h.layers, h.bits, h.samples, h.bins, h.state_words, 4 * h.state_words
            ));
        }

        /// One sample's output spike counts.
        pub fn sample(&mut self, i: usize, label: u16, counts: &[u32]) {
            let mut l = Line {
                out: &mut self.0,
                buf: [0; 256],
                len: 0,
            };
            let _ = write!(l, "sample {i} label {label} counts");
            for c in counts {
                let _ = write!(l, " {c}");
            }
            let _ = l.write_str("\n");
            l.flush();
        }

        /// The step cost over all samples.
        pub fn cost(&mut self, c: &Cost) {
            let ticks = c.mean_ticks_tenths();
            self.line(format_args!(
                "steps {} ticks {} mean_ticks {}.{} max_ticks {} (SysTick, core clock)",
                c.steps,
                c.total,
                ticks / 10,
                ticks % 10,
                c.max
            ));
            let mean = c.mean_tenths();
            self.line(format_args!(
                "instructions per step: mean {}.{} max {} (QEMU -icount shift=0: {} per tick)",
                mean / 10,
                mean % 10,
                c.max_instructions(),
                INSTRUCTIONS_PER_TICK
            ));
        }

        /// An error that stops the firmware.
        pub fn error(&mut self, what: &str, e: &dyn fmt::Display) {
            self.line(format_args!("error: {what}: {e}"));
        }
    }
}

#[cfg(feature = "defmt")]
mod imp {
    use super::{Cost, Header};

    /// defmt over RTT (`defmt-rtt`).
    pub struct Console;

    impl Console {
        /// Nothing to open: RTT is set up by `defmt-rtt`.
        pub fn new() -> Self {
            Self
        }

        /// The model and pack summary.
        pub fn header(&mut self, h: &Header) {
            defmt::println!(
                "slayer-firmware: model {=u32} -> {=u32}, {=usize} layers, int{=u32} weights; {=usize} samples of {=u32} bins; state {=usize} words",
                h.inputs, h.outputs, h.layers, h.bits, h.samples, h.bins, h.state_words
            );
        }

        /// One sample's output spike counts.
        pub fn sample(&mut self, i: usize, label: u16, counts: &[u32]) {
            defmt::println!(
                "sample {=usize} label {=u16} counts {=[?]}",
                i,
                label,
                counts
            );
        }

        /// The step cost: on a real board a SysTick tick is a core cycle.
        pub fn cost(&mut self, c: &Cost) {
            let mean = c.mean_ticks_tenths();
            defmt::println!(
                "steps {=u64} ticks {=u64} max_ticks {=u32} (SysTick, core clock)",
                c.steps,
                c.total,
                c.max
            );
            defmt::println!(
                "core cycles per step: mean {=u64}.{=u64} max {=u32}",
                mean / 10,
                mean % 10,
                c.max
            );
        }

        /// An error that stops the firmware.
        pub fn error(&mut self, what: &str, e: &impl defmt::Format) {
            defmt::error!("{=str}: {}", what, e);
        }
    }
}

pub use imp::Console;

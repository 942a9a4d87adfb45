//! Sensor pixels onto model inputs, stream time onto bins, and the set of
//! inputs active in the open bin.

use crate::model::Shape;

/// Where a sensor event lands in the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mapped {
    /// Input neuron index (flatten order `c·H·W + y·W + x`).
    Input(u32),
    /// Outside the sensor (a malformed event).
    OutOfRange,
    /// Inside the sensor but outside the model's (cropped) field of view.
    Cropped,
}

/// Sensor `(width, height)` → model input `(c, h, w)`: integer
/// down-sampling by `factor` (the largest that fits both axes, at least 1),
/// then a centred crop of what is left over; polarity selects the channel
/// (a one-channel model merges both polarities, a model with more channels
/// takes polarity `p` into channel `p`, the last channel at most).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SensorMap {
    /// Sensor width and height (at least 1 each).
    pub sensor: (u32, u32),
    /// The model's input shape.
    pub shape: Shape,
    /// Sensor pixels per input cell along each axis.
    pub factor: u32,
    /// Sensor pixels cropped on the left and top.
    pub crop: (u32, u32),
}

impl SensorMap {
    /// The mapping of a `sensor` onto an input of shape `shape`.
    pub fn new(sensor: (u32, u32), shape: Shape) -> Self {
        let (sw, sh) = (sensor.0.max(1), sensor.1.max(1));
        let (w, h) = (shape.w.max(1), shape.h.max(1));
        let factor = (sw / w).min(sh / h).max(1);
        let crop = (
            sw.saturating_sub(factor.saturating_mul(w)) / 2,
            sh.saturating_sub(factor.saturating_mul(h)) / 2,
        );
        Self {
            sensor: (sw, sh),
            shape,
            factor,
            crop,
        }
    }

    /// Cell of sensor coordinate `p` along an axis with `off` cropped
    /// pixels and `out` cells.
    #[inline]
    fn axis(&self, p: u32, off: u32, out: u32) -> Option<u32> {
        let q = p.checked_sub(off)? / self.factor;
        (q < out).then_some(q)
    }

    /// The input column of sensor column `x` (`None`: cropped away).
    #[inline]
    pub fn cell_x(&self, x: u32) -> Option<u32> {
        self.axis(x, self.crop.0, self.shape.w.max(1))
    }

    /// The input row of sensor row `y` (`None`: cropped away).
    #[inline]
    pub fn cell_y(&self, y: u32) -> Option<u32> {
        self.axis(y, self.crop.1, self.shape.h.max(1))
    }

    /// The input index of cell `(cx, cy)` for polarity `p`.
    #[inline]
    pub fn index(&self, cx: u32, cy: u32, p: u8) -> u32 {
        let (w, h) = (self.shape.w.max(1), self.shape.h.max(1));
        let c = if self.shape.c <= 1 {
            0
        } else {
            u32::from(p).min(self.shape.c - 1)
        };
        (c * h + cy) * w + cx
    }

    /// Where the event at `(x, y)` with polarity `p` lands.
    #[inline]
    pub fn map(&self, x: u16, y: u16, p: u8) -> Mapped {
        let (x, y) = (u32::from(x), u32::from(y));
        if x >= self.sensor.0 || y >= self.sensor.1 {
            return Mapped::OutOfRange;
        }
        match (self.cell_x(x), self.cell_y(y)) {
            (Some(cx), Some(cy)) => Mapped::Input(self.index(cx, cy, p)),
            _ => Mapped::Cropped,
        }
    }
}

/// The bin of stream time `t_us` with bins of `ts_us` µs:
/// `round_half_even(t / Ts)`, in integers (the float formula `slayer
/// stream` and offline binning use gives the same bin for every whole
/// microsecond).
#[inline]
pub fn bin_of_us(t_us: u64, ts_us: u32) -> u64 {
    let ts = u64::from(ts_us.max(1));
    let (q, r) = (t_us / ts, t_us % ts);
    match (2 * r).cmp(&ts) {
        core::cmp::Ordering::Less => q,
        core::cmp::Ordering::Greater => q + 1,
        core::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// The inputs active in the open bin: a bitset (no input twice) and the
/// list of active inputs in arrival order, both in caller-provided memory.
#[derive(Debug)]
pub struct Binner<'b> {
    seen: &'b mut [u32],
    active: &'b mut [u32],
    len: usize,
    merged: u32,
}

impl<'b> Binner<'b> {
    /// A binner over a bitset of `seen.len() × 32` inputs and a list of up
    /// to `active.len()` of them (both are cleared).
    pub fn new(seen: &'b mut [u32], active: &'b mut [u32]) -> Self {
        seen.fill(0);
        Self {
            seen,
            active,
            len: 0,
            merged: 0,
        }
    }

    /// Inputs it can bin: indices below this are always accepted.
    pub fn capacity(&self) -> usize {
        (self.seen.len() * 32).min(self.active.len())
    }

    /// Marks input `i` active; false when it already was (or is out of
    /// capacity).
    #[inline]
    pub fn set(&mut self, i: u32) -> bool {
        let (w, bit) = ((i / 32) as usize, 1u32 << (i % 32));
        let (Some(word), Some(slot)) = (self.seen.get_mut(w), self.active.get_mut(self.len)) else {
            return false;
        };
        if *word & bit != 0 {
            self.merged = self.merged.saturating_add(1);
            return false;
        }
        *word |= bit;
        *slot = i;
        self.len += 1;
        true
    }

    /// The active inputs, in the order they first arrived.
    pub fn active(&self) -> &[u32] {
        &self.active[..self.len]
    }

    /// Events merged into an input already active in their bin.
    pub fn merged(&self) -> u32 {
        self.merged
    }

    /// Empties the bin (clears only the bits that are set).
    pub fn clear(&mut self) {
        for &i in &self.active[..self.len] {
            if let Some(word) = self.seen.get_mut((i / 32) as usize) {
                *word = 0;
            }
        }
        self.len = 0;
    }

    /// Empties the bin and forgets the merge count.
    pub fn reset(&mut self) {
        self.clear();
        self.merged = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_match_the_float_rule() {
        // The rule of SLAYER.md §6 in floats, for 1 ms and odd widths.
        for ts in [1000u32, 500, 333, 1] {
            for t in (0..20_000u64).chain([u64::from(u32::MAX), 1 << 40]) {
                let x = t as f64 / 1000.0 / (f64::from(ts) / 1000.0);
                let r = x.round_ties_even();
                assert_eq!(bin_of_us(t, ts), r as u64, "t={t} ts={ts}");
            }
        }
    }

    #[test]
    fn map_downsamples_crops_and_merges() {
        let m = SensorMap::new((128, 128), Shape::new(2, 32, 32));
        assert_eq!((m.factor, m.crop), (4, (0, 0)));
        assert_eq!(m.map(127, 5, 0), Mapped::Input(32 + 31));
        assert_eq!(m.map(127, 5, 1), Mapped::Input(1024 + 32 + 31));
        assert_eq!(m.map(128, 5, 1), Mapped::OutOfRange);
        let m = SensorMap::new((128, 128), Shape::new(1, 34, 34));
        assert_eq!((m.factor, m.crop), (3, (13, 13)));
        assert_eq!(m.map(12, 50, 1), Mapped::Cropped);
        assert_eq!(m.map(13, 13, 1), Mapped::Input(0));
        assert_eq!(m.map(13 + 3 * 34 - 1, 13, 0), Mapped::Input(33));
        assert_eq!(m.map(13 + 3 * 34, 13, 0), Mapped::Cropped);
        let m = SensorMap::new((34, 34), Shape::new(2, 64, 64));
        assert_eq!(m.map(33, 33, 1), Mapped::Input(64 * 64 + 33 * 64 + 33));
        assert_eq!(m.map(33, 33, 7), Mapped::Input(64 * 64 + 33 * 64 + 33));
    }

    #[test]
    fn binner_keeps_first_arrival_order_once() {
        let (mut seen, mut active) = ([0u32; 4], [0u32; 5]);
        let mut b = Binner::new(&mut seen, &mut active);
        assert_eq!(b.capacity(), 5);
        assert!(b.set(100));
        assert!(b.set(3));
        assert!(!b.set(100));
        assert!(!b.set(200), "beyond the bitset");
        assert_eq!(b.active(), [100, 3]);
        assert_eq!(b.merged(), 1);
        b.clear();
        assert!(b.active().is_empty());
        assert!(b.set(100), "cleared bits are free again");
    }
}

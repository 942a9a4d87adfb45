//! Mapping sensor pixels onto a model's input population.

use slayer_core::{Event2d, Shape};

/// Where a sensor event lands in the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
/// takes polarity `p` into channel `p`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputMap {
    /// Sensor width and height.
    pub sensor: (u32, u32),
    /// The model's input shape.
    pub shape: Shape,
    /// Sensor pixels per input cell along each axis.
    pub factor: u32,
    /// Sensor pixels cropped on the left and top.
    pub crop: (u32, u32),
    xs: Vec<i32>,
    ys: Vec<i32>,
}

impl InputMap {
    /// The mapping of a `sensor` onto an input of shape `shape`.
    pub fn new(sensor: (u32, u32), shape: Shape) -> Self {
        let (sw, sh) = (sensor.0.max(1), sensor.1.max(1));
        let (w, h) = (shape.w.max(1), shape.h.max(1));
        let factor = (sw / w).min(sh / h).max(1);
        let crop = (
            sw.saturating_sub(factor * w) / 2,
            sh.saturating_sub(factor * h) / 2,
        );
        let axis = |n: u32, off: u32, out: u32| -> Vec<i32> {
            (0..n)
                .map(|p| {
                    let q = p.checked_sub(off).map(|q| q / factor);
                    match q {
                        Some(q) if q < out => q as i32,
                        _ => -1,
                    }
                })
                .collect()
        };
        Self {
            sensor: (sw, sh),
            shape,
            factor,
            crop,
            xs: axis(sw, crop.0, w),
            ys: axis(sh, crop.1, h),
        }
    }

    /// Where event `e` lands.
    #[inline]
    pub fn map(&self, e: &Event2d) -> Mapped {
        let (Some(&x), Some(&y)) = (self.xs.get(usize::from(e.x)), self.ys.get(usize::from(e.y)))
        else {
            return Mapped::OutOfRange;
        };
        if x < 0 || y < 0 {
            return Mapped::Cropped;
        }
        let c = if self.shape.c <= 1 {
            0
        } else {
            u32::from(e.polarity).min(self.shape.c - 1)
        };
        Mapped::Input((c * self.shape.h + y as u32) * self.shape.w + x as u32)
    }

    /// A one-line description, e.g. `sensor 128x128 → input 2x32x32 (÷4)`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "sensor {}x{} -> input {}x{}x{}",
            self.sensor.0, self.sensor.1, self.shape.c, self.shape.h, self.shape.w
        );
        if self.factor > 1 {
            s.push_str(&format!(", down-sampled 1/{}", self.factor));
        }
        if self.crop != (0, 0) {
            s.push_str(&format!(", cropped {}+{} px", self.crop.0, self.crop.1));
        }
        if self.shape.c <= 1 {
            s.push_str(", polarities merged");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(x: u16, y: u16, p: u8) -> Event2d {
        Event2d {
            x,
            y,
            polarity: p,
            t_us: 0,
        }
    }

    #[test]
    fn identity_downsample_and_crop() {
        let m = InputMap::new((128, 128), Shape::new(2, 128, 128));
        assert_eq!(m.factor, 1);
        assert_eq!(m.map(&ev(3, 2, 1)), Mapped::Input(128 * 128 + 2 * 128 + 3));
        assert_eq!(m.map(&ev(128, 2, 1)), Mapped::OutOfRange);
        let m = InputMap::new((128, 128), Shape::new(2, 32, 32));
        assert_eq!((m.factor, m.crop), (4, (0, 0)));
        assert_eq!(m.map(&ev(127, 5, 0)), Mapped::Input(32 + 31));
        // 128 → 34: factor 3, 26 pixels left over, 13 cropped each side.
        let m = InputMap::new((128, 128), Shape::new(1, 34, 34));
        assert_eq!((m.factor, m.crop), (3, (13, 13)));
        assert_eq!(m.map(&ev(12, 50, 1)), Mapped::Cropped);
        assert_eq!(m.map(&ev(13, 13, 1)), Mapped::Input(0));
        assert_eq!(m.map(&ev(13 + 3 * 34 - 1, 13, 0)), Mapped::Input(33));
        assert_eq!(m.map(&ev(13 + 3 * 34, 13, 0)), Mapped::Cropped);
        // A sensor smaller than the input: top-left, nothing cropped.
        let m = InputMap::new((34, 34), Shape::new(2, 64, 64));
        assert_eq!(m.map(&ev(33, 33, 1)), Mapped::Input(64 * 64 + 33 * 64 + 33));
    }
}

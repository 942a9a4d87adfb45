//! Mapping sensor pixels onto a model's input population: the core's
//! [`SensorMap`] (the one rule the firmware applies too), with a lookup
//! table per axis for the host's event rate.

use slayer_core::link::SensorMap;
use slayer_core::{Event2d, Shape};

pub use slayer_core::link::Mapped;

/// [`SensorMap`] with each axis's cells tabulated (`-1`: cropped away).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputMap {
    /// The mapping: sensor, input shape, down-sampling factor, crop.
    pub geometry: SensorMap,
    xs: Vec<i32>,
    ys: Vec<i32>,
}

impl InputMap {
    /// The mapping of a `sensor` onto an input of shape `shape`.
    pub fn new(sensor: (u32, u32), shape: Shape) -> Self {
        let geometry = SensorMap::new(sensor, shape);
        let table = |n: u32, cell: &dyn Fn(u32) -> Option<u32>| -> Vec<i32> {
            (0..n).map(|p| cell(p).map_or(-1, |q| q as i32)).collect()
        };
        Self {
            xs: table(geometry.sensor.0, &|x| geometry.cell_x(x)),
            ys: table(geometry.sensor.1, &|y| geometry.cell_y(y)),
            geometry,
        }
    }

    /// Where event `e` lands (as [`SensorMap::map`], by table lookup).
    #[inline]
    pub fn map(&self, e: &Event2d) -> Mapped {
        let (Some(&x), Some(&y)) = (self.xs.get(usize::from(e.x)), self.ys.get(usize::from(e.y)))
        else {
            return Mapped::OutOfRange;
        };
        if x < 0 || y < 0 {
            return Mapped::Cropped;
        }
        Mapped::Input(self.geometry.index(x as u32, y as u32, e.polarity))
    }

    /// A one-line description, e.g. `sensor 128x128 → input 2x32x32 (÷4)`.
    pub fn describe(&self) -> String {
        let g = &self.geometry;
        let mut s = format!(
            "sensor {}x{} -> input {}x{}x{}",
            g.sensor.0, g.sensor.1, g.shape.c, g.shape.h, g.shape.w
        );
        if g.factor > 1 {
            s.push_str(&format!(", down-sampled 1/{}", g.factor));
        }
        if g.crop != (0, 0) {
            s.push_str(&format!(", cropped {}+{} px", g.crop.0, g.crop.1));
        }
        if g.shape.c <= 1 {
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
        assert_eq!(m.geometry.factor, 1);
        assert_eq!(m.map(&ev(3, 2, 1)), Mapped::Input(128 * 128 + 2 * 128 + 3));
        assert_eq!(m.map(&ev(128, 2, 1)), Mapped::OutOfRange);
        let m = InputMap::new((128, 128), Shape::new(2, 32, 32));
        assert_eq!((m.geometry.factor, m.geometry.crop), (4, (0, 0)));
        assert_eq!(m.map(&ev(127, 5, 0)), Mapped::Input(32 + 31));
        // 128 → 34: factor 3, 26 pixels left over, 13 cropped each side.
        let m = InputMap::new((128, 128), Shape::new(1, 34, 34));
        assert_eq!((m.geometry.factor, m.geometry.crop), (3, (13, 13)));
        assert_eq!(m.map(&ev(12, 50, 1)), Mapped::Cropped);
        assert_eq!(m.map(&ev(13, 13, 1)), Mapped::Input(0));
        assert_eq!(m.map(&ev(13 + 3 * 34 - 1, 13, 0)), Mapped::Input(33));
        assert_eq!(m.map(&ev(13 + 3 * 34, 13, 0)), Mapped::Cropped);
        // A sensor smaller than the input: top-left, nothing cropped.
        let m = InputMap::new((34, 34), Shape::new(2, 64, 64));
        assert_eq!(m.map(&ev(33, 33, 1)), Mapped::Input(64 * 64 + 33 * 64 + 33));
    }

    /// The tables give [`SensorMap::map`]'s answer for every pixel (and
    /// one row and column past the sensor).
    #[test]
    fn tables_agree_with_the_core_mapping() {
        for (sensor, shape) in [
            ((128, 128), Shape::new(2, 32, 32)),
            ((128, 128), Shape::new(1, 34, 34)),
            ((34, 34), Shape::new(2, 64, 64)),
            ((346, 260), Shape::new(3, 40, 30)),
        ] {
            let m = InputMap::new(sensor, shape);
            for x in 0..=sensor.0 as u16 {
                for y in 0..=sensor.1 as u16 {
                    for p in 0..3 {
                        assert_eq!(m.map(&ev(x, y, p)), m.geometry.map(x, y, p), "{x},{y},{p}");
                    }
                }
            }
        }
    }
}

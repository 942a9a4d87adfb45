//! `slayer infer`: one line per sample, and the agreement with the float
//! network.

use std::io::{self, Write};
use std::path::Path;

/// What the fixed-point core (and optionally the float network) made of
/// one event file.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The event file.
    pub input: &'a Path,
    /// The core's class (`None`: no output spikes, no decision).
    pub class: Option<usize>,
    /// The core's output spike counts.
    pub counts: &'a [u32],
    /// The float network's result on the same input.
    pub float: Option<FloatSample<'a>>,
}

/// The float network's result on a [`Sample`]'s input.
#[derive(Debug, Clone, Copy)]
pub struct FloatSample<'a> {
    /// Its class (`None`: no output spikes).
    pub class: Option<usize>,
    /// Its output spike counts.
    pub counts: &'a [u32],
    /// True when its output spikes equal the core's.
    pub identical: bool,
}

/// A class as a phrase: `class N`, or that there was no decision.
fn said(c: Option<usize>) -> String {
    c.map_or("no decision (no output spikes)".to_string(), |c| {
        format!("class {c}")
    })
}

/// Prints one sample: `INPUT: class N, counts [..]`, then the float
/// network's class and counts when it ran too.
pub fn sample(out: &mut impl Write, s: &Sample<'_>) -> io::Result<()> {
    write!(
        out,
        "{}: {}, counts {:?}",
        s.input.display(),
        said(s.class),
        s.counts
    )?;
    if let Some(f) = &s.float {
        write!(
            out,
            "; float {}, counts {:?}{}",
            said(f.class),
            f.counts,
            if f.identical {
                " (identical spikes)"
            } else {
                ""
            }
        )?;
    }
    writeln!(out)
}

/// Prints on how many of `samples` the core and the float network chose
/// the same class.
pub fn agreement(out: &mut impl Write, agree: usize, samples: usize) -> io::Result<()> {
    writeln!(
        out,
        "core and float agree on the class of {agree}/{samples} samples"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::printed;

    #[test]
    fn sample_line_gives_class_and_counts() {
        let s = Sample {
            input: Path::new("a.bs2"),
            class: Some(2),
            counts: &[0, 1, 4],
            float: None,
        };
        assert_eq!(
            printed(|o| sample(o, &s)),
            "a.bs2: class 2, counts [0, 1, 4]\n"
        );
    }

    #[test]
    fn sample_line_compares_with_the_float_network() {
        let s = Sample {
            input: Path::new("b.bs2"),
            class: None,
            counts: &[0, 0],
            float: Some(FloatSample {
                class: Some(1),
                counts: &[0, 3],
                identical: false,
            }),
        };
        assert_eq!(
            printed(|o| sample(o, &s)),
            "b.bs2: no decision (no output spikes), counts [0, 0]; float class 1, counts [0, 3]\n"
        );
        let same = Sample {
            float: Some(FloatSample {
                class: None,
                counts: &[0, 0],
                identical: true,
            }),
            ..s
        };
        assert!(printed(|o| sample(o, &same)).ends_with(
            "; float no decision (no output spikes), counts [0, 0] (identical spikes)\n"
        ));
        assert_eq!(
            printed(|o| agreement(o, 3, 4)),
            "core and float agree on the class of 3/4 samples\n"
        );
    }
}

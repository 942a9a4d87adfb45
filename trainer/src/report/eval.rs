//! `slayer eval`: the evaluation summary, the confusion matrix and the
//! comparison with the exported fixed-point model.

use std::io::{self, Write};
use std::path::Path;

use crate::infer::Comparison;
use crate::train::Evaluation;

/// Prints an evaluation of experiment `name`: one line with the accuracy
/// (or, without class targets, only the loss) and the sample count, then
/// its [`confusion_matrix`].
pub fn evaluation(out: &mut impl Write, name: &str, ev: &Evaluation) -> io::Result<()> {
    match ev.accuracy {
        Some(acc) => writeln!(
            out,
            "{name}: accuracy {:.2} % on {} samples (loss {:.4})",
            100.0 * acc,
            ev.samples,
            ev.loss
        )?,
        None => writeln!(out, "{name}: loss {:.4} on {} samples", ev.loss, ev.samples)?,
    }
    confusion_matrix(out, &ev.confusion)
}

/// Prints `confusion[true][predicted]` as a table: a title line, a header
/// of predicted classes, then one row per true class, every count
/// right-aligned in five columns. Prints nothing for an empty matrix (no
/// class targets).
pub fn confusion_matrix(out: &mut impl Write, confusion: &[Vec<u64>]) -> io::Result<()> {
    if confusion.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "confusion matrix (rows: true class, columns: predicted)"
    )?;
    write!(out, "     ")?;
    for p in 0..confusion.len() {
        write!(out, "{p:>5}")?;
    }
    writeln!(out)?;
    for (t, row) in confusion.iter().enumerate() {
        write!(out, "{t:>5}")?;
        for c in row {
            write!(out, "{c:>5}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Prints the fixed-point core's accuracy on the same samples as the
/// float network (`model`: the exported model's path), and how often the
/// two agree.
pub fn comparison(out: &mut impl Write, model: &Path, c: &Comparison) -> io::Result<()> {
    writeln!(
        out,
        "fixed-point core ({}): accuracy {:.2} % (float {:.2} %), same class as float on {:.2} %, \
         identical output spikes on {:.2} %, mean |count difference| {:.3}",
        model.display(),
        100.0 * c.core_accuracy,
        100.0 * c.float_accuracy,
        100.0 * c.class_agreement,
        100.0 * c.identical_outputs,
        c.mean_count_diff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::printed;

    #[test]
    fn confusion_matrix_prints_one_row_per_true_class() {
        let m = vec![vec![5, 1, 0], vec![2, 7, 1], vec![0, 0, 9]];
        let text = printed(|o| confusion_matrix(o, &m));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "confusion matrix (rows: true class, columns: predicted)",
                "         0    1    2",
                "    0    5    1    0",
                "    1    2    7    1",
                "    2    0    0    9",
            ]
        );
        assert_eq!(printed(|o| confusion_matrix(o, &[])), "");
    }

    #[test]
    fn evaluation_prints_accuracy_then_the_matrix() {
        let ev = Evaluation {
            accuracy: Some(0.75),
            samples: 4,
            loss: 0.123456,
            confusion: vec![vec![2, 0], vec![1, 1]],
        };
        let text = printed(|o| evaluation(o, "xor", &ev));
        assert!(
            text.starts_with("xor: accuracy 75.00 % on 4 samples (loss 0.1235)\n"),
            "{text}"
        );
        assert!(text.contains("\n    1    1    1\n"), "{text}");

        let regression = Evaluation {
            accuracy: None,
            samples: 3,
            loss: 2.5,
            confusion: Vec::new(),
        };
        assert_eq!(
            printed(|o| evaluation(o, "pattern", &regression)),
            "pattern: loss 2.5000 on 3 samples\n"
        );
    }

    #[test]
    fn comparison_prints_percentages() {
        let c = Comparison {
            samples: 10,
            float_accuracy: 0.9,
            core_accuracy: 0.8,
            class_agreement: 0.85,
            identical_outputs: 0.5,
            mean_count_diff: 0.25,
        };
        let text = printed(|o| comparison(o, Path::new("m.slym"), &c));
        assert_eq!(
            text,
            "fixed-point core (m.slym): accuracy 80.00 % (float 90.00 %), same class as float on \
             85.00 %, identical output spikes on 50.00 %, mean |count difference| 0.250\n"
        );
    }
}

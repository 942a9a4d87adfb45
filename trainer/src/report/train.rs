//! `slayer train`: the closing summary of a run.

use std::io::{self, Write};

use crate::train::TrainReport;

/// Prints the end of a training run of experiment `name`: the epoch at
/// which the output matched the target (or that it never did, when the
/// run was to stop at a match), the validation accuracy (classification),
/// then epochs, final loss, throughput and the output folder.
pub fn summary(
    out: &mut impl Write,
    name: &str,
    stop_when_matched: bool,
    report: &TrainReport,
) -> io::Result<()> {
    match report.converged_epoch {
        Some(e) => writeln!(
            out,
            "{name}: output matches the target at epoch {e} (the paper needed 739)"
        )?,
        None if stop_when_matched => {
            writeln!(out, "{name}: no match within {} epochs", report.epochs)?;
        }
        None => {}
    }
    if let (Some(v), Some(best)) = (report.valid_accuracy, report.best_valid_accuracy) {
        writeln!(
            out,
            "validation accuracy {:.2} % (best {:.2} %, saved as best.slyc)",
            100.0 * v,
            100.0 * best
        )?;
    }
    writeln!(
        out,
        "{} epochs, final loss {:.6}, {:.1} samples/s; wrote {}",
        report.epochs,
        report.final_loss,
        report.samples_per_s,
        report.out_dir.display()
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::report::printed;

    fn report() -> TrainReport {
        TrainReport {
            epochs: 12,
            final_loss: 0.5,
            converged_epoch: None,
            samples_per_s: 123.45,
            valid_accuracy: None,
            best_valid_accuracy: None,
            checkpoint: PathBuf::from("runs/x/checkpoint.slyc"),
            out_dir: PathBuf::from("runs/x"),
        }
    }

    #[test]
    fn summary_says_whether_the_pattern_was_matched() {
        let matched = TrainReport {
            converged_epoch: Some(11),
            ..report()
        };
        assert_eq!(
            printed(|o| summary(o, "pattern", true, &matched)),
            "pattern: output matches the target at epoch 11 (the paper needed 739)\n\
             12 epochs, final loss 0.500000, 123.5 samples/s; wrote runs/x\n"
        );
        let text = printed(|o| summary(o, "pattern", true, &report()));
        assert!(
            text.starts_with("pattern: no match within 12 epochs\n"),
            "{text}"
        );
    }

    #[test]
    fn summary_of_a_classifier_gives_its_accuracy() {
        let r = TrainReport {
            valid_accuracy: Some(0.9),
            best_valid_accuracy: Some(0.925),
            ..report()
        };
        assert_eq!(
            printed(|o| summary(o, "nmnist", false, &r)),
            "validation accuracy 90.00 % (best 92.50 %, saved as best.slyc)\n\
             12 epochs, final loss 0.500000, 123.5 samples/s; wrote runs/x\n"
        );
    }
}

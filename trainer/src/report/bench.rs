//! `slayer bench`: the throughput tables.

use std::io::{self, Write};

use crate::bench::{BenchRow, FwdBwdRow};

/// Prints the heading of the training-throughput table on `device` and
/// its column names; [`train_row`] prints each case under it as it ends.
pub fn train_header(out: &mut impl Write, device: &str) -> io::Result<()> {
    writeln!(out, "slayer bench on {device}")?;
    writeln!(
        out,
        "{:<13} {:>14} {:>6} {:>6} {:>16} {:>14}",
        "case", "shape", "bins", "batch", "train samples/s", "hidden sp/smp"
    )
}

/// Prints one case of the training-throughput table.
pub fn train_row(out: &mut impl Write, r: &BenchRow) -> io::Result<()> {
    writeln!(
        out,
        "{:<13} {:>14} {:>6} {:>6} {:>16.1} {:>14.0}",
        r.name, r.shape, r.bins, r.batch, r.train_samples_per_s, r.hidden_spikes_per_sample
    )
}

/// Prints a forward + backward case as a table of its own: heading,
/// column names and its row (peak memory in MiB, `-` where not measured).
pub fn fwd_bwd(out: &mut impl Write, r: &FwdBwdRow) -> io::Result<()> {
    let mib =
        |b: Option<usize>| b.map_or("-".to_string(), |b| format!("{:.0}", b as f64 / 1048576.0));
    writeln!(out, "slayer bench (forward + backward) on {}", r.device)?;
    writeln!(
        out,
        "{:<10} {:>12} {:>5} {:>5} {:>10} {:>12} {:>10} {:>11} {:>11}",
        "case",
        "shape",
        "bins",
        "batch",
        "backward",
        "s/iter",
        "samples/s",
        "tensor MiB",
        "device MiB"
    )?;
    writeln!(
        out,
        "{:<10} {:>12} {:>5} {:>5} {:>10} {:>12.4} {:>10.1} {:>11} {:>11}",
        r.name,
        r.shape,
        r.bins,
        r.batch,
        if r.input_grad { "full" } else { "weights" },
        r.seconds_per_iter,
        r.samples_per_s,
        mib(r.tensors_peak_bytes),
        mib(r.device_peak_bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::printed;

    #[test]
    fn train_table_has_a_row_per_case() {
        let r = BenchRow {
            name: "nmnist-mlp".into(),
            shape: "2312-512-10".into(),
            bins: 300,
            batch: 8,
            train_samples_per_s: 41.26,
            hidden_spikes_per_sample: 812.4,
            batches: 5,
        };
        let text = printed(|o| {
            train_header(o, "cpu (2 threads)")?;
            train_row(o, &r)
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "slayer bench on cpu (2 threads)");
        assert!(lines[1].starts_with("case "), "{text}");
        assert!(
            lines[1].ends_with("train samples/s  hidden sp/smp"),
            "{text}"
        );
        assert_eq!(
            lines[2],
            "nmnist-mlp       2312-512-10    300      8             41.3            812"
        );
    }

    #[test]
    fn fwd_bwd_table_gives_memory_in_mib() {
        let r = FwdBwdRow {
            name: "snn-4096".into(),
            shape: "4096-4096".into(),
            bins: 500,
            batch: 16,
            device: "cuda:0".into(),
            input_grad: false,
            seconds_per_iter: 0.01234,
            best_seconds: 0.012,
            samples_per_s: 1296.6,
            iters: 40,
            tensors_peak_bytes: Some(3 * 1048576),
            device_peak_bytes: None,
        };
        let text = printed(|o| fwd_bwd(o, &r));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "slayer bench (forward + backward) on cuda:0");
        assert!(lines[1].ends_with("tensor MiB  device MiB"), "{text}");
        assert_eq!(
            lines[2],
            "snn-4096      4096-4096   500    16    weights       0.0123     1296.6           3           -"
        );
    }
}

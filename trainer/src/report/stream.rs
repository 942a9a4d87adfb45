//! `slayer stream`: the opening line, the running decisions, label
//! windows, live statistics and the closing summary.

use std::io::{self, Write};
use std::path::Path;

use slayer_core::Model;

use super::class_name;
use crate::stream::{self, Decision, Progress, StreamReport, WindowResult};

/// Prints what is about to run: the source, the model (input shape,
/// outputs, bins of Ts ms), the decision window and the pacing (`speed`:
/// the replay factor, `None` as fast as possible).
pub fn header(
    out: &mut impl Write,
    input: &Path,
    model_path: &Path,
    model: &Model<'_>,
    window_ms: f64,
    speed: Option<f64>,
) -> io::Result<()> {
    let s = model.input_shape();
    writeln!(
        out,
        "streaming {} through {} ({}x{}x{} -> {}, {} bins of {} ms), decision window {} ms{}",
        input.display(),
        model_path.display(),
        s.c,
        s.h,
        s.w,
        model.outputs(),
        model.bins(),
        f64::from(model.ts()),
        window_ms,
        match speed {
            Some(1.0) => ", paced at recording speed".to_string(),
            Some(f) => format!(", paced at {f}x recording speed"),
            None => ", as fast as possible".to_string(),
        }
    )
}

/// Prints a running decision: stream time, class (`*` when it changed),
/// window counts and, with labels, the label (`ok` when they match).
pub fn decision(out: &mut impl Write, d: &Decision<'_>) -> io::Result<()> {
    let label = match d.label {
        Some(l) => format!("  label {l}{}", if d.class == Some(l) { " ok" } else { "" }),
        None => String::new(),
    };
    writeln!(
        out,
        "{:>10.1} ms  class {:>2}{}  counts {:?}{label}",
        d.t_ms,
        class_name(d.class),
        if d.changed { "*" } else { " " },
        d.counts
    )
}

/// Prints how the decisions went during a label window.
pub fn window(out: &mut impl Write, w: &WindowResult) -> io::Result<()> {
    writeln!(
        out,
        "window {} [{:.3} s, {:.3} s): label {}, majority decision {}{} ({:.0} % of {} bins agree)",
        w.index,
        w.start_us as f64 * 1e-6,
        w.end_us as f64 * 1e-6,
        w.label,
        class_name(w.majority),
        if w.majority == Some(w.label) {
            " ok"
        } else {
            ""
        },
        100.0 * w.agreement,
        w.bins
    )
}

/// Prints a line of live statistics (rates, latency, lag, drops).
pub fn progress(out: &mut impl Write, p: &Progress) -> io::Result<()> {
    let lag = p
        .lag_us
        .map(|l| format!(", lag {l:.0} µs"))
        .unwrap_or_default();
    writeln!(
        out,
        "[{:>6.1} s wall, {:>7.2} s stream] {:.0} ev/s in, {:.0} ev/s processed, bin latency p50 {:.1} µs p99 {:.1} µs max {:.1} µs{lag}, dropped {}, malformed {}",
        p.wall_s,
        p.stream_s,
        p.events_per_s_in,
        p.events_per_s_processed,
        p.latency.p50_us,
        p.latency.p99_us,
        p.latency.max_us,
        p.counters.dropped(),
        p.counters.malformed()
    )
}

/// Prints the summary of a finished stream: the input mapping, the
/// counters, throughput, latency (and lag when paced), activity per layer,
/// the final decision, the label score, the profile, where two threads cut
/// the network (`cut_given`: at `--cut`, else after timing), and peak
/// memory.
pub fn summary(out: &mut impl Write, r: &StreamReport, cut_given: bool) -> io::Result<()> {
    let c = &r.counters;
    writeln!(out, "{}", r.input_map)?;
    writeln!(
        out,
        "{} events in ({} packets, {} bytes), {} binned ({} merged), dropped {} (late {}, cropped {}, out of range {}, invalid {}, timestamp outliers {}), malformed {}: {} bad packet headers, {} resyncs, {} events lost, {} bytes skipped",
        c.events_in, c.packets, c.bytes, c.binned, c.merged, r.dropped, c.late, c.cropped,
        c.out_of_range, c.invalid, c.time_outliers, r.malformed, c.bad_packets, c.desyncs,
        c.lost_events, c.skipped_bytes
    )?;
    writeln!(
        out,
        "{} bins ({:.3} s of stream, {} segment(s)) in {:.3} s: {:.1}x real time, {:.0} events/s in, {:.0} processed",
        c.bins, r.stream_s, c.segments, r.wall_s, r.realtime_factor, r.events_per_s_in, r.events_per_s_processed
    )?;
    writeln!(
        out,
        "per-bin latency: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs (mean {:.1} µs)",
        r.latency.p50_us, r.latency.p99_us, r.latency.max_us, r.latency.mean_us
    )?;
    if let Some(p) = &r.paced {
        writeln!(
            out,
            "paced at {}x ({:.0} events/s arriving): lag p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs, final {:.1} µs (mean of first/last {} bins {:.1} / {:.1} µs); end-to-end p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            p.speed, p.arrival_events_per_s, p.lag.p50_us, p.lag.p99_us, p.lag.max_us, p.final_lag_us,
            stream::LAG_EDGE_BINS, p.lag_first_bins_mean_us, p.lag_last_bins_mean_us,
            p.end_to_end.p50_us, p.end_to_end.p99_us, p.end_to_end.max_us
        )?;
    }
    let act: Vec<String> = r
        .activity
        .iter()
        .map(|l| format!("{}:{} {:.2}", l.layer, l.kind, l.spikes_per_bin))
        .collect();
    writeln!(out, "spikes per bin by layer: {}", act.join(", "))?;
    writeln!(
        out,
        "output spikes {:?}; final decision {}, {} changes",
        r.output_counts,
        class_name(r.final_class),
        r.decision_changes
    )?;
    if let Some(l) = &r.labels {
        writeln!(
            out,
            "label windows: majority decision equals the label in {}/{} ({:.1} %)",
            l.majority_correct,
            l.windows,
            100.0 * l.fraction
        )?;
    }
    if let Some(p) = &r.profile {
        writeln!(
            out,
            "profile (µs per bin): read {:.2}, binning {:.2}, engine io {:.2}, neuron updates {:.2}, synaptic scatter {:.2}, delays {:.2}, decision {:.2}",
            p.read_us, p.bin_us, p.engine_io_us, p.update_us, p.scatter_us, p.delay_us, p.decide_us
        )?;
        for (l, a) in p.layers.iter().zip(&r.activity_by_layer()) {
            writeln!(
                out,
                "  {:>2} {:<9} update {:>8.2}  scatter {:>8.2}  delay {:>8.2}  spikes/bin {:>8.2}",
                l.layer, l.kind, l.update_us, l.scatter_us, l.delay_us, a
            )?;
        }
    }
    if let Some(at) = r.cut_at {
        let last = r.activity_by_layer().len().max(at + 1) - 1;
        writeln!(
            out,
            "two threads: layers 0-{} on the reading thread, {at}-{last} on a worker ({})",
            at - 1,
            if cut_given {
                "--cut".to_string()
            } else {
                format!("cut after timing {} bins", stream::split_calibration_bins())
            }
        )?;
    }
    if let Some(kib) = r.max_rss_kib {
        writeln!(out, "max RSS {kib} KiB")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use slayer_core::{ModelBuilder, NeuronConsts, NeuronParams, Shape, WeightBits};

    use super::*;
    use crate::report::printed;
    use crate::stream::stats::{Counters, Quantiles};
    use crate::stream::{LabelSummary, LayerActivity};

    #[test]
    fn header_describes_model_and_pacing() {
        let input = Shape { c: 2, h: 3, w: 4 };
        let mut b = ModelBuilder::new(1.0, 300, WeightBits::I8, input);
        let p = NeuronParams {
            theta: 10.0,
            tau_s: 1.0,
            tau_r: 1.0,
            scale_ref: 2.0,
        };
        let neuron = NeuronConsts::derive(&p, 1.0).expect("valid constants");
        b.dense(24, 5, &[0; 120], neuron, 0.01)
            .expect("a dense layer");
        let model = b.build().expect("a valid model");
        let text = printed(|o| {
            header(
                o,
                Path::new("in.aedat"),
                Path::new("m.slym"),
                &model,
                300.0,
                Some(1.0),
            )?;
            header(
                o,
                Path::new("-"),
                Path::new("m.slym"),
                &model,
                50.0,
                Some(2.5),
            )?;
            header(o, Path::new("-"), Path::new("m.slym"), &model, 50.0, None)
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "streaming in.aedat through m.slym (2x3x4 -> 5, 300 bins of 1 ms), decision window 300 ms, paced at recording speed"
        );
        assert!(lines[1].ends_with("decision window 50 ms, paced at 2.5x recording speed"));
        assert!(lines[2].ends_with(", as fast as possible"));
    }

    #[test]
    fn decision_and_window_lines_mark_agreement_with_the_label() {
        let d = Decision {
            bin: 12,
            t_ms: 12.0,
            class: Some(3),
            counts: &[0, 1, 0, 4],
            changed: true,
            label: Some(3),
        };
        assert_eq!(
            printed(|o| decision(o, &d)),
            "      12.0 ms  class  3*  counts [0, 1, 0, 4]  label 3 ok\n"
        );
        let silent = Decision {
            class: None,
            changed: false,
            label: None,
            ..d
        };
        assert_eq!(
            printed(|o| decision(o, &silent)),
            "      12.0 ms  class  -   counts [0, 1, 0, 4]\n"
        );
        let w = WindowResult {
            index: 2,
            label: 5,
            start_us: 1_500_000,
            end_us: 3_250_000,
            majority: Some(5),
            agreement: 0.625,
            bins: 1750,
        };
        assert_eq!(
            printed(|o| window(o, &w)),
            "window 2 [1.500 s, 3.250 s): label 5, majority decision 5 ok (62 % of 1750 bins agree)\n"
        );
    }

    #[test]
    fn progress_line_gives_rates_and_lag() {
        let p = Progress {
            wall_s: 2.0,
            stream_s: 1.5,
            counters: Counters {
                late: 3,
                bad_packets: 1,
                ..Counters::default()
            },
            events_per_s_in: 1000.4,
            events_per_s_processed: 990.0,
            latency: Quantiles {
                count: 10,
                p50_us: 1.25,
                p99_us: 5.0,
                max_us: 7.5,
                mean_us: 2.0,
            },
            lag_us: Some(12.0),
        };
        assert_eq!(
            printed(|o| progress(o, &p)),
            "[   2.0 s wall,    1.50 s stream] 1000 ev/s in, 990 ev/s processed, bin latency p50 1.2 µs p99 5.0 µs max 7.5 µs, lag 12 µs, dropped 3, malformed 1\n"
        );
    }

    #[test]
    fn summary_counts_events_and_gives_the_final_decision() {
        let r = StreamReport {
            counters: Counters {
                events_in: 100,
                binned: 90,
                late: 10,
                bins: 300,
                segments: 1,
                ..Counters::default()
            },
            dropped: 10,
            malformed: 0,
            faults: 0,
            first_faults: Vec::new(),
            input_map: "input map: sensor 128x128 -> 2x32x32".to_string(),
            stream_s: 0.3,
            wall_s: 0.1,
            realtime_factor: 3.0,
            events_per_s_in: 1000.0,
            events_per_s_processed: 900.0,
            cut_at: None,
            latency: Quantiles::default(),
            paced: None,
            activity: vec![LayerActivity {
                layer: 0,
                kind: "dense",
                neurons: 10,
                spikes_per_bin: 0.5,
            }],
            decision_changes: 2,
            final_class: Some(1),
            output_counts: vec![3, 7],
            labels: Some(LabelSummary {
                windows: 4,
                majority_correct: 3,
                fraction: 0.75,
            }),
            profile: None,
            max_rss_kib: Some(2048),
        };
        let text = printed(|o| summary(o, &r, false));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "input map: sensor 128x128 -> 2x32x32");
        assert!(
            lines[1].starts_with(
                "100 events in (0 packets, 0 bytes), 90 binned (0 merged), dropped 10 (late 10,"
            ),
            "{text}"
        );
        assert!(lines[2]
            .starts_with("300 bins (0.300 s of stream, 1 segment(s)) in 0.100 s: 3.0x real time"));
        assert_eq!(lines[4], "spikes per bin by layer: 0:dense 0.50");
        assert_eq!(
            lines[5],
            "output spikes [3, 7]; final decision 1, 2 changes"
        );
        assert_eq!(
            lines[6],
            "label windows: majority decision equals the label in 3/4 (75.0 %)"
        );
        assert_eq!(lines[7], "max RSS 2048 KiB");
        assert_eq!(lines.len(), 8, "{text}");
    }
}

//! `slayer link`: the board's identity, one line per recording checked
//! against the host, and the totals.

use std::io::{self, Write};

use slayer_core::link::Identity;

use super::class_name;
use crate::link::Checked;

/// Prints who answered on `port`: its target, model CRC and shape, bin
/// width, state arena, and the decision window (`window` bins).
pub fn identity(out: &mut impl Write, port: &str, id: &Identity, window: u32) -> io::Result<()> {
    writeln!(
        out,
        "board on {port}: {}, model {:08x} ({} -> {}, Ts {} µs), arena {}/{} words; decision every {window} bins",
        id.target,
        id.model_crc,
        id.inputs,
        id.outputs,
        id.ts_us,
        id.state_words,
        id.arena_words
    )
}

/// Prints one checked recording: with `verbose` first every decision
/// window of the board, then a line with the verdict (board = host or
/// not), the traffic, the last decision, what was lost or late and the
/// board's instructions per bin (`instructions_per_tick` from its
/// identity), and, when board and host differ, both results.
pub fn recording(
    out: &mut impl Write,
    c: &Checked,
    instructions_per_tick: u32,
    verbose: bool,
) -> io::Result<()> {
    let b = &c.board;
    let (mean, max) = c.instructions_per_bin(instructions_per_tick);
    if verbose {
        for (w, last, class, counts) in &b.decisions {
            writeln!(
                out,
                "  window {w} (bins ..={last}): {} {counts:?}",
                class_name(class.map(usize::from))
            )?;
        }
    }
    writeln!(
        out,
        "{}: {} — {} events in {} frames ({} bytes damaged), {} bins, {} decision(s), the last: {}; lost {} frames ({} CRC errors, {} unreadable, {} overflows, {} ring overruns); late {} events, {} bins over budget; {:.0} mean / {} worst instructions per bin",
        c.name,
        if c.identical { "board = host" } else { "BOARD DIFFERS FROM HOST" },
        c.events,
        c.frames,
        c.damaged_bytes,
        b.counters.bins,
        b.decisions.len(),
        match b.decisions.last().map(|d| d.2) {
            Some(Some(c)) => format!("class {c}"),
            Some(None) => "no output spike".to_string(),
            None => "none".to_string(),
        },
        b.counters.frames_lost,
        b.counters.crc_errors,
        b.counters.bad_frames,
        b.counters.overflows,
        b.counters.rx_overruns,
        b.counters.late,
        b.counters.bins_late,
        mean,
        max
    )?;
    if !c.identical {
        writeln!(
            out,
            "  board: {} decisions, counts {:?}, {:?}\n  host:  {} decisions, counts {:?}, {:?}",
            b.decisions.len(),
            b.counts,
            b.counters,
            c.host.decisions.len(),
            c.host.counts,
            c.host.counters
        )?;
    }
    Ok(())
}

/// The totals over the recordings of a `slayer link` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Recordings checked.
    pub recordings: usize,
    /// Those on which board and host differ.
    pub differ: usize,
    /// Bins the board stepped.
    pub steps: u64,
    /// Cost ticks of all those steps.
    pub ticks: u64,
    /// Ticks of the most expensive step.
    pub worst_ticks: u32,
}

impl Tally {
    /// Counts one checked recording in.
    pub fn add(&mut self, c: &Checked) {
        self.recordings += 1;
        self.differ += usize::from(!c.identical);
        self.ticks += c.board.cost.ticks;
        self.steps += u64::from(c.board.cost.steps);
        self.worst_ticks = self.worst_ticks.max(c.board.cost.max_ticks);
    }

    /// Recordings on which board and host agree.
    pub fn identical(&self) -> usize {
        self.recordings - self.differ
    }

    /// Mean instructions per bin over all recordings (0 without bins).
    pub fn mean_instructions_per_bin(&self, instructions_per_tick: u32) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            (self.ticks * u64::from(instructions_per_tick)) as f64 / self.steps as f64
        }
    }

    /// Instructions of the most expensive bin.
    pub fn worst_instructions_per_bin(&self, instructions_per_tick: u32) -> u64 {
        u64::from(self.worst_ticks) * u64::from(instructions_per_tick)
    }
}

/// Prints the totals: recordings identical on board and host, bins, mean
/// and worst instructions per bin against the bin's budget (`id`: the
/// board's identity).
pub fn totals(out: &mut impl Write, t: &Tally, id: &Identity) -> io::Result<()> {
    let ipt = id.instructions_per_tick;
    writeln!(
        out,
        "{}/{} recordings identical on board and host; {} bins, {:.0} mean / {} worst instructions per bin (budget {} µs per bin)",
        t.identical(),
        t.recordings,
        t.steps,
        t.mean_instructions_per_bin(ipt),
        t.worst_instructions_per_bin(ipt),
        id.ts_us
    )
}

#[cfg(test)]
mod tests {
    use slayer_core::link::StepCost;

    use super::*;
    use crate::link::RunResult;
    use crate::report::printed;

    fn board_id() -> Identity {
        Identity {
            target: heapless::String::try_from("cortex-m4f").expect("short"),
            model_crc: 0xdead_beef,
            inputs: 2312,
            outputs: 10,
            ts_us: 1000,
            state_words: 500,
            arena_words: 4096,
            instructions_per_tick: 4,
            sensor: (34, 34),
        }
    }

    fn checked(identical: bool) -> Checked {
        let board = RunResult {
            decisions: vec![
                (0, 99, Some(3), vec![0, 0, 0, 5]),
                (1, 199, None, vec![0; 4]),
            ],
            counts: vec![0, 0, 0, 5],
            cost: StepCost {
                steps: 200,
                ticks: 1000,
                max_ticks: 20,
                stack_bytes: 0,
            },
            ..RunResult::default()
        };
        Checked {
            name: "a.bs2".into(),
            events: 1234,
            frames: 5,
            damaged_bytes: 0,
            host: if identical {
                board.clone()
            } else {
                RunResult::default()
            },
            board,
            identical,
        }
    }

    #[test]
    fn identity_line_gives_crc_in_hex() {
        assert_eq!(
            printed(|o| identity(o, "tcp:localhost:4444", &board_id(), 100)),
            "board on tcp:localhost:4444: cortex-m4f, model deadbeef (2312 -> 10, Ts 1000 µs), arena 500/4096 words; decision every 100 bins\n"
        );
    }

    #[test]
    fn recording_line_gives_the_verdict_and_cost() {
        let text = printed(|o| recording(o, &checked(true), 4, true));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "  window 0 (bins ..=99): 3 [0, 0, 0, 5]");
        assert_eq!(lines[1], "  window 1 (bins ..=199): - [0, 0, 0, 0]");
        assert!(
            lines[2].starts_with("a.bs2: board = host — 1234 events in 5 frames (0 bytes damaged), 0 bins, 2 decision(s), the last: no output spike;"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("; 20 mean / 80 worst instructions per bin"),
            "{text}"
        );
        assert_eq!(lines.len(), 3);

        let text = printed(|o| recording(o, &checked(false), 4, false));
        assert!(
            text.starts_with("a.bs2: BOARD DIFFERS FROM HOST — "),
            "{text}"
        );
        assert!(
            text.contains("\n  board: 2 decisions, counts [0, 0, 0, 5], "),
            "{text}"
        );
        assert!(
            text.contains("\n  host:  0 decisions, counts [], "),
            "{text}"
        );
    }

    #[test]
    fn totals_add_up_the_recordings() {
        let mut t = Tally::default();
        t.add(&checked(true));
        t.add(&checked(false));
        assert_eq!(
            (t.recordings, t.differ, t.steps, t.ticks, t.worst_ticks),
            (2, 1, 400, 2000, 20)
        );
        assert_eq!(
            printed(|o| totals(o, &t, &board_id())),
            "1/2 recordings identical on board and host; 400 bins, 20 mean / 80 worst instructions per bin (budget 1000 µs per bin)\n"
        );
        assert_eq!(Tally::default().mean_instructions_per_bin(4), 0.0);
    }
}

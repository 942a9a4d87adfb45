//! Decisions scored against label windows (recording time): each
//! window's majority decision and how many of its bins agreed.

use super::{Sink, WindowResult};
use crate::data::LabelWindow;

/// Decisions tallied per label window.
#[derive(Debug)]
pub struct Labels {
    windows: Vec<LabelWindow>,
    cur: Option<usize>,
    votes: Vec<u64>,
    bins: u64,
    agree: u64,
    /// Windows scored (some of their bins were processed).
    pub scored: u64,
    /// Windows whose majority decision equals their label.
    pub correct: u64,
}

impl Labels {
    /// Scores decisions over `outputs` classes against `windows`.
    pub fn new(windows: Vec<LabelWindow>, outputs: usize) -> Self {
        Self {
            windows,
            cur: None,
            votes: vec![0; outputs + 1],
            bins: 0,
            agree: 0,
            scored: 0,
            correct: 0,
        }
    }

    fn window_of(&self, abs_us: i64) -> Option<usize> {
        self.windows
            .iter()
            .position(|w| (w.start_us as i64) <= abs_us && abs_us < w.end_us as i64)
    }

    /// Tallies one bin (recording time `abs_us`); returns its label.
    pub fn bin(&mut self, abs_us: i64, class: Option<usize>, sink: &mut dyn Sink) -> Option<usize> {
        let w = self.window_of(abs_us);
        if w != self.cur {
            self.finish(sink);
            self.cur = w;
        }
        let label = self.windows.get(w?)?.class;
        let none = self.votes.len() - 1;
        self.votes[class.map_or(none, |c| c.min(none))] += 1;
        self.bins += 1;
        self.agree += u64::from(class == Some(label));
        Some(label)
    }

    /// Closes the current window (if any bins fell in it).
    pub fn finish(&mut self, sink: &mut dyn Sink) {
        if let Some(w) = self.cur.take() {
            if self.bins > 0 {
                let none = self.votes.len() - 1;
                let mut best = none;
                for (i, &v) in self.votes.iter().enumerate() {
                    if v > self.votes[best] {
                        best = i;
                    }
                }
                let majority = (best != none).then_some(best);
                let lw = self.windows[w];
                self.scored += 1;
                self.correct += u64::from(majority == Some(lw.class));
                sink.on_window(&WindowResult {
                    index: w,
                    label: lw.class,
                    start_us: lw.start_us,
                    end_us: lw.end_us,
                    majority,
                    agreement: self.agree as f64 / self.bins as f64,
                    bins: self.bins,
                });
            }
        }
        self.votes.fill(0);
        self.bins = 0;
        self.agree = 0;
    }
}

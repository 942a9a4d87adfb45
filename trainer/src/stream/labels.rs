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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Windows(Vec<WindowResult>);

    impl Sink for Windows {
        fn on_window(&mut self, w: &WindowResult) {
            self.0.push(*w);
        }
    }

    #[test]
    fn each_window_gets_its_majority_and_agreement() {
        let w = |class, start_us, end_us| LabelWindow {
            class,
            start_us,
            end_us,
        };
        let mut l = Labels::new(vec![w(1, 1000, 4000), w(0, 5000, 7000)], 2);
        let mut sink = Windows::default();
        // Before the first window: no label.
        assert_eq!(l.bin(500, Some(1), &mut sink), None);
        // Window 0 (class 1): decisions 1, 1, none.
        assert_eq!(l.bin(1000, Some(1), &mut sink), Some(1));
        assert_eq!(l.bin(2000, Some(1), &mut sink), Some(1));
        assert_eq!(l.bin(3000, None, &mut sink), Some(1));
        // Window 1 (class 0): decisions none, none, 0 (no spikes wins).
        for (t, c) in [(5000, None), (5500, None), (6000, Some(0))] {
            assert_eq!(l.bin(t, c, &mut sink), Some(0));
        }
        l.finish(&mut sink);
        let r = &sink.0;
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].index, r[0].label, r[0].majority, r[0].bins),
            (0, 1, Some(1), 3)
        );
        assert!((r[0].agreement - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!((r[1].index, r[1].majority, r[1].bins), (1, None, 3));
        assert!((r[1].agreement - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((l.scored, l.correct), (2, 1));
    }
}

//! The running decision: the argmax of the output spike counts over a
//! sliding window of the last bins.

/// Sliding-window decision: output spike counts of the last `window` bins.
#[derive(Debug)]
pub struct Decider {
    outputs: usize,
    window: usize,
    /// Each bin's output spike counts (saturating), `window × outputs`.
    ring: Vec<u8>,
    /// The ring's oldest bin.
    pos: usize,
    /// Output spike counts over the window.
    pub counts: Vec<u32>,
    /// The argmax of `counts` (lowest index on ties; `None`: no spikes).
    pub class: Option<usize>,
    /// How often the class changed.
    pub changes: u64,
}

impl Decider {
    /// A window of `window` bins (at least 1) over `outputs` outputs.
    pub fn new(outputs: usize, window: usize) -> Self {
        let window = window.max(1);
        Self {
            outputs,
            window,
            ring: vec![0; outputs * window],
            pos: 0,
            counts: vec![0; outputs],
            class: None,
            changes: 0,
        }
    }

    /// Adds a bin's output spikes; true when the decision changed.
    pub fn push(&mut self, outs: &[u32]) -> bool {
        let n = self.outputs;
        let row = &mut self.ring[self.pos * n..(self.pos + 1) * n];
        for (c, r) in self.counts.iter_mut().zip(row.iter_mut()) {
            *c -= u32::from(*r);
            *r = 0;
        }
        for &o in outs {
            if let (Some(r), Some(c)) = (row.get_mut(o as usize), self.counts.get_mut(o as usize)) {
                *r = r.saturating_add(1);
                *c += 1;
            }
        }
        self.pos = (self.pos + 1) % self.window;
        let mut best: Option<usize> = None;
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 && best.is_none_or(|b| c > self.counts[b]) {
                best = Some(i);
            }
        }
        let changed = best != self.class;
        self.class = best;
        self.changes += u64::from(changed);
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_use_a_sliding_window() {
        let mut d = Decider::new(3, 2);
        assert!(!d.push(&[]));
        assert_eq!(d.class, None);
        assert!(d.push(&[1]));
        assert_eq!(d.class, Some(1));
        assert!(!d.push(&[1, 2]));
        assert_eq!(d.counts, vec![0, 2, 1]);
        assert!(d.push(&[2])); // the first [1] leaves the window: 1 vs 2
        assert_eq!((d.counts.clone(), d.class), (vec![0, 1, 2], Some(2)));
        assert_eq!(d.changes, 2);
    }
}

//! The open bin: the model inputs that received an event during it ("OR"
//! binning: an input spikes at most once per bin), as a bitset for the
//! duplicate test plus the list of active inputs the engine takes, both
//! allocated once.

/// What [`BinBuffer::add`] did with an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The input's first event in the bin: it is now active.
    New,
    /// The input was already active in the bin (merged by OR).
    Merged,
    /// Not an input of the model (nothing kept).
    Outside,
}

/// The inputs active in the open bin, in the order of their first event.
#[derive(Debug, Clone)]
pub struct BinBuffer {
    /// One bit per model input.
    seen: Vec<u64>,
    /// The inputs whose bit is set.
    active: Vec<u32>,
}

impl BinBuffer {
    /// An empty bin for a model of `inputs` inputs.
    pub fn new(inputs: usize) -> Self {
        Self {
            seen: vec![0; inputs.div_ceil(64)],
            active: Vec::with_capacity(1024),
        }
    }

    /// Adds an event at input `i`.
    #[inline]
    pub fn add(&mut self, i: u32) -> Added {
        let (w, bit) = ((i / 64) as usize, 1u64 << (i % 64));
        let Some(word) = self.seen.get_mut(w) else {
            return Added::Outside;
        };
        if *word & bit == 0 {
            *word |= bit;
            self.active.push(i);
            Added::New
        } else {
            Added::Merged
        }
    }

    /// The active inputs (the engine's input list for the bin).
    #[inline]
    pub fn active(&self) -> &[u32] {
        &self.active
    }

    /// Empties the bin for the next one (in time proportional to its
    /// active inputs, not to the model's).
    pub fn clear(&mut self) {
        for &i in &self.active {
            if let Some(w) = self.seen.get_mut((i / 64) as usize) {
                *w = 0;
            }
        }
        self.active.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_is_active_once_per_bin() {
        let mut b = BinBuffer::new(130);
        assert_eq!(b.add(7), Added::New);
        assert_eq!(b.add(129), Added::New);
        assert_eq!(b.add(7), Added::Merged);
        assert_eq!(b.add(64), Added::New);
        assert_eq!(b.active(), &[7, 129, 64]);
        // Beyond the last bitset word: not an input.
        assert_eq!(b.add(192), Added::Outside);
        assert_eq!(b.active(), &[7, 129, 64]);
        b.clear();
        assert!(b.active().is_empty());
        // A cleared bin takes the same inputs anew.
        assert_eq!(b.add(7), Added::New);
        assert_eq!(b.add(8), Added::New);
        assert_eq!(b.add(7), Added::Merged);
        assert_eq!(b.active(), &[7, 8]);
    }

    #[test]
    fn clearing_resets_every_word_touched() {
        let mut b = BinBuffer::new(64 * 4);
        for i in (0..256).step_by(3) {
            assert_eq!(b.add(i), Added::New);
        }
        b.clear();
        for i in 0..256 {
            assert_eq!(b.add(i), Added::New, "{i}");
        }
    }
}

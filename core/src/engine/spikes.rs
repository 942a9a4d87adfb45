//! Iterating spikes: a caller's index list or a bit-packed vector.

/// The indices of the neurons that spiked, in one bin: either a caller's
/// list (indices at or past a limit skipped) or the set bits of a bit-packed
/// vector (ascending), optionally followed by the set bits of a second
/// vector from an offset (`Spikes::then`).
#[derive(Debug, Clone)]
pub struct Spikes<'x> {
    inner: Inner<'x>,
    /// Bits to go on with once `inner` ends, and the index of their bit 0.
    tail: Option<(&'x [i32], u32)>,
}

#[derive(Debug, Clone)]
enum Inner<'x> {
    List {
        list: &'x [u32],
        limit: u32,
    },
    Bits {
        words: &'x [i32],
        base: u32,
        cur: u32,
    },
}

impl<'x> Spikes<'x> {
    /// The entries of `list` below `limit`.
    pub(crate) fn list(list: &'x [u32], limit: u32) -> Self {
        Self {
            inner: Inner::List { list, limit },
            tail: None,
        }
    }

    /// The set bits of `words` (bit `j % 32` of word `j / 32` is neuron `j`).
    pub(crate) fn bits(words: &'x [i32]) -> Self {
        Self {
            inner: bits_from(words, 0),
            tail: None,
        }
    }

    /// These spikes, then the set bits of `words` as indices `base + j`
    /// (replacing any tail given before).
    pub(crate) fn then(self, words: &'x [i32], base: u32) -> Self {
        Self {
            inner: self.inner,
            tail: Some((words, base)),
        }
    }
}

/// The set bits of `words`, bit `j` as index `base + j`.
fn bits_from(words: &[i32], base: u32) -> Inner<'_> {
    let (cur, words) = match words.split_first() {
        Some((&w, rest)) => (w as u32, rest),
        None => (0, words),
    };
    Inner::Bits { words, base, cur }
}

impl Iterator for Spikes<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        match self.step() {
            Some(i) => Some(i),
            None => {
                let (words, base) = self.tail.take()?;
                self.inner = bits_from(words, base);
                self.step()
            }
        }
    }
}

impl Spikes<'_> {
    /// The next index of `inner`.
    #[inline]
    fn step(&mut self) -> Option<u32> {
        match &mut self.inner {
            Inner::List { list, limit } => loop {
                let (&i, rest) = list.split_first()?;
                *list = rest;
                if i < *limit {
                    return Some(i);
                }
            },
            Inner::Bits { words, base, cur } => loop {
                if *cur != 0 {
                    let b = cur.trailing_zeros();
                    *cur &= *cur - 1;
                    return Some(*base + b);
                }
                let (&w, rest) = words.split_first()?;
                *words = rest;
                *cur = w as u32;
                *base = base.wrapping_add(32);
            },
        }
    }
}

/// Sets bit `j` of a bit-packed vector (ignored past its end).
#[inline]
pub(crate) fn set(words: &mut [i32], j: usize) {
    if let Some(w) = words.get_mut(j / 32) {
        *w |= (1u32 << (j % 32)) as i32;
    }
}

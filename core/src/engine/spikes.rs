//! Iterating spikes: a caller's index list or a bit-packed vector.

/// The indices of the neurons that spiked, in one bin: either a caller's
/// list (indices at or past a limit skipped) or the set bits of a bit-packed
/// vector (ascending).
#[derive(Debug, Clone)]
pub struct Spikes<'x> {
    inner: Inner<'x>,
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
        }
    }

    /// The set bits of `words` (bit `j % 32` of word `j / 32` is neuron `j`).
    pub(crate) fn bits(words: &'x [i32]) -> Self {
        let (cur, words) = match words.split_first() {
            Some((&w, rest)) => (w as u32, rest),
            None => (0, words),
        };
        Self {
            inner: Inner::Bits {
                words,
                base: 0,
                cur,
            },
        }
    }
}

impl Iterator for Spikes<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
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

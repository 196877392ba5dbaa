//! Event membership as a packed bitset: one bit per event, 64 events per word.
//!
//! Why a bitset rather than `Vec<bool>`: a 1M-event population is 125 kB
//! instead of 1 MB, Boolean gates and the parent AND are word-wide `&`/`|`/`!`,
//! and counting is `count_ones`. Gate kernels fill whole words, so a chunk of
//! words is a chunk of events that a rayon task owns outright — results do not
//! depend on how the work is split.

/// One bit per event; bits past `len` in the last word are always zero.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bitset {
    words: Vec<u64>,
    len: usize,
}

impl Bitset {
    /// All events out.
    pub fn zeros(len: usize) -> Self {
        Bitset {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// All events in.
    pub fn ones(len: usize) -> Self {
        let mut b = Bitset {
            words: vec![u64::MAX; len.div_ceil(64)],
            len,
        };
        b.clear_tail();
        b
    }

    /// Builds from one flag per event.
    pub fn from_bools(flags: &[bool]) -> Self {
        let mut b = Bitset::zeros(flags.len());
        pack_bools(flags, &mut b.words);
        b
    }

    /// Wraps words computed elsewhere (a gate kernel); bits past `len` are cleared.
    pub(crate) fn from_words(words: Vec<u64>, len: usize) -> Self {
        let mut b = Bitset { words, len };
        b.words.resize(len.div_ceil(64), 0);
        b.clear_tail();
        b
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no events.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether event `i` is in; `false` past the end.
    pub fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
    }

    /// Sets event `i` (ignored past the end).
    pub fn set(&mut self, i: usize, value: bool) {
        if i >= self.len {
            return;
        }
        if let Some(w) = self.words.get_mut(i / 64) {
            let mask = 1u64 << (i % 64);
            if value {
                *w |= mask;
            } else {
                *w &= !mask;
            }
        }
    }

    /// Number of events in.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The packed words (event `i` is bit `i % 64` of word `i / 64`).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// `self &= other` (sets of different lengths: missing events count as out).
    pub fn and_assign(&mut self, other: &Bitset) {
        for (i, w) in self.words.iter_mut().enumerate() {
            *w &= other.words.get(i).copied().unwrap_or(0);
        }
    }

    /// `self |= other`.
    pub fn or_assign(&mut self, other: &Bitset) {
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w |= o;
        }
        self.clear_tail();
    }

    /// Complement in place.
    pub fn not_assign(&mut self) {
        for w in &mut self.words {
            *w = !*w;
        }
        self.clear_tail();
    }

    /// Indices of the events that are in, ascending.
    pub fn iter_ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }

    /// One flag per event.
    pub fn to_bools(&self) -> Vec<bool> {
        (0..self.len).map(|i| self.get(i)).collect()
    }

    fn clear_tail(&mut self) {
        let r = self.len % 64;
        if r != 0 {
            if let Some(last) = self.words.last_mut() {
                *last &= (1u64 << r) - 1;
            }
        }
    }
}

crate::simd::multiversion! {
    /// Packs one flag per event into words, 64 events per word.
    fn pack_bools(flags: &[bool], words: &mut [u64]) {
        for (w, chunk) in words.iter_mut().zip(flags.chunks(64)) {
            *w = chunk
                .iter()
                .enumerate()
                .fold(0u64, |acc, (k, &f)| acc | (u64::from(f) << k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_bits_stay_clear() {
        let mut b = Bitset::zeros(70);
        b.not_assign();
        assert_eq!(b.count(), 70);
        assert_eq!(Bitset::ones(130).count(), 130);
        b.set(69, false);
        b.set(200, true);
        assert_eq!(b.count(), 69);
        assert!(!b.get(69) && b.get(68) && !b.get(500));
    }

    #[test]
    fn bools_round_trip_and_ops() {
        let flags: Vec<bool> = (0..150).map(|i| i % 3 == 0).collect();
        let a = Bitset::from_bools(&flags);
        assert_eq!(a.to_bools(), flags);
        assert_eq!(a.count(), 50);
        assert_eq!(a.iter_ones().take(3).collect::<Vec<_>>(), vec![0, 3, 6]);
        let b = Bitset::from_bools(&(0..150).map(|i| i % 2 == 0).collect::<Vec<_>>());
        let mut and = a.clone();
        and.and_assign(&b);
        assert_eq!(and.count(), 25); // multiples of 6 below 150
        let mut or = a.clone();
        or.or_assign(&b);
        assert_eq!(or.count(), 100); // 75 + 50 - 25
    }
}

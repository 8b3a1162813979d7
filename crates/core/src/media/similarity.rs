//! Whether two clips show the same footage, and where one sits inside the other. Each clip is
//! reduced to one perceptual hash per second (see [`crate::media::phash`]); sliding one
//! sequence along the other finds a copy that was cut, re-encoded or rescaled — a copy the
//! byte digest cannot recognise.
//!
//! Known limitation: footage in which nothing changes (a lens cap, a camera lying on a desk)
//! hashes to the same value every second and would "match" any other such footage at every
//! offset. Windows in which both sides are a single repeated hash are therefore skipped; two
//! wholly static clips never match, even if they are copies, because nothing in them could
//! prove it.

use super::phash::hamming;

/// Where the best alignment of two hash sequences lies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// Position of `b`'s first sample within `a`, in seconds (samples). Negative when `a`
    /// starts inside `b`.
    pub offset_seconds: i64,
    /// How many seconds the two sequences share at that offset.
    pub overlap_seconds: u32,
    /// Mean Hamming distance between the paired hashes over the overlap (0–64).
    pub mean_distance: f64,
}

/// When an alignment counts as a match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchRules {
    /// Largest mean Hamming distance still taken as the same footage. Re-encoded copies sit
    /// around 2–6; unrelated footage around 32.
    pub max_mean_distance: f64,
    /// Shortest overlap considered, so that one similar second does not make a match. Shorter
    /// sequences are compared over their whole length.
    pub min_overlap_seconds: u32,
}

impl Default for MatchRules {
    fn default() -> Self {
        Self {
            max_mean_distance: 10.0,
            min_overlap_seconds: 3,
        }
    }
}

/// For each index, how many consecutive equal values start there; lets each window ask
/// "is this all one value?" in constant time.
fn runs(seq: &[u64]) -> Vec<usize> {
    let mut out = vec![1; seq.len()];
    for i in (0..seq.len().saturating_sub(1)).rev() {
        if seq[i] == seq[i + 1] {
            out[i] = out[i + 1] + 1;
        }
    }
    out
}

/// The best alignment of `b` against `a`, if it is close enough to be the same footage.
///
/// Every offset whose overlap is at least `min(min_overlap_seconds, a.len(), b.len())` (and
/// at least 1) is tried; the lowest mean distance wins, a longer overlap breaks ties, and a
/// smaller |offset| breaks remaining ties. Cost is O(a.len() × b.len()): an hour against an
/// hour is 13 million XORs.
pub fn best_match(a: &[u64], b: &[u64], rules: &MatchRules) -> Option<Match> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let need = (rules.min_overlap_seconds as usize)
        .min(a.len())
        .min(b.len())
        .max(1);
    let runs_a = runs(a);
    let runs_b = runs(b);
    let (a_len, b_len) = (a.len() as i64, b.len() as i64);

    let mut best: Option<Match> = None;
    for offset in -(b_len - 1)..a_len {
        let start_a = offset.max(0) as usize;
        let end_a = (offset + b_len).min(a_len) as usize;
        let overlap = end_a - start_a;
        if overlap < need {
            continue;
        }
        let start_b = (start_a as i64 - offset) as usize;
        if runs_a[start_a] >= overlap && runs_b[start_b] >= overlap {
            continue;
        }
        let total: u64 = a[start_a..end_a]
            .iter()
            .zip(&b[start_b..start_b + overlap])
            .map(|(&x, &y)| u64::from(hamming(x, y)))
            .sum();
        let candidate = Match {
            offset_seconds: offset,
            overlap_seconds: u32::try_from(overlap).unwrap_or(u32::MAX),
            mean_distance: total as f64 / overlap as f64,
        };
        let better = match &best {
            None => true,
            Some(current) => {
                (
                    candidate.mean_distance,
                    std::cmp::Reverse(candidate.overlap_seconds),
                    candidate.offset_seconds.unsigned_abs(),
                ) < (
                    current.mean_distance,
                    std::cmp::Reverse(current.overlap_seconds),
                    current.offset_seconds.unsigned_abs(),
                )
            }
        };
        if better {
            best = Some(candidate);
        }
    }
    best.filter(|m| m.mean_distance <= rules.max_mean_distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic test data without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn seq(&mut self, n: usize) -> Vec<u64> {
            (0..n).map(|_| self.next()).collect()
        }
    }

    #[test]
    fn finds_a_cut_at_its_offset() {
        let a = Rng(7).seq(120);
        let b = a[40..70].to_vec();
        let m = best_match(&a, &b, &MatchRules::default()).unwrap();
        assert_eq!(m.offset_seconds, 40);
        assert_eq!(m.overlap_seconds, 30);
        assert_eq!(m.mean_distance, 0.0);
    }

    #[test]
    fn finds_overlap_when_a_starts_inside_b() {
        let whole = Rng(11).seq(100);
        let a = whole[50..].to_vec();
        let b = whole[20..80].to_vec();
        let m = best_match(&a, &b, &MatchRules::default()).unwrap();
        assert_eq!(m.offset_seconds, -30);
        assert_eq!(m.overlap_seconds, 30);
    }

    #[test]
    fn noisy_copy_matches() {
        let mut rng = Rng(3);
        let a = rng.seq(60);
        let b: Vec<u64> = a
            .iter()
            .map(|&h| {
                let flips = rng.next() % 5;
                (0..flips).fold(h, |h, _| h ^ (1 << (rng.next() % 64)))
            })
            .collect();
        let m = best_match(&a, &b, &MatchRules::default()).unwrap();
        assert_eq!(m.offset_seconds, 0);
        assert!(m.mean_distance <= 4.0);
    }

    #[test]
    fn unrelated_sequences_do_not_match() {
        let a = Rng(5).seq(200);
        let b = Rng(9).seq(50);
        assert_eq!(best_match(&a, &b, &MatchRules::default()), None);
    }

    #[test]
    fn empty_input_is_no_match() {
        let a = Rng(1).seq(10);
        assert_eq!(best_match(&a, &[], &MatchRules::default()), None);
        assert_eq!(best_match(&[], &a, &MatchRules::default()), None);
    }

    #[test]
    fn short_sequences_use_their_whole_length() {
        let a = Rng(2).seq(20);
        let b = vec![a[7], a[8]];
        let m = best_match(&a, &b, &MatchRules::default()).unwrap();
        assert_eq!((m.offset_seconds, m.overlap_seconds), (7, 2));
    }

    #[test]
    fn static_footage_does_not_match_static_footage() {
        assert_eq!(
            best_match(&[42; 30], &[42; 10], &MatchRules::default()),
            None
        );
        // But static footage in `a` still pairs with moving footage that contains it.
        let mut a = Rng(4).seq(20);
        a.extend([42; 5]);
        let b = a[15..].to_vec();
        let m = best_match(&a, &b, &MatchRules::default()).unwrap();
        assert_eq!(m.offset_seconds, 15);
    }
}

//! Whether two clips show the same footage, and where one sits inside the other. Each clip is
//! reduced to one perceptual hash per second (see [`crate::media::phash`]); sliding one
//! sequence along the other finds a copy that was cut, re-encoded or rescaled — a copy the
//! byte digest cannot recognise.
//!
//! Known limitation: footage in which nothing changes (a lens cap, a camera lying on a desk)
//! hashes to the same value every second and would "match" any other such footage at every
//! offset. Windows in which both sides are a single repeated hash are therefore skipped; two
//! wholly static clips never match, even if they are copies, because nothing in them could
//! prove it. A photo is the exception: it is one hash by nature, and matching one second of
//! a clip is all the evidence a photo can give (so a photo of a lens cap matches one too).

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
/// at least 1) is tried, except stretches where both sides repeat one hash (two still
/// scenes prove nothing), unless one side is a photo (a single hash); the lowest mean distance wins, a longer overlap breaks ties, and a
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
    // A photo is one picture: matching one second of the other is the evidence there is.
    let photo = a.len() == 1 || b.len() == 1;

    let mut best: Option<Match> = None;
    for offset in -(b_len - 1)..a_len {
        let start_a = offset.max(0) as usize;
        let end_a = (offset + b_len).min(a_len) as usize;
        let overlap = end_a - start_a;
        if overlap < need {
            continue;
        }
        let start_b = (start_a as i64 - offset) as usize;
        if !photo && runs_a[start_a] >= overlap && runs_b[start_b] >= overlap {
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

/// A stretch of seconds two clips share: `seconds` long, starting `start_seconds` into `a`
/// and `other_start_seconds` into `b`. Where a clip was cut, spliced or excerpted, each piece
/// it shares with the other is one span, and the gaps between spans show what is missing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start_seconds: u32,
    pub other_start_seconds: u32,
    pub seconds: u32,
    /// Mean Hamming distance over the span (0–64).
    pub mean_distance: f64,
}

/// Every stretch of at least `min_overlap_seconds` (never fewer than 2) in which each second
/// of `b` is within `max_mean_distance` of the same second of `a` at a constant offset, longest
/// first, with no two spans sharing a second of `a` or of `b`. A whole-clip mean hides a
/// removed span (both halves match, the mean over the overlap does not); runs do not.
/// Stretches where both sides are one repeated hash prove nothing and are skipped. Cost is
/// O(a.len() × b.len()), like [`best_match`].
pub fn matching_spans(a: &[u64], b: &[u64], rules: &MatchRules) -> Vec<Span> {
    let need = (rules.min_overlap_seconds as usize).max(2);
    if a.len() < need || b.len() < need {
        return Vec::new();
    }
    let runs_a = runs(a);
    let runs_b = runs(b);
    let (a_len, b_len) = (a.len() as i64, b.len() as i64);
    let mut candidates = Vec::new();
    for offset in -(b_len - 1)..a_len {
        let start_a = offset.max(0) as usize;
        let end_a = (offset + b_len).min(a_len) as usize;
        if end_a - start_a < need {
            continue;
        }
        let start_b = (start_a as i64 - offset) as usize;
        let mut run: Option<(usize, u64)> = None;
        for i in 0..=(end_a - start_a) {
            let close = (i < end_a - start_a)
                .then(|| hamming(a[start_a + i], b[start_b + i]))
                .filter(|&d| f64::from(d) <= rules.max_mean_distance);
            match (close, run) {
                (Some(d), Some((from, total))) => run = Some((from, total + u64::from(d))),
                (Some(d), None) => run = Some((i, u64::from(d))),
                (None, Some((from, total))) => {
                    let length = i - from;
                    let (at_a, at_b) = (start_a + from, start_b + from);
                    let static_both = runs_a[at_a] >= length && runs_b[at_b] >= length;
                    if length >= need && !static_both {
                        candidates.push(Span {
                            start_seconds: u32::try_from(at_a).unwrap_or(u32::MAX),
                            other_start_seconds: u32::try_from(at_b).unwrap_or(u32::MAX),
                            seconds: u32::try_from(length).unwrap_or(u32::MAX),
                            mean_distance: total as f64 / length as f64,
                        });
                    }
                    run = None;
                }
                (None, None) => {}
            }
        }
    }
    candidates.sort_by(|x, y| {
        y.seconds
            .cmp(&x.seconds)
            .then(x.mean_distance.total_cmp(&y.mean_distance))
            .then(x.start_seconds.cmp(&y.start_seconds))
    });
    let overlaps = |x0: u32, xn: u32, y0: u32, yn: u32| x0 < y0 + yn && y0 < x0 + xn;
    let mut chosen: Vec<Span> = Vec::new();
    for span in candidates {
        let clash = chosen.iter().any(|c| {
            overlaps(span.start_seconds, span.seconds, c.start_seconds, c.seconds)
                || overlaps(
                    span.other_start_seconds,
                    span.seconds,
                    c.other_start_seconds,
                    c.seconds,
                )
        });
        if !clash {
            chosen.push(span);
        }
    }
    chosen.sort_by_key(|s| s.start_seconds);
    chosen
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
    fn a_photo_matches_the_second_of_a_clip_that_shows_it() {
        let clip = Rng(8).seq(12);
        let photo = [clip[7] ^ 0b1011];
        let m = best_match(&clip, &photo, &MatchRules::default()).unwrap();
        assert_eq!((m.offset_seconds, m.overlap_seconds), (7, 1));
        // A still clip of the scene too, and nothing unrelated.
        assert!(best_match(&[clip[7]; 4], &photo, &MatchRules::default()).is_some());
        assert_eq!(best_match(&clip, &[!clip[7]], &MatchRules::default()), None);
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

    #[test]
    fn a_span_removed_from_the_middle_leaves_two_spans_and_shows_the_cut() {
        let a = Rng(21).seq(10);
        // Seconds 4, 5 and 6 removed; the rest keeps playing.
        let b: Vec<u64> = a[..4].iter().chain(&a[7..]).copied().collect();
        let spans = matching_spans(&a, &b, &MatchRules::default());
        let shape: Vec<(u32, u32, u32)> = spans
            .iter()
            .map(|s| (s.start_seconds, s.other_start_seconds, s.seconds))
            .collect();
        assert_eq!(shape, vec![(0, 0, 4), (7, 4, 3)]);
    }

    #[test]
    fn a_splice_of_two_sources_is_found_in_each() {
        let first = Rng(31).seq(20);
        let second = Rng(32).seq(20);
        let spliced: Vec<u64> = first[5..11].iter().chain(&second[2..8]).copied().collect();
        let in_first = matching_spans(&first, &spliced, &MatchRules::default());
        let in_second = matching_spans(&second, &spliced, &MatchRules::default());
        assert_eq!(in_first.len(), 1);
        assert_eq!(
            (
                in_first[0].start_seconds,
                in_first[0].other_start_seconds,
                in_first[0].seconds
            ),
            (5, 0, 6)
        );
        assert_eq!(
            (
                in_second[0].start_seconds,
                in_second[0].other_start_seconds,
                in_second[0].seconds
            ),
            (2, 6, 6)
        );
    }

    #[test]
    fn unrelated_and_static_footage_share_no_span() {
        let a = Rng(41).seq(300);
        let b = Rng(42).seq(300);
        assert!(matching_spans(&a, &b, &MatchRules::default()).is_empty());
        let still = vec![0x0F0F_0F0F_0F0F_0F0F; 30];
        assert!(matching_spans(&still, &still, &MatchRules::default()).is_empty());
    }

    #[test]
    fn noisy_copies_still_match_second_by_second() {
        let mut rng = Rng(51);
        let a = rng.seq(30);
        // A few bits flipped each second, as re-encoding does.
        let b: Vec<u64> = a
            .iter()
            .map(|h| h ^ (rng.next() & 0x0101_0000_0000_0101))
            .collect();
        let spans = matching_spans(&a, &b, &MatchRules::default());
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].seconds, 30);
    }
}

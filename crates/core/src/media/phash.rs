//! Perceptual hashes of video frames, so that a clip can be recognised after it has been
//! re-encoded, rescaled or brightened — which a byte digest cannot do. The hash follows the
//! usual DCT construction: the lowest 8×8 frequencies of a 32×32 grey thumbnail, one bit per
//! frequency, set when that frequency is stronger than the median. Two hashes of the same
//! picture differ in a few bits; hashes of unrelated pictures differ in about half.

use std::sync::OnceLock;

/// Side of the square luma thumbnail [`phash`] expects, in pixels.
pub const HASH_SIDE: usize = 32;

/// Side of the square of low frequencies kept; 8×8 gives the 64 bits of the hash.
const LOW: usize = 8;

/// Below this magnitude (relative to the thumbnail's total energy) a coefficient is treated as
/// exactly zero. Without it, rounding noise in the AC terms of a flat picture would decide the
/// bits at random, and two identical flat frames could hash differently across platforms.
const NOISE: f64 = 1e-9;

/// `TABLE[k][x]` = α(k)·cos((2x+1)kπ / 2N): the orthonormal DCT-II basis for the first
/// [`LOW`] frequencies. Orthonormal scaling matters because the median compares the first
/// row and column with the rest; an unscaled transform would over-weight them.
fn table() -> &'static [[f64; HASH_SIDE]; LOW] {
    static TABLE: OnceLock<[[f64; HASH_SIDE]; LOW]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let n = HASH_SIDE as f64;
        let mut table = [[0.0; HASH_SIDE]; LOW];
        for (k, row) in table.iter_mut().enumerate() {
            let alpha = if k == 0 {
                (1.0 / n).sqrt()
            } else {
                (2.0 / n).sqrt()
            };
            for (x, cell) in row.iter_mut().enumerate() {
                *cell = alpha
                    * ((2.0 * x as f64 + 1.0) * k as f64 * std::f64::consts::PI / (2.0 * n)).cos();
            }
        }
        table
    })
}

/// The 64-bit perceptual hash of a 32×32 row-major 8-bit luma thumbnail.
///
/// Bit `8·v + u` holds the coefficient of horizontal frequency `u` and vertical frequency `v`
/// (bit 0 is the DC term, which is set for any picture that is not black). The median is
/// taken over the 63 AC coefficients only, because the DC term measures brightness, not
/// structure, and would shift the median of a bright picture.
///
/// Pictures with structure in one direction only (plain gradients, stripes) have almost all
/// AC coefficients zero, hence a median of zero and hashes of nearly all zero bits; such
/// pictures all look alike to this hash. Camera footage does not have that problem.
///
/// A slice whose length is not `HASH_SIDE * HASH_SIDE` (1024) yields 0 — the same hash as an
/// all-black thumbnail, i.e. "no picture". The caller builds the thumbnail, so a wrong length
/// is a programming error, but hashing runs over untrusted footage and must not panic.
pub fn phash(luma: &[u8]) -> u64 {
    if luma.len() != HASH_SIDE * HASH_SIDE {
        return 0;
    }
    let table = table();

    // The transform is separable: rows first (keeping only the low horizontal frequencies),
    // then columns. That costs 32·32·8 + 32·8·8 multiplications instead of 32⁴.
    let mut rows = [[0.0f64; LOW]; HASH_SIDE];
    for (y, row_out) in rows.iter_mut().enumerate() {
        let pixels = &luma[y * HASH_SIDE..(y + 1) * HASH_SIDE];
        for (u, out) in row_out.iter_mut().enumerate() {
            *out = pixels
                .iter()
                .zip(table[u].iter())
                .map(|(&p, &c)| f64::from(p) * c)
                .sum();
        }
    }
    let mut coefficients = [0.0f64; LOW * LOW];
    for v in 0..LOW {
        for u in 0..LOW {
            coefficients[v * LOW + u] = (0..HASH_SIDE).map(|y| rows[y][u] * table[v][y]).sum();
        }
    }

    let scale = coefficients[0].abs().max(1.0);
    for c in coefficients.iter_mut() {
        if c.abs() < NOISE * scale {
            *c = 0.0;
        }
    }

    let mut ac: Vec<f64> = coefficients[1..].to_vec();
    ac.sort_by(f64::total_cmp);
    let median = ac[ac.len() / 2];

    coefficients
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > median)
        .fold(0u64, |hash, (i, _)| hash | (1u64 << i))
}

/// How many bits two hashes differ in: 0 for the same picture, about 32 for unrelated ones.
/// Turns a `HASH_SIDE`² thumbnail as coded into the picture as displayed: `rotation`
/// counter-clockwise degrees (0, 90, 180, 270), then mirrored left to right if asked. A phone
/// video with a rotation tag, its re-encoded copy with the rotation baked in, and a photo
/// of the same scene then hash alike.
pub fn upright(
    luma: &[u8; HASH_SIDE * HASH_SIDE],
    rotation: u32,
    mirrored: bool,
) -> [u8; HASH_SIDE * HASH_SIDE] {
    const N: usize = HASH_SIDE;
    let mut out = [0u8; N * N];
    for y in 0..N {
        for x in 0..N {
            // The mirror comes last, so the displayed (x, y) is (mx, y) of the turned picture;
            // (sx, sy) is where that pixel is in the coded thumbnail.
            let mx = if mirrored { N - 1 - x } else { x };
            let (sx, sy) = match rotation {
                90 => (N - 1 - y, mx),
                180 => (N - 1 - mx, N - 1 - y),
                270 => (y, N - 1 - mx),
                _ => (mx, y),
            };
            out[y * N + x] = luma[sy * N + sx];
        }
    }
    out
}

pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_turn_upright_as_the_picture_is_shown() {
        let n = HASH_SIDE;
        let mut coded = [0u8; HASH_SIDE * HASH_SIDE];
        coded[n - 1] = 255; // the coded top-right corner
        let at = |t: &[u8; HASH_SIDE * HASH_SIDE]| t.iter().position(|&v| v == 255).unwrap();
        // Turned 90° counter-clockwise, the top-right corner is shown top-left.
        assert_eq!(at(&upright(&coded, 90, false)), 0);
        // Turned clockwise (270° counter-clockwise), it is shown bottom-right.
        assert_eq!(at(&upright(&coded, 270, false)), n * n - 1);
        assert_eq!(at(&upright(&coded, 180, false)), (n - 1) * n);
        assert_eq!(at(&upright(&coded, 0, true)), 0);
        assert_eq!(upright(&coded, 0, false), coded);
    }

    const N: usize = HASH_SIDE;

    fn image(f: impl Fn(usize, usize) -> f64) -> Vec<u8> {
        let mut out = Vec::with_capacity(N * N);
        for y in 0..N {
            for x in 0..N {
                out.push(f(x, y).round().clamp(0.0, 255.0) as u8);
            }
        }
        out
    }

    /// A "scene": a few soft blobs of different brightness, like a thumbnail of real footage.
    fn scene(blobs: &[(f64, f64, f64, f64)]) -> Vec<u8> {
        image(|x, y| {
            let mut v = 60.0;
            for &(cx, cy, r, amp) in blobs {
                let d2 = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2);
                v += amp * (-d2 / (2.0 * r * r)).exp();
            }
            v
        })
    }

    fn street() -> Vec<u8> {
        scene(&[
            (8.0, 10.0, 5.0, 150.0),
            (24.0, 6.0, 4.0, 90.0),
            (18.0, 26.0, 7.0, 120.0),
        ])
    }

    fn room() -> Vec<u8> {
        scene(&[
            (26.0, 24.0, 6.0, 170.0),
            (6.0, 28.0, 3.0, 100.0),
            (12.0, 4.0, 8.0, 80.0),
        ])
    }

    fn blur(img: &[u8]) -> Vec<u8> {
        image(|x, y| {
            let mut sum = 0.0;
            let mut count = 0.0;
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (xx, yy) = (x as i64 + dx, y as i64 + dy);
                    if (0..N as i64).contains(&xx) && (0..N as i64).contains(&yy) {
                        sum += f64::from(img[yy as usize * N + xx as usize]);
                        count += 1.0;
                    }
                }
            }
            sum / count
        })
    }

    /// Down to 16×16 by averaging, back up by repetition: what a low-resolution copy does.
    fn rescale(img: &[u8]) -> Vec<u8> {
        image(|x, y| {
            let (bx, by) = (x / 2 * 2, y / 2 * 2);
            let sum: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                .iter()
                .map(|(dx, dy)| u32::from(img[(by + dy) * N + bx + dx]))
                .sum();
            f64::from(sum) / 4.0
        })
    }

    #[test]
    fn identical_images_hash_identically() {
        assert_eq!(hamming(phash(&street()), phash(&street())), 0);
    }

    #[test]
    fn brightened_blurred_and_rescaled_copies_stay_close() {
        let original = phash(&street());
        let brighter: Vec<u8> = street().iter().map(|&p| p.saturating_add(30)).collect();
        assert!(hamming(original, phash(&brighter)) < 8);
        assert!(hamming(original, phash(&blur(&street()))) < 8);
        assert!(hamming(original, phash(&rescale(&street()))) < 8);
        assert!(hamming(original, phash(&rescale(&blur(&brighter)))) < 8);
    }

    #[test]
    fn unrelated_pictures_are_far_apart() {
        let checkerboard = image(|x, y| {
            if (x / 4 + y / 4) % 2 == 0 {
                230.0
            } else {
                20.0
            }
        });
        let circles = image(|x, y| {
            let r = ((x as f64 - 15.5).powi(2) + (y as f64 - 15.5).powi(2)).sqrt();
            128.0 + 110.0 * (r / 2.0).sin()
        });
        assert!(hamming(phash(&checkerboard), phash(&circles)) > 20);
        assert!(hamming(phash(&street()), phash(&room())) > 20);
        // Purely one-dimensional patterns (stripes, plain gradients) are not used here: all
        // their energy sits in the first row or column of coefficients, the other 56 are zero
        // and so is the median, and their hashes are nearly all zero bits — close to each
        // other. Real footage is never that sparse.
    }

    #[test]
    fn flat_and_wrong_sized_inputs_are_deterministic() {
        assert_eq!(phash(&[0; N * N]), 0);
        assert_eq!(phash(&[1, 2, 3]), 0);
        // Only the DC bit: a flat grey frame has no structure to describe.
        assert_eq!(phash(&[128; N * N]), 1);
    }

    #[test]
    fn fast_enough() {
        let img = street();
        let started = std::time::Instant::now();
        let mut acc = 0u64;
        for _ in 0..1000 {
            acc ^= phash(std::hint::black_box(&img));
        }
        std::hint::black_box(acc);
        // Debug builds are slow; this only catches an accidental O(N⁴) transform.
        assert!(started.elapsed().as_secs_f64() < 5.0);
    }
}

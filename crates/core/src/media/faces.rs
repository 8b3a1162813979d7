//! Faces found in a frame, from a CenterFace detector's outputs (the media adapter runs the
//! network; this reads its numbers): every cell of the heat map above a threshold is a face
//! centre, with its box from the predicted log-scale and offset, and overlapping boxes of one
//! face are merged by non-maximum suppression. Boxes are fractions of the frame, so they are
//! redaction regions as they stand.

use serde::{Deserialize, Serialize};

/// The network's output stride: a heat-map cell is 4 x 4 input pixels.
const STRIDE: f32 = 4.0;

/// A face: its box as fractions of the frame, and how sure the detector is (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub score: f32,
}

impl FaceBox {
    fn area(&self) -> f32 {
        self.width * self.height
    }

    /// Intersection over union with `other`.
    pub fn iou(&self, other: &FaceBox) -> f32 {
        let left = self.x.max(other.x);
        let top = self.y.max(other.y);
        let right = (self.x + self.width).min(other.x + other.width);
        let bottom = (self.y + self.height).min(other.y + other.height);
        let overlap = (right - left).max(0.0) * (bottom - top).max(0.0);
        let union = self.area() + other.area() - overlap;
        if union > 0.0 {
            overlap / union
        } else {
            0.0
        }
    }
}

/// The detector's outputs for one frame of `input_width` x `input_height`: the heat map
/// (`rows` x `cols`), the log-scales of each box's height and width, and the offsets of each
/// centre (y, then x), each plane `rows * cols` long in row order.
pub struct Outputs<'a> {
    pub heat: &'a [f32],
    pub scale_height: &'a [f32],
    pub scale_width: &'a [f32],
    pub offset_y: &'a [f32],
    pub offset_x: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub input_width: usize,
    pub input_height: usize,
}

/// Faces scoring above `threshold`, one box per face (overlaps above `overlap` merged into
/// the surest), best first.
pub fn decode(outputs: &Outputs<'_>, threshold: f32, overlap: f32) -> Vec<FaceBox> {
    let (w, h) = (outputs.input_width as f32, outputs.input_height as f32);
    let cells = outputs.rows * outputs.cols;
    let planes = [
        outputs.heat,
        outputs.scale_height,
        outputs.scale_width,
        outputs.offset_y,
        outputs.offset_x,
    ];
    if w <= 0.0 || h <= 0.0 || planes.iter().any(|p| p.len() < cells) {
        return Vec::new();
    }
    let mut found = Vec::new();
    for row in 0..outputs.rows {
        for col in 0..outputs.cols {
            let i = row * outputs.cols + col;
            let score = outputs.heat[i];
            // NaN never passes.
            if score.is_nan() || score <= threshold {
                continue;
            }
            let box_h = outputs.scale_height[i].exp() * STRIDE;
            let box_w = outputs.scale_width[i].exp() * STRIDE;
            let centre_x = (col as f32 + outputs.offset_x[i] + 0.5) * STRIDE;
            let centre_y = (row as f32 + outputs.offset_y[i] + 0.5) * STRIDE;
            let left = (centre_x - box_w / 2.0).clamp(0.0, w);
            let top = (centre_y - box_h / 2.0).clamp(0.0, h);
            let right = (left + box_w).min(w);
            let bottom = (top + box_h).min(h);
            if right <= left || bottom <= top {
                continue;
            }
            found.push(FaceBox {
                x: left / w,
                y: top / h,
                width: (right - left) / w,
                height: (bottom - top) / h,
                score,
            });
        }
    }
    suppress(found, overlap)
}

/// Keeps the surest of every group of boxes overlapping more than `overlap`.
pub fn suppress(mut boxes: Vec<FaceBox>, overlap: f32) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<FaceBox> = Vec::new();
    for candidate in boxes {
        if kept.iter().all(|k| k.iou(&candidate) <= overlap) {
            kept.push(candidate);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs of an 8 x 8 heat map (a 32 x 32 input) with faces at the given cells.
    fn outputs(faces: &[(usize, usize, f32)]) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut heat = vec![0.0; 64];
        for &(row, col, score) in faces {
            heat[row * 8 + col] = score;
        }
        // Every box 8 x 8 pixels (exp(ln 2) * 4), centred on its cell.
        (heat, vec![2f32.ln(); 64], vec![0.0; 64], vec![0.0; 64])
    }

    #[test]
    fn a_hot_cell_is_a_box_around_its_centre_in_fractions_of_the_frame() {
        let (heat, scale, offset, zero) = outputs(&[(3, 4, 0.9)]);
        let found = decode(
            &Outputs {
                heat: &heat,
                scale_height: &scale,
                scale_width: &scale,
                offset_y: &offset,
                offset_x: &zero,
                rows: 8,
                cols: 8,
                input_width: 32,
                input_height: 32,
            },
            0.5,
            0.3,
        );
        // Centre (4.5 * 4, 3.5 * 4) = (18, 14); an 8 x 8 box from (14, 10).
        assert_eq!(found.len(), 1);
        let face = found[0];
        assert!((face.x - 14.0 / 32.0).abs() < 1e-6 && (face.y - 10.0 / 32.0).abs() < 1e-6);
        assert!((face.width - 0.25).abs() < 1e-6 && (face.height - 0.25).abs() < 1e-6);
        assert_eq!(face.score, 0.9);
    }

    #[test]
    fn neighbouring_cells_of_one_face_are_one_box_and_cold_or_broken_outputs_none() {
        let (heat, scale, offset, zero) = outputs(&[(3, 4, 0.9), (3, 5, 0.7), (0, 0, 0.4)]);
        let run = |heat: &[f32], threshold| {
            decode(
                &Outputs {
                    heat,
                    scale_height: &scale,
                    scale_width: &scale,
                    offset_y: &offset,
                    offset_x: &zero,
                    rows: 8,
                    cols: 8,
                    input_width: 32,
                    input_height: 32,
                },
                threshold,
                0.3,
            )
        };
        let found = run(&heat, 0.5);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].score, 0.9);
        assert_eq!(run(&heat, 0.95), vec![]);
        // A heat map shorter than its stated size finds nothing rather than panicking.
        assert_eq!(run(&heat[..10], 0.5), vec![]);
        let nan = vec![f32::NAN; 64];
        assert_eq!(run(&nan, 0.5), vec![]);
    }

    #[test]
    fn separate_faces_stay_separate() {
        let a = FaceBox {
            x: 0.1,
            y: 0.1,
            width: 0.2,
            height: 0.2,
            score: 0.8,
        };
        let b = FaceBox {
            x: 0.6,
            y: 0.1,
            width: 0.2,
            height: 0.2,
            score: 0.9,
        };
        let near_a = FaceBox {
            x: 0.12,
            y: 0.1,
            width: 0.2,
            height: 0.2,
            score: 0.6,
        };
        assert_eq!(a.iou(&b), 0.0);
        assert!(a.iou(&near_a) > 0.5);
        assert_eq!(suppress(vec![a, b, near_a], 0.3), vec![b, a]);
    }
}

//! Faces in a clip, for the redaction of a party's copy (art. 24): the CenterFace network
//! (built into the binary, `models/README.md`) run in tract, pure Rust, on every few frames
//! scaled to at most 640 pixels on the longer side and turned upright as the clip is shown. What it finds
//! are boxes as fractions of the displayed frame, with the time of their frame, ready to be
//! linked into tracks and made regions of a plan. The decoding of the network's outputs is in
//! `custodian_core::media::faces`.

use std::path::Path;

use custodian_core::media::faces::{decode, FaceBox, Outputs};
use ffmpeg_next as ffmpeg;
use ffmpeg_next::software::scaling;
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

use crate::probe::describe_file;
use crate::{ffmpeg_error, open_input, Limits, MediaError, StopFlag};

/// The model, as committed: `models/centerface.onnx`.
static MODEL: &[u8] = include_bytes!("../models/centerface.onnx");

/// The model's SHA-256, recorded with every detection it makes.
pub const MODEL_SHA256: &str = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc";

/// The longest side of the frame the detector looks at: faces of a bystander a few metres
/// away are still 20 pixels and more across, and a frame costs about 0.2 s of one core.
pub const DETECT_SIDE: u32 = 640;

/// How sure the network must be; CenterFace's own default.
pub const THRESHOLD: f32 = 0.5;

/// Boxes of one face overlapping more than this are merged.
const OVERLAP: f32 = 0.3;

type Runnable = SimplePlan<TypedFact, Box<dyn TypedOp>, Graph<TypedFact, Box<dyn TypedOp>>>;

/// The network, built for frames of one size.
pub struct FaceDetector {
    plan: Runnable,
    width: usize,
    height: usize,
}

fn detector_error(e: impl std::fmt::Display) -> MediaError {
    MediaError::Detector(e.to_string())
}

impl FaceDetector {
    /// A detector for RGB frames of `width` x `height`, both multiples of 32.
    pub fn new(width: usize, height: usize) -> Result<Self, MediaError> {
        if width == 0 || height == 0 || width % 32 != 0 || height % 32 != 0 {
            return Err(MediaError::Detector(format!(
                "{width} x {height} is not a multiple of 32 on both sides"
            )));
        }
        let plan = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(MODEL))
            .and_then(|model| model.with_input_fact(0, f32::fact([1, 3, height, width]).into()))
            .and_then(|model| model.into_optimized())
            .and_then(|model| model.into_runnable())
            .map_err(detector_error)?;
        Ok(Self {
            plan,
            width,
            height,
        })
    }

    /// The faces in one frame: `rgb` holds `width * height` pixels, 3 bytes each, row by row.
    pub fn detect(&self, rgb: &[u8]) -> Result<Vec<FaceBox>, MediaError> {
        let (w, h) = (self.width, self.height);
        if rgb.len() != w * h * 3 {
            return Err(MediaError::Detector(format!(
                "{} bytes given for a {w} x {h} RGB frame",
                rgb.len()
            )));
        }
        let input: Tensor = tract_ndarray::Array4::from_shape_fn((1, 3, h, w), |(_, c, y, x)| {
            f32::from(rgb[(y * w + x) * 3 + c])
        })
        .into();
        let outputs = self.plan.run(tvec!(input.into())).map_err(detector_error)?;
        let plane = |index: usize| -> Result<&[f32], MediaError> {
            outputs
                .get(index)
                .ok_or_else(|| MediaError::Detector(format!("no output {index}")))?
                .as_slice::<f32>()
                .map_err(detector_error)
        };
        let (heat, scale, offset) = (plane(0)?, plane(1)?, plane(2)?);
        let (rows, cols) = (h / 4, w / 4);
        let cells = rows * cols;
        if heat.len() < cells || scale.len() < 2 * cells || offset.len() < 2 * cells {
            return Err(MediaError::Detector(
                "the network's outputs are not a quarter of its input".into(),
            ));
        }
        Ok(decode(
            &Outputs {
                heat: &heat[..cells],
                scale_height: &scale[..cells],
                scale_width: &scale[cells..2 * cells],
                offset_y: &offset[..cells],
                offset_x: &offset[cells..2 * cells],
                rows,
                cols,
                input_width: w,
                input_height: h,
            },
            THRESHOLD,
            OVERLAP,
        ))
    }
}

/// The faces found in one frame of a clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameFaces {
    /// Seconds from the clip's first frame.
    pub at: f64,
    pub faces: Vec<FaceBox>,
}

/// What a scan of a clip found, and with what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceScan {
    pub model_sha256: String,
    /// The size the frames were looked at, upright.
    pub width: u32,
    pub height: u32,
    /// Every how many decoded frames one was looked at.
    pub every: u32,
    pub frames: Vec<FrameFaces>,
}

/// The detector's frame size for a picture shown `display_width` x `display_height`: its
/// longer side at most [`DETECT_SIDE`] (a portrait clip costs what a landscape one does), the
/// aspect kept, both sides multiples of 32.
pub fn detection_size(display_width: u32, display_height: u32) -> (u32, u32) {
    let round = |n: f64| ((n / 32.0).round() as u32).max(1) * 32;
    let (w, h) = (
        f64::from(display_width.max(1)),
        f64::from(display_height.max(1)),
    );
    let scale = (f64::from(DETECT_SIDE) / w.max(h)).min(1.0);
    (round(w * scale), round(h * scale))
}

/// Looks for faces in every `every`-th frame of the clip at `path`, turned upright.
pub fn scan(
    path: &Path,
    every: u32,
    limits: &Limits,
    stop: &StopFlag,
) -> Result<FaceScan, MediaError> {
    let every = every.max(1);
    let mut input = open_input(path, stop)?;
    let info = describe_file(path, &input)?;
    info.check(limits)?;
    let picture = info.picture()?.clone();
    let (display_w, display_h) = picture.display_size();
    let (width, height) = detection_size(display_w, display_h);
    // Scaled as stored, then turned: a quarter turn swaps the sides.
    let (stored_w, stored_h) = if picture.rotation % 180 == 90 {
        (height, width)
    } else {
        (width, height)
    };
    let detector = FaceDetector::new(width as usize, height as usize)?;
    let stream = input
        .stream(picture.index)
        .ok_or_else(|| MediaError::NotVideo("video stream vanished".into()))?;
    let time_base = f64::from(stream.time_base());
    let origin = (info.start_seconds / time_base).round() as i64;
    let mut decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .map_err(ffmpeg_error("reading the video stream's parameters"))?
        .decoder()
        .video()
        .map_err(|e| MediaError::Undecodable(format!("no decoder for {}: {e}", picture.codec)))?;
    let mut scaler: Option<scaling::Context> = None;
    let mut decoded = ffmpeg::frame::Video::empty();
    let mut rgb = ffmpeg::frame::Video::empty();
    let mut frames = Vec::new();
    let mut count = 0u64;
    let mut look = |decoder: &mut ffmpeg::decoder::Video,
                    frames: &mut Vec<FrameFaces>|
     -> Result<(), MediaError> {
        while decoder.receive_frame(&mut decoded).is_ok() {
            stop.check()?;
            count += 1;
            if (count - 1) % u64::from(every) != 0 {
                continue;
            }
            let scaler = match &mut scaler {
                Some(scaler) => scaler,
                None => scaler.insert(
                    scaling::Context::get(
                        decoded.format(),
                        decoded.width(),
                        decoded.height(),
                        ffmpeg::format::Pixel::RGB24,
                        stored_w,
                        stored_h,
                        scaling::Flags::BILINEAR,
                    )
                    .map_err(ffmpeg_error("scaling frames for the face detector"))?,
                ),
            };
            scaler
                .run(&decoded, &mut rgb)
                .map_err(ffmpeg_error("scaling a frame for the face detector"))?;
            let packed = packed_rgb(&rgb, stored_w as usize, stored_h as usize);
            let upright = turn(
                &packed,
                stored_w as usize,
                stored_h as usize,
                picture.rotation,
                picture.mirrored,
            );
            let at = decoded
                .timestamp()
                .or(decoded.pts())
                .map_or(0.0, |ts| (ts - origin) as f64 * time_base);
            frames.push(FrameFaces {
                at,
                faces: detector.detect(&upright)?,
            });
        }
        Ok(())
    };
    for (stream, packet) in input.packets() {
        stop.check()?;
        if stream.index() != picture.index {
            continue;
        }
        if decoder.send_packet(&packet).is_ok() {
            look(&mut decoder, &mut frames)?;
        }
    }
    if decoder.send_eof().is_ok() {
        look(&mut decoder, &mut frames)?;
    }
    Ok(FaceScan {
        model_sha256: MODEL_SHA256.to_owned(),
        width,
        height,
        every,
        frames,
    })
}

/// The rows of an RGB24 frame without the padding at the end of each.
fn packed_rgb(frame: &ffmpeg::frame::Video, width: usize, height: usize) -> Vec<u8> {
    let stride = frame.stride(0);
    let data = frame.data(0);
    let mut packed = Vec::with_capacity(width * height * 3);
    for row in 0..height {
        let start = row * stride;
        packed.extend_from_slice(&data[start..start + width * 3]);
    }
    packed
}

/// An RGB picture of `width` x `height` turned by `rotation` degrees counter-clockwise (as
/// ffprobe states a display rotation) and then mirrored, as it is shown.
fn turn(rgb: &[u8], width: usize, height: usize, rotation: u32, mirrored: bool) -> Vec<u8> {
    let (out_w, out_h) = if rotation % 180 == 90 {
        (height, width)
    } else {
        (width, height)
    };
    let mut out = vec![0u8; rgb.len()];
    for y in 0..out_h {
        for x in 0..out_w {
            let shown_x = if mirrored { out_w - 1 - x } else { x };
            // Where the shown pixel (shown_x, y) comes from in the stored picture.
            let (sx, sy) = match rotation % 360 {
                // Counter-clockwise 90: the shown top row is the stored right column.
                90 => (width - 1 - y, shown_x),
                180 => (width - 1 - shown_x, height - 1 - y),
                270 => (y, height - 1 - shown_x),
                _ => (shown_x, y),
            };
            let from = (sy * width + sx) * 3;
            let to = (y * out_w + x) * 3;
            out[to..to + 3].copy_from_slice(&rgb[from..from + 3]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_looked_at_640_on_the_longer_side_at_most_in_multiples_of_32() {
        assert_eq!(detection_size(1920, 1080), (640, 352));
        assert_eq!(detection_size(1080, 1920), (352, 640));
        assert_eq!(detection_size(320, 240), (320, 256));
        assert_eq!(detection_size(16, 16), (32, 32));
    }

    #[test]
    fn a_picture_is_turned_as_it_is_shown() {
        // 2 x 1: red, green.
        let rgb = [255, 0, 0, 0, 255, 0];
        assert_eq!(turn(&rgb, 2, 1, 0, false), rgb);
        assert_eq!(turn(&rgb, 2, 1, 180, false), [0, 255, 0, 255, 0, 0]);
        assert_eq!(turn(&rgb, 2, 1, 0, true), [0, 255, 0, 255, 0, 0]);
        // A quarter turn counter-clockwise: the right pixel ends on top.
        assert_eq!(turn(&rgb, 2, 1, 90, false), [0, 255, 0, 255, 0, 0]);
        assert_eq!(turn(&rgb, 2, 1, 270, false), [255, 0, 0, 0, 255, 0]);
    }

    #[test]
    fn the_model_built_in_is_the_one_recorded() {
        assert_eq!(
            custodian_core::Sha256Digest::of(MODEL).to_hex(),
            MODEL_SHA256
        );
        assert!(FaceDetector::new(100, 64).is_err());
    }
}

//! Redaction of a party's copy (art. 23, 24; the Personal Information Protection Law): what
//! is hidden of the picture and the sound before a copy leaves the bureau. A plan holds
//! regions of the picture (a rectangle or an ellipse, over a span of time, moving between
//! keyframed positions), whole-frame spans, and spans of sound muted or replaced by a tone.
//! Positions and sizes are fractions of the displayed frame, so a plan holds for a copy of any
//! size; times are seconds from the first frame. The plan is checked against the clip before
//! it is kept, hashed so the copy names the plan it was made with, and turned here into the
//! FFmpeg filters that apply it: numbers and fixed words only, never text from the request.
//!
//! Strength survives re-encoding and scaling because the hidden pixels are first reduced to a
//! few samples across (blur: a handful, smoothed; pixelation: eight blocks across), so nothing
//! of the original detail is left to recover; a box replaces them outright.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// At most this many regions, whole-frame spans and sound spans each, and keyframes per
/// region: a plan is written by people, and each region costs the render a filter.
pub const MAX_REGIONS: usize = 64;
pub const MAX_SPANS: usize = 64;
pub const MAX_KEYFRAMES: usize = 600;

/// How long past the clip's end a span may reach (the last frame's duration, rounding).
const END_SLACK_SECONDS: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Rectangle,
    Ellipse,
}

/// How hidden pixels are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Reduced to a few samples across and smoothed: the shape stays, no detail.
    Blur,
    /// Eight blocks across.
    Pixelate,
    /// A solid black box.
    Box,
}

/// What replaces hidden sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sound {
    Mute,
    /// A 1 kHz tone, so a listener hears that something was removed.
    Tone,
}

/// Where a region's top-left corner is at `at` seconds; between two keyframes it moves in a
/// straight line, before the first and after the last it stays.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Keyframe {
    pub at: f64,
    pub x: f64,
    pub y: f64,
}

/// A part of the picture hidden from `start` to `end` seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Region {
    pub shape: Shape,
    pub method: Method,
    pub start: f64,
    pub end: f64,
    /// The region's size, as fractions of the frame's width and height.
    pub width: f64,
    pub height: f64,
    pub keyframes: Vec<Keyframe>,
}

/// The whole picture hidden from `start` to `end` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FrameSpan {
    pub start: f64,
    pub end: f64,
    pub method: Method,
}

/// Sound hidden from `start` to `end` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SoundSpan {
    pub start: f64,
    pub end: f64,
    pub sound: Sound,
}

/// Everything hidden in one party's copy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactionPlan {
    #[serde(default)]
    pub regions: Vec<Region>,
    #[serde(default)]
    pub frame_spans: Vec<FrameSpan>,
    #[serde(default)]
    pub sound_spans: Vec<SoundSpan>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RedactionError {
    #[error("{what}: {count} given, at most {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{what} {index}: {field} is not a number")]
    NotANumber {
        what: &'static str,
        index: usize,
        field: &'static str,
    },
    #[error("{what} {index}: from {start} s to {end} s is not a span of the clip's {duration} s")]
    BadSpan {
        what: &'static str,
        index: usize,
        start: f64,
        end: f64,
        duration: f64,
    },
    #[error("region {index}: {problem}")]
    OutsideFrame { index: usize, problem: String },
    #[error("region {index}: {problem}")]
    BadKeyframes { index: usize, problem: String },
}

fn finite(
    what: &'static str,
    index: usize,
    fields: &[(&'static str, f64)],
) -> Result<(), RedactionError> {
    match fields.iter().find(|(_, v)| !v.is_finite()) {
        Some((field, _)) => Err(RedactionError::NotANumber { what, index, field }),
        None => Ok(()),
    }
}

fn span(
    what: &'static str,
    index: usize,
    start: f64,
    end: f64,
    duration: f64,
) -> Result<(), RedactionError> {
    finite(what, index, &[("start", start), ("end", end)])?;
    if start < 0.0 || end <= start || end > duration + END_SLACK_SECONDS {
        return Err(RedactionError::BadSpan {
            what,
            index,
            start,
            end,
            duration,
        });
    }
    Ok(())
}

fn at_most(what: &'static str, count: usize, max: usize) -> Result<(), RedactionError> {
    if count > max {
        return Err(RedactionError::TooMany { what, count, max });
    }
    Ok(())
}

impl RedactionPlan {
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty() && self.frame_spans.is_empty() && self.sound_spans.is_empty()
    }

    /// Checks the plan against a clip of `duration` seconds: every span within the clip, every
    /// region inside the frame at every keyframe, keyframes in order within their region's
    /// span, and no more of anything than a person would draw.
    pub fn check(&self, duration: f64) -> Result<(), RedactionError> {
        at_most("regions", self.regions.len(), MAX_REGIONS)?;
        at_most("whole-frame spans", self.frame_spans.len(), MAX_SPANS)?;
        at_most("sound spans", self.sound_spans.len(), MAX_SPANS)?;
        for (index, region) in self.regions.iter().enumerate() {
            span("region", index, region.start, region.end, duration)?;
            finite(
                "region",
                index,
                &[("width", region.width), ("height", region.height)],
            )?;
            let outside = |problem: String| RedactionError::OutsideFrame { index, problem };
            if region.width <= 0.0
                || region.width > 1.0
                || region.height <= 0.0
                || region.height > 1.0
            {
                return Err(outside(format!(
                    "a size of {} x {} is not within the frame (fractions of its width and height, above 0 and at most 1)",
                    region.width, region.height
                )));
            }
            at_most(
                "keyframes of a region",
                region.keyframes.len(),
                MAX_KEYFRAMES,
            )?;
            if region.keyframes.is_empty() {
                return Err(RedactionError::BadKeyframes {
                    index,
                    problem: "has no keyframe: say where it is".into(),
                });
            }
            let mut last = f64::NEG_INFINITY;
            for keyframe in &region.keyframes {
                finite(
                    "region",
                    index,
                    &[
                        ("keyframe at", keyframe.at),
                        ("x", keyframe.x),
                        ("y", keyframe.y),
                    ],
                )?;
                if keyframe.at < region.start || keyframe.at > region.end || keyframe.at <= last {
                    return Err(RedactionError::BadKeyframes {
                        index,
                        problem: format!(
                            "the keyframe at {} s is not after the one before and within the region's span ({} s to {} s)",
                            keyframe.at, region.start, region.end
                        ),
                    });
                }
                last = keyframe.at;
                if keyframe.x < 0.0
                    || keyframe.y < 0.0
                    || keyframe.x + region.width > 1.0 + 1e-9
                    || keyframe.y + region.height > 1.0 + 1e-9
                {
                    return Err(outside(format!(
                        "at {} s it reaches outside the frame ({}, {} with size {} x {})",
                        keyframe.at, keyframe.x, keyframe.y, region.width, region.height
                    )));
                }
            }
        }
        for (index, frame) in self.frame_spans.iter().enumerate() {
            span("whole-frame span", index, frame.start, frame.end, duration)?;
        }
        for (index, sound) in self.sound_spans.iter().enumerate() {
            span("sound span", index, sound.start, sound.end, duration)?;
        }
        Ok(())
    }

    /// SHA-256 of the plan as stored (hex): what the copy and the trail name.
    pub fn sha256(&self) -> String {
        // A struct of numbers and words always serialises.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }

    /// The video filters that apply the plan to frames of `width` x `height` (the copy's size,
    /// after scaling): a chain that reads one picture and gives one, to be joined with `,` into
    /// the copy's filter chain before the text overlays. `None` when nothing is hidden.
    pub fn video_filter(&self, width: u32, height: u32) -> Option<String> {
        let mut parts = Vec::new();
        for (i, region) in self.regions.iter().enumerate() {
            let w = even_within(region.width * f64::from(width), width);
            let h = even_within(region.height * f64::from(height), height);
            let x = position(&region.keyframes, |k| k.x * f64::from(width), width - w);
            let y = position(&region.keyframes, |k| k.y * f64::from(height), height - h);
            let mask = match region.shape {
                Shape::Rectangle => String::new(),
                // Opaque inside the ellipse the box bounds, transparent outside it.
                Shape::Ellipse => ",format=yuva420p,geq=lum='p(X,Y)':cb='p(X,Y)':cr='p(X,Y)':a='255*lte(pow(2*X/W-1,2)+pow(2*Y/H-1,2),1)'".to_owned(),
            };
            parts.push(format!(
                "split=2[rb{i}][rs{i}];[rs{i}]crop=w={w}:h={h}:x='{x}':y='{y}',{effect}{mask}[rf{i}];[rb{i}][rf{i}]overlay=x='{x}':y='{y}':enable='between(t,{start},{end})'",
                effect = effect(region.method, w, h),
                start = region.start,
                end = region.end,
            ));
        }
        for (i, frame) in self.frame_spans.iter().enumerate() {
            parts.push(format!(
                "split=2[fb{i}][fs{i}];[fs{i}]{effect}[ff{i}];[fb{i}][ff{i}]overlay=x=0:y=0:enable='between(t,{start},{end})'",
                effect = effect(frame.method, width, height),
                start = frame.start,
                end = frame.end,
            ));
        }
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// The audio filter that mutes or replaces the plan's sound spans, to follow the copy's
    /// resampling. `None` when no sound is hidden.
    pub fn audio_filter(&self) -> Option<String> {
        if self.sound_spans.is_empty() {
            return None;
        }
        let during = |kind: Sound| {
            let spans: Vec<String> = self
                .sound_spans
                .iter()
                .filter(|s| s.sound == kind)
                .map(|s| format!("between(t,{},{})", s.start, s.end))
                .collect();
            if spans.is_empty() {
                "0".to_owned()
            } else {
                spans.join("+")
            }
        };
        Some(format!(
            "aeval=exprs='if(gt({mute},0),0,if(gt({tone},0),0.1*sin(2*PI*1000*t),val(ch)))':channel_layout=same",
            mute = during(Sound::Mute),
            tone = during(Sound::Tone),
        ))
    }
}

/// A length in pixels rounded to an even number (4:2:0 pictures), at least 2 and at most
/// `limit`.
fn even_within(pixels: f64, limit: u32) -> u32 {
    let even = ((pixels / 2.0).round() as u32) * 2;
    even.clamp(2, limit.max(2) - limit.max(2) % 2)
}

/// A per-frame expression of `t` for a coordinate that moves in straight lines between the
/// keyframes, kept within `0..=max` so the hidden box and its cover always coincide.
fn position(keyframes: &[Keyframe], coordinate: impl Fn(&Keyframe) -> f64, max: u32) -> String {
    let value = |k: &Keyframe| format!("{:.3}", coordinate(k));
    let mut expression = keyframes.last().map_or("0".to_owned(), value);
    for pair in keyframes.windows(2).rev() {
        let (a, b) = (&pair[0], &pair[1]);
        expression = format!(
            "if(lt(t,{bt}),{av}+({bv}-{av})*(t-{at})/({bt}-{at}),{expression})",
            at = a.at,
            bt = b.at,
            av = value(a),
            bv = value(b),
        );
    }
    if let Some(first) = keyframes.first() {
        expression = format!("if(lt(t,{}),{},{expression})", first.at, value(first));
    }
    format!("clip({expression},0,{max})")
}

/// The filters that hide a `w` x `h` picture.
fn effect(method: Method, w: u32, h: u32) -> String {
    match method {
        Method::Box => "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill".to_owned(),
        Method::Pixelate => {
            // Eight blocks across the longer side.
            let block = (w.max(h)).div_ceil(8).max(1);
            format!(
                "scale={}:{}:flags=area,scale={w}:{h}:flags=neighbor",
                w.div_ceil(block),
                h.div_ceil(block)
            )
        }
        Method::Blur => {
            // A handful of samples across, spread smoothly back: no detail survives.
            let samples = |n: u32| (n / 24).clamp(2, 6);
            format!(
                "scale={}:{}:flags=area,scale={w}:{h}:flags=bicubic,gblur=sigma={}",
                samples(w),
                samples(h),
                (w.min(h) / 8).max(1)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(start: f64, end: f64, keyframes: &[(f64, f64, f64)]) -> Region {
        Region {
            shape: Shape::Rectangle,
            method: Method::Blur,
            start,
            end,
            width: 0.25,
            height: 0.25,
            keyframes: keyframes
                .iter()
                .map(|&(at, x, y)| Keyframe { at, x, y })
                .collect(),
        }
    }

    #[test]
    fn a_plan_within_the_clip_and_the_frame_is_accepted() {
        let plan = RedactionPlan {
            regions: vec![region(1.0, 3.0, &[(1.0, 0.0, 0.0), (3.0, 0.75, 0.75)])],
            frame_spans: vec![FrameSpan {
                start: 0.0,
                end: 0.5,
                method: Method::Box,
            }],
            sound_spans: vec![SoundSpan {
                start: 2.0,
                end: 4.0,
                sound: Sound::Mute,
            }],
        };
        assert_eq!(plan.check(4.0), Ok(()));
        assert!(!plan.is_empty() && RedactionPlan::default().is_empty());
    }

    #[test]
    fn a_hostile_or_mistaken_plan_is_refused_with_what_is_wrong() {
        let check = |plan: RedactionPlan| plan.check(10.0).unwrap_err();
        let with = |r: Region| RedactionPlan {
            regions: vec![r],
            ..Default::default()
        };
        // Outside the frame, at a keyframe.
        assert!(matches!(
            check(with(region(0.0, 1.0, &[(0.5, 0.9, 0.0)]))),
            RedactionError::OutsideFrame { index: 0, .. }
        ));
        assert!(matches!(
            check(with(region(0.0, 1.0, &[(0.5, -0.1, 0.0)]))),
            RedactionError::OutsideFrame { .. }
        ));
        // A span past the end, or backwards.
        assert!(matches!(
            check(with(region(5.0, 11.0, &[(5.0, 0.0, 0.0)]))),
            RedactionError::BadSpan { .. }
        ));
        assert!(matches!(
            check(RedactionPlan {
                sound_spans: vec![SoundSpan {
                    start: 3.0,
                    end: 2.0,
                    sound: Sound::Tone
                }],
                ..Default::default()
            }),
            RedactionError::BadSpan {
                what: "sound span",
                ..
            }
        ));
        // Keyframes out of order, outside the span, or none.
        assert!(matches!(
            check(with(region(0.0, 4.0, &[(2.0, 0.0, 0.0), (1.0, 0.0, 0.0)]))),
            RedactionError::BadKeyframes { .. }
        ));
        assert!(matches!(
            check(with(region(0.0, 4.0, &[(5.0, 0.0, 0.0)]))),
            RedactionError::BadKeyframes { .. }
        ));
        assert!(matches!(
            check(with(region(0.0, 4.0, &[]))),
            RedactionError::BadKeyframes { .. }
        ));
        // Not a number.
        assert!(matches!(
            check(with(region(0.0, 4.0, &[(1.0, f64::NAN, 0.0)]))),
            RedactionError::NotANumber { field: "x", .. }
        ));
        // Ten thousand regions.
        let many = RedactionPlan {
            regions: vec![region(0.0, 1.0, &[(0.0, 0.0, 0.0)]); 10_000],
            ..Default::default()
        };
        assert!(matches!(
            check(many),
            RedactionError::TooMany { count: 10_000, .. }
        ));
    }

    #[test]
    fn unknown_fields_are_refused_rather_than_ignored() {
        let plan: Result<RedactionPlan, _> =
            serde_json::from_str(r#"{"regions": [], "faces": "off"}"#);
        assert!(plan.is_err());
    }

    #[test]
    fn the_hash_names_the_plan() {
        let a = RedactionPlan {
            regions: vec![region(1.0, 3.0, &[(1.0, 0.0, 0.0)])],
            ..Default::default()
        };
        let mut b = a.clone();
        assert_eq!(a.sha256(), b.sha256());
        b.regions[0].keyframes[0].x = 0.01;
        assert_ne!(a.sha256(), b.sha256());
        assert_eq!(a.sha256().len(), 64);
    }

    #[test]
    fn a_moving_region_is_a_crop_and_an_overlay_that_follow_the_same_path() {
        let plan = RedactionPlan {
            regions: vec![region(1.0, 3.0, &[(1.0, 0.0, 0.0), (3.0, 0.5, 0.25)])],
            ..Default::default()
        };
        let filter = plan.video_filter(640, 360).unwrap();
        // 0.25 of 640 x 360: 160 x 90, kept even and within the frame.
        assert!(filter.contains("crop=w=160:h=90:"), "{filter}");
        let x =
            "clip(if(lt(t,1),0.000,if(lt(t,3),0.000+(320.000-0.000)*(t-1)/(3-1),320.000)),0,480)";
        assert!(filter.contains(&format!("x='{x}'")), "{filter}");
        assert_eq!(
            filter.matches(&format!("x='{x}'")).count(),
            2,
            "crop and overlay: {filter}"
        );
        assert!(filter.contains("enable='between(t,1,3)'"), "{filter}");
        // No quote, bracket or separator from anywhere but here.
        assert!(plan.audio_filter().is_none());
        assert!(RedactionPlan::default().video_filter(640, 360).is_none());
    }

    #[test]
    fn sound_spans_mute_or_sound_a_tone_and_leave_the_rest() {
        let plan = RedactionPlan {
            sound_spans: vec![
                SoundSpan {
                    start: 1.0,
                    end: 2.0,
                    sound: Sound::Mute,
                },
                SoundSpan {
                    start: 3.0,
                    end: 4.5,
                    sound: Sound::Tone,
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            plan.audio_filter().unwrap(),
            "aeval=exprs='if(gt(between(t,1,2),0),0,if(gt(between(t,3,4.5),0),0.1*sin(2*PI*1000*t),val(ch)))':channel_layout=same"
        );
    }

    #[test]
    fn hidden_pixels_are_reduced_to_a_few_samples_whatever_the_size() {
        assert_eq!(
            effect(Method::Pixelate, 160, 90),
            "scale=8:5:flags=area,scale=160:90:flags=neighbor"
        );
        assert!(effect(Method::Blur, 1280, 720).starts_with("scale=6:6:flags=area,"));
        assert!(effect(Method::Blur, 20, 20).starts_with("scale=2:2:flags=area,"));
        assert_eq!(even_within(0.3, 640), 2);
        assert_eq!(even_within(641.0, 640), 640);
        assert_eq!(even_within(91.0, 360), 92);
    }
}

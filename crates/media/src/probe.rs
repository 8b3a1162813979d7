//! What a file holds: container, duration, the video and audio streams, and the tags body
//! cameras write (creation time, ISO 6709 location).

use std::path::Path;

use chrono::{DateTime, Utc};
use custodian_core::records::RecordKind;
use ffmpeg_next as ffmpeg;
use ffmpeg_next::media::Type as Medium;

use crate::{open_input, Limits, MediaError, StopFlag};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoInfo {
    pub index: usize,
    pub codec: String,
    /// As coded; `rotation` says how to turn it for display.
    pub width: u32,
    pub height: u32,
    /// Average frame rate, where the container knows it.
    pub frame_rate: Option<f64>,
    /// The display rotation as ffprobe and the display matrix state it (counter-clockwise
    /// degrees the coded picture is turned for display): 0, 90, 180 or 270.
    pub rotation: u32,
    /// Whether the picture is also flipped left to right for display, after the rotation (a
    /// photo's EXIF orientation 2, 4, 5 or 7: a front camera's mirror image).
    #[serde(default)]
    pub mirrored: bool,
}

impl VideoInfo {
    /// Width and height as displayed (after rotation).
    pub fn display_size(&self) -> (u32, u32) {
        if self.rotation % 180 == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AudioInfo {
    pub index: usize,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MediaInfo {
    pub container: String,
    pub duration_seconds: Option<f64>,
    /// When the file's first stream starts; every timestamp is reported relative to it.
    pub start_seconds: f64,
    /// What the file is: a video, a recording of sound only, or a still photo.
    pub kind: RecordKind,
    /// The picture; absent for a sound recording.
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
    /// The container's `creation_time` tag, when the camera wrote one.
    pub creation_time: Option<DateTime<Utc>>,
    /// The raw ISO 6709 `location` tag, when present (for a photo, its EXIF GPS position).
    pub location: Option<String>,
    /// Why a photo's EXIF could not be read, when it is there but damaged: a finding, never
    /// a refusal (the picture is the record).
    #[serde(default)]
    pub exif_problem: Option<String>,
}

impl MediaInfo {
    /// Where the file says it was recorded, from its ISO 6709 `location` tag.
    pub fn coordinates(&self) -> Option<custodian_core::upload::Coordinates> {
        self.location
            .as_deref()
            .and_then(custodian_core::media::parse_iso6709)
    }

    /// The picture, for the jobs that need one.
    pub fn picture(&self) -> Result<&VideoInfo, MediaError> {
        self.video
            .as_ref()
            .ok_or_else(|| MediaError::NotVideo("the file has no picture".into()))
    }

    /// The sound, for the jobs that need it.
    pub fn sound(&self) -> Result<&AudioInfo, MediaError> {
        self.audio
            .as_ref()
            .ok_or_else(|| MediaError::NotVideo("the file has no sound".into()))
    }

    pub(crate) fn check(&self, limits: &Limits) -> Result<(), MediaError> {
        if let Some(duration) = self.duration_seconds {
            if duration > limits.max_duration_seconds {
                return Err(MediaError::OverLimit(format!(
                    "duration {duration:.0} s is longer than the {:.0} s allowed",
                    limits.max_duration_seconds
                )));
            }
        }
        let Some(video) = &self.video else {
            return Ok(());
        };
        let (w, h) = (video.width, video.height);
        if w == 0 || h == 0 {
            return Err(MediaError::Undecodable(format!(
                "the video stream has no picture size ({w}x{h})"
            )));
        }
        if w > limits.max_width.max(limits.max_height)
            || h > limits.max_width.max(limits.max_height)
            || u64::from(w) * u64::from(h)
                > u64::from(limits.max_width) * u64::from(limits.max_height)
        {
            return Err(MediaError::OverLimit(format!(
                "picture {w}x{h} is larger than the {}x{} allowed",
                limits.max_width, limits.max_height
            )));
        }
        Ok(())
    }
}

/// Reads what `path` holds without decoding it.
pub fn probe(path: &Path, stop: &StopFlag) -> Result<MediaInfo, MediaError> {
    let input = open_input(path, stop)?;
    describe_file(path, &input)
}

/// What the open `input` of `path` holds; for a photo, with what its EXIF says: when and
/// where it was taken and which way up it is.
pub(crate) fn describe_file(
    path: &Path,
    input: &ffmpeg::format::context::Input,
) -> Result<MediaInfo, MediaError> {
    let mut info = describe(input)?;
    if info.kind == RecordKind::Photo {
        let exif = crate::photo_exif::read(path);
        if let Some(video) = &mut info.video {
            let (rotation, mirrored) = exif.upright();
            video.rotation = rotation;
            video.mirrored = mirrored;
        }
        info.creation_time = exif.taken_at.or(info.creation_time);
        info.location = exif
            .position
            .map(|p| format!("{:+.6}{:+.6}/", p.latitude, p.longitude))
            .or(info.location);
        info.exif_problem = exif.problem;
    }
    Ok(info)
}

/// FFmpeg's demuxers of single still pictures.
const STILL_DEMUXERS: &[&str] = &["jpeg_pipe", "png_pipe"];

pub(crate) fn describe(input: &ffmpeg::format::context::Input) -> Result<MediaInfo, MediaError> {
    // A picture worth the name: not the cover art an MP3 or M4A carries, and with a size.
    let video_stream = input.streams().best(Medium::Video).filter(|stream| {
        let attached = stream
            .disposition()
            .contains(ffmpeg::format::stream::Disposition::ATTACHED_PIC);
        // SAFETY: the parameters belong to a stream of the open input and outlive this read.
        let sized = unsafe {
            let raw = stream.parameters().as_ptr();
            (*raw).width > 0 && (*raw).height > 0
        };
        !attached && sized
    });
    let video = video_stream.as_ref().map(|video_stream| {
        let parameters = video_stream.parameters();
        let (width, height) = unsafe {
            // SAFETY: as above.
            let raw = parameters.as_ptr();
            ((*raw).width.max(0) as u32, (*raw).height.max(0) as u32)
        };
        let rate = video_stream.avg_frame_rate();
        let frame_rate = (rate.numerator() > 0 && rate.denominator() > 0)
            .then(|| f64::from(rate))
            .filter(|r| r.is_finite() && *r > 0.0 && *r < 1000.0);
        VideoInfo {
            index: video_stream.index(),
            codec: parameters.id().name().to_owned(),
            width,
            height,
            frame_rate,
            rotation: rotation_of(video_stream),
            mirrored: false,
        }
    });
    let audio = input.streams().best(Medium::Audio).map(|stream| {
        let parameters = stream.parameters();
        let (sample_rate, channels) = unsafe {
            // SAFETY: as above.
            let raw = parameters.as_ptr();
            ((*raw).sample_rate.max(0) as u32, channel_count(raw))
        };
        AudioInfo {
            index: stream.index(),
            codec: parameters.id().name().to_owned(),
            sample_rate,
            channels,
        }
    });
    let duration = input.duration();
    let duration_seconds =
        (duration > 0).then(|| duration as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));
    // SAFETY: reading a plain field of the open input's format context.
    let start = unsafe { (*input.as_ptr()).start_time };
    let start_seconds = if start == ffmpeg::ffi::AV_NOPTS_VALUE {
        0.0
    } else {
        start as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE)
    };
    let tag = |name: &str| {
        input.metadata().get(name).map(str::to_owned).or_else(|| {
            video_stream
                .as_ref()
                .and_then(|s| s.metadata().get(name).map(str::to_owned))
        })
    };
    let container = input.format().name().to_owned();
    let kind = match (&video, &audio) {
        (Some(_), _) if STILL_DEMUXERS.contains(&container.as_str()) => RecordKind::Photo,
        (Some(_), _) => RecordKind::Video,
        (None, Some(_)) => RecordKind::Audio,
        (None, None) => {
            return Err(MediaError::NotVideo(
                "the file has neither a picture nor sound".into(),
            ))
        }
    };
    let creation_time = tag("creation_time")
        .and_then(|text| DateTime::parse_from_rfc3339(text.trim()).ok())
        .map(|t| t.with_timezone(&Utc));
    let location = tag("location").or_else(|| tag("location-eng"));
    Ok(MediaInfo {
        container,
        duration_seconds,
        start_seconds,
        kind,
        video,
        audio,
        creation_time,
        location,
        exif_problem: None,
    })
}

#[allow(deprecated)]
unsafe fn channel_count(raw: *const ffmpeg::ffi::AVCodecParameters) -> u16 {
    (*raw).channels.max(0) as u16
}

/// The display rotation from the stream's display matrix, clockwise, snapped to a right
/// angle (what cameras write; other angles are not turned).
fn rotation_of(stream: &ffmpeg::format::stream::Stream) -> u32 {
    for side in stream.side_data() {
        if side.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix
            && side.data().len() >= 36
        {
            // SAFETY: a display matrix is nine native-endian i32; length checked above, and
            // av_display_rotation_get reads exactly those.
            let counter_clockwise =
                unsafe { ffmpeg::ffi::av_display_rotation_get(side.data().as_ptr() as *const i32) };
            if !counter_clockwise.is_finite() {
                return 0;
            }
            let degrees = counter_clockwise.round() as i64;
            return ((((degrees % 360) + 360 + 45) % 360) / 90 * 90) as u32;
        }
    }
    0
}

//! The viewing copy: the original decoded once, turned upright, scaled, with the running
//! local time drawn on every frame (drawtext) and place, coordinates, device and officer
//! burned in per second (libass, from the same cues as the WebVTT sidecar), encoded H.264 +
//! AAC in an MP4 with its index first (faststart); and a poster JPEG of the same picture.
//! A sound recording gets a listening copy instead (AAC in MP4) with a waveform for its
//! poster, and a photograph an upright, scaled JPEG with the same text burned in and a
//! thumbnail for its poster.

use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;
use ffmpeg_next::{codec, encoder, filter, format, frame, Dictionary, Packet, Rational};

use custodian_core::media::{ClockLayout, MIN_COPY_HEIGHT};
use custodian_core::records::RecordKind;

use crate::probe::MediaInfo;
use crate::{ffmpeg_error, open_input, Limits, MediaError, StopFlag};

/// How to make one viewing copy. The text files are written by the caller; only their paths
/// (which the caller controls) enter the filter graph, never the untrusted text itself.
#[derive(Debug, Clone)]
pub struct TranscodePlan {
    pub output: PathBuf,
    pub poster: PathBuf,
    /// The picture is scaled down to this height (never up).
    pub max_height: u32,
    pub preset: String,
    pub crf: u8,
    /// A fontconfig family name for both overlays (e.g. `Noto Sans CJK SC`).
    pub font_family: String,
    /// The drawtext text (with its own per-frame clock expansion).
    pub clock_text_file: PathBuf,
    /// An ASS script with the per-second lines, if any.
    pub subtitles_file: Option<PathBuf>,
    /// A party's copy (art. 23): text drawn verbatim (no `%` or `\\` expansion) across the
    /// middle of every frame, naming the request the copy answers.
    pub watermark_text_file: Option<PathBuf>,
    /// A party's copy: what is hidden of its picture and sound (checked against the clip
    /// before it gets here), applied before the text overlays and the watermark.
    pub redaction: Option<custodian_core::redaction::RedactionPlan>,
    /// Where in the clip the poster is taken (the first frame if the clip is shorter).
    pub poster_at_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TranscodeReport {
    pub info: MediaInfo,
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    pub audio: bool,
    /// Presentation time of the last frame written, plus one frame: the copy's length.
    pub duration_seconds: f64,
}

/// The size of the copy: the displayed picture scaled to at most `max_height` lines and at
/// least `MIN_COPY_HEIGHT` (unless `max_height` is lower), width kept to the displayed aspect
/// ratio, both even (4:2:0 needs it).
pub fn output_size(
    display_width: u32,
    display_height: u32,
    sample_aspect: f64,
    max_height: u32,
) -> (u32, u32) {
    // Small sources are scaled up to a height where the burned-in text can be read.
    let height = display_height
        .max(MIN_COPY_HEIGHT.min(max_height))
        .min(max_height)
        .max(2)
        & !1;
    let aspect = if sample_aspect.is_finite() && sample_aspect > 0.0 {
        sample_aspect
    } else {
        1.0
    };
    let width = (f64::from(display_width) * aspect * f64::from(height)
        / f64::from(display_height.max(1)))
    .round() as u32;
    (width.max(2) & !1, height)
}

/// Characters that may appear in paths and names spliced into a filter graph description;
/// anything else would need FFmpeg's escaping, which we avoid by refusing it.
pub fn safe_in_filter_graph(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | ' '))
}

/// A file opened for a transcode, and what it holds: probed once, so the caller can plan the
/// copy from what it holds (its size, its clock) before the copy is made from the same open
/// file (opening a large file twice costs a second probe; on a 12 MP photo, 40 ms).
pub struct Opened {
    input: format::context::Input,
    pub info: MediaInfo,
}

impl Opened {
    pub fn open(input_path: &Path, stop: &StopFlag) -> Result<Self, MediaError> {
        let input = open_input(input_path, stop)?;
        let info = crate::probe::describe_file(input_path, &input)?;
        Ok(Self { input, info })
    }
}

pub fn transcode(
    input_path: &Path,
    plan: &TranscodePlan,
    limits: &Limits,
    stop: &StopFlag,
) -> Result<TranscodeReport, MediaError> {
    transcode_opened(Opened::open(input_path, stop)?, plan, limits, stop)
}

/// As `transcode`, from a file already opened and probed.
pub fn transcode_opened(
    opened: Opened,
    plan: &TranscodePlan,
    limits: &Limits,
    stop: &StopFlag,
) -> Result<TranscodeReport, MediaError> {
    for (what, text) in [
        ("font family", plan.font_family.as_str()),
        ("clock text path", path_str(&plan.clock_text_file)?),
    ]
    .into_iter()
    .chain(
        plan.subtitles_file
            .as_deref()
            .map(|p| Ok::<_, MediaError>(("subtitles path", path_str(p)?)))
            .transpose()?,
    )
    .chain(
        plan.watermark_text_file
            .as_deref()
            .map(|p| Ok::<_, MediaError>(("watermark path", path_str(p)?)))
            .transpose()?,
    ) {
        if !safe_in_filter_graph(text) {
            return Err(MediaError::Io {
                path: text.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{what} has characters a filter graph would need escaped"),
                ),
            });
        }
    }
    let Opened { mut input, info } = opened;
    info.check(limits)?;
    match info.kind {
        RecordKind::Audio => return transcode_sound(input, info, plan, stop),
        RecordKind::Photo => return render_photo(input, info, plan, stop),
        RecordKind::Video | RecordKind::Document => {}
    }
    let mut output =
        format::output_as(&plan.output, "mp4").map_err(ffmpeg_error("creating the MP4"))?;
    let global_header = output
        .format()
        .flags()
        .contains(format::Flags::GLOBAL_HEADER);

    let mut video = VideoLane::open(&input, &info, plan, &mut output, global_header)?;
    let mut audio = match &info.audio {
        Some(audio_info) => {
            match AudioLane::open(
                &input,
                audio_info.index,
                &mut output,
                global_header,
                sound_filter(plan).as_deref(),
            ) {
                Ok(lane) => Some(lane),
                Err(e) => {
                    // The picture is the evidence a viewer needs; an audio track we cannot read is
                    // left out of the copy (the original keeps it) rather than failing the copy.
                    tracing::warn!(error = %e, codec = %audio_info.codec, "audio left out of the viewing copy");
                    None
                }
            }
        }
        None => None,
    };

    write_mp4_header(&mut output)?;
    // The muxer may change the streams' time bases in write_header: read them back.
    video.out_time_base = output
        .stream(video.out_index)
        .map(|s| s.time_base())
        .unwrap_or(video.out_time_base);
    if let Some(lane) = &mut audio {
        lane.out_time_base = output
            .stream(lane.out_index)
            .map(|s| s.time_base())
            .unwrap_or(lane.out_time_base);
    }

    let video_origin = origin_in(info.start_seconds, video.in_time_base);
    let audio_origin = audio
        .as_ref()
        .map(|lane| origin_in(info.start_seconds, lane.in_time_base));
    let mut decoded_any = false;
    for (stream, mut packet) in input.packets() {
        stop.check()?;
        if stream.index() == video.in_index {
            shift(&mut packet, video_origin);
            decoded_any |= video.push_packet(&packet, &mut output, plan)?;
        } else if let (Some(lane), Some(origin)) = (&mut audio, audio_origin) {
            if stream.index() == lane.in_index {
                shift(&mut packet, origin);
                lane.push_packet(&packet, &mut output)?;
            }
        }
    }
    stop.check()?;
    decoded_any |= video.finish(&mut output, plan)?;
    if !decoded_any {
        return Err(MediaError::Undecodable(format!(
            "no picture decoded from {} video",
            info.picture()?.codec
        )));
    }
    if let Some(lane) = &mut audio {
        lane.finish(&mut output)?;
    }
    output
        .write_trailer()
        .map_err(ffmpeg_error("finishing the MP4"))?;
    Ok(TranscodeReport {
        width: video.width,
        height: video.height,
        frames: video.frames,
        audio: audio.is_some(),
        duration_seconds: video
            .last_seconds
            .map_or(0.0, |s| s + video.frame_interval_seconds),
        info,
    })
}

/// The listening copy of a sound recording: AAC in an MP4 (what every browser plays), with a
/// waveform of the whole recording as its poster.
fn transcode_sound(
    mut input: format::context::Input,
    info: MediaInfo,
    plan: &TranscodePlan,
    stop: &StopFlag,
) -> Result<TranscodeReport, MediaError> {
    let sound = info.sound()?.clone();
    let mut output =
        format::output_as(&plan.output, "mp4").map_err(ffmpeg_error("creating the MP4"))?;
    let global_header = output
        .format()
        .flags()
        .contains(format::Flags::GLOBAL_HEADER);
    let mut lane = AudioLane::open(
        &input,
        sound.index,
        &mut output,
        global_header,
        sound_filter(plan).as_deref(),
    )
    .map_err(|e| MediaError::Undecodable(format!("{} sound: {e}", sound.codec)))?;
    lane.draw_waveform()?;
    write_mp4_header(&mut output)?;
    lane.out_time_base = output
        .stream(lane.out_index)
        .map(|s| s.time_base())
        .unwrap_or(lane.out_time_base);
    let origin = origin_in(info.start_seconds, lane.in_time_base);
    for (stream, mut packet) in input.packets() {
        stop.check()?;
        if stream.index() == lane.in_index {
            shift(&mut packet, origin);
            lane.push_packet(&packet, &mut output)?;
        }
    }
    stop.check()?;
    lane.finish(&mut output)?;
    if lane.samples == 0 {
        return Err(MediaError::Undecodable(format!(
            "no sound decoded from {} audio",
            sound.codec
        )));
    }
    output
        .write_trailer()
        .map_err(ffmpeg_error("finishing the MP4"))?;
    lane.write_waveform(&plan.poster)?;
    Ok(TranscodeReport {
        width: 0,
        height: 0,
        frames: 0,
        audio: true,
        duration_seconds: lane.samples as f64 / f64::from(AUDIO_RATE),
        info,
    })
}

/// The longest side of a photo's thumbnail (its poster), in pixels.
const THUMBNAIL_HEIGHT: u32 = 240;

/// A photograph's display copy: turned upright by its EXIF orientation, scaled, with the
/// same clock, place, device and officer burned in as a video's copy, as a JPEG; and a
/// thumbnail of it as the poster.
fn render_photo(
    mut input: format::context::Input,
    info: MediaInfo,
    plan: &TranscodePlan,
    stop: &StopFlag,
) -> Result<TranscodeReport, MediaError> {
    // A photo's copy is one filtered frame written as JPEG: no encoder, no muxer.
    let mut lane = PictureFilter::open(&input, info.picture()?, plan)?;
    let mut picture = None;
    for (stream, packet) in input.packets() {
        stop.check()?;
        if stream.index() != lane.in_index {
            continue;
        }
        if lane.decoder.send_packet(&packet).is_ok() {
            picture = lane.first_filtered()?;
        }
        if picture.is_some() {
            break;
        }
    }
    if picture.is_none() {
        let _ = lane.decoder.send_eof();
        picture = lane.first_filtered()?;
    }
    let picture = picture.ok_or_else(|| {
        MediaError::Undecodable(format!(
            "no picture decoded from the {} photo",
            info.picture().map(|p| p.codec.as_str()).unwrap_or("?")
        ))
    })?;
    write_jpeg(&picture, &plan.output, picture.height())?;
    write_jpeg(&picture, &plan.poster, THUMBNAIL_HEIGHT)?;
    Ok(TranscodeReport {
        width: picture.width(),
        height: picture.height(),
        frames: 1,
        audio: false,
        duration_seconds: 0.0,
        info,
    })
}

/// Writes the MP4's header, asking for its index at the front (a browser plays it before the
/// whole file has come).
fn write_mp4_header(output: &mut format::context::Output) -> Result<(), MediaError> {
    let mut options = Dictionary::new();
    options.set("movflags", "+faststart");
    output
        .write_header_with(options)
        .map(drop)
        .map_err(ffmpeg_error("writing the MP4 header"))
}

fn path_str(path: &Path) -> Result<&str, MediaError> {
    path.to_str().ok_or_else(|| MediaError::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not UTF-8"),
    })
}

fn origin_in(start_seconds: f64, time_base: Rational) -> i64 {
    let tb = f64::from(time_base);
    if tb > 0.0 {
        (start_seconds / tb).round() as i64
    } else {
        0
    }
}

fn shift(packet: &mut Packet, origin: i64) {
    if let Some(pts) = packet.pts() {
        packet.set_pts(Some(pts - origin));
    }
    if let Some(dts) = packet.dts() {
        packet.set_dts(Some(dts - origin));
    }
}

struct VideoLane {
    in_index: usize,
    in_time_base: Rational,
    decoder: ffmpeg::decoder::Video,
    graph: filter::Graph,
    encoder: encoder::Video,
    out_index: usize,
    out_time_base: Rational,
    width: u32,
    height: u32,
    /// One frame in the encoder's time base, for packet durations (libx264 leaves them 0).
    frame_interval: i64,
    frame_interval_seconds: f64,
    frames: u64,
    last_seconds: Option<f64>,
    poster_taken: bool,
}

/// The picture's decoder and the filters that turn, scale and label it: what a video's copy
/// encodes frame by frame, and a photo's copy takes one frame of.
struct PictureFilter {
    in_index: usize,
    in_time_base: Rational,
    decoder: ffmpeg::decoder::Video,
    graph: filter::Graph,
    width: u32,
    height: u32,
}

impl PictureFilter {
    fn open(
        input: &format::context::Input,
        picture: &crate::VideoInfo,
        plan: &TranscodePlan,
    ) -> Result<Self, MediaError> {
        let stream = input
            .stream(picture.index)
            .ok_or_else(|| MediaError::NotVideo("video stream vanished".into()))?;
        let in_time_base = stream.time_base();
        let mut context = codec::context::Context::from_parameters(stream.parameters())
            .map_err(ffmpeg_error("reading the video parameters"))?;
        context.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
        let decoder = context.decoder().video().map_err(|e| {
            MediaError::Undecodable(format!("no decoder for {}: {e}", picture.codec))
        })?;
        let aspect = decoder.aspect_ratio();
        let sample_aspect = if aspect.numerator() > 0 && aspect.denominator() > 0 {
            f64::from(aspect)
        } else {
            1.0
        };
        let (display_w, display_h) = picture.display_size();
        let (width, height) = output_size(display_w, display_h, sample_aspect, plan.max_height);
        let graph = video_graph(&decoder, in_time_base, picture, width, height, plan)?;
        Ok(Self {
            in_index: picture.index,
            in_time_base,
            decoder,
            graph,
            width,
            height,
        })
    }

    /// The first picture out of the filters, for a photo: decoded, turned, scaled, labelled.
    fn first_filtered(&mut self) -> Result<Option<frame::Video>, MediaError> {
        let mut decoded = frame::Video::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            decoded.set_pts(Some(0));
            let mut source = self.graph.get("in").ok_or(MediaError::Ffmpeg {
                operation: "feeding the photo's filters",
                source: ffmpeg::Error::Bug,
            })?;
            source
                .source()
                .add(&decoded)
                .map_err(ffmpeg_error("feeding the photo's filters"))?;
            source
                .source()
                .flush()
                .map_err(ffmpeg_error("flushing the photo's filters"))?;
            let mut filtered = frame::Video::empty();
            let mut sink = self.graph.get("out").ok_or(MediaError::Ffmpeg {
                operation: "reading the photo's filters",
                source: ffmpeg::Error::Bug,
            })?;
            if sink.sink().frame(&mut filtered).is_ok() {
                return Ok(Some(filtered));
            }
        }
        Ok(None)
    }
}

impl VideoLane {
    fn open(
        input: &format::context::Input,
        info: &MediaInfo,
        plan: &TranscodePlan,
        output: &mut format::context::Output,
        global_header: bool,
    ) -> Result<Self, MediaError> {
        let picture = info.picture()?;
        let PictureFilter {
            in_index,
            in_time_base,
            decoder,
            graph,
            width,
            height,
        } = PictureFilter::open(input, picture, plan)?;
        let fps = picture.frame_rate.unwrap_or(30.0);
        let frame_interval_seconds = 1.0 / fps;

        let x264 = encoder::find_by_name("libx264").ok_or(MediaError::Ffmpeg {
            operation: "finding libx264",
            source: ffmpeg::Error::EncoderNotFound,
        })?;
        let mut ost = output
            .add_stream(x264)
            .map_err(ffmpeg_error("adding the video stream"))?;
        let out_index = ost.index();
        let mut enc_context = codec::context::Context::new_with_codec(x264);
        enc_context.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
        let mut enc = enc_context
            .encoder()
            .video()
            .map_err(ffmpeg_error("making the video encoder"))?;
        enc.set_width(width);
        enc.set_height(height);
        enc.set_format(format::Pixel::YUV420P);
        enc.set_aspect_ratio(Rational(1, 1));
        enc.set_time_base(in_time_base);
        enc.set_frame_rate(Some(Rational((fps * 1000.0).round() as i32, 1000)));
        if global_header {
            enc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut options = Dictionary::new();
        options.set("preset", &plan.preset);
        options.set("crf", &plan.crf.to_string());
        let encoder = enc
            .open_with(options)
            .map_err(ffmpeg_error("opening libx264 (check preset and crf)"))?;
        ost.set_parameters(&encoder);
        ost.set_time_base(in_time_base);
        let frame_interval =
            ((frame_interval_seconds / f64::from(in_time_base)).round() as i64).max(1);
        Ok(Self {
            in_index,
            in_time_base,
            decoder,
            graph,
            encoder,
            out_index,
            out_time_base: in_time_base,
            width,
            height,
            frame_interval,
            frame_interval_seconds,
            frames: 0,
            last_seconds: None,
            poster_taken: false,
        })
    }

    /// Returns whether a frame was decoded.
    fn push_packet(
        &mut self,
        packet: &Packet,
        output: &mut format::context::Output,
        plan: &TranscodePlan,
    ) -> Result<bool, MediaError> {
        if self.decoder.send_packet(packet).is_err() {
            // A damaged packet: the decoder conceals it, as a player would; the fingerprinter
            // reports the damage.
            return Ok(false);
        }
        self.drain_decoder(output, plan)
    }

    fn finish(
        &mut self,
        output: &mut format::context::Output,
        plan: &TranscodePlan,
    ) -> Result<bool, MediaError> {
        let _ = self.decoder.send_eof();
        let decoded = self.drain_decoder(output, plan)?;
        self.graph
            .get("in")
            .ok_or(MediaError::Ffmpeg {
                operation: "flushing the video filters",
                source: ffmpeg::Error::Bug,
            })?
            .source()
            .flush()
            .map_err(ffmpeg_error("flushing the video filters"))?;
        self.drain_graph(output, plan)?;
        self.encoder
            .send_eof()
            .map_err(ffmpeg_error("flushing libx264"))?;
        self.drain_encoder(output)?;
        Ok(decoded)
    }

    fn drain_decoder(
        &mut self,
        output: &mut format::context::Output,
        plan: &TranscodePlan,
    ) -> Result<bool, MediaError> {
        let mut decoded = frame::Video::empty();
        let mut any = false;
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            any = true;
            let ts = decoded.timestamp();
            decoded.set_pts(ts);
            // Keyframes where the encoder wants them, not where the camera put them.
            decoded.set_kind(ffmpeg::picture::Type::None);
            self.graph
                .get("in")
                .ok_or(MediaError::Ffmpeg {
                    operation: "feeding the video filters",
                    source: ffmpeg::Error::Bug,
                })?
                .source()
                .add(&decoded)
                .map_err(ffmpeg_error("feeding the video filters"))?;
            self.drain_graph(output, plan)?;
        }
        Ok(any)
    }

    fn drain_graph(
        &mut self,
        output: &mut format::context::Output,
        plan: &TranscodePlan,
    ) -> Result<(), MediaError> {
        let mut filtered = frame::Video::empty();
        loop {
            let mut sink = self.graph.get("out").ok_or(MediaError::Ffmpeg {
                operation: "reading the video filters",
                source: ffmpeg::Error::Bug,
            })?;
            if sink.sink().frame(&mut filtered).is_err() {
                return Ok(());
            }
            let seconds = filtered
                .pts()
                .map(|p| p as f64 * f64::from(self.in_time_base));
            // The first frame is the poster until one at `poster_at_seconds` replaces it,
            // so a clip shorter than that still has one.
            let reached = seconds.is_some_and(|at| at + 1e-6 >= plan.poster_at_seconds);
            if !self.poster_taken && (self.frames == 0 || reached) {
                write_poster(&filtered, &plan.poster)?;
                self.poster_taken = reached;
            }
            self.frames += 1;
            if seconds.is_some() {
                self.last_seconds = seconds;
            }
            self.encoder
                .send_frame(&filtered)
                .map_err(ffmpeg_error("encoding a frame"))?;
            self.drain_encoder(output)?;
        }
    }

    fn drain_encoder(&mut self, output: &mut format::context::Output) -> Result<(), MediaError> {
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.out_index);
            packet.set_duration(self.frame_interval);
            packet.rescale_ts(self.in_time_base, self.out_time_base);
            packet
                .write_interleaved(output)
                .map_err(ffmpeg_error("writing video"))?;
        }
        Ok(())
    }
}

fn video_graph(
    decoder: &ffmpeg::decoder::Video,
    time_base: Rational,
    picture: &crate::VideoInfo,
    width: u32,
    height: u32,
    plan: &TranscodePlan,
) -> Result<filter::Graph, MediaError> {
    let mut graph = filter::Graph::new();
    let aspect = decoder.aspect_ratio();
    let aspect = if aspect.numerator() > 0 && aspect.denominator() > 0 {
        aspect
    } else {
        Rational(1, 1)
    };
    let pixel: ffmpeg::ffi::AVPixelFormat = decoder.format().into();
    let args = format!(
        "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
        decoder.width(),
        decoder.height(),
        pixel as i32,
        time_base.numerator(),
        time_base.denominator(),
        aspect.numerator(),
        aspect.denominator()
    );
    let buffer = filter::find("buffer").ok_or(MediaError::Ffmpeg {
        operation: "finding the buffer filter",
        source: ffmpeg::Error::FilterNotFound,
    })?;
    let buffersink = filter::find("buffersink").ok_or(MediaError::Ffmpeg {
        operation: "finding the buffersink filter",
        source: ffmpeg::Error::FilterNotFound,
    })?;
    graph
        .add(&buffer, "in", &args)
        .map_err(ffmpeg_error("setting up the video source"))?;
    graph
        .add(&buffersink, "out", "")
        .map_err(ffmpeg_error("setting up the video sink"))?;
    if let Some(mut sink) = graph.get("out") {
        sink.set_pixel_format(format::Pixel::YUV420P);
    }
    // The clock's text file was written for one line or two; size it to fit this frame.
    let two_lines = std::fs::read_to_string(&plan.clock_text_file)
        .map(|text| text.contains('\n'))
        .unwrap_or(false);
    let clock = ClockLayout::sized(width, height, two_lines);
    let margin = clock.margin;
    let mut chain = Vec::new();
    match picture.rotation {
        // `rotation` is counter-clockwise, as ffprobe states it.
        90 => chain.push("transpose=cclock".to_owned()),
        180 => chain.push("hflip,vflip".to_owned()),
        270 => chain.push("transpose=clock".to_owned()),
        _ => {}
    }
    if picture.mirrored {
        chain.push("hflip".to_owned());
    }
    chain.push(format!("scale={width}:{height}"));
    chain.push("setsar=1".to_owned());
    chain.push("format=yuv420p".to_owned());
    // Hidden before anything is drawn over the picture: the clock, place and watermark stay
    // readable over a redacted region.
    if let Some(hidden) = plan
        .redaction
        .as_ref()
        .and_then(|redaction| redaction.video_filter(width, height))
    {
        chain.push(hidden);
    }
    chain.push(format!(
        "drawtext=textfile={}:font='{}':fontsize={}:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw={}:line_spacing={}:x={margin}:y={margin}",
        plan.clock_text_file.display(),
        plan.font_family,
        clock.font_size,
        clock.box_border,
        clock.box_border
    ));
    if let Some(ass) = &plan.subtitles_file {
        chain.push(format!("subtitles=filename={}", ass.display()));
    }
    if let Some(watermark) = &plan.watermark_text_file {
        // Drawn last, over everything, and verbatim: the party's name is untrusted text.
        chain.push(format!(
            "drawtext=textfile={}:expansion=none:font='{}':fontsize={}:fontcolor=white@0.9:borderw=2:bordercolor=black@0.9:box=1:boxcolor=red@0.35:boxborderw={}:line_spacing={}:x=(w-text_w)/2:y=(h-text_h)/2",
            watermark.display(),
            plan.font_family,
            (height / 18).max(12),
            margin,
            margin / 2
        ));
    }
    let spec = chain.join(",");
    graph
        .output("in", 0)
        .and_then(|parser| parser.input("out", 0))
        .and_then(|parser| parser.parse(&spec))
        .map_err(ffmpeg_error("building the video filters"))?;
    graph
        .validate()
        .map_err(ffmpeg_error("checking the video filters"))?;
    Ok(graph)
}

/// The poster: one frame of the copy as a JPEG (MJPEG wants full-range 4:2:0).
fn write_poster(picture: &frame::Video, path: &Path) -> Result<(), MediaError> {
    write_jpeg(picture, path, picture.height())
}

/// `picture` as a JPEG at most `max_height` lines high (never larger), shape kept.
fn write_jpeg(picture: &frame::Video, path: &Path, max_height: u32) -> Result<(), MediaError> {
    let (in_width, in_height) = (picture.width(), picture.height());
    let height = in_height.min(max_height).max(2) & !1;
    let width = ((u64::from(in_width) * u64::from(height) / u64::from(in_height.max(1))) as u32)
        .max(2)
        & !1;
    let mut scaler = ffmpeg::software::scaling::Context::get(
        picture.format(),
        in_width,
        in_height,
        format::Pixel::YUVJ420P,
        width,
        height,
        ffmpeg::software::scaling::Flags::BILINEAR,
    )
    .map_err(ffmpeg_error("making the poster scaler"))?;
    let mut full_range = frame::Video::empty();
    scaler
        .run(picture, &mut full_range)
        .map_err(ffmpeg_error("converting the poster"))?;
    let mjpeg = encoder::find(codec::Id::MJPEG).ok_or(MediaError::Ffmpeg {
        operation: "finding the JPEG encoder",
        source: ffmpeg::Error::EncoderNotFound,
    })?;
    let mut enc = codec::context::Context::new_with_codec(mjpeg)
        .encoder()
        .video()
        .map_err(ffmpeg_error("making the JPEG encoder"))?;
    enc.set_width(width);
    enc.set_height(height);
    enc.set_format(format::Pixel::YUVJ420P);
    enc.set_time_base(Rational(1, 25));
    enc.set_flags(codec::Flags::QSCALE);
    // Quality 3 on the 2–31 scale (lambda = q × FF_QP2LAMBDA).
    const QUALITY: i32 = 3 * 118;
    enc.set_global_quality(QUALITY);
    let mut enc = enc
        .open()
        .map_err(ffmpeg_error("opening the JPEG encoder"))?;
    full_range.set_pts(Some(0));
    // SAFETY: a frame we own; MJPEG reads the per-frame quality in QSCALE mode.
    unsafe {
        (*full_range.as_mut_ptr()).quality = QUALITY;
    }
    enc.send_frame(&full_range)
        .map_err(ffmpeg_error("encoding the poster"))?;
    enc.send_eof()
        .map_err(ffmpeg_error("encoding the poster"))?;
    let mut packet = Packet::empty();
    enc.receive_packet(&mut packet)
        .map_err(ffmpeg_error("encoding the poster"))?;
    let bytes = packet.data().ok_or(MediaError::Ffmpeg {
        operation: "encoding the poster",
        source: ffmpeg::Error::InvalidData,
    })?;
    std::fs::write(path, bytes).map_err(|source| MediaError::Io {
        path: path.display().to_string(),
        source,
    })
}

struct AudioLane {
    in_index: usize,
    in_time_base: Rational,
    decoder: ffmpeg::decoder::Audio,
    graph: filter::Graph,
    encoder: encoder::Audio,
    out_index: usize,
    out_time_base: Rational,
    /// Samples encoded into the copy, at `AUDIO_RATE`: the copy's length.
    samples: u64,
    /// A sound recording's waveform, drawn from the same decoded frames.
    wave: Option<filter::Graph>,
}

const AUDIO_RATE: i32 = 48_000;
/// The waveform poster's size: wide and low, as a recorder's display shows it.
const WAVEFORM_SIZE: (u32, u32) = (960, 240);

/// What hides sound in a party's copy, if anything.
fn sound_filter(plan: &TranscodePlan) -> Option<String> {
    plan.redaction
        .as_ref()
        .and_then(custodian_core::redaction::RedactionPlan::audio_filter)
}

impl AudioLane {
    fn open(
        input: &format::context::Input,
        index: usize,
        output: &mut format::context::Output,
        global_header: bool,
        sound_filter: Option<&str>,
    ) -> Result<Self, MediaError> {
        let stream = input
            .stream(index)
            .ok_or_else(|| MediaError::NotVideo("audio stream vanished".into()))?;
        let in_time_base = stream.time_base();
        let context = codec::context::Context::from_parameters(stream.parameters())
            .map_err(ffmpeg_error("reading the audio parameters"))?;
        let decoder = context
            .decoder()
            .audio()
            .map_err(ffmpeg_error("opening the audio decoder"))?;
        let aac = encoder::find(codec::Id::AAC).ok_or(MediaError::Ffmpeg {
            operation: "finding the AAC encoder",
            source: ffmpeg::Error::EncoderNotFound,
        })?;
        let layout = if decoder.channels() == 1 {
            ffmpeg::ChannelLayout::MONO
        } else {
            ffmpeg::ChannelLayout::STEREO
        };
        let mut ost = output
            .add_stream(aac)
            .map_err(ffmpeg_error("adding the audio stream"))?;
        let out_index = ost.index();
        let mut enc = codec::context::Context::new_with_codec(aac)
            .encoder()
            .audio()
            .map_err(ffmpeg_error("making the AAC encoder"))?;
        enc.set_rate(AUDIO_RATE);
        enc.set_channel_layout(layout);
        enc.set_channels(layout.channels());
        enc.set_format(format::Sample::F32(format::sample::Type::Planar));
        enc.set_bit_rate(if layout == ffmpeg::ChannelLayout::MONO {
            64_000
        } else {
            128_000
        });
        enc.set_time_base(Rational(1, AUDIO_RATE));
        if global_header {
            enc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = enc
            .open_as(aac)
            .map_err(ffmpeg_error("opening the AAC encoder"))?;
        ost.set_parameters(&encoder);
        ost.set_time_base(Rational(1, AUDIO_RATE));

        let mut graph = filter::Graph::new();
        let in_layout = if decoder.channel_layout().bits() != 0 {
            decoder.channel_layout()
        } else {
            ffmpeg::ChannelLayout::default(i32::from(decoder.channels().max(1)))
        };
        let args = format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}",
            in_time_base.numerator(),
            in_time_base.denominator(),
            decoder.rate(),
            decoder.format().name(),
            in_layout.bits()
        );
        let abuffer = filter::find("abuffer").ok_or(MediaError::Ffmpeg {
            operation: "finding the abuffer filter",
            source: ffmpeg::Error::FilterNotFound,
        })?;
        let abuffersink = filter::find("abuffersink").ok_or(MediaError::Ffmpeg {
            operation: "finding the abuffersink filter",
            source: ffmpeg::Error::FilterNotFound,
        })?;
        graph
            .add(&abuffer, "in", &args)
            .map_err(ffmpeg_error("setting up the audio source"))?;
        graph
            .add(&abuffersink, "out", "")
            .map_err(ffmpeg_error("setting up the audio sink"))?;
        if let Some(mut sink) = graph.get("out") {
            sink.set_sample_format(encoder.format());
            sink.set_channel_layout(layout);
            sink.set_sample_rate(AUDIO_RATE as u32);
        }
        graph
            .output("in", 0)
            .and_then(|parser| parser.input("out", 0))
            .and_then(|parser| {
                parser.parse(&match sound_filter {
                    Some(hidden) => format!("aresample={AUDIO_RATE}:async=1,{hidden}"),
                    None => format!("aresample={AUDIO_RATE}:async=1"),
                })
            })
            .map_err(ffmpeg_error("building the audio filters"))?;
        graph
            .validate()
            .map_err(ffmpeg_error("checking the audio filters"))?;
        if let Some(mut sink) = graph.get("out") {
            sink.sink().set_frame_size(encoder.frame_size());
        }
        Ok(Self {
            in_index: index,
            in_time_base,
            decoder,
            graph,
            encoder,
            out_index,
            out_time_base: Rational(1, AUDIO_RATE),
            samples: 0,
            wave: None,
        })
    }

    /// Draws the waveform of everything decoded from now on (`write_waveform` at the end).
    fn draw_waveform(&mut self) -> Result<(), MediaError> {
        let in_layout = if self.decoder.channel_layout().bits() != 0 {
            self.decoder.channel_layout()
        } else {
            ffmpeg::ChannelLayout::default(i32::from(self.decoder.channels().max(1)))
        };
        let args = format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}",
            self.in_time_base.numerator(),
            self.in_time_base.denominator(),
            self.decoder.rate(),
            self.decoder.format().name(),
            in_layout.bits()
        );
        let mut graph = filter::Graph::new();
        let find = |name: &'static str| {
            filter::find(name).ok_or(MediaError::Ffmpeg {
                operation: "finding the waveform filters",
                source: ffmpeg::Error::FilterNotFound,
            })
        };
        graph
            .add(&find("abuffer")?, "in", &args)
            .map_err(ffmpeg_error("setting up the waveform"))?;
        graph
            .add(&find("buffersink")?, "out", "")
            .map_err(ffmpeg_error("setting up the waveform"))?;
        let (width, height) = WAVEFORM_SIZE;
        graph
            .output("in", 0)
            .and_then(|parser| parser.input("out", 0))
            .and_then(|parser| {
                parser.parse(&format!(
                    "aformat=channel_layouts=mono,showwavespic=s={width}x{height}:colors=0x1d4ed8:scale=sqrt:draw=full,format=rgba"
                ))
            })
            .map_err(ffmpeg_error("building the waveform filters"))?;
        graph
            .validate()
            .map_err(ffmpeg_error("checking the waveform filters"))?;
        self.wave = Some(graph);
        Ok(())
    }

    /// Writes the waveform (drawn on white) as a JPEG, once every frame was decoded.
    fn write_waveform(&mut self, path: &Path) -> Result<(), MediaError> {
        let Some(graph) = &mut self.wave else {
            return Ok(());
        };
        if let Some(mut source) = graph.get("in") {
            source
                .source()
                .flush()
                .map_err(ffmpeg_error("flushing the waveform"))?;
        }
        let mut picture = frame::Video::empty();
        let drawn = graph
            .get("out")
            .is_some_and(|mut sink| sink.sink().frame(&mut picture).is_ok());
        if !drawn {
            return Err(MediaError::Ffmpeg {
                operation: "drawing the waveform",
                source: ffmpeg::Error::Bug,
            });
        }
        // showwavespic draws on a transparent picture: put it on white.
        let stride = picture.stride(0);
        let (width, height) = (picture.width() as usize, picture.height() as usize);
        let data = picture.data_mut(0);
        for row in 0..height {
            for pixel in data[row * stride..row * stride + width * 4].chunks_exact_mut(4) {
                let alpha = u32::from(pixel[3]);
                for channel in &mut pixel[..3] {
                    *channel = ((u32::from(*channel) * alpha + 255 * (255 - alpha)) / 255) as u8;
                }
                pixel[3] = 255;
            }
        }
        write_poster(&picture, path)
    }

    fn push_packet(
        &mut self,
        packet: &Packet,
        output: &mut format::context::Output,
    ) -> Result<(), MediaError> {
        if self.decoder.send_packet(packet).is_err() {
            return Ok(());
        }
        self.drain_decoder(output)
    }

    fn finish(&mut self, output: &mut format::context::Output) -> Result<(), MediaError> {
        let _ = self.decoder.send_eof();
        self.drain_decoder(output)?;
        if let Some(mut source) = self.graph.get("in") {
            source
                .source()
                .flush()
                .map_err(ffmpeg_error("flushing the audio filters"))?;
        }
        self.drain_graph(output)?;
        self.encoder
            .send_eof()
            .map_err(ffmpeg_error("flushing the AAC encoder"))?;
        self.drain_encoder(output)
    }

    fn drain_decoder(&mut self, output: &mut format::context::Output) -> Result<(), MediaError> {
        let mut decoded = frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            let ts = decoded.timestamp();
            decoded.set_pts(ts);
            if let Some(mut source) = self.wave.as_mut().and_then(|g| g.get("in")) {
                // The waveform takes a reference of its own: adding a frame to a graph
                // otherwise takes the frame's data, which the copy's graph needs next. A frame
                // it cannot take only leaves the waveform short.
                // SAFETY: both pointers are live for the call (the graph's source filter and
                // a frame we own); KEEP_REF leaves our frame untouched.
                let _ = unsafe {
                    ffmpeg::ffi::av_buffersrc_add_frame_flags(
                        source.as_mut_ptr(),
                        decoded.as_mut_ptr(),
                        // PUSH: drawn at once, not queued until the end (a queue of
                        // every frame would grow with the recording).
                        (ffmpeg::ffi::AV_BUFFERSRC_FLAG_KEEP_REF as i32)
                            | (ffmpeg::ffi::AV_BUFFERSRC_FLAG_PUSH as i32),
                    )
                };
            }
            if let Some(mut source) = self.graph.get("in") {
                if source.source().add(&decoded).is_err() {
                    // A frame whose format changed mid-stream: dropped, like a damaged packet.
                    continue;
                }
            }
            self.drain_graph(output)?;
        }
        Ok(())
    }

    fn drain_graph(&mut self, output: &mut format::context::Output) -> Result<(), MediaError> {
        let mut filtered = frame::Audio::empty();
        loop {
            let Some(mut sink) = self.graph.get("out") else {
                return Ok(());
            };
            if sink.sink().frame(&mut filtered).is_err() {
                return Ok(());
            }
            self.samples += filtered.samples() as u64;
            self.encoder
                .send_frame(&filtered)
                .map_err(ffmpeg_error("encoding audio"))?;
            self.drain_encoder(output)?;
        }
    }

    fn drain_encoder(&mut self, output: &mut format::context::Output) -> Result<(), MediaError> {
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.out_index);
            packet.rescale_ts(Rational(1, AUDIO_RATE), self.out_time_base);
            packet
                .write_interleaved(output)
                .map_err(ffmpeg_error("writing audio"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_the_shape_and_grow_only_to_a_legible_height() {
        assert_eq!(output_size(1920, 1080, 1.0, 720), (1280, 720));
        assert_eq!(output_size(640, 360, 1.0, 720), (640, 360));
        // Tiny sources are scaled up to a legible height, unless told to stay smaller.
        assert_eq!(output_size(176, 144, 1.0, 720), (440, 360));
        assert_eq!(output_size(136, 240, 1.0, 720), (204, 360));
        assert_eq!(output_size(320, 240, 1.0, 240), (320, 240));
        assert_eq!(output_size(1080, 1920, 1.0, 720), (404, 720));
        assert_eq!(output_size(720, 576, 16.0 / 15.0, 720), (768, 576));
    }

    #[test]
    fn only_plain_text_enters_a_filter_graph() {
        assert!(safe_in_filter_graph(
            "/var/tmp/custodian/.tmpAb12/clock.txt"
        ));
        assert!(safe_in_filter_graph("Noto Sans CJK SC"));
        assert!(!safe_in_filter_graph("a:b"));
        assert!(!safe_in_filter_graph("x',drawtext=text=y"));
        assert!(!safe_in_filter_graph(""));
    }
}

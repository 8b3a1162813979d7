//! The fingerprinter's view of a clip: a 32×32 grey thumbnail hashed once per second of the
//! clip's own timeline, and the presentation time of every video frame (from the packets, so
//! frames the decoder skips still count) for the continuity checks. A photo is one picture
//! (one hash); a sound recording has no picture, and its continuity is checked on the
//! timestamps of its audio packets.

use std::path::Path;

use custodian_core::media::phash::{phash, upright, HASH_SIDE};
use ffmpeg_next as ffmpeg;
use ffmpeg_next::software::scaling;

use crate::probe::{describe_file, MediaInfo};
use crate::soundprint::SoundPrint;
use crate::{ffmpeg_error, open_input, Limits, MediaError, StopFlag};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Sampling {
    pub info: MediaInfo,
    /// One perceptual hash per second of the clip: `hashes[k]` is of the first frame shown
    /// at or after `k` seconds.
    pub hashes: Vec<u64>,
    /// Presentation time of every video packet, in seconds from the file's start, in the
    /// order the file stores them.
    pub frame_times: Vec<f64>,
    pub decoded_frames: u64,
    /// How far apart the timestamps should be: one frame (video), one packet (sound).
    #[serde(default)]
    pub interval_seconds: Option<f64>,
    /// The sound's Chromaprint fingerprint (a recording's, or a video's sound track); empty
    /// without sound.
    #[serde(default)]
    pub sound_fingerprint: Vec<u32>,
}

/// Decodes the clip's video once, cheaply: no loop filter and no non-reference frames,
/// which a 32×32 thumbnail cannot tell apart anyway.
pub fn sample(path: &Path, limits: &Limits, stop: &StopFlag) -> Result<Sampling, MediaError> {
    let mut input = open_input(path, stop)?;
    let info = describe_file(path, &input)?;
    info.check(limits)?;
    let Some(picture) = info.video.clone() else {
        return sample_sound(input, info, stop);
    };
    let index = picture.index;
    let time_base = input
        .stream(index)
        .map(|s| s.time_base())
        .ok_or_else(|| MediaError::NotVideo("video stream vanished".into()))?;
    let tb = f64::from(time_base);
    if !(tb.is_finite() && tb > 0.0) {
        return Err(MediaError::NotVideo(format!(
            "video time base {time_base} is unusable"
        )));
    }
    let parameters = input
        .stream(index)
        .map(|s| s.parameters())
        .ok_or_else(|| MediaError::NotVideo("video stream vanished".into()))?;
    let mut context = ffmpeg::codec::context::Context::from_parameters(parameters)
        .map_err(ffmpeg_error("reading the video stream's parameters"))?;
    context.set_threading(ffmpeg::codec::threading::Config {
        kind: ffmpeg::codec::threading::Type::Frame,
        count: 0,
        ..Default::default()
    });
    let mut decoder = context
        .decoder()
        .video()
        .map_err(|e| MediaError::Undecodable(format!("no decoder for {}: {e}", picture.codec)))?;
    decoder.skip_loop_filter(ffmpeg::Discard::All);
    decoder.skip_frame(ffmpeg::Discard::NonReference);

    // Timestamps are relative to the file's start (streams may start at different offsets).
    let origin = (info.start_seconds / tb).round() as i64;
    let mut state = Sampler {
        hashes: Vec::new(),
        scaler: None,
        thumb: ffmpeg::frame::Video::empty(),
        decoded: 0,
        turn: (picture.rotation, picture.mirrored),
    };
    let mut frame_times = Vec::new();
    let mut frame = ffmpeg::frame::Video::empty();
    let mut decode_errors = 0u64;
    // The sound track too, so a recording is found in the video it was filmed with.
    let mut sound = SoundTrack::open(&input, &info)?;
    for (stream, packet) in input.packets() {
        stop.check()?;
        if let Some(track) = sound.as_mut().filter(|t| t.index == stream.index()) {
            track.push(&packet)?;
            continue;
        }
        if stream.index() != index {
            continue;
        }
        if let Some(ts) = packet.pts().or(packet.dts()) {
            frame_times.push((ts - origin) as f64 * tb);
        }
        if decoder.send_packet(&packet).is_err() {
            decode_errors += 1;
            continue;
        }
        state.drain(&mut decoder, &mut frame, origin, tb)?;
    }
    stop.check()?;
    // End of stream: the decoder gives back the frames it held for reordering.
    if decoder.send_eof().is_ok() {
        state.drain(&mut decoder, &mut frame, origin, tb)?;
    }
    if state.decoded == 0 {
        return Err(MediaError::Undecodable(format!(
            "{} packets of {} video, none decoded ({decode_errors} refused)",
            frame_times.len(),
            picture.codec
        )));
    }
    let sound_fingerprint = match sound {
        Some(track) => track.finish()?,
        None => Vec::new(),
    };
    Ok(Sampling {
        info,
        hashes: state.hashes,
        frame_times,
        decoded_frames: state.decoded,
        interval_seconds: picture.frame_rate.map(|fps| 1.0 / fps),
        sound_fingerprint,
    })
}

/// A file's sound, decoded for its fingerprint alongside whatever else is read.
struct SoundTrack {
    index: usize,
    decoder: ffmpeg::decoder::Audio,
    frame: ffmpeg::frame::Audio,
    print: SoundPrint,
    decoded: u64,
}

impl SoundTrack {
    /// `None` when the file has no sound, or none this FFmpeg decodes (the picture is still
    /// fingerprinted).
    fn open(
        input: &ffmpeg::format::context::Input,
        info: &MediaInfo,
    ) -> Result<Option<Self>, MediaError> {
        let Some(audio) = &info.audio else {
            return Ok(None);
        };
        let Some(stream) = input.stream(audio.index) else {
            return Ok(None);
        };
        let decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .and_then(|context| context.decoder().audio());
        let Ok(decoder) = decoder else {
            return Ok(None);
        };
        Ok(Some(Self {
            index: audio.index,
            decoder,
            frame: ffmpeg::frame::Audio::empty(),
            print: SoundPrint::new()?,
            decoded: 0,
        }))
    }

    fn push(&mut self, packet: &ffmpeg::Packet) -> Result<(), MediaError> {
        if self.decoder.send_packet(packet).is_ok() {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<(), MediaError> {
        while self.decoder.receive_frame(&mut self.frame).is_ok() {
            self.decoded += 1;
            self.print.feed(&mut self.frame)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u32>, MediaError> {
        if self.decoder.send_eof().is_ok() {
            self.drain()?;
        }
        Ok(self.print.finish())
    }
}

/// A sound recording: every audio packet's time, and that its sound decodes.
fn sample_sound(
    mut input: ffmpeg::format::context::Input,
    info: MediaInfo,
    stop: &StopFlag,
) -> Result<Sampling, MediaError> {
    let sound = info.sound()?.clone();
    let stream = input
        .stream(sound.index)
        .ok_or_else(|| MediaError::NotVideo("audio stream vanished".into()))?;
    let tb = f64::from(stream.time_base());
    if !(tb.is_finite() && tb > 0.0) {
        return Err(MediaError::NotVideo(format!(
            "audio time base {} is unusable",
            stream.time_base()
        )));
    }
    let origin = (info.start_seconds / tb).round() as i64;
    let Some(mut track) = SoundTrack::open(&input, &info)? else {
        return Err(MediaError::Undecodable(format!(
            "no decoder for {}",
            sound.codec
        )));
    };
    let mut frame_times = Vec::new();
    let mut durations = Vec::new();
    for (stream, packet) in input.packets() {
        stop.check()?;
        if stream.index() != sound.index {
            continue;
        }
        if let Some(ts) = packet.pts().or(packet.dts()) {
            frame_times.push((ts - origin) as f64 * tb);
        }
        if packet.duration() > 0 {
            durations.push(packet.duration() as f64 * tb);
        }
        track.push(&packet)?;
    }
    stop.check()?;
    let decoded = track.decoded;
    let sound_fingerprint = track.finish()?;
    if decoded == 0 {
        return Err(MediaError::Undecodable(format!(
            "{} packets of {} sound, none decoded",
            frame_times.len(),
            sound.codec
        )));
    }
    // The usual packet length: the median, so one short last packet does not set it.
    durations.sort_by(f64::total_cmp);
    let interval_seconds = durations.get(durations.len() / 2).copied();
    Ok(Sampling {
        info,
        hashes: Vec::new(),
        frame_times,
        decoded_frames: decoded,
        interval_seconds,
        sound_fingerprint,
    })
}

struct Sampler {
    hashes: Vec<u64>,
    scaler: Option<(scaling::Context, ffmpeg::format::Pixel, u32, u32)>,
    thumb: ffmpeg::frame::Video,
    decoded: u64,
    /// How the picture is turned for display (rotation, mirror): hashes are of the picture
    /// as shown, so a photo matches a frame of a video whatever way up each was stored.
    turn: (u32, bool),
}

impl Sampler {
    fn drain(
        &mut self,
        decoder: &mut ffmpeg::decoder::Video,
        frame: &mut ffmpeg::frame::Video,
        origin: i64,
        tb: f64,
    ) -> Result<(), MediaError> {
        while decoder.receive_frame(frame).is_ok() {
            self.decoded += 1;
            let Some(ts) = frame.timestamp() else {
                continue;
            };
            let at = (ts - origin) as f64 * tb;
            // Which seconds this frame is the first at or after; a gap repeats the last
            // picture so that hashes[k] always belongs to second k.
            let next = self.hashes.len() as f64;
            if at + 1e-3 < next || !at.is_finite() {
                continue;
            }
            let hash = self.hash(frame)?;
            let last_second = at.floor().max(next) as usize;
            while self.hashes.len() <= last_second && self.hashes.len() < 1_000_000 {
                self.hashes.push(hash);
            }
        }
        Ok(())
    }

    fn hash(&mut self, frame: &ffmpeg::frame::Video) -> Result<u64, MediaError> {
        let (format, width, height) = (frame.format(), frame.width(), frame.height());
        let stale = !matches!(&self.scaler, Some((_, f, w, h)) if *f == format && *w == width && *h == height);
        if stale {
            let scaler = scaling::Context::get(
                format,
                width,
                height,
                ffmpeg::format::Pixel::GRAY8,
                HASH_SIDE as u32,
                HASH_SIDE as u32,
                scaling::Flags::AREA,
            )
            .map_err(ffmpeg_error("making the thumbnail scaler"))?;
            self.scaler = Some((scaler, format, width, height));
        }
        let Some((scaler, ..)) = &mut self.scaler else {
            unreachable!("scaler made above")
        };
        scaler
            .run(frame, &mut self.thumb)
            .map_err(ffmpeg_error("scaling a thumbnail"))?;
        let stride = self.thumb.stride(0);
        let data = self.thumb.data(0);
        let mut luma = [0u8; HASH_SIDE * HASH_SIDE];
        for (row, chunk) in luma.chunks_mut(HASH_SIDE).enumerate() {
            let from = row * stride;
            chunk.copy_from_slice(&data[from..from + HASH_SIDE]);
        }
        let (rotation, mirrored) = self.turn;
        Ok(phash(&upright(&luma, rotation, mirrored)))
    }
}

//! Custodian's FFmpeg adapter, on FFmpeg's libraries in-process through ffmpeg-next: what a
//! file holds (`probe`: a video, a sound recording or a photo, with a photo's EXIF), the
//! viewing copy with time and place burned in (`transcode`: a video's MP4, a recording's
//! listening copy and waveform, a photo's upright JPEG), and the per-second thumbnails and
//! frame or packet timestamps the fingerprinter works from (`sample`).
//! `worker` holds what the two media roles share around a job. Every FFmpeg entry point is
//! blocking (run it on a blocking thread), reads the original from a
//! local file and never writes to it, stops when its `StopFlag` is raised or its deadline
//! passes, and answers bad input with a `MediaError` rather than a panic. PDF documents are
//! read by Poppler's command-line tools instead (`document`: pages, text, a first-page
//! thumbnail), each in a confined child process of its own, blocking as well, reading the
//! original without writing to it, and stopped at a time limit.
//!
//! The workers never call those entry points themselves: FFmpeg decodes untrusted files, so
//! `sandbox` runs each job in a child process of its own (`custodian media-job`), confined to
//! the job's work directory with no network, a seccomp filter, landlock and resource limits.
//! A child that crashes or goes over a limit is one failed clip, never a failed server.

mod document;
pub mod faces;
mod photo_exif;
mod probe;
mod sample;
pub mod sandbox;
mod soundprint;
mod transcode;
mod worker;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::Instant;

pub use document::{
    first_page_thumbnail, inspect_pdf, DocumentFacts, MAX_TEXT_BYTES, MAX_THUMBNAIL_SIDE,
};
pub use probe::{probe, AudioInfo, MediaInfo, VideoInfo};
pub use sample::{sample, Sampling};
pub use transcode::{
    output_size, safe_in_filter_graph, transcode, transcode_opened, Opened, TranscodePlan,
    TranscodeReport,
};
pub use worker::{claim, settle_failure, still_held, sweep_stale_job_dirs, JobFailure, Workspace};

/// The job names the `media-job` child answers to, shared by the workers and the child.
pub mod jobs {
    /// `sample`: the fingerprinter's per-second thumbnails and frame times (`Sampling`).
    pub const SAMPLE: &str = "sample";
    /// The transcoder's viewing copy or a party's copy (`TranscodeReport`).
    pub const RENDER: &str = "render";
}

use custodian_core::media::container;
use ffmpeg_next as ffmpeg;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The file is not something FFmpeg can read as video (not video, truncated before its
    /// index, garbage). Permanent: trying again gives the same answer.
    #[error("{0}")]
    NotVideo(String),
    /// The document could not be read: not a PDF, damaged, or locked by a password.
    /// Permanent: trying again gives the same answer.
    #[error("the document could not be read: {0}")]
    Unreadable(String),
    /// The file opened but no picture could be decoded from it.
    #[error("no frame could be decoded: {0}")]
    Undecodable(String),
    /// Over a configured limit (duration, resolution).
    #[error("over the limit: {0}")]
    OverLimit(String),
    #[error("stopped after {0:?}: over the processing time limit or shutting down")]
    Stopped(std::time::Duration),
    #[error("FFmpeg failed during {operation}: {source}")]
    Ffmpeg {
        operation: &'static str,
        source: ffmpeg::Error,
    },
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The sandboxed job died by a signal (a decoder's memory error, an abort): the file
    /// makes FFmpeg crash, and will again. The name is the signal's, e.g. `SIGSEGV`.
    #[error("the decoder crashed ({0})")]
    Crashed(String),
    /// The sandboxed job needed more memory than its address-space limit.
    #[error("over the memory limit")]
    OverMemory,
    /// The sandboxed job used more CPU time than its limit.
    #[error("over the CPU time limit")]
    OverCpu,
    /// The sandboxed job wrote a file larger than its limit.
    #[error("over the file size limit")]
    OverFileSize,
    /// The sandbox could not be set up or spoken to: the worker's trouble, not the file's.
    #[error("the media sandbox failed: {0}")]
    Sandbox(String),
    /// The face detector could not be built or run (the model built into the binary): the
    /// worker's trouble, not the file's.
    #[error("the face detector failed: {0}")]
    Detector(String),
    /// A transient failure reported by the sandboxed job (FFmpeg or I/O), as its text.
    #[error("{message}")]
    Reported { kind: &'static str, message: String },
}

impl MediaError {
    /// Whether the same file would fail the same way again.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::NotVideo(_)
                | Self::Unreadable(_)
                | Self::Undecodable(_)
                | Self::OverLimit(_)
                | Self::Crashed(_)
                | Self::OverMemory
                | Self::OverCpu
                | Self::OverFileSize
        )
    }

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotVideo(_) => "not_video",
            Self::Unreadable(_) => "unreadable",
            Self::Undecodable(_) => "undecodable",
            Self::OverLimit(_) => "over_limit",
            Self::Stopped(_) => "stopped",
            Self::Ffmpeg { .. } => "ffmpeg",
            Self::Io { .. } => "io",
            Self::Crashed(_) => "crashed",
            Self::OverMemory => "memory",
            Self::OverCpu => "cpu",
            Self::OverFileSize => "file_size",
            Self::Sandbox(_) => "sandbox",
            Self::Detector(_) => "detector",
            Self::Reported { kind, .. } => kind,
        }
    }
}

fn ffmpeg_error(operation: &'static str) -> impl FnOnce(ffmpeg::Error) -> MediaError {
    move |source| MediaError::Ffmpeg { operation, source }
}

/// What a worker accepts; anything beyond is refused before decoding starts.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    pub max_duration_seconds: f64,
    pub max_width: u32,
    pub max_height: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_duration_seconds: 6.0 * 3600.0,
            max_width: 7680,
            max_height: 4320,
        }
    }
}

/// Tells a running job to stop: raised by the worker on shutdown or when the job is
/// abandoned, and checked by FFmpeg's I/O interrupt callback and between packets.
#[derive(Debug, Clone)]
pub struct StopFlag {
    raised: Arc<AtomicBool>,
    started: Instant,
    deadline: Instant,
}

impl StopFlag {
    pub fn with_deadline(deadline: Instant) -> Self {
        Self {
            raised: Arc::new(AtomicBool::new(false)),
            started: Instant::now(),
            deadline,
        }
    }

    /// A guard that raises the flag when dropped: held by the async side of a job, so that
    /// abandoning the job (time limit, shutdown) also stops the blocking FFmpeg work.
    pub fn guard(&self) -> StopGuard {
        StopGuard(self.clone())
    }

    pub fn raise(&self) {
        self.raised.store(true, Ordering::Relaxed);
    }

    pub fn should_stop(&self) -> bool {
        self.raised.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }

    fn check(&self) -> Result<(), MediaError> {
        if self.should_stop() {
            Err(MediaError::Stopped(self.started.elapsed()))
        } else {
            Ok(())
        }
    }
}

pub struct StopGuard(StopFlag);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.raise();
    }
}

/// Initialises FFmpeg once per process and keeps its own logging to errors, which go to
/// stderr; our outcome is reported through tracing.
fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Registration cannot fail on FFmpeg ≥ 4 (it is a no-op); an error here would only
        // mean an ancient library, which the build already refuses.
        let _ = ffmpeg::init();
        ffmpeg::log::set_level(ffmpeg::log::Level::Error);
    });
}

/// Opens `path` for reading, interruptible by `stop`, as one of the containers Custodian
/// accepts and nothing else: FFmpeg may read only this file (no playlist, list or external
/// reference may make it open another), and a refusal says what the file looks like.
fn open_input(path: &Path, stop: &StopFlag) -> Result<ffmpeg::format::context::Input, MediaError> {
    init();
    // FFmpeg's MOV demuxer opens a HEIC photo and finds nothing in it; say what it is instead.
    if sniff_file(path) == Some(container::Looks::Heic) {
        return Err(MediaError::NotVideo(container::refusal(
            container::Looks::Heic,
            None,
        )));
    }
    let mut options = ffmpeg::Dictionary::new();
    options.set("format_whitelist", &container::format_whitelist());
    options.set("protocol_whitelist", "file");
    // The MOV demuxer's external data references (`dref`) name other files.
    options.set("enable_drefs", "0");
    options.set("use_absolute_path", "0");
    let flag = stop.clone();
    match ffmpeg::format::input_with_interrupt_and_dictionary(
        path,
        move || flag.should_stop(),
        options,
    ) {
        Ok(input) if container::demuxer_accepted(input.format().name()) => Ok(input),
        Ok(input) => Err(MediaError::NotVideo(container::refusal(
            container::Looks::Unknown,
            Some(input.format().name()),
        ))),
        Err(_) if stop.should_stop() => Err(MediaError::Stopped(stop.started.elapsed())),
        Err(_) => Err(MediaError::NotVideo(explain_refusal(path))),
    }
}

/// What the first bytes of `path` look like, if it can be read.
pub fn sniff_file(path: &Path) -> Option<container::Looks> {
    use std::io::Read;
    let mut head = Vec::with_capacity(container::SNIFF_BYTES);
    std::fs::File::open(path)
        .and_then(|file| {
            file.take(container::SNIFF_BYTES as u64)
                .read_to_end(&mut head)
        })
        .ok()?;
    Some(container::sniff(&head))
}

/// Why FFmpeg could not open `path` as an accepted container, from its first bytes.
fn explain_refusal(path: &Path) -> String {
    use std::io::Read;
    let mut head = Vec::with_capacity(container::SNIFF_BYTES);
    let read = std::fs::File::open(path).and_then(|file| {
        file.take(container::SNIFF_BYTES as u64)
            .read_to_end(&mut head)
    });
    if let Err(e) = read {
        return format!("the file could not be read: {e}");
    }
    container::refusal(container::sniff(&head), probed_demuxer(&head).as_deref())
}

/// The demuxer FFmpeg's own probe picks for these bytes, without opening anything.
fn probed_demuxer(head: &[u8]) -> Option<String> {
    // FFmpeg reads up to 32 bytes past the end of a probe buffer; they must be zero.
    const PADDING: usize = 32;
    let mut buffer = Vec::with_capacity(head.len() + PADDING);
    buffer.extend_from_slice(head);
    buffer.resize(head.len() + PADDING, 0);
    let data = ffmpeg::ffi::AVProbeData {
        filename: c"".as_ptr(),
        buf: buffer.as_mut_ptr(),
        buf_size: i32::try_from(head.len()).ok()?,
        mime_type: std::ptr::null(),
    };
    // SAFETY: `data` points at `buffer`, alive and padded as FFmpeg requires, for the call;
    // the returned format is a static of libavformat, and its name a static C string.
    unsafe {
        let format = ffmpeg::ffi::av_probe_input_format(&data, 1);
        if format.is_null() || (*format).name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*format).name)
            .to_str()
            .ok()
            .map(str::to_owned)
    }
}

/// Whether the linked FFmpeg has what the transcoder needs (libx264, drawtext, subtitles).
pub fn check_capabilities() -> Result<(), String> {
    init();
    if ffmpeg::encoder::find_by_name("libx264").is_none() {
        return Err("FFmpeg has no libx264 encoder".into());
    }
    for filter in ["drawtext", "subtitles", "scale", "transpose"] {
        if ffmpeg::filter::find(filter).is_none() {
            return Err(format!("FFmpeg has no {filter} filter"));
        }
    }
    if ffmpeg::encoder::find(ffmpeg::codec::Id::AAC).is_none() {
        return Err("FFmpeg has no AAC encoder".into());
    }
    Ok(())
}

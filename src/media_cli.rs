//! `custodian media`: the media workers' steps on one local file, for operators asking
//! "what would the transcoder make of this?" and for the benchmark against the ffmpeg
//! command line. Nothing is stored; output goes to stdout or the given directory.

use std::time::Instant;

use anyhow::Context;
use custodian_core::media::{parse_gpx, parse_nmea, ContinuityRules};
use custodian_media::{Limits, MediaInfo, StopFlag};
use custodian_transcoder::{make_viewing_copy, OverlaySource};
use serde_json::{json, Value};

use crate::cli::{MediaCommand, TranscodeArgs};

pub async fn run(command: MediaCommand) -> anyhow::Result<Value> {
    tokio::task::spawn_blocking(move || run_blocking(command)).await?
}

fn no_stop() -> StopFlag {
    StopFlag::with_deadline(Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600))
}

fn run_blocking(command: MediaCommand) -> anyhow::Result<Value> {
    match command {
        MediaCommand::Probe { file } => {
            let info = custodian_media::probe(&file, &no_stop())
                .with_context(|| format!("probing {}", file.display()))?;
            Ok(describe(&info))
        }
        MediaCommand::Transcode(args) => transcode(*args),
        MediaCommand::Fingerprint { file } => {
            let started = Instant::now();
            let sampling = custodian_media::sample(&file, &Limits::default(), &no_stop())
                .with_context(|| format!("fingerprinting {}", file.display()))?;
            let (timeline, findings) =
                custodian_fingerprinter::continuity_of(&sampling, &ContinuityRules::default());
            Ok(json!({
                "elapsed_seconds": started.elapsed().as_secs_f64(),
                "media": describe(&sampling.info),
                "decoded_frames": sampling.decoded_frames,
                "frames": timeline.frames,
                "duration_seconds": timeline.duration_seconds,
                "seconds": sampling.hashes.len(),
                "hashes": sampling.hashes.iter().map(|h| format!("{h:016x}")).collect::<Vec<_>>(),
                "findings": findings,
            }))
        }
    }
}

fn transcode(args: TranscodeArgs) -> anyhow::Result<Value> {
    args.transcoder.validate()?;
    args.media.validate()?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let recorded_at = args
        .recorded_at
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now);
    let track = match &args.track {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(if text.trim_start().starts_with('<') {
                parse_gpx(&text)?
            } else {
                parse_nmea(&text, recorded_at.date_naive())?
            })
        }
    };
    let source = OverlaySource {
        recorded_at,
        // Without a declared time, any plausible file clock dates the copy.
        clock_tolerance: if args.recorded_at.is_some() {
            args.media.clock_tolerance()
        } else {
            chrono::Duration::days(365_000)
        },
        place: Some(args.place).filter(|p| !p.is_empty()),
        position: None,
        device: args.device,
        officer: args.officer,
        track,
    };
    let started = Instant::now();
    let limits = Limits::from(&args.media);
    let report = make_viewing_copy(
        &args.out_dir,
        &args.file,
        source,
        &args.transcoder,
        &limits,
        &no_stop(),
    )
    .with_context(|| format!("transcoding {}", args.file.display()))?;
    Ok(json!({
        "elapsed_seconds": started.elapsed().as_secs_f64(),
        "media": describe(&report.info),
        "width": report.width,
        "height": report.height,
        "frames": report.frames,
        "audio": report.audio,
        "duration_seconds": report.duration_seconds,
        "out_dir": args.out_dir,
    }))
}

fn describe(info: &MediaInfo) -> Value {
    json!({
        "container": info.container,
        "duration_seconds": info.duration_seconds,
        "video": {
            "codec": info.video.codec,
            "width": info.video.width,
            "height": info.video.height,
            "frame_rate": info.video.frame_rate,
            "rotation": info.video.rotation,
        },
        "audio": info.audio.as_ref().map(|a| json!({
            "codec": a.codec, "sample_rate": a.sample_rate, "channels": a.channels,
        })),
        "creation_time": info.creation_time,
        "location": info.location,
    })
}

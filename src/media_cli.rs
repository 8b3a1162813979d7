//! `custodian media`: the media workers' steps on one local file, for operators asking
//! "what would the transcoder make of this?" and for the benchmark against the ffmpeg
//! command line. Nothing is stored; output goes to stdout or the given directory. With
//! `--sandbox` the work runs in the workers' sandboxed child, so the benchmark can weigh the
//! sandbox's cost.

use std::time::Instant;

use anyhow::Context;
use custodian_core::media::{parse_gpx, parse_nmea, ContinuityRules};
use std::path::{Path, PathBuf};

use custodian_media::sandbox::{Confinement, Sandbox};
use custodian_media::{jobs, Limits, MediaInfo, Sampling, StopFlag, TranscodeReport};
use custodian_transcoder::{make_viewing_copy, OverlaySource, RenderParams};
use serde_json::{json, Value};

use crate::cli::{MediaCommand, TranscodeArgs};

pub async fn run(command: MediaCommand) -> anyhow::Result<Value> {
    match command {
        MediaCommand::Fingerprint {
            file,
            sandbox: true,
        } => fingerprint_sandboxed(&file).await,
        MediaCommand::Transcode(args) if args.sandbox => transcode_sandboxed(*args).await,
        command => tokio::task::spawn_blocking(move || run_blocking(command)).await?,
    }
}

/// A sandbox for one job of the command line, with the workers' defaults.
fn sandbox(media: &custodian_platform::config::MediaJobArgs) -> anyhow::Result<Sandbox> {
    Ok(Sandbox::new(
        media.job_exe.clone(),
        Confinement::from(media),
    )?)
}

/// `file` made visible inside `dir` (the only directory the child may open): linked where
/// the file system allows, else copied.
fn place_original(file: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let original = dir.join("original");
    let _ = std::fs::remove_file(&original);
    if std::fs::hard_link(file, &original).is_err() {
        std::fs::copy(file, &original)
            .with_context(|| format!("copying {} into {}", file.display(), dir.display()))?;
    }
    Ok(original)
}

async fn fingerprint_sandboxed(file: &Path) -> anyhow::Result<Value> {
    let media = custodian_platform::config::MediaJobArgs::default();
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = tempfile::tempdir_in(parent.unwrap_or(Path::new(".")))?;
    let original = place_original(file, dir.path())?;
    let started = Instant::now();
    let sampling: Sampling = sandbox(&media)?
        .run(
            jobs::SAMPLE,
            dir.path(),
            &original,
            &Limits::default(),
            media.job_timeout,
            &(),
        )
        .await
        .with_context(|| format!("fingerprinting {}", file.display()))?;
    Ok(describe_sampling(&sampling, started))
}

async fn transcode_sandboxed(args: TranscodeArgs) -> anyhow::Result<Value> {
    let (source, limits) = transcode_inputs(&args)?;
    let original = place_original(&args.file, &args.out_dir)?;
    let started = Instant::now();
    let params = RenderParams {
        source,
        config: args.transcoder.clone(),
        watermark: None,
        redaction: None,
    };
    let report: TranscodeReport = sandbox(&args.media)?
        .run(
            jobs::RENDER,
            &args.out_dir,
            &original,
            &limits,
            args.media.job_timeout,
            &params,
        )
        .await
        .with_context(|| format!("transcoding {}", args.file.display()))?;
    std::fs::remove_file(&original)?;
    Ok(describe_transcode(&report, started, &args))
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
        MediaCommand::Fingerprint { file, .. } => {
            let started = Instant::now();
            let sampling = custodian_media::sample(&file, &Limits::default(), &no_stop())
                .with_context(|| format!("fingerprinting {}", file.display()))?;
            Ok(describe_sampling(&sampling, started))
        }
        MediaCommand::Faces { file, every } => {
            let started = Instant::now();
            let scan = custodian_media::faces::scan(&file, every, &Limits::default(), &no_stop())
                .with_context(|| format!("looking for faces in {}", file.display()))?;
            let mut value = serde_json::to_value(&scan)?;
            value["elapsed_seconds"] = json!(started.elapsed().as_secs_f64());
            Ok(value)
        }
    }
}

fn describe_sampling(sampling: &Sampling, started: Instant) -> Value {
    let (timeline, findings) =
        custodian_fingerprinter::continuity_of(sampling, &ContinuityRules::default());
    json!({
        "elapsed_seconds": started.elapsed().as_secs_f64(),
        "media": describe(&sampling.info),
        "decoded_frames": sampling.decoded_frames,
        "frames": timeline.frames,
        "duration_seconds": timeline.duration_seconds,
        "seconds": sampling.hashes.len(),
        "hashes": sampling.hashes.iter().map(|h| format!("{h:016x}")).collect::<Vec<_>>(),
        // Chromaprint's items, ~0.124 s each, as fpcalc prints them raw.
        "sound_fingerprint": sampling.sound_fingerprint,
        "findings": findings,
    })
}

fn describe_transcode(report: &TranscodeReport, started: Instant, args: &TranscodeArgs) -> Value {
    json!({
        "elapsed_seconds": started.elapsed().as_secs_f64(),
        "media": describe(&report.info),
        "width": report.width,
        "height": report.height,
        "frames": report.frames,
        "audio": report.audio,
        "duration_seconds": report.duration_seconds,
        "out_dir": args.out_dir,
    })
}

/// What the command line says about the copy to make, and the limits on the footage.
fn transcode_inputs(args: &TranscodeArgs) -> anyhow::Result<(OverlaySource, Limits)> {
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
        place: Some(args.place.clone()).filter(|p| !p.is_empty()),
        position: None,
        device: args.device.clone(),
        officer: args.officer.clone(),
        track,
    };
    Ok((source, Limits::from(&args.media)))
}

fn transcode(args: TranscodeArgs) -> anyhow::Result<Value> {
    let (source, limits) = transcode_inputs(&args)?;
    let started = Instant::now();
    let report = make_viewing_copy(
        &args.out_dir,
        &args.file,
        source,
        &args.transcoder,
        &limits,
        &no_stop(),
    )
    .with_context(|| format!("transcoding {}", args.file.display()))?;
    Ok(describe_transcode(&report, started, &args))
}

fn describe(info: &MediaInfo) -> Value {
    json!({
        "container": info.container,
        "duration_seconds": info.duration_seconds,
        "kind": info.kind,
        "video": info.video.as_ref().map(|v| json!({
            "codec": v.codec,
            "width": v.width,
            "height": v.height,
            "frame_rate": v.frame_rate,
            "rotation": v.rotation,
            "mirrored": v.mirrored,
        })),
        "audio": info.audio.as_ref().map(|a| json!({
            "codec": a.codec, "sample_rate": a.sample_rate, "channels": a.channels,
        })),
        "creation_time": info.creation_time,
        "location": info.location,
    })
}

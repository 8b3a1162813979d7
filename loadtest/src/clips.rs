//! The clips uploaded: made once at start with the ffmpeg command line, so the run measures
//! the server and not the generator, and kept in memory with their digests.

use std::path::Path;

use anyhow::{bail, Context};
use base64::Engine as _;
use bytes::Bytes;
use sha2::{Digest as _, Sha256};

pub struct Clip {
    pub body: Bytes,
    /// The RFC 9530 `Content-Digest` value, computed once rather than per upload.
    pub content_digest: String,
}

/// Makes `count` distinct H.264 clips of `seconds` at 320x240: distinct so the fingerprinter
/// and similarity index see different pictures, small so the test stresses the pipeline's
/// per-clip costs rather than the disk.
pub fn generate(dir: &Path, count: u32, seconds: u32) -> anyhow::Result<Vec<Clip>> {
    // Different lavfi sources and parameters per clip; the seed only changes noise.
    let patterns = [
        "testsrc2",
        "testsrc",
        "smptebars",
        "mandelbrot",
        "rgbtestsrc",
        "life",
    ];
    let mut clips = Vec::new();
    for i in 0..count {
        let pattern = patterns[i as usize % patterns.len()];
        let path = dir.join(format!("clip-{i}.mp4"));
        // Not every source takes `duration` (mandelbrot and life do not): the output's -t ends
        // them all.
        let video = format!("{pattern}=size=320x240:rate=25");
        // A per-clip noise strength, so two clips from the same pattern still differ.
        let filter = format!("noise=alls={}:allf=t", 5 + i * 7);
        let audio = format!("sine=frequency={}:duration={seconds}", 300 + 110 * i);
        let output = std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg(&video)
            .args(["-f", "lavfi", "-i"])
            .arg(&audio)
            .args([
                "-vf", &filter, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            ])
            .args(["-c:a", "aac", "-movflags", "+faststart", "-t"])
            .arg(seconds.to_string())
            .arg(&path)
            .output()
            .context("running ffmpeg (is it installed? scripts/setup-system.sh installs it)")?;
        if !output.status.success() {
            bail!(
                "ffmpeg making {}: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let body = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let digest = Sha256::digest(&body);
        clips.push(Clip {
            content_digest: format!(
                "sha-256=:{}:",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ),
            body: Bytes::from(body),
        });
    }
    Ok(clips)
}

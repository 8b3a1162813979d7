//! Footage for the media tests, made and measured with the ffmpeg command line.

use std::path::Path;

/// Runs the ffmpeg command line with `args`, failing the test with its message if it fails.
pub fn ffmpeg(args: &[&str]) {
    let output = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs (scripts/setup-system.sh installs it)");
    assert!(
        output.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A `seconds`-long H.264 test pattern (testsrc2) of `size` at `rate` fps, with `extra`
/// output arguments (metadata, preset).
pub fn test_clip(path: &Path, size: &str, rate: u32, seconds: u32, extra: &[&str]) {
    let source = format!("testsrc2=size={size}:rate={rate}:duration={seconds}");
    lavfi_clip(path, &source, extra);
}

/// An H.264 clip of a lavfi `source` (e.g. `color=c=gray:size=320x240:rate=25:duration=2`)
/// with `extra` output arguments; answers its bytes.
pub fn lavfi_clip(path: &Path, source: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec![
        "-f", "lavfi", "-i", source, "-c:v", "libx264", "-pix_fmt", "yuv420p",
    ];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
    std::fs::read(path).unwrap()
}

/// Decoded frames of `path` in a region, as 8-bit grey, one Vec per frame.
pub fn grey_frames(path: &Path, crop: &str, frames: usize) -> Vec<Vec<u8>> {
    let output = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-vf", &format!("crop={crop},format=gray"), "-frames:v"])
        .arg(frames.to_string())
        .args(["-f", "rawvideo", "-"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (w, h) = {
        let mut parts = crop.split(':');
        let w: usize = parts.next().unwrap().parse().unwrap();
        let h: usize = parts.next().unwrap().parse().unwrap();
        (w, h)
    };
    output.stdout.chunks(w * h).map(<[u8]>::to_vec).collect()
}

pub fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (i32::from(*x) - i32::from(*y)).abs() as f64)
        .sum::<f64>()
        / a.len() as f64
}

/// A flat grey 3-second 640x360 clip with a tone, with `extra` output arguments: whatever
/// differs in a copy of it was drawn on it.
pub fn grey_clip(path: &Path, extra: &[&str]) {
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:size=640x360:rate=25:duration=3",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=3",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
    ];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
}

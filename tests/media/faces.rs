//! The face detector a party copy's redaction will use (issue #22), on a real face: NASA's
//! portrait of an astronaut (public domain, as scikit-image ships it) moving across a camera
//! frame, made into video with the ffmpeg command line. The face is found where it is in
//! nearly every frame looked at, also in a portrait clip stored on its side; a clip with no
//! face finds none.

use std::path::Path;

use crate::common::video::ffmpeg;
use custodian_media::faces::{scan, MODEL_SHA256};
use custodian_media::{Limits, StopFlag};

const PORTRAIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/astronaut.jpg");

/// Where the portrait's face is within the 256 x 256 picture (measured once by eye on the
/// picture; the detector must land within a few pixels of it): its centre.
const FACE_CENTRE: (f64, f64) = (113.0, 58.0);

/// 3 s of a 640 x 360 grey frame with the portrait moving right at 100 px/s from x = 20,
/// y = 50, stored through the filters `then` (if any), with `extra` output arguments.
fn moving_portrait(path: &Path, then: &str, extra: &[&str]) {
    let graph = format!("[0][1]overlay=x='20+100*t':y=50:shortest=1{then}");
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:size=640x360:rate=25:duration=3",
        "-loop",
        "1",
        "-i",
        PORTRAIT,
        "-filter_complex",
        &graph,
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
    ];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
}

fn stop() -> StopFlag {
    StopFlag::with_deadline(std::time::Instant::now() + std::time::Duration::from_secs(600))
}

/// The scan found one face in nearly every frame, where the moving portrait's face is.
fn face_follows_the_portrait(found: &custodian_media::faces::FaceScan) {
    let mut hits = 0;
    for frame in &found.frames {
        let Some(face) = frame.faces.first() else {
            continue;
        };
        hits += 1;
        assert_eq!(
            frame.faces.len(),
            1,
            "one face at {} s: {:?}",
            frame.at,
            frame.faces
        );
        let expected_x = (20.0 + 100.0 * frame.at + FACE_CENTRE.0) / 640.0;
        let expected_y = (50.0 + FACE_CENTRE.1) / 360.0;
        let centre_x = f64::from(face.x + face.width / 2.0);
        let centre_y = f64::from(face.y + face.height / 2.0);
        assert!(
            (centre_x - expected_x).abs() < 0.03 && (centre_y - expected_y).abs() < 0.04,
            "at {} s the face is at ({centre_x:.3}, {centre_y:.3}), not ({expected_x:.3}, {expected_y:.3})",
            frame.at
        );
        // About the face's size: 46 of 640 wide.
        assert!((0.04..0.15).contains(&face.width), "{face:?}");
    }
    assert!(hits >= 23, "the face in {hits} of 25 frames");
}

#[test]
fn a_real_face_is_found_where_it_is_and_none_where_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("portrait.mp4");
    moving_portrait(&clip, "", &[]);
    let found = scan(&clip, 3, &Limits::default(), &stop()).unwrap();
    assert_eq!(found.model_sha256, MODEL_SHA256);
    assert_eq!((found.width, found.height), (640, 352));
    assert_eq!(found.frames.len(), 25, "every third of 75 frames");
    face_follows_the_portrait(&found);

    // No face: grey and a test pattern.
    let empty = dir.path().join("pattern.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25:duration=2",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        empty.to_str().unwrap(),
    ]);
    let none = scan(&empty, 5, &Limits::default(), &stop()).unwrap();
    assert!(!none.frames.is_empty());
    assert!(
        none.frames.iter().all(|f| f.faces.is_empty()),
        "{:?}",
        none.frames
    );
}

#[test]
fn a_portrait_clip_stored_on_its_side_is_looked_at_upright() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("sideways.mp4");
    // Stored turned a quarter clockwise, with a display rotation of a quarter counter-
    // clockwise (ffprobe: rotation 90) that shows it upright, as a phone held on its side
    // writes it. FFmpeg 5.1 writes the display matrix only when remuxing with the tag.
    let stored = dir.path().join("stored.mp4");
    moving_portrait(&stored, ",transpose=clock", &[]);
    ffmpeg(&[
        "-i",
        stored.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        clip.to_str().unwrap(),
    ]);
    let found = scan(&clip, 3, &Limits::default(), &stop()).unwrap();
    // Shown 640 x 360 (stored 360 x 640): looked at 640 x 352, upright.
    assert_eq!((found.width, found.height), (640, 352), "{found:?}");
    face_follows_the_portrait(&found);
}

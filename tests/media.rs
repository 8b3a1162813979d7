//! The media workers on real FFmpeg, in the standalone server: the viewing copy carries a
//! running clock and the place, the WebVTT sidecar says the same, near-duplicates are found
//! and unrelated clips are not, a cut-out span is reported where it is, and bad input fails
//! the clip with a reason while the original stays as received. Every clip is made by the
//! test with the ffmpeg command line.

mod common;
#[path = "media/faces.rs"]
mod faces;
#[path = "media/records.rs"]
mod records;

use std::path::{Path, PathBuf};

use common::video::{ffmpeg, grey_frames, mean_abs_diff, test_clip};
use common::{spawn_standalone_with_media, spawn_standalone_with_media_limits, TestApp};
use custodian_core::Sha256Digest;
use serde_json::Value;

/// Waits longer than the other tests: each clip is transcoded and fingerprinted on two
/// shared cores, with other tests running.
const MEDIA_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

impl TestApp {
    async fn upload_file(&self, path: &Path, extra: &[(&str, &str)]) -> String {
        self.upload_file_as(&self.token, path, extra).await
    }

    async fn upload_file_as(&self, token: &str, path: &Path, extra: &[(&str, &str)]) -> String {
        let body = std::fs::read(path).unwrap();
        let digest = Sha256Digest::of(&body);
        let mut query = vec![
            ("device", "DSJ-0001"),
            ("officer", "031234"),
            ("recorded_at", "2026-02-14T09:30:00+08:00"),
            ("file_name", "DSJ-0001_031234_20260214_093000.mp4"),
        ];
        query.retain(|(key, _)| !extra.iter().any(|(k, _)| k == key));
        query.extend_from_slice(extra);
        let response = self
            .http
            .put(format!("{}/v1/uploads", self.base))
            .bearer_auth(token)
            .header("Content-Digest", digest.to_content_digest())
            .query(&query)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        let receipt: Value = response.json().await.unwrap();
        receipt["clip_id"].as_str().unwrap().to_owned()
    }

    async fn wait_for(&self, clip_id: &str, state: &str) -> Value {
        self.wait_for_as(&self.token, clip_id, state).await
    }

    async fn wait_for_as(&self, token: &str, clip_id: &str, state: &str) -> Value {
        custodian_platform::testing::eventually(
            MEDIA_WAIT,
            &format!("clip {clip_id} {state}"),
            || async {
                let record: Value = self
                    .get(token, &format!("/v1/clips/{clip_id}"))
                    .await
                    .json()
                    .await
                    .ok()?;
                (record["state"] == state).then_some(record)
            },
        )
        .await
    }

    async fn download(&self, path: &str, to: &Path) -> reqwest::header::HeaderMap {
        let response = self.get(&self.token, path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        std::fs::write(to, response.bytes().await.unwrap()).unwrap();
        headers
    }
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[tokio::test]
async fn the_viewing_copy_burns_in_a_running_clock_and_the_place() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    // A flat grey picture: whatever differs in the copy is the overlay.
    let source = file(&work, "grey.mp4");
    common::video::grey_clip(
        &source,
        &[
            "-metadata",
            "creation_time=2026-02-14T01:30:00Z",
            "-metadata",
            "location=+30.2741+120.1551/",
        ],
    );
    let id = app
        .upload_file(&source, &[("place", "杭州市西湖区文三路")])
        .await;
    let record = app.wait_for(&id, "catalogued").await;
    assert_eq!(record["media"]["width"], 640);
    assert_eq!(record["media"]["audio_codec"], "aac");
    assert!(record["media"]["transcoded_at"].is_string());
    assert!(record["media"]["fingerprinted_at"].is_string());
    // Art. 16 counts 24 hours from the recording's end: recorded from 01:30:00 UTC for the
    // 3 seconds the workers measured, so due at 01:30:03 the next day, not 01:30:00.
    let upload = record["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "upload_24_hours")
        .unwrap_or_else(|| panic!("no upload deadline: {record}"));
    let due: chrono::DateTime<chrono::Utc> = upload["due"].as_str().unwrap().parse().unwrap();
    let end: chrono::DateTime<chrono::Utc> = "2026-02-14T01:30:03Z".parse().unwrap();
    assert!(
        (due - end - chrono::Duration::hours(24))
            .num_milliseconds()
            .abs()
            < 100,
        "{upload}"
    );

    let copy = file(&work, "view.mp4");
    let headers = app.download(&format!("/v1/clips/{id}/view"), &copy).await;
    assert_eq!(headers["content-type"], "video/mp4");
    // The top-left band holds the clock; the bottom-left the place and identity.
    let clock = "320:32:0:0";
    let source_frames = grey_frames(&source, clock, 40);
    let copy_frames = grey_frames(&copy, clock, 40);
    assert_eq!(copy_frames.len(), 40);
    assert!(
        mean_abs_diff(&source_frames[0], &source_frames[39]) < 0.5,
        "the source is still"
    );
    assert!(
        mean_abs_diff(&copy_frames[0], &source_frames[0]) > 5.0,
        "no clock drawn"
    );
    // 1.0 s and 0.04 s apart: the seconds and the milliseconds change.
    assert!(
        mean_abs_diff(&copy_frames[0], &copy_frames[25]) > 0.5,
        "the clock stands still over a second"
    );
    assert!(
        mean_abs_diff(&copy_frames[0], &copy_frames[1]) > 0.1,
        "the clock stands still between frames"
    );
    let band = "400:48:0:312";
    assert!(
        mean_abs_diff(
            &grey_frames(&copy, band, 1)[0],
            &grey_frames(&source, band, 1)[0]
        ) > 5.0,
        "no place or identity drawn"
    );

    // The sidecar says per second what the picture shows, in China Standard Time.
    let vtt = file(&work, "subtitles.vtt");
    app.download(&format!("/v1/clips/{id}/subtitles"), &vtt)
        .await;
    let text = std::fs::read_to_string(&vtt).unwrap();
    assert!(text.starts_with("WEBVTT"));
    assert_eq!(text.matches(" --> ").count(), 3, "{text}");
    assert!(
        text.contains("00:00:00.000 --> 00:00:01.000\n2026-02-14 09:30:00 (UTC+8)"),
        "{text}"
    );
    assert!(text.contains("2026-02-14 09:30:02 (UTC+8)"), "{text}");
    assert!(
        text.contains("杭州市西湖区文三路  30.27410°N 120.15510°E"),
        "{text}"
    );
    assert!(text.contains("设备 DSJ-0001  警号 031234"), "{text}");

    let poster = file(&work, "poster.jpg");
    let headers = app
        .download(&format!("/v1/clips/{id}/poster"), &poster)
        .await;
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(
        &std::fs::read(&poster).unwrap()[..3],
        &[0xFF, 0xD8, 0xFF],
        "a JPEG"
    );

    // The original is untouched by all this.
    let original = app
        .stored_files()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("originals/"))
        .unwrap();
    assert_eq!(
        std::fs::read(&original).unwrap(),
        std::fs::read(&source).unwrap()
    );
    app.app.stop().await;
}

#[tokio::test]
async fn near_duplicates_are_found_and_unrelated_clips_are_not() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let original = file(&work, "original.mp4");
    test_clip(&original, "640x360", 25, 12, &["-preset", "veryfast"]);
    let variant = |name: &str, args: &[&str]| {
        let path = file(&work, name);
        let mut all = vec!["-i", original.to_str().unwrap()];
        all.extend_from_slice(args);
        all.push(path.to_str().unwrap());
        ffmpeg(&all);
        path
    };
    let variants = [
        (
            "re-encoded",
            variant(
                "reencoded.mp4",
                &["-c:v", "libx264", "-crf", "38", "-g", "17"],
            ),
        ),
        (
            "rescaled",
            variant("rescaled.mp4", &["-vf", "scale=320:180", "-c:v", "libx264"]),
        ),
        (
            "brightened",
            variant(
                "brightened.mp4",
                &["-vf", "eq=brightness=0.12", "-c:v", "libx264"],
            ),
        ),
        (
            "cut out of the middle",
            variant("excerpt.mkv", &["-ss", "4", "-t", "5", "-c:v", "libx264"]),
        ),
        // Seconds 4 to 7 removed, the timestamps made continuous again: no gap in the file
        // shows it, and the mean over the whole overlap is too high for one alignment.
        (
            "with a span removed",
            variant(
                "span-removed.mp4",
                &[
                    "-vf",
                    "select='not(between(t,4,6.999))',setpts=N/25/TB",
                    "-c:v",
                    "libx264",
                ],
            ),
        ),
    ];
    let unrelated = file(&work, "unrelated.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=size=640x360:rate=25",
        "-t",
        "12",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        unrelated.to_str().unwrap(),
    ]);

    // Four seconds of the original followed by four of the unrelated clip.
    let spliced = file(&work, "spliced.mp4");
    ffmpeg(&[
        "-i",
        original.to_str().unwrap(),
        "-i",
        unrelated.to_str().unwrap(),
        "-filter_complex",
        "[0:v]trim=2:6,setpts=PTS-STARTPTS[a];[1:v]trim=0:4,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]",
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        spliced.to_str().unwrap(),
    ]);

    let original_id = app.upload_file(&original, &[]).await;
    let mut ids = Vec::new();
    for (kind, path) in &variants {
        ids.push((*kind, app.upload_file(path, &[]).await));
    }
    let unrelated_id = app.upload_file(&unrelated, &[]).await;
    let spliced_id = app.upload_file(&spliced, &[]).await;
    for id in ids
        .iter()
        .map(|(_, id)| id)
        .chain([&original_id, &unrelated_id, &spliced_id])
    {
        app.wait_for(id, "catalogued").await;
    }

    let found: Value = app
        .get_json(&app.token, &format!("/v1/clips/{original_id}/similar"))
        .await;
    let matched: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["clip_id"].as_str().unwrap())
        .collect();
    for (kind, id) in &ids {
        assert!(
            matched.contains(&id.as_str()),
            "{kind} copy not found: {found}"
        );
    }
    assert!(
        !matched.contains(&unrelated_id.as_str()),
        "unrelated clip matched: {found}"
    );
    let excerpt = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["clip_id"] == ids[3].1)
        .unwrap();
    assert_eq!(
        excerpt["offset_seconds"], 4,
        "the excerpt starts 4 s into the original: {excerpt}"
    );
    let spans_of = |found: &Value, id: &str| -> Vec<(i64, i64, i64)> {
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["clip_id"] == id)
            .unwrap_or_else(|| panic!("{id} not found: {found}"))["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["start_seconds"].as_i64().unwrap(),
                    s["other_start_seconds"].as_i64().unwrap(),
                    s["seconds"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    // The clip with a span removed shares two spans with the original; the gap between them
    // in the original (about 4 s to 7 s) is what was cut.
    let removed = spans_of(&found, &ids[4].1);
    assert_eq!(removed.len(), 2, "{removed:?}");
    let (first, second) = (removed[0], removed[1]);
    assert_eq!((first.0, first.1), (0, 0), "{removed:?}");
    assert!((3..=4).contains(&first.2), "{removed:?}");
    assert!((6..=8).contains(&second.0), "{removed:?}");
    assert!((3..=5).contains(&second.1), "{removed:?}");
    assert!(
        second.0 - second.1 >= 2,
        "the cut is not shown: {removed:?}"
    );
    // The splice shares one span with each of its sources, at its start and at its end.
    let from_original = spans_of(&found, &spliced_id);
    assert_eq!(from_original.len(), 1, "{from_original:?}");
    assert!((1..=3).contains(&from_original[0].0) && from_original[0].1 <= 1);

    // And the other way round: the unrelated clip finds none of the copies, only the splice
    // that took its first seconds.
    let others: Value = app
        .get_json(&app.token, &format!("/v1/clips/{unrelated_id}/similar"))
        .await;
    let matched: Vec<&str> = others["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["clip_id"].as_str().unwrap())
        .collect();
    assert_eq!(matched, vec![spliced_id.as_str()], "{others}");
    let from_unrelated = spans_of(&others, &spliced_id);
    assert_eq!(from_unrelated.len(), 1, "{from_unrelated:?}");
    assert!(from_unrelated[0].0 <= 1 && (3..=5).contains(&from_unrelated[0].1));
    assert_eq!(others["compared"], 7);
    app.app.stop().await;
}

#[tokio::test]
async fn a_span_cut_out_of_a_clip_is_reported_where_it_was() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let cut = file(&work, "cut.mp4");
    // Frames from 2.0 s to 3.0 s removed, the rest keeping their timestamps.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=6",
        "-vf",
        "select='not(between(t,2,3))'",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        cut.to_str().unwrap(),
    ]);
    let whole = file(&work, "whole.mp4");
    test_clip(&whole, "320x240", 25, 6, &["-preset", "veryfast"]);
    let cut_id = app
        .upload_file(&cut, &[("recorded_at", "2026-02-14T10:00:00+08:00")])
        .await;
    let whole_id = app
        .upload_file(&whole, &[("recorded_at", "2026-02-14T11:00:00+08:00")])
        .await;
    let record = app.wait_for(&cut_id, "catalogued").await;
    let gaps: Vec<&Value> = record["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "timestamp_gap")
        .collect();
    assert_eq!(gaps.len(), 1, "{}", record["findings"]);
    let position = gaps[0]["position_seconds"].as_f64().unwrap();
    let size = gaps[0]["size_seconds"].as_f64().unwrap();
    assert!((position - 2.0).abs() <= 0.08, "gap at {position}");
    assert!((size - 1.0).abs() <= 0.1, "gap of {size}");
    assert_eq!(gaps[0]["severity"], "critical");

    // Variable frame rate: 30 fps, frames from 1.6 s to 2.0 s removed; the container's
    // average rate (26 fps) is not the frames' own, and must not size the gap.
    let vfr = file(&work, "vfr.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30:duration=3",
        "-vf",
        "select='not(between(t,1.59,1.99))'",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        vfr.to_str().unwrap(),
    ]);
    let vfr_id = app
        .upload_file(&vfr, &[("recorded_at", "2026-02-14T12:00:00+08:00")])
        .await;
    let record = app.wait_for(&vfr_id, "catalogued").await;
    let gap = record["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "timestamp_gap")
        .unwrap_or_else(|| panic!("no gap: {}", record["findings"]))
        .clone();
    let position = gap["position_seconds"].as_f64().unwrap();
    let size = gap["size_seconds"].as_f64().unwrap();
    assert!((position - 1.6).abs() < 0.002, "gap at {position}: {gap}");
    assert!((size - 0.4).abs() < 0.002, "gap of {size}: {gap}");

    let whole_record = app.wait_for(&whole_id, "catalogued").await;
    assert!(
        whole_record["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["kind"] != "timestamp_gap"),
        "an intact clip has no gap: {}",
        whole_record["findings"]
    );
    let metrics = app.get(&app.token, "/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            "custodian_continuity_findings_total{kind=\"timestamp_gap\",severity=\"critical\"} 1"
        ),
        "{metrics}"
    );
    app.app.stop().await;
}

#[tokio::test]
async fn bad_input_fails_the_clip_with_a_reason_and_keeps_the_original() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let good = file(&work, "good.mp4");
    test_clip(&good, "320x240", 25, 4, &["-preset", "veryfast"]);
    let good_bytes = std::fs::read(&good).unwrap();
    // Without faststart the index is at the end: cut in half, nothing can be read.
    let truncated = good_bytes[..good_bytes.len() / 2].to_vec();
    let random: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let text = "这不是视频 / not a video\n".repeat(100).into_bytes();
    // A Matroska file holding only subtitles: a container FFmpeg reads, with neither a
    // picture nor sound (a file of sound alone is an audio record now).
    let srt = file(&work, "only.srt");
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:02,000\n无画面\n").unwrap();
    let subtitles_only = file(&work, "subtitles.mkv");
    ffmpeg(&[
        "-i",
        srt.to_str().unwrap(),
        subtitles_only.to_str().unwrap(),
    ]);
    let zip = {
        let mut bytes = b"PK\x03\x04".to_vec();
        bytes.extend_from_slice(&random[..4000]);
        bytes
    };
    // Each kind of bad file gets the reason that says what is wrong with it, whichever worker
    // meets it first.
    let cases = [
        (
            "truncated",
            truncated,
            "truncated: the MP4/MOV file's index (moov)",
        ),
        ("random bytes", random.clone(), "not a media file"),
        ("text", text, "not a media file: it is text"),
        ("zip", zip, "not a recording: it is a ZIP archive"),
        (
            "subtitles only",
            std::fs::read(&subtitles_only).unwrap(),
            "the file has neither a picture nor sound",
        ),
    ];
    let mut uploaded = Vec::new();
    for (kind, bytes, expected) in &cases {
        let path = file(&work, &format!("{}.mp4", kind.replace(' ', "-")));
        std::fs::write(&path, bytes).unwrap();
        uploaded.push((*kind, app.upload_file(&path, &[]).await, bytes, *expected));
    }
    for (kind, id, bytes, expected) in &uploaded {
        let record = app.wait_for(id, "failed").await;
        let reason = record["failure_reason"].as_str().unwrap_or_default();
        assert!(reason.starts_with(expected), "{kind}: {reason}");
        assert!(
            !reason.contains("transcoder") && !reason.contains("fingerprinter"),
            "{kind}: the reason names the file, not the worker: {reason}"
        );
        // Kept as received, byte for byte.
        let stored = app
            .stored_files()
            .into_iter()
            .find(|p| {
                p.to_string_lossy().contains(id.as_str())
                    && p.to_string_lossy().contains("originals/")
            })
            .unwrap_or_else(|| panic!("{kind}: original gone"));
        assert_eq!(
            &std::fs::read(stored).unwrap(),
            *bytes,
            "{kind}: original changed"
        );
        // A failed clip says so, and why, instead of "not made yet".
        for derived in ["view", "poster", "similar"] {
            let response = app
                .get(&app.token, &format!("/v1/clips/{id}/{derived}"))
                .await;
            assert_eq!(response.status(), 409, "{kind}: {derived}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "clip-failed", "{kind}: {derived}");
            assert!(
                error["error"]["message"].as_str().unwrap().contains(reason),
                "{kind}: {derived}: {error}"
            );
        }
    }
    let metrics = app.get(&app.token, "/metrics").await.text().await.unwrap();
    let failures: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("custodian_media_failures_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        failures >= cases.len() as u64,
        "failures counted: {metrics}"
    );
    // A good clip after all that is still processed: nothing stalled.
    let good_id = app.upload_file(&good, &[]).await;
    app.wait_for(&good_id, "catalogued").await;
    app.app.stop().await;
}

/// A camera whose clock was never set writes 1970; one set to the wrong zone is hours off.
/// Neither dates the copy: the declared time does, the clip says which clock was used, and the
/// disagreement is a finding. A camera clock that agrees dates the copy to its second.
#[tokio::test]
async fn only_a_file_clock_that_agrees_with_the_declared_time_dates_the_copy() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let declared = [("recorded_at", "2026-11-29T11:00:00+08:00")];
    // (file clock, what the first cue must say, time source, a finding expected)
    let cases = [
        // (MP4 keeps a zero time as "none", so the unset clock is a second past the epoch.)
        (
            "1970-01-01T00:00:01Z",
            "2026-11-29 11:00:00 (UTC+8)",
            "declared",
            true,
        ),
        (
            "2026-11-29T11:00:00Z",
            "2026-11-29 11:00:00 (UTC+8)",
            "declared",
            true,
        ),
        (
            "2026-11-29T03:00:41Z",
            "2026-11-29 11:00:41 (UTC+8)",
            "file_clock",
            false,
        ),
    ];
    for (file_clock, first_cue, source, finding) in cases {
        let clip = file(&work, "clock.mp4");
        test_clip(
            &clip,
            "320x240",
            25,
            2,
            &[
                "-preset",
                "veryfast",
                "-metadata",
                &format!("creation_time={file_clock}"),
            ],
        );
        let id = app.upload_file(&clip, &declared).await;
        let record = app.wait_for(&id, "catalogued").await;
        assert_eq!(
            record["media"]["time_source"], source,
            "{file_clock}: {record}"
        );
        let vtt = file(&work, "clock.vtt");
        app.download(&format!("/v1/clips/{id}/subtitles"), &vtt)
            .await;
        let vtt = std::fs::read_to_string(&vtt).unwrap();
        assert!(vtt.contains(first_cue), "{file_clock}: {vtt}");
        assert!(!vtt.contains("1970"), "{file_clock}: {vtt}");
        let disagreements: Vec<&Value> = record["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "clock_disagreement")
            .collect();
        assert_eq!(
            disagreements.len(),
            usize::from(finding),
            "{file_clock}: {record}"
        );
    }
    app.app.stop().await;
}

/// A recording that carries its place (an ISO 6709 `location` tag) and was uploaded without
/// one is placed by it, says so, and is found by a search of the area; a declared place wins.
#[tokio::test]
async fn the_files_own_location_places_a_clip_the_upload_did_not() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let clip = file(&work, "located.mov");
    test_clip(
        &clip,
        "320x240",
        25,
        2,
        &[
            "-preset",
            "veryfast",
            "-metadata",
            "location=+31.2304+121.4737/",
        ],
    );
    let from_file = app.upload_file(&clip, &[]).await;
    let declared = app
        .upload_file(&clip, &[("lat", "30.2741"), ("lon", "120.1551")])
        .await;
    let record = app.wait_for(&from_file, "catalogued").await;
    assert_eq!(record["location_source"], "file", "{record}");
    assert!(
        (record["latitude"].as_f64().unwrap() - 31.2304).abs() < 1e-6,
        "{record}"
    );
    assert!(
        (record["longitude"].as_f64().unwrap() - 121.4737).abs() < 1e-6,
        "{record}"
    );
    assert!((record["media"]["file_latitude"].as_f64().unwrap() - 31.2304).abs() < 1e-6);
    let record = app.wait_for(&declared, "catalogued").await;
    assert_eq!(record["location_source"], "declared", "{record}");
    assert!(
        (record["latitude"].as_f64().unwrap() - 30.2741).abs() < 1e-6,
        "{record}"
    );
    let shanghai = app
        .get_json(&app.token, "/v1/clips?bbox=31.0,121.0,31.5,122.0")
        .await;
    let found: Vec<&str> = shanghai["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(found, vec![from_file.as_str()], "{shanghai}");
    app.app.stop().await;
}

/// An officer of one bureau uploads a playlist or list naming another bureau's files in the
/// local store: FFmpeg must not follow it, so nothing of the other bureau's footage appears in
/// the uploader's copy or poster, and the clip fails saying what the file is.
#[tokio::test]
async fn playlists_naming_another_bureaus_files_are_refused_and_show_nothing_of_them() {
    let app = spawn_standalone_with_media().await;
    let other_bureau = common::token_for(&app.app, "b2").await;
    let work = dir();
    let victim = file(&work, "victim.mp4");
    test_clip(&victim, "320x240", 25, 2, &["-preset", "veryfast"]);
    let victim_id = app.upload_file_as(&other_bureau, &victim, &[]).await;
    app.wait_for_as(&other_bureau, &victim_id, "catalogued")
        .await;
    let victims_files: Vec<PathBuf> = app
        .stored_files()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&victim_id))
        .collect();
    let original = victims_files
        .iter()
        .find(|p| p.to_string_lossy().contains("originals/"))
        .expect("the other bureau's original is stored")
        .display()
        .to_string();
    let copy = victims_files
        .iter()
        .find(|p| {
            p.to_string_lossy().ends_with(".mp4") && !p.to_string_lossy().contains("originals/")
        })
        .unwrap_or_else(|| panic!("the other bureau's viewing copy among {victims_files:?}"))
        .display()
        .to_string();
    let payloads = [
        (
            "an HLS playlist",
            format!(
                "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n\
                 #EXTINF:2.0,\n{copy}\n#EXTINF:2.0,\nfile:{original}\n#EXT-X-ENDLIST\n"
            ),
        ),
        (
            "an ffconcat list",
            format!("ffconcat version 1.0\nfile '{copy}'\nfile '{original}'\n"),
        ),
        (
            "a concat list",
            format!("file '{copy}'\nfile '{original}'\n"),
        ),
    ];
    for (what, payload) in payloads {
        let path = file(&work, "playlist.m3u8");
        std::fs::write(&path, payload).unwrap();
        let id = app.upload_file(&path, &[]).await;
        let record = app.wait_for(&id, "failed").await;
        let reason = record["failure_reason"].as_str().unwrap();
        assert!(
            reason.contains(what) && reason.contains("refers to other files"),
            "{what}: {reason}"
        );
        assert_ne!(record["container"], "hls", "{what}: {record}");
        for derived in ["view", "poster"] {
            let response = app
                .get(&app.token, &format!("/v1/clips/{id}/{derived}"))
                .await;
            assert_ne!(
                response.status(),
                200,
                "{what}: a {derived} was made from it"
            );
        }
    }
    app.app.stop().await;
}

/// Rewrites the data reference of the (only) track of an MP4 whose index is at its end so
/// that its samples are said to live in `path`: a Mac alias record (`alis`) naming an
/// absolute path, as old QuickTime files do. Box sizes up the chain are adjusted; the
/// sample offsets are before the index and do not move.
fn with_external_data_reference(mp4: &[u8], path: &str) -> Vec<u8> {
    fn find(data: &[u8], from: usize, to: usize, kind: &[u8; 4]) -> Option<(usize, usize)> {
        let mut at = from;
        while at + 8 <= to {
            let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            if &data[at + 4..at + 8] == kind {
                return Some((at, size));
            }
            at += size.max(8);
        }
        None
    }
    let mut chain = Vec::new();
    let (mut from, mut to) = (0, mp4.len());
    for kind in [b"moov", b"trak", b"mdia", b"minf", b"dinf"] {
        let (at, size) = find(mp4, from, to, kind).expect("an MP4 box");
        chain.push(at);
        from = at + 8;
        to = at + size;
    }
    let (dref_at, dref_size) = find(mp4, from, to, b"dref").expect("a dref box");
    let mut alias = vec![0u8; 150];
    alias[10] = 6; // volume name length
    alias[11..17].copy_from_slice(b"volume");
    alias[50] = 8; // file name length
    alias[51..59].copy_from_slice(b"original");
    let mut record = path.as_bytes().to_vec();
    if record.len() % 2 == 1 {
        record.push(0);
    }
    alias.extend_from_slice(&2u16.to_be_bytes()); // absolute path
    alias.extend_from_slice(&(path.len() as u16).to_be_bytes());
    alias.extend_from_slice(&record);
    alias.extend_from_slice(&0xFFFFu16.to_be_bytes());
    alias.extend_from_slice(&0u16.to_be_bytes());
    let mut entry = ((12 + alias.len()) as u32).to_be_bytes().to_vec();
    entry.extend_from_slice(b"alis");
    entry.extend_from_slice(&0u32.to_be_bytes()); // flags 0: not in this file
    entry.extend_from_slice(&alias);
    let mut dref = ((16 + entry.len()) as u32).to_be_bytes().to_vec();
    dref.extend_from_slice(b"dref");
    dref.extend_from_slice(&0u32.to_be_bytes());
    dref.extend_from_slice(&1u32.to_be_bytes());
    dref.extend_from_slice(&entry);
    let delta = dref.len() as i64 - dref_size as i64;
    let mut out = mp4[..dref_at].to_vec();
    out.extend_from_slice(&dref);
    out.extend_from_slice(&mp4[dref_at + dref_size..]);
    for at in chain {
        let size = u32::from_be_bytes(out[at..at + 4].try_into().unwrap()) as i64 + delta;
        out[at..at + 4].copy_from_slice(&(size as u32).to_be_bytes());
    }
    out
}

/// A MOV/MP4 whose track says its samples are in another file (an external data reference)
/// naming another bureau's original: the worker does not follow it, so the clip shows nothing
/// of that footage and fails with a reason.
#[tokio::test]
async fn an_external_data_reference_to_another_bureaus_file_is_not_followed() {
    let app = spawn_standalone_with_media().await;
    let other_bureau = common::token_for(&app.app, "b2").await;
    let work = dir();
    let victim = file(&work, "victim.mp4");
    test_clip(&victim, "320x240", 25, 2, &["-preset", "veryfast"]);
    let victim_id = app.upload_file_as(&other_bureau, &victim, &[]).await;
    app.wait_for_as(&other_bureau, &victim_id, "catalogued")
        .await;
    let original = app
        .stored_files()
        .into_iter()
        .find(|p| {
            p.to_string_lossy().contains(&victim_id) && p.to_string_lossy().contains("originals/")
        })
        .expect("the other bureau's original")
        .display()
        .to_string();
    let carrier = file(&work, "carrier.mp4");
    test_clip(&carrier, "320x240", 25, 2, &["-preset", "veryfast"]);
    let crafted = file(&work, "crafted.mov");
    std::fs::write(
        &crafted,
        with_external_data_reference(&std::fs::read(&carrier).unwrap(), &original),
    )
    .unwrap();
    let id = app.upload_file(&crafted, &[]).await;
    let record = app.wait_for(&id, "failed").await;
    let reason = record["failure_reason"].as_str().unwrap();
    assert!(reason.contains("no frame could be decoded"), "{reason}");
    for derived in ["view", "poster"] {
        let response = app
            .get(&app.token, &format!("/v1/clips/{id}/{derived}"))
            .await;
        assert_eq!(response.status(), 409, "a {derived} was made from it");
    }
    app.app.stop().await;
}

#[tokio::test]
async fn what_body_cameras_and_phones_record_is_accepted() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let video = |size: &str| format!("testsrc2=size={size}:rate=25:duration=2");
    let tone = "sine=frequency=300:sample_rate=8000:duration=2";
    // (file, ffmpeg arguments, expected codec, expected size of the copy: at least 360 lines)
    type Case<'a> = (&'a str, Vec<String>, &'a str, (u64, u64));
    let cases: Vec<Case> = vec![
        (
            "mov-h264-pcm.mov",
            vec![
                "-f",
                "lavfi",
                "-i",
                &video("320x240"),
                "-f",
                "lavfi",
                "-i",
                tone,
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "pcm_s16le",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "h264",
            (480, 360),
        ),
        (
            "avi-mpeg4-g711.avi",
            vec![
                "-f",
                "lavfi",
                "-i",
                &video("320x240"),
                "-f",
                "lavfi",
                "-i",
                tone,
                "-c:v",
                "mpeg4",
                "-c:a",
                "pcm_mulaw",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "mpeg4",
            (480, 360),
        ),
        (
            "avi-mjpeg-alaw.avi",
            vec![
                "-f",
                "lavfi",
                "-i",
                &video("320x240"),
                "-f",
                "lavfi",
                "-i",
                tone,
                "-c:v",
                "mjpeg",
                "-pix_fmt",
                "yuvj420p",
                "-c:a",
                "pcm_alaw",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "mjpeg",
            (480, 360),
        ),
        (
            "mkv-hevc-silent.mkv",
            vec![
                "-f",
                "lavfi",
                "-i",
                &video("320x240"),
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error",
                "-pix_fmt",
                "yuv420p",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "hevc",
            (480, 360),
        ),
        // A phone held upright: coded landscape, shown portrait.
        (
            "rotated.mp4",
            vec![
                "-f",
                "lavfi",
                "-i",
                &video("320x240"),
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-metadata:s:v:0",
                "rotate=90",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "h264",
            (270, 360),
        ),
        // Variable frame rate: every third frame dropped, the rest keeping their times.
        (
            "vfr.mp4",
            vec![
                "-f",
                "lavfi",
                "-i",
                &video("320x240"),
                "-vf",
                "select='not(eq(mod(n,3),2))'",
                "-fps_mode",
                "vfr",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "h264",
            (480, 360),
        ),
    ];
    let mut uploaded = Vec::new();
    for (name, args, codec, size) in &cases {
        let path = file(&work, name);
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.push(path.to_str().unwrap());
        ffmpeg(&all);
        if *name == "rotated.mp4" {
            // FFmpeg 5.1 writes the display matrix only when remuxing with the tag.
            let upright = file(&work, "upright.mp4");
            ffmpeg(&[
                "-i",
                path.to_str().unwrap(),
                "-c",
                "copy",
                "-metadata:s:v:0",
                "rotate=90",
                upright.to_str().unwrap(),
            ]);
            std::fs::rename(&upright, &path).unwrap();
        }
        uploaded.push((*name, app.upload_file(&path, &[]).await, *codec, *size));
    }
    for (name, id, codec, (width, height)) in uploaded {
        let record = app.wait_for(&id, "catalogued").await;
        assert_eq!(record["media"]["video_codec"], codec, "{name}");
        if name == "rotated.mp4" {
            // Reported as ffprobe states it, and the copy turned the way FFmpeg turns it.
            let probe = std::process::Command::new("ffprobe")
                .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
                .args(["stream_side_data=rotation", "-of", "csv=p=0"])
                .arg(work.path().join(name))
                .output()
                .unwrap();
            let stated: i64 = String::from_utf8_lossy(&probe.stdout)
                .trim()
                .parse()
                .unwrap();
            assert_eq!(
                record["media"]["rotation"].as_i64().unwrap(),
                stated.rem_euclid(360),
                "{name}: {record}"
            );
        }
        let copy = file(&work, &format!("{name}.view.mp4"));
        app.download(&format!("/v1/clips/{id}/view"), &copy).await;
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=codec_name,width,height",
                "-of",
                "json",
            ])
            .arg(&copy)
            .output()
            .unwrap();
        let probe: Value = serde_json::from_slice(&probe.stdout).unwrap();
        let stream = &probe["streams"][0];
        assert_eq!(stream["codec_name"], "h264", "{name}: {probe}");
        assert_eq!(
            (
                stream["width"].as_u64().unwrap(),
                stream["height"].as_u64().unwrap()
            ),
            (width, height),
            "{name}: {probe}"
        );
        // The middle of the picture (away from the burned-in text) is the source's, turned
        // as FFmpeg's own display rotation turns it.
        let even = |n: u64| n & !1;
        let middle = format!(
            "{}:{}:{}:{}",
            even(width / 2),
            even(height / 2),
            even(width / 4),
            even(height / 4)
        );
        let source = work.path().join(name);
        let expected = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-i"])
            .arg(&source)
            .args([
                "-vf",
                &format!("scale={width}:{height},crop={middle},format=gray"),
            ])
            .args(["-frames:v", "1", "-f", "rawvideo", "-"])
            .output()
            .unwrap()
            .stdout;
        let actual = grey_frames(&copy, &middle, 1).remove(0);
        assert!(
            mean_abs_diff(&expected, &actual) < 12.0,
            "{name}: the copy is not turned like the source ({})",
            mean_abs_diff(&expected, &actual)
        );
    }
    app.app.stop().await;
}

#[tokio::test]
async fn footage_over_the_configured_limits_is_refused_before_decoding() {
    let app = spawn_standalone_with_media_limits(custodian_platform::config::MediaJobArgs {
        max_resolution: (160, 120),
        max_duration: std::time::Duration::from_secs(60),
        ..Default::default()
    })
    .await;
    let work = dir();
    let large = file(&work, "large.mp4");
    test_clip(&large, "320x240", 25, 1, &[]);
    // Two minutes of a tiny still picture: cheap to make, over the duration limit.
    let long = file(&work, "long.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:size=64x48:rate=1:duration=120",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        long.to_str().unwrap(),
    ]);
    for (path, problem) in [
        (&large, "larger than the 160x120 allowed"),
        (&long, "longer than the 60 s allowed"),
    ] {
        let id = app.upload_file(path, &[]).await;
        let record = app.wait_for(&id, "failed").await;
        assert!(
            record["failure_reason"].as_str().unwrap().contains(problem),
            "{record}"
        );
    }
    app.app.stop().await;
}

#[tokio::test]
async fn a_gps_track_beside_the_clip_moves_the_coordinates_second_by_second() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let clip = file(&work, "patrol.mp4");
    test_clip(
        &clip,
        "320x240",
        25,
        3,
        &["-metadata", "creation_time=2026-02-14T01:30:00Z"],
    );
    let id = app.upload_file(&clip, &[("place", "西湖区")]).await;
    app.wait_for(&id, "catalogued").await;
    let vtt = file(&work, "before.vtt");
    app.download(&format!("/v1/clips/{id}/subtitles"), &vtt)
        .await;
    assert!(
        !std::fs::read_to_string(&vtt).unwrap().contains("°N"),
        "no position known yet"
    );

    // Walking north-east: 30.0000,120.0000 at 01:30:00Z to 30.0002,120.0004 at 01:30:02Z.
    let gpx = r#"<?xml version="1.0"?><gpx version="1.1"><trk><trkseg>
        <trkpt lat="30.0000" lon="120.0000"><time>2026-02-14T01:30:00Z</time></trkpt>
        <trkpt lat="30.0002" lon="120.0004"><time>2026-02-14T01:30:02Z</time></trkpt>
        </trkseg></trk></gpx>"#;
    let put = |token: &str, body: &'static str| {
        app.http
            .put(format!("{}/v1/clips/{id}/track", app.base))
            .bearer_auth(token.to_owned())
            .body(body)
            .send()
    };
    // Only the station that uploaded the clip (or an archivist or leader) adds its track:
    // another station of the same bureau cannot move the place burned into its copies.
    let other_station = common::token_for(&app.app, "b1").await;
    let refused = put(&other_station, gpx).await.unwrap();
    assert_eq!(refused.status(), 403);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "not-the-uploader", "{refused}");
    let receipt = put(&app.token, gpx).await.unwrap();
    assert_eq!(receipt.status(), 201);
    let receipt: Value = receipt.json().await.unwrap();
    assert_eq!(receipt["points"], 2);
    assert_eq!(receipt["version"], 1);
    assert_eq!(receipt["covers_recording"], true, "{receipt}");

    // The track request cleared the copy's record; the copy is made again (its record
    // written after its files), and each second has its own position.
    custodian_platform::testing::eventually(MEDIA_WAIT, "copy remade with the track", || async {
        let record: Value = app.get_json(&app.token, &format!("/v1/clips/{id}")).await;
        record["media"]["transcoded_at"].is_string().then_some(())
    })
    .await;
    let text = app
        .get(&app.token, &format!("/v1/clips/{id}/subtitles"))
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("西湖区  30.00000°N 120.00000°E"), "{text}");
    assert!(text.contains("西湖区  30.00010°N 120.00020°E"), "{text}");
    assert!(text.contains("西湖区  30.00020°N 120.00040°E"), "{text}");
    let record = app.wait_for(&id, "catalogued").await;
    assert_eq!(
        record["media"]["track_sha256"], receipt["sha256"],
        "the copy names the track it was made with: {record}"
    );

    // A second track is a new version; the first stays as it was.
    let archivist =
        common::token_with_role(&app.app, "b1", custodian_core::roles::Role::Archivist).await;
    let shifted = gpx.replace("30.0000", "30.1000");
    let second = app
        .http
        .put(format!("{}/v1/clips/{id}/track", app.base))
        .bearer_auth(&archivist)
        .body(shifted)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 201);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["version"], 2, "{second}");
    assert_ne!(second["sha256"], receipt["sha256"]);
    let tracks = app.get_json(&app.token, &format!("/v1/clips/{id}")).await["tracks"].clone();
    let versions: Vec<(i64, &str)> = tracks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["version"].as_i64().unwrap(),
                t["sha256"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        vec![
            (1, receipt["sha256"].as_str().unwrap()),
            (2, second["sha256"].as_str().unwrap())
        ]
    );
    let first_kept = app
        .stored_files()
        .into_iter()
        .find(|p| {
            p.to_string_lossy()
                .ends_with(&format!("{id}/tracks/000001"))
        })
        .expect("version 1 kept");
    assert_eq!(std::fs::read_to_string(first_kept).unwrap(), gpx);
    custodian_platform::testing::eventually(MEDIA_WAIT, "copy remade with version 2", || async {
        let record: Value = app.get_json(&app.token, &format!("/v1/clips/{id}")).await;
        (record["media"]["track_sha256"] == second["sha256"]
            && record["media"]["transcoded_at"].is_string())
        .then_some(())
    })
    .await;

    // Not a track; another bureau's clip.
    assert_eq!(
        put(&app.token, "hello, not a track")
            .await
            .unwrap()
            .status(),
        422
    );
    let stranger = common::token_for(&app.app, "b2").await;
    assert_eq!(put(&stranger, gpx).await.unwrap().status(), 404);
    app.app.stop().await;
}

#[tokio::test]
async fn a_job_that_always_runs_out_of_time_ends_failed_and_dead_lettered_without_stalling_others()
{
    let app = spawn_standalone_with_media_limits(custodian_platform::config::MediaJobArgs {
        job_timeout: std::time::Duration::from_secs(2),
        max_deliver: 2,
        ..Default::default()
    })
    .await;
    let work = dir();
    // Far more than two seconds of work for the transcoder on any machine.
    let heavy = file(&work, "heavy.mp4");
    test_clip(&heavy, "1280x720", 30, 20, &["-preset", "ultrafast"]);
    let light = file(&work, "light.mp4");
    test_clip(&light, "160x120", 10, 1, &[]);
    let heavy_id = app.upload_file(&heavy, &[]).await;
    let light_id = app.upload_file(&light, &[]).await;
    app.wait_for(&light_id, "catalogued").await;
    let record = app.wait_for(&heavy_id, "failed").await;
    let reason = record["failure_reason"].as_str().unwrap();
    assert!(
        reason.contains("over the processing time limit"),
        "{reason}"
    );
    // Whichever worker gave up first failed the clip (the other then leaves a failed clip
    // alone): one retry, then the dead-letter subject.
    let metrics = app.get(&app.token, "/metrics").await.text().await.unwrap();
    let count = |outcome: &str| -> u64 {
        ["transcoder", "fingerprinter"]
            .iter()
            .filter_map(|consumer| {
                let prefix = format!(
                    "custodian_jobs_total{{consumer=\"{consumer}\",outcome=\"{outcome}\"}} "
                );
                metrics
                    .lines()
                    .find_map(|l| l.strip_prefix(&prefix)?.parse::<u64>().ok())
            })
            .sum()
    };
    assert!(count("dead_letter") >= 1, "{metrics}");
    assert!(count("retry") >= 1, "{metrics}");
    app.app.stop().await;
}

#[tokio::test]
async fn a_clip_announced_again_is_not_transcoded_again() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let clip = file(&work, "clip.mp4");
    test_clip(&clip, "160x120", 10, 2, &[]);
    let id = app.upload_file(&clip, &[]).await;
    app.wait_for(&id, "catalogued").await;
    let view = app
        .stored_files()
        .into_iter()
        .find(|p| p.ends_with("view.mp4"))
        .unwrap();
    let made = std::fs::metadata(&view).unwrap().modified().unwrap();

    // As the reconciler would (a new round, so the bus does not drop it as a duplicate), and
    // the same announcement once more (dropped or handled, either way harmless).
    let record = app
        .app
        .ports
        .catalogue
        .clip_for_worker(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    for round in [7, 7] {
        custodian_platform::events::publish_stored(&*app.app.ports.bus, &record, round)
            .await
            .unwrap();
    }
    let metrics =
        custodian_platform::testing::eventually(MEDIA_WAIT, "redelivery handled", || async {
            let metrics = app.get(&app.token, "/metrics").await.text().await.ok()?;
            metrics
                .contains("custodian_jobs_total{consumer=\"transcoder\",outcome=\"ok\"} 2")
                .then_some(metrics)
        })
        .await;
    assert!(
        metrics.contains("custodian_transcodes_total 1"),
        "made twice: {metrics}"
    );
    assert_eq!(
        std::fs::metadata(&view).unwrap().modified().unwrap(),
        made,
        "copy rewritten"
    );
    let copies = app
        .stored_files()
        .into_iter()
        .filter(|p| p.ends_with("view.mp4"))
        .count();
    assert_eq!(copies, 1);
    app.app.stop().await;
}

#[tokio::test]
async fn the_demo_shows_what_the_media_workers_made() {
    let result = custodian::demo::run(&custodian::cli::DemoArgs {
        keep: None,
        serve: false,
        listen: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .unwrap();
    assert_eq!(result["catalogued"]["state"], "catalogued");
    assert!(
        result["media"]["viewing_copy"]["bytes"].as_u64().unwrap() > 10_000,
        "{result}"
    );
    assert_eq!(result["media"]["fingerprint_seconds"], 3);
    let cue = result["media"]["subtitles_first_cue"].as_str().unwrap();
    assert!(
        cue.contains("青岛市黄岛区长江中路") && cue.contains("(UTC+8)"),
        "{cue}"
    );
}

/// Every burned-in line fits the frame of a portrait, square, 4:3 or tiny source, at a
/// legible size: on a flat grey source the text boxes stop short of the right edge (a line
/// cut off would run its box into it), and tiny sources are scaled up to 360 lines.
#[test]
fn burned_in_text_fits_portrait_square_and_tiny_frames() {
    let work = dir();
    // (source size, copy size)
    let cases = [
        ((404, 720), (404, 720)),
        ((360, 360), (360, 360)),
        ((480, 360), (480, 360)),
        ((176, 144), (440, 360)),
        ((136, 240), (204, 360)),
    ];
    for ((w, h), (copy_w, copy_h)) in cases {
        let source = file(&work, "flat.mp4");
        common::video::lavfi_clip(
            &source,
            &format!("color=c=gray:size={w}x{h}:rate=25:duration=2"),
            &["-preset", "veryfast"],
        );
        let out = work.path().join(format!("out-{w}x{h}"));
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_custodian"))
            .args(["media", "transcode", "--out-dir"])
            .arg(&out)
            .args([
                "--recorded-at",
                "2026-03-02T09:15:00+08:00",
                "--place",
                "杭州市西湖区文三路与学院路交叉口东南侧",
                "--device",
                "DSJ-0001",
                "--officer",
                "031234",
            ])
            .arg(&source)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let copy = out.join("view.mp4");
        let frame = grey_frames(&copy, &format!("{copy_w}:{copy_h}:0:0"), 30)
            .pop()
            .unwrap_or_else(|| panic!("{w}x{h}: no frame of the copy at {copy_w}x{copy_h}"));
        assert_eq!(
            frame.len(),
            (copy_w * copy_h) as usize,
            "{w}x{h}: copy size"
        );
        let pixel = |x: u32, y: u32| i32::from(frame[(y * copy_w + x) as usize]);
        let grey = pixel(copy_w / 2, copy_h / 2);
        // The clock's box (top left) and the place and identity box (bottom left) are there.
        let dark = |rows: std::ops::Range<u32>| {
            rows.flat_map(|y| (0..copy_w / 4).map(move |x| (x, y)))
                .filter(|&(x, y)| pixel(x, y) < grey - 40)
                .count()
        };
        assert!(dark(0..copy_h / 10) > 20, "{w}x{h}: no clock box");
        assert!(dark(copy_h * 8 / 10..copy_h) > 20, "{w}x{h}: no place box");
        // No box reaches the right edge.
        for y in 0..copy_h {
            for x in copy_w - 3..copy_w {
                assert!(
                    (pixel(x, y) - grey).abs() < 24,
                    "{w}x{h}: text runs into the right edge at ({x}, {y}): {} against {grey}",
                    pixel(x, y)
                );
            }
        }
    }
}

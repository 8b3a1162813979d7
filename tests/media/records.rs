//! Every kind of record the rules name (art. 5), through the same custody path as video:
//! sound recordings in the formats phones and recorders write, photographs with EXIF, and
//! PDF documents; and a case file (art. 18) that holds them all, files only when its
//! documents are there, and exports as a package `custodian export verify` checks. Every
//! file is made here: by the ffmpeg command line, or byte by byte where no encoder exists.

use std::path::Path;

use serde_json::{json, Value};

use super::{dir, file, TestApp};
use crate::common::video::{ffmpeg, grey_frames};
use crate::common::{spawn_standalone_with_media, token_with_role};
use custodian_core::roles::Role;
use custodian_platform::testing::pdf::{scanned_pdf, text_pdf};

/// ffprobe's view of one stream kind of `path` (`a:0`, `v:0`), as JSON.
fn probe_stream(path: &Path, stream: &str) -> Value {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream, "-show_entries"])
        .args([
            "stream=codec_name,codec_type,width,height,channels",
            "-show_entries",
            "format=format_name,duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap()
}

/// An AMR-NB file as phones write it: the `#!AMR` magic and 12.2 kbit/s frames (one header
/// byte, 31 bytes of speech bits each, 20 ms). FFmpeg here decodes AMR but cannot encode it.
fn amr_nb(seconds: u32) -> Vec<u8> {
    let mut bytes = b"#!AMR\n".to_vec();
    for frame in 0..seconds * 50 {
        bytes.push(0x3C);
        bytes.extend((0..31u32).map(|i| (frame.wrapping_mul(131) ^ i.wrapping_mul(29)) as u8));
    }
    bytes
}

/// One picture of a lavfi `source` (e.g. `testsrc2=s=320x240`) as a JPEG at `path`.
fn still(path: &Path, source: &str) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        source,
        "-frames:v",
        "1",
        path.to_str().unwrap(),
    ]);
}

impl TestApp {
    async fn upload_named(&self, path: &Path, name: &str) -> String {
        self.upload_file(path, &[("file_name", name)]).await
    }

    async fn findings_of(&self, id: &str) -> Vec<Value> {
        let record: Value = self.get_json(&self.token, &format!("/v1/clips/{id}")).await;
        record["findings"].as_array().cloned().unwrap_or_default()
    }
}

#[tokio::test]
async fn sound_recordings_are_catalogued_with_a_listening_copy_a_waveform_and_their_clock() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let tone = "sine=frequency=440:sample_rate=44100:duration=4";
    let recordings: Vec<(&str, Vec<&str>, &str, u64)> = vec![
        ("memo.m4a", vec!["-c:a", "aac", "-ac", "2"], "aac", 2),
        ("memo.mp3", vec!["-c:a", "libmp3lame", "-ac", "1"], "mp3", 1),
        (
            "memo.wav",
            vec!["-c:a", "pcm_s16le", "-ac", "1"],
            "pcm_s16le",
            1,
        ),
        ("memo.opus", vec!["-c:a", "libopus", "-ac", "2"], "opus", 2),
    ];
    let mut uploaded = Vec::new();
    for (name, codec_args, codec, channels) in &recordings {
        let path = file(&work, name);
        let mut args = vec!["-f", "lavfi", "-i", tone];
        args.extend_from_slice(codec_args);
        args.push(path.to_str().unwrap());
        ffmpeg(&args);
        let id = app.upload_named(&path, name).await;
        uploaded.push((name.to_string(), id, *codec, *channels, path));
    }
    let amr = file(&work, "call.amr");
    std::fs::write(&amr, amr_nb(3)).unwrap();
    let id = app.upload_named(&amr, "call.amr").await;
    uploaded.push(("call.amr".into(), id, "amr_nb", 1, amr));

    for (name, id, codec, channels, path) in &uploaded {
        let record = app.wait_for(id, "catalogued").await;
        assert_eq!(record["kind"], "audio", "{name}: {record}");
        let media = &record["media"];
        assert_eq!(media["audio_codec"], *codec, "{name}: {media}");
        assert_eq!(media["audio_channels"], *channels, "{name}: {media}");
        assert!(media["video_codec"].is_null(), "{name}: {media}");
        let expected = if name.ends_with(".amr") { 3.0 } else { 4.0 };
        let duration = media["duration_seconds"].as_f64().unwrap();
        assert!(
            (duration - expected).abs() < 0.2,
            "{name}: measured {duration} s"
        );

        // The listening copy: AAC in MP4, sound only, as long as the recording.
        let copy = file(&work, &format!("{name}.listen.mp4"));
        let headers = app.download(&format!("/v1/clips/{id}/view"), &copy).await;
        assert_eq!(headers["content-type"], "audio/mp4", "{name}");
        let probed = probe_stream(&copy, "a:0");
        assert_eq!(
            probed["streams"][0]["codec_name"], "aac",
            "{name}: {probed}"
        );
        let copy_duration: f64 = probed["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (copy_duration - expected).abs() < 0.2,
            "{name}: copy of {copy_duration} s"
        );
        assert!(probe_stream(&copy, "v")["streams"]
            .as_array()
            .is_none_or(Vec::is_empty));

        // The waveform, looked at: a white picture with a dark band across the middle (a
        // steady tone fills it from end to end), not a blank.
        let poster = file(&work, &format!("{name}.poster.jpg"));
        let headers = app
            .download(&format!("/v1/clips/{id}/poster"), &poster)
            .await;
        assert_eq!(headers["content-type"], "image/jpeg");
        let top = &grey_frames(&poster, "960:30:0:0", 1)[0];
        let middle = &grey_frames(&poster, "960:30:0:105", 1)[0];
        let mean = |p: &[u8]| p.iter().map(|&v| f64::from(v)).sum::<f64>() / p.len() as f64;
        assert!(mean(top) > 230.0, "{name}: the background is white");
        assert!(
            mean(middle) < 150.0,
            "{name}: the tone is drawn (mean {})",
            mean(middle)
        );

        // The running clock for a player, in China Standard Time from the declared start.
        let vtt = app
            .get(&app.token, &format!("/v1/clips/{id}/subtitles"))
            .await
            .text()
            .await
            .unwrap();
        assert!(vtt.contains("2026-02-14 09:30:0"), "{name}: {vtt}");
        // Sound is checked for breaks on its packets: a clean tone has none.
        let breaks: Vec<Value> = app
            .findings_of(id)
            .await
            .into_iter()
            .filter(|f| f["kind"] == "timestamp_gap")
            .collect();
        assert!(breaks.is_empty(), "{name}: {breaks:?}");
        assert_eq!(
            std::fs::read(path).unwrap(),
            std::fs::read(app.original_file(id)).unwrap(),
            "{name}: the original is kept as received"
        );
    }

    // A recording with a hole in it (a second of packets missing) is reported where it is.
    let whole = file(&work, "whole.mp3");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        tone,
        "-c:a",
        "libmp3lame",
        whole.to_str().unwrap(),
    ]);
    let holed = file(&work, "holed.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        tone,
        "-af",
        "aselect='not(between(t,1.5,2.5))'",
        "-c:a",
        "libmp3lame",
        holed.to_str().unwrap(),
    ]);
    let holed_id = app.upload_named(&holed, "holed.mkv").await;
    app.wait_for(&holed_id, "catalogued").await;
    let findings = app.findings_of(&holed_id).await;
    let gap = findings
        .iter()
        .find(|f| f["kind"] == "timestamp_gap")
        .unwrap_or_else(|| panic!("no gap found: {findings:?}"));
    let at = gap["position_seconds"].as_f64().unwrap();
    assert!(
        (1.3..1.7).contains(&at),
        "the gap is where it was cut: {gap}"
    );

    // A truncated MP3 is what is left of it, measured, with its header's longer claim as a
    // finding; the original stays as received.
    let bytes = std::fs::read(&whole).unwrap();
    let truncated = file(&work, "truncated.mp3");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let truncated_id = app.upload_named(&truncated, "truncated.mp3").await;
    let record = app.wait_for(&truncated_id, "catalogued").await;
    let duration = record["media"]["duration_seconds"].as_f64().unwrap();
    assert!((1.5..2.5).contains(&duration), "half of 4 s: {duration}");
    let findings = app.findings_of(&truncated_id).await;
    assert!(
        findings.iter().any(|f| f["kind"] == "duration_mismatch"),
        "{findings:?}"
    );
    let stored = std::fs::read(app.original_file(&truncated_id)).unwrap();
    assert_eq!(stored, &bytes[..bytes.len() / 2]);
}

/// The EXIF of a photo: its orientation, when it was taken (local time, no offset) and
/// where, as a camera writes them.
fn exif_block(orientation: u16, taken: &str, latitude: [u32; 3], longitude: [u32; 3]) -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value as ExifValue};
    let dms = |[d, m, s100]: [u32; 3]| {
        ExifValue::Rational(vec![
            Rational::from((d, 1)),
            Rational::from((m, 1)),
            Rational::from((s100, 100)),
        ])
    };
    let field = |tag, value| Field {
        tag,
        ifd_num: In::PRIMARY,
        value,
    };
    let fields = [
        field(Tag::Orientation, ExifValue::Short(vec![orientation])),
        field(
            Tag::DateTimeOriginal,
            ExifValue::Ascii(vec![taken.as_bytes().to_vec()]),
        ),
        field(Tag::GPSLatitudeRef, ExifValue::Ascii(vec![b"N".to_vec()])),
        field(Tag::GPSLatitude, dms(latitude)),
        field(Tag::GPSLongitudeRef, ExifValue::Ascii(vec![b"E".to_vec()])),
        field(Tag::GPSLongitude, dms(longitude)),
    ];
    let mut writer = exif::experimental::Writer::new();
    for f in &fields {
        writer.push_field(f);
    }
    let mut tiff = std::io::Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    tiff.into_inner()
}

/// `jpeg` with `tiff` as its EXIF (an APP1 segment right after the start of image).
fn with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], b"\xFF\xD8");
    let length = u16::try_from(2 + 6 + tiff.len()).unwrap();
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn mean(pixels: &[u8]) -> f64 {
    pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / pixels.len() as f64
}

#[tokio::test]
async fn a_photo_is_turned_upright_labelled_placed_by_its_exif_and_found_in_a_video() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    // Stored as the sensor saw it: white above, black below, 320x240. EXIF orientation 6
    // says "turn 90° clockwise to show": shown upright, white is on the right.
    let stored = file(&work, "stored.jpg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=320x240",
        "-vf",
        "drawbox=x=0:y=0:w=320:h=120:color=white:t=fill",
        "-frames:v",
        "1",
        "-q:v",
        "2",
        stored.to_str().unwrap(),
    ]);
    let photo = file(&work, "IMG_0001.jpg");
    // Taken at 09:30:05 local time; the upload declares 09:30:00 (within tolerance).
    let tiff = exif_block(6, "2026:02:14 09:30:05", [30, 16, 2676], [120, 9, 1836]);
    std::fs::write(&photo, with_exif(&std::fs::read(&stored).unwrap(), &tiff)).unwrap();
    let id = app.upload_named(&photo, "IMG_0001.jpg").await;
    let record = app.wait_for(&id, "catalogued").await;
    assert_eq!(record["kind"], "photo", "{record}");
    let media = &record["media"];
    assert_eq!(media["rotation"], 270, "EXIF 6 turns it clockwise: {media}");
    assert_eq!(media["creation_time"], "2026-02-14T01:30:05Z", "{media}");
    assert!((media["file_latitude"].as_f64().unwrap() - 30.2741).abs() < 1e-4);
    assert!((media["file_longitude"].as_f64().unwrap() - 120.1551).abs() < 1e-4);
    assert_eq!(
        record["latitude"], media["file_latitude"],
        "the EXIF GPS places a photo the upload did not"
    );
    assert_eq!(media["time_source"], "file_clock");

    // The display copy, looked at: portrait, white on the right, black on the left, with
    // the clock burned in over the black at the top left.
    let view = file(&work, "view.jpg");
    let headers = app.download(&format!("/v1/clips/{id}/view"), &view).await;
    assert_eq!(headers["content-type"], "image/jpeg");
    let (width, height) = {
        let probed = probe_stream(&view, "v:0");
        let stream = &probed["streams"][0];
        (
            stream["width"].as_u64().unwrap() as usize,
            stream["height"].as_u64().unwrap() as usize,
        )
    };
    assert!(height > width, "upright is portrait: {width}x{height}");
    let band = |x: usize| format!("{}:{}:{x}:{}", width / 4, height / 5, height * 2 / 5);
    let left = mean(&grey_frames(&view, &band(width / 20), 1)[0]);
    let right = mean(&grey_frames(&view, &band(width * 7 / 10), 1)[0]);
    assert!(left < 60.0 && right > 200.0, "left {left}, right {right}");
    let clock = mean(&grey_frames(&view, &format!("{}:{}:0:0", width / 2, height / 12), 1)[0]);
    assert!(
        clock > left + 15.0,
        "the clock is drawn at the top left ({clock})"
    );
    // The device and officer are burned in below, as on a video's copy (over the black).
    let lines = mean(
        &grey_frames(
            &view,
            &format!("{}:{}:0:{}", width / 2, height / 8, height * 7 / 8),
            1,
        )[0],
    );
    assert!(
        lines > left + 10.0,
        "the overlay's lines are drawn at the bottom ({lines})"
    );
    let poster = file(&work, "thumb.jpg");
    app.download(&format!("/v1/clips/{id}/poster"), &poster)
        .await;
    let thumb = probe_stream(&poster, "v:0");
    assert!(
        thumb["streams"][0]["height"].as_u64().unwrap() <= 240,
        "{thumb}"
    );

    // A photo of a scene, stored turned (EXIF 6), and a video of the same scene filmed
    // upright: the photo is found in the video. An unrelated photo is not.
    let scene = file(&work, "scene.jpg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=240x320",
        "-frames:v",
        "1",
        "-q:v",
        "2",
        scene.to_str().unwrap(),
    ]);
    let turned = file(&work, "turned.jpg");
    ffmpeg(&[
        "-i",
        scene.to_str().unwrap(),
        "-vf",
        "transpose=cclock",
        "-q:v",
        "2",
        turned.to_str().unwrap(),
    ]);
    let scene_photo = file(&work, "IMG_0003.jpg");
    let tiff = exif_block(6, "2026:02:14 09:30:00", [30, 16, 2676], [120, 9, 1836]);
    std::fs::write(
        &scene_photo,
        with_exif(&std::fs::read(&turned).unwrap(), &tiff),
    )
    .unwrap();
    let scene_photo_id = app.upload_named(&scene_photo, "IMG_0003.jpg").await;
    let video = file(&work, "scene.mp4");
    ffmpeg(&[
        "-loop",
        "1",
        "-i",
        scene.to_str().unwrap(),
        "-t",
        "4",
        "-r",
        "25",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        video.to_str().unwrap(),
    ]);
    let video_id = app.upload_named(&video, "scene.mp4").await;
    let other = file(&work, "other.jpg");
    still(&other, "smptehdbars=s=320x240");
    let other_id = app.upload_named(&other, "other.jpg").await;
    for id in [&scene_photo_id, &video_id, &other_id] {
        app.wait_for(id, "catalogued").await;
    }
    let found: Value = app
        .get_json(&app.token, &format!("/v1/clips/{scene_photo_id}/similar"))
        .await;
    let matched: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["clip_id"].as_str().unwrap())
        .collect();
    assert!(matched.contains(&video_id.as_str()), "{found}");
    assert!(!matched.contains(&other_id.as_str()), "{found}");

    // Filtering by kind finds the photos and only them.
    let photos: Value = app.get_json(&app.token, "/v1/clips?kind=photo").await;
    let kinds: Vec<&str> = photos["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["photo", "photo", "photo"], "{photos}");

    // A photo whose EXIF disagrees with the declared time by more than the tolerance: the
    // declared time dates it, and the disagreement is a finding.
    let late = file(&work, "late.jpg");
    let tiff = exif_block(1, "2026:02:14 15:00:00", [30, 16, 2676], [120, 9, 1836]);
    std::fs::write(&late, with_exif(&std::fs::read(&stored).unwrap(), &tiff)).unwrap();
    let late_id = app.upload_named(&late, "late.jpg").await;
    let record = app.wait_for(&late_id, "catalogued").await;
    assert_eq!(record["media"]["time_source"], "declared", "{record}");
    assert!(
        app.findings_of(&late_id)
            .await
            .iter()
            .any(|f| f["kind"] == "clock_disagreement"),
        "{record}"
    );

    // Garbage EXIF: the picture is kept and shown, the EXIF is a finding.
    let garbage = file(&work, "garbage.jpg");
    let mut junk = b"MM\0\x2a\xff\xff\xff\xf0".to_vec();
    junk.extend_from_slice(&[0x5A; 40]);
    let bytes = with_exif(&std::fs::read(&stored).unwrap(), &junk);
    std::fs::write(&garbage, &bytes).unwrap();
    let garbage_id = app.upload_named(&garbage, "garbage.jpg").await;
    app.wait_for(&garbage_id, "catalogued").await;
    assert!(
        app.findings_of(&garbage_id)
            .await
            .iter()
            .any(|f| f["kind"] == "exif-unreadable"),
        "damaged EXIF is reported"
    );

    // A HEIC photo is refused with a reason a person can act on, and kept.
    let heic = file(&work, "IMG_0002.heic");
    let mut bytes = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    bytes.extend_from_slice(&[0u8; 512]);
    std::fs::write(&heic, &bytes).unwrap();
    let heic_id = app.upload_named(&heic, "IMG_0002.heic").await;
    let record = app.wait_for(&heic_id, "failed").await;
    assert!(
        record["failure_reason"]
            .as_str()
            .is_some_and(|r| r.contains("HEIC") && r.contains("JPEG")),
        "{record}"
    );
}

fn page(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| (*l).to_owned()).collect()
}

#[tokio::test]
async fn documents_are_read_for_pages_text_and_a_first_page_poster_and_kept_when_unreadable() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let transcript = file(&work, "transcript.pdf");
    std::fs::write(
        &transcript,
        text_pdf(&[
            page(&["Inquiry transcript", "Party: Qingshan Chemical Works"]),
            page(&["The storage tank valve was found open (photo 3)."]),
        ]),
    )
    .unwrap();
    let jpeg = file(&work, "scan.jpg");
    still(&jpeg, "testsrc2=s=400x300");
    let scanned = file(&work, "receipt-scan.pdf");
    std::fs::write(
        &scanned,
        scanned_pdf(&std::fs::read(&jpeg).unwrap(), 400, 300),
    )
    .unwrap();
    let broken = file(&work, "broken.pdf");
    let whole = std::fs::read(&transcript).unwrap();
    std::fs::write(&broken, &whole[..whole.len() / 3]).unwrap();
    let zip = file(&work, "archive.pdf");
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend_from_slice(&[0x11; 2000]);
    std::fs::write(&zip, &bytes).unwrap();

    let transcript_id = app.upload_named(&transcript, "transcript.pdf").await;
    let scanned_id = app.upload_named(&scanned, "receipt-scan.pdf").await;
    let broken_id = app.upload_named(&broken, "broken.pdf").await;
    let zip_id = app.upload_named(&zip, "archive.pdf").await;

    let record = app.wait_for(&transcript_id, "catalogued").await;
    assert_eq!(record["kind"], "document", "{record}");
    assert_eq!(record["media"]["page_count"], 2, "{record}");
    let view = file(&work, "view.pdf");
    let headers = app
        .download(&format!("/v1/clips/{transcript_id}/view"), &view)
        .await;
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(std::fs::read(&view).unwrap(), whole, "shown as received");
    let poster = file(&work, "first-page.jpg");
    app.download(&format!("/v1/clips/{transcript_id}/poster"), &poster)
        .await;
    // The first page, looked at: white paper with dark text near its top.
    let probed = probe_stream(&poster, "v:0");
    let (w, h) = (
        probed["streams"][0]["width"].as_u64().unwrap() as usize,
        probed["streams"][0]["height"].as_u64().unwrap() as usize,
    );
    assert!(h > w && h <= 480, "a letter page: {w}x{h}");
    let paper = mean(&grey_frames(&poster, &format!("{}:{}:0:{}", w, h / 4, h * 3 / 4), 1)[0]);
    let text = grey_frames(
        &poster,
        &format!("{}:{}:{}:{}", w / 2, h / 10, w / 8, h / 10),
        1,
    )[0]
    .iter()
    .copied()
    .min()
    .unwrap();
    assert!(
        paper > 245.0 && text < 128,
        "paper {paper}, darkest text {text}"
    );

    // Its words are found by search, the page-2 words too, in any case.
    for q in ["qingshan chemical", "VALVE WAS FOUND"] {
        let found: Value = app
            .get_json(
                &app.token,
                &format!("/v1/clips?q={}", q.replace(' ', "%20")),
            )
            .await;
        let ids: Vec<&str> = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [transcript_id.as_str()], "{q}: {found}");
    }

    let record = app.wait_for(&scanned_id, "catalogued").await;
    assert_eq!(record["media"]["page_count"], 1);
    assert!(app
        .findings_of(&scanned_id)
        .await
        .iter()
        .any(|f| f["kind"] == "no-text-layer"));

    // Unreadable, but received: kept and catalogued, with the reason as a finding.
    let record = app.wait_for(&broken_id, "catalogued").await;
    assert_eq!(record["kind"], "document");
    let findings = app.findings_of(&broken_id).await;
    let unreadable = findings
        .iter()
        .find(|f| f["kind"] == "unreadable-document")
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert!(
        unreadable["detail"]
            .as_str()
            .is_some_and(|d| d.contains("damaged")),
        "{unreadable}"
    );
    // A ZIP named .pdf is not a document: refused with what it is.
    let record = app.wait_for(&zip_id, "failed").await;
    assert!(
        record["failure_reason"]
            .as_str()
            .is_some_and(|r| r.contains("ZIP archive")),
        "{record}"
    );
    for (id, path) in [(&broken_id, &broken), (&zip_id, &zip)] {
        let stored = std::fs::read(app.original_file(id)).unwrap();
        assert_eq!(stored, std::fs::read(path).unwrap());
    }
}

#[tokio::test]
async fn a_case_file_holds_every_kind_files_only_when_complete_and_exports_them_all() {
    let app = spawn_standalone_with_media().await;
    let archivist = token_with_role(&app.app, "b1", Role::Archivist).await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let work = dir();
    let mut records: Vec<(String, Option<&str>)> = Vec::new();
    // Four documents, the service receipt (送达回证) not among them yet.
    for (n, document_type) in ["立案审批表", "询问笔录", "处罚决定书", "现场检查记录"]
        .into_iter()
        .enumerate()
    {
        let path = file(&work, &format!("doc{n}.pdf"));
        std::fs::write(&path, text_pdf(&[page(&[&format!("document {n}")])])).unwrap();
        records.push((
            app.upload_named(&path, &format!("doc{n}.pdf")).await,
            Some(document_type),
        ));
    }
    for n in 0..3 {
        let path = file(&work, &format!("photo{n}.jpg"));
        still(
            &path,
            &format!("testsrc2=s=320x240:r=1:d=1,hue=h={}", n * 90),
        );
        records.push((
            app.upload_named(&path, &format!("photo{n}.jpg")).await,
            None,
        ));
    }
    for n in 0..2 {
        let path = file(&work, &format!("memo{n}.m4a"));
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency={}:duration=2", 300 + 200 * n),
            "-c:a",
            "aac",
            path.to_str().unwrap(),
        ]);
        records.push((app.upload_named(&path, &format!("memo{n}.m4a")).await, None));
    }
    for n in 0..3 {
        let path = file(&work, &format!("clip{n}.mp4"));
        crate::common::video::test_clip(&path, "320x240", 25, 2, &["-preset", "ultrafast"]);
        records.push((app.upload_named(&path, &format!("clip{n}.mp4")).await, None));
    }
    for (id, document_type) in &records {
        app.wait_for(id, "catalogued").await;
        let mut body = json!({"category": "行政处罚", "description": "某化工厂储罐区检查"});
        if let Some(document_type) = document_type {
            body["document_type"] = json!(document_type);
        }
        let (status, classified) = app
            .send(
                "PUT",
                &archivist,
                &format!("/v1/clips/{id}/classification"),
                body,
            )
            .await;
        assert_eq!(status, 200, "{classified}");
    }
    let (status, case) = app
        .send(
            "POST",
            &leader,
            "/v1/cases",
            json!({"reference": "应急罚〔2026〕19号", "title": "某化工厂案", "case_type": "行政处罚"}),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    let case_id = case["id"].as_str().unwrap().to_owned();
    let ids: Vec<&str> = records.iter().map(|(id, _)| id.as_str()).collect();
    app.send(
        "POST",
        &leader,
        &format!("/v1/cases/{case_id}/clips"),
        json!({"clip_ids": ids}),
    )
    .await;
    let (status, closed) = app
        .send(
            "POST",
            &leader,
            &format!("/v1/cases/{case_id}/close"),
            json!({"closed_on": custodian_core::deadlines::local_date(chrono::Utc::now()).to_string()}),
        )
        .await;
    assert_eq!(status, 200, "{closed}");

    // The file in the order of the stages: the approval to open first, the receipt's stage
    // empty, every recording, photo and clip with the investigation.
    let view: Value = app.get_json(&leader, &format!("/v1/cases/{case_id}")).await;
    let stages: Vec<&str> = view["file"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages.len(), 12, "{view}");
    assert_eq!(stages[0], "start");
    assert_eq!(stages.last(), Some(&"decision"));
    assert_eq!(view["missing_documents"], json!(["送达回证"]), "{view}");

    let (status, refused) = app
        .send(
            "POST",
            &leader,
            &format!("/v1/cases/{case_id}/file"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["error"]["code"], "case-file-incomplete",
        "{refused}"
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("送达回证"),
        "filing names what is missing: {refused}"
    );

    // The receipt arrives, scanned as a photo and typed as a document.
    let receipt = file(&work, "receipt.jpg");
    still(&receipt, "color=c=white:s=320x440");
    let receipt_id = app.upload_named(&receipt, "receipt.jpg").await;
    app.wait_for(&receipt_id, "catalogued").await;
    let (status, _) = app
        .send(
            "PUT",
            &archivist,
            &format!("/v1/clips/{receipt_id}/classification"),
            json!({"category": "行政处罚", "description": "送达回证", "document_type": "送达回证"}),
        )
        .await;
    assert_eq!(status, 200);
    let receipt_record: Value = app
        .get_json(&app.token, &format!("/v1/clips/{receipt_id}"))
        .await;
    assert_eq!(
        receipt_record["kind"], "document",
        "a scanned page is a document"
    );
    app.send(
        "POST",
        &leader,
        &format!("/v1/cases/{case_id}/clips"),
        json!({"clip_ids": [receipt_id]}),
    )
    .await;
    let (status, filed) = app
        .send(
            "POST",
            &leader,
            &format!("/v1/cases/{case_id}/file"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{filed}");
    assert_eq!(filed["state"], "filed");
    assert_eq!(filed["missing_documents"], json!([]));

    // The export packs every kind; its note lists them all in a table of contents.
    let response = app
        .http
        .post(format!("{}/v1/exports", app.base))
        .bearer_auth(&leader)
        .json(&json!({"case_id": case_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let package = response.bytes().await.unwrap().to_vec();
    let mut files = Vec::new();
    let mut archive = tar::Archive::new(package.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        files.push((path, data));
    }
    let note = String::from_utf8(
        files
            .iter()
            .find(|(p, _)| p == "note.txt")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(note.contains("卷内目录"), "{note}");
    for kind in ["录像 video", "录音 audio", "照片 photo", "文书 document"] {
        assert!(note.contains(kind), "{kind}: {note}");
    }
    assert!(
        note.contains("送达回证") && note.contains("| 送达执行 |"),
        "{note}"
    );
    for (id, _) in &records {
        assert!(
            files.iter().any(|(p, _)| p.contains(id.as_str())),
            "{id} packed"
        );
    }
    let key = app
        .get(&leader, "/v1/audit/public-key")
        .await
        .text()
        .await
        .unwrap();
    let path = work.path().join("evidence.tar");
    std::fs::write(&path, &package).unwrap();
    let (ok, text) = crate::common::export_verify(&path, &key).await;
    assert!(ok, "{text}");
    // One byte of one document changed: named.
    let document_id = &records[1].0;
    let mut builder = tar::Builder::new(Vec::new());
    let mut changed_name = String::new();
    for (name, data) in &files {
        let mut data = data.clone();
        if name.contains(document_id.as_str()) && !name.ends_with(".json") {
            data[20] ^= 1;
            changed_name = name.clone();
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o444);
        header.set_cksum();
        builder
            .append_data(&mut header, name, data.as_slice())
            .unwrap();
    }
    std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
    let (ok, text) = crate::common::export_verify(&path, &key).await;
    assert!(
        !ok && !changed_name.is_empty() && text.contains(&changed_name),
        "{changed_name}: {text}"
    );
}

#[tokio::test]
async fn a_photo_and_a_document_expire_after_two_years_like_footage() {
    use custodian_platform::blob::{BlobStore, LocalBlobStore};
    use custodian_retention::{Retention, RetentionConfig};
    let clock = std::sync::Arc::new(custodian_platform::clock::ManualClock::new(
        crate::common::cst(2026, 3, 2, 9),
    ));
    let app = crate::common::spawn_standalone_with_media_at(clock.clone()).await;
    let work = dir();
    let photo = file(&work, "photo.jpg");
    still(&photo, "testsrc2=s=320x240");
    let document = file(&work, "notice.pdf");
    std::fs::write(&document, text_pdf(&[page(&["Inspection notice"])])).unwrap();
    let recorded = ("recorded_at", "2026-03-01T10:00:00+08:00");
    let photo_id = app
        .upload_file(&photo, &[recorded, ("file_name", "photo.jpg")])
        .await;
    let document_id = app
        .upload_file(&document, &[recorded, ("file_name", "notice.pdf")])
        .await;
    for id in [&photo_id, &document_id] {
        app.wait_for(id, "catalogued").await;
    }
    let registry = prometheus::Registry::new();
    let ports = custodian_platform::Ports {
        registry,
        ..app.app.ports.clone()
    };
    let archive: std::sync::Arc<dyn BlobStore> = std::sync::Arc::new(
        LocalBlobStore::open_with_manifest(app.data.path().join("archive"))
            .await
            .unwrap(),
    );
    let retention = Retention::new(
        ports,
        archive,
        RetentionConfig {
            every: std::time::Duration::from_secs(3600),
            scrub_period: std::time::Duration::from_secs(3600),
            ..Default::default()
        },
    )
    .unwrap();
    let blob = app.app.ports.blob.clone();
    let bureau = custodian_core::BureauId::parse("b1").unwrap();
    let photo_keys = custodian_core::keys::derived_keys(&bureau, photo_id.parse().unwrap());
    let document_keys = custodian_core::keys::derived_keys(&bureau, document_id.parse().unwrap());
    for key in [&photo_keys.photo, &photo_keys.poster, &document_keys.poster] {
        assert!(blob.size_of(key).await.unwrap().is_some(), "{key} made");
    }
    let originals: Vec<std::path::PathBuf> = [&photo_id, &document_id]
        .iter()
        .map(|id| app.original_file(id))
        .collect();

    // Kept the two years of art. 21, like footage ...
    clock.advance(chrono::Duration::days(729) - chrono::Duration::hours(1));
    assert_eq!(retention.pass().await.unwrap().recycled, 0);
    // ... then to the recycle bin, and purged a week later, copies and all.
    clock.advance(chrono::Duration::days(2));
    assert_eq!(retention.pass().await.unwrap().recycled, 2);
    clock.advance(chrono::Duration::days(7));
    let report = retention.pass().await.unwrap();
    assert_eq!(report.purged, 2, "{report:?}");
    for original in &originals {
        assert!(
            !original.exists(),
            "{} outlived its retention",
            original.display()
        );
    }
    for key in [&photo_keys.photo, &photo_keys.poster, &document_keys.poster] {
        assert_eq!(
            blob.size_of(key).await.unwrap(),
            None,
            "{key} outlived its original"
        );
    }
    for id in [&photo_id, &document_id] {
        let record: Value = app.get_json(&app.token, &format!("/v1/clips/{id}")).await;
        assert!(
            record["purged_at"].is_string(),
            "the record stays: {record}"
        );
        assert!(record["kind"].is_string(), "{record}");
    }
}

#[tokio::test]
async fn a_bureau_configures_its_record_rules_and_a_bad_file_stops_start_up() {
    let work = dir();
    let rules = file(&work, "rules.toml");
    std::fs::write(
        &rules,
        "case_types = [\"专项督导\"]\n[required]\n\"专项督导\" = [[\"督导检查通知\"]]\n",
    )
    .unwrap();
    let clock = std::sync::Arc::new(custodian_platform::clock::SystemClock);
    let path = rules.clone();
    let app = crate::common::spawn_standalone_adjusted(clock, move |args| {
        args.catalog.record_rules = Some(path);
    })
    .await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let types: Value = app.get_json(&leader, "/v1/record-types").await;
    assert_eq!(types["case_types"][0]["name"], "专项督导", "{types}");
    assert_eq!(
        types["case_types"][0]["requires"],
        json!([{"any_of": ["督导检查通知"]}])
    );
    assert!(types["document_types"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "送达回证" && t["stage"] == "service"));
    let (status, refused) = app
        .send(
            "POST",
            &leader,
            "/v1/cases",
            json!({"reference": "R-1", "title": "t", "case_type": "行政处罚"}),
        )
        .await;
    assert_eq!(status, 400, "a type the bureau does not use: {refused}");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("专项督导"));

    // A requirement naming a type that is not configured: start-up stops and says where.
    std::fs::write(&rules, "[required]\n\"行政处罚\" = [[\"送达回執\"]]\n").unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_custodian"))
        .args(["standalone", "--listen", "127.0.0.1:0", "--data"])
        .arg(work.path().join("data"))
        .arg("--record-rules")
        .arg(&rules)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("record-rules") && stderr.contains("送达回執"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_party_gets_a_watermarked_jpeg_of_a_photo_and_no_copy_of_a_pdf() {
    let app = spawn_standalone_with_media().await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let work = dir();
    let photo = file(&work, "photo.jpg");
    still(&photo, "color=c=gray:s=640x480");
    let document = file(&work, "decision.pdf");
    std::fs::write(&document, text_pdf(&[page(&["Penalty decision"])])).unwrap();
    let photo_id = app.upload_named(&photo, "photo.jpg").await;
    let document_id = app.upload_named(&document, "decision.pdf").await;
    for id in [&photo_id, &document_id] {
        app.wait_for(id, "catalogued").await;
    }
    let mut links = Vec::new();
    for id in [&photo_id, &document_id] {
        let (status, request) = app
            .send(
                "POST",
                &app.token,
                "/v1/copy-requests",
                json!({"clip_id": id, "party": "当事人 张三", "purpose": "行政复议"}),
            )
            .await;
        assert_eq!(status, 201, "{request}");
        let request_id = request["id"].as_str().unwrap().to_owned();
        let (status, decided) = app
            .send(
                "POST",
                &leader,
                &format!("/v1/copy-requests/{request_id}/approve"),
                json!({"reason": "同意", "valid_hours": 2}),
            )
            .await;
        assert_eq!(status, 200, "{decided}");
        links.push((
            request_id,
            decided["download_url"].as_str().unwrap().to_owned(),
        ));
    }
    // The photo's copy: a JPEG with the watermark across its middle, not the original.
    let (_, link) = &links[0];
    let copy = custodian_platform::testing::eventually(
        std::time::Duration::from_secs(120),
        "the photo's copy made",
        || async {
            let response = app
                .http
                .get(format!("{}{link}", app.base))
                .send()
                .await
                .ok()?;
            if response.status() != 200 {
                return None;
            }
            assert_eq!(response.headers()["content-type"], "image/jpeg");
            response.bytes().await.ok()
        },
    )
    .await;
    let copy_path = file(&work, "copy.jpg");
    std::fs::write(&copy_path, &copy).unwrap();
    assert_eq!(
        probe_stream(&copy_path, "v:0")["streams"][0]["codec_name"],
        "mjpeg"
    );
    let view = file(&work, "view.jpg");
    app.download(&format!("/v1/clips/{photo_id}/view"), &view)
        .await;
    let (w, h) = {
        let probed = probe_stream(&view, "v:0");
        (
            probed["streams"][0]["width"].as_u64().unwrap() as usize,
            probed["streams"][0]["height"].as_u64().unwrap() as usize,
        )
    };
    let middle = format!("{}:{}:{}:{}", w / 2, h / 8, w / 4, h * 7 / 16);
    let marked = mean(&grey_frames(&copy_path, &middle, 1)[0]);
    let plain = mean(&grey_frames(&view, &middle, 1)[0]);
    assert!(
        (marked - plain).abs() > 5.0,
        "watermarked {marked}, view {plain}"
    );

    // The PDF: the request says why there is no copy.
    let (request_id, _) = &links[1];
    let failure = custodian_platform::testing::eventually(
        std::time::Duration::from_secs(120),
        "the PDF copy request settled",
        || async {
            let (_, request) = app
                .send(
                    "GET",
                    &app.token,
                    &format!("/v1/copy-requests/{request_id}"),
                    Value::Null,
                )
                .await;
            request["copy_failure"].as_str().map(str::to_owned)
        },
    )
    .await;
    assert!(failure.contains("evidence export"), "{failure}");
}

/// Two voices of tones, one changing every half second and one every third of a second,
/// their pitches drawn by `step` (different steps, different melodies): sound with structure,
/// as speech has, which a steady tone or plain noise lacks. The voices repeat every 4.5 s and
/// 3.7 s, so together not within 99 s: no stretch of the melody looks like another.
fn melody(path: &Path, step: u32, seconds: u32, extra: &[&str]) {
    let other = step + 1;
    let expression = format!(
        "aevalsrc='0.4*sin(2*PI*t*(196+49*mod(floor(t*2)*{step},9)))+0.3*sin(2*PI*t*(392+98*mod(floor(t*3)*{other},11)))':s=44100:d={seconds}"
    );
    let mut args = vec!["-f", "lavfi", "-i", expression.as_str()];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
}

#[tokio::test]
async fn a_recording_is_found_again_re_encoded_trimmed_and_in_a_videos_sound() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let original = file(&work, "original.wav");
    melody(&original, 7, 20, &["-c:a", "pcm_s16le"]);
    let reencoded = file(&work, "reencoded.mp3");
    ffmpeg(&[
        "-i",
        original.to_str().unwrap(),
        "-c:a",
        "libmp3lame",
        "-b:a",
        "64k",
        "-ar",
        "22050",
        reencoded.to_str().unwrap(),
    ]);
    let trimmed = file(&work, "trimmed.m4a");
    ffmpeg(&[
        "-ss",
        "6",
        "-t",
        "10",
        "-i",
        original.to_str().unwrap(),
        "-c:a",
        "aac",
        trimmed.to_str().unwrap(),
    ]);
    // Filmed with a camera whose sound track starts 3 s before the recording does.
    let video = file(&work, "filmed.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x240:r=25:d=23",
        "-i",
        original.to_str().unwrap(),
        "-af",
        "adelay=3000:all=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        video.to_str().unwrap(),
    ]);
    let unrelated = file(&work, "unrelated.wav");
    melody(&unrelated, 5, 20, &["-c:a", "pcm_s16le"]);
    let mut ids = Vec::new();
    for path in [&original, &reencoded, &trimmed, &video, &unrelated] {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        ids.push(app.upload_named(path, &name).await);
    }
    for id in &ids {
        app.wait_for(id, "catalogued").await;
    }
    let found: Value = app
        .get_json(&app.token, &format!("/v1/clips/{}/similar", ids[0]))
        .await;
    let matched = |id: &str| {
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["clip_id"] == id)
            .cloned()
    };
    for (what, id) in [
        ("re-encoded", &ids[1]),
        ("trimmed", &ids[2]),
        ("filmed", &ids[3]),
    ] {
        let m = matched(id).unwrap_or_else(|| panic!("{what} not found: {found}"));
        let sound = &m["sound"];
        assert!(sound["score"].as_f64().unwrap() < 10.0, "{what}: {m}");
        assert!(
            m["mean_distance"].is_null(),
            "{what}: found by its sound alone"
        );
        if what == "trimmed" {
            // The trimmed copy starts 6 s into the original.
            let at = sound["start_seconds"].as_f64().unwrap();
            assert!((at - 6.0).abs() < 1.0, "{m}");
        }
        if what == "filmed" {
            let at = sound["other_start_seconds"].as_f64().unwrap();
            assert!((at - 3.0).abs() < 1.0, "{m}");
        }
    }
    assert!(
        matched(&ids[4]).is_none(),
        "another melody matched: {found}"
    );
}

#[tokio::test]
async fn a_stations_outbox_of_photos_recordings_and_video_is_uploaded_and_each_kind_known() {
    let app = spawn_standalone_with_media().await;
    let work = dir();
    let outbox = work.path().join("outbox");
    std::fs::create_dir(&outbox).unwrap();
    // As a camera names them (GA/T 947): device, officer, time; the kind is the file's own.
    let photo = outbox.join("DSJ-0003_031234_20260214_100000.jpg");
    still(&photo, "testsrc2=s=640x480");
    let png = outbox.join("DSJ-0003_031234_20260214_100100.png");
    still(&png, "smptebars=s=320x240");
    let recording = outbox.join("DSJ-0003_031234_20260214_100200.m4a");
    melody(&recording, 5, 6, &["-c:a", "aac"]);
    let video = outbox.join("DSJ-0003_031234_20260214_100300.mp4");
    crate::common::video::test_clip(&video, "320x240", 25, 2, &["-preset", "ultrafast"]);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_custodian"))
        .arg("upload")
        .args(["--server", &app.base, "--state"])
        .arg(work.path().join("state.json"))
        .args([&photo, &png, &recording, &video])
        .env("CUSTODIAN_TOKEN", &app.token)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ids = app.clip_ids().await;
    assert_eq!(ids.len(), 4);
    let mut kinds = Vec::new();
    let mut png_id = None;
    for id in &ids {
        let record = app.wait_for(id, "catalogued").await;
        assert_eq!(record["device"], "DSJ-0003");
        let name = record["original_name"].as_str().unwrap().to_owned();
        if name.ends_with(".png") {
            png_id = Some(id.clone());
        }
        kinds.push((name, record["kind"].as_str().unwrap().to_owned()));
    }
    kinds.sort();
    let expected: Vec<(String, String)> = [
        ("DSJ-0003_031234_20260214_100000.jpg", "photo"),
        ("DSJ-0003_031234_20260214_100100.png", "photo"),
        ("DSJ-0003_031234_20260214_100200.m4a", "audio"),
        ("DSJ-0003_031234_20260214_100300.mp4", "video"),
    ]
    .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
    .to_vec();
    assert_eq!(kinds, expected);
    // The PNG's display copy is a JPEG like any photo's.
    let view = file(&work, "png-view.jpg");
    let headers = app
        .download(&format!("/v1/clips/{}/view", png_id.unwrap()), &view)
        .await;
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(
        probe_stream(&view, "v:0")["streams"][0]["codec_name"],
        "mjpeg"
    );
}

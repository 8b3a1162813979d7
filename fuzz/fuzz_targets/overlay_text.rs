//! Untrusted place, device and officer names in the burned-in text and the WebVTT sidecar:
//! never a panic, no name can end a cue or open an ASS override block.
#![no_main]

use chrono::{TimeZone, Utc};
use custodian_core::media::{ass, cues, webvtt, OverlayFacts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let place = parts.next().unwrap_or_default().to_owned();
    let device = parts.next().unwrap_or_default().to_owned();
    let officer = parts.next().unwrap_or_default().to_owned();
    let facts = OverlayFacts {
        start: Utc.with_ymd_and_hms(2026, 2, 14, 1, 30, 0).unwrap(),
        duration_seconds: 2.5,
        place: Some(place),
        fixed_position: None,
        track: None,
        device,
        officer,
    };
    let cues = cues(&facts);
    assert_eq!(cues.len(), 3);
    let vtt = webvtt(&cues);
    // Every "-->" is a timing line's; no blank line inside a cue.
    assert_eq!(vtt.matches("-->").count(), cues.len(), "{vtt}");
    let script = ass(&cues, "Noto Sans CJK SC", 1280, 720);
    for line in script.lines().filter(|l| l.starts_with("Dialogue:")) {
        assert!(!line.contains('{') && !line.contains('}'), "{line}");
    }
});

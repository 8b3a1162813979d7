//! The demuxer whitelist's view of an upload's first bytes: never a panic, a playlist or list
//! that names other files is never taken for an accepted container, and every refusal says
//! something.
#![no_main]

use custodian_core::media::container::{demuxer_accepted, refusal, sniff, Looks, SNIFF_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let head = &data[..data.len().min(SNIFF_BYTES)];
    let looks = sniff(head);
    if let Looks::ReferencingList(_) = looks {
        assert!(!looks.is_accepted_container());
    }
    let text = String::from_utf8_lossy(head);
    if text.trim_start().to_ascii_lowercase().starts_with("#extm3u") {
        assert!(!looks.is_accepted_container(), "{looks:?}");
    }
    // The bytes as a demuxer name list (what FFmpeg's probe would answer).
    let name = text.chars().take(64).collect::<String>();
    let accepted = demuxer_accepted(&name);
    for forbidden in ["hls", "dash", "concat", "ffconcat", "image2", "lavfi", "sdp", "rtsp"] {
        if name == forbidden {
            assert!(!accepted);
        }
    }
    assert!(!refusal(looks, Some(&name)).is_empty());
    assert!(!refusal(looks, None).is_empty());
});

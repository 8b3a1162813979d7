//! Upload metadata as a collection station sends it (query fields): never a panic, and what
//! passes is filed under the caller's own bureau.
#![no_main]

use chrono::{TimeZone, Utc};
use custodian_core::upload::RawUploadMetadata;
use custodian_core::BureauId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\u{1}').map(|f| Some(f.to_owned()));
    let mut next = || fields.next().flatten();
    let raw = RawUploadMetadata {
        bureau: next(),
        device: next(),
        officer: next(),
        recorded_at: next(),
        file_name: next(),
        case_ref: next(),
        place: next(),
        latitude: next().and_then(|v| v.parse().ok()),
        longitude: next().and_then(|v| v.parse().ok()),
        returned_at: next(),
        late_reason: next(),
    };
    let token_bureau = BureauId::parse("b1").expect("a valid bureau");
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
    if let Ok(meta) = raw.validate(&token_bureau, now) {
        assert_eq!(meta.bureau, token_bureau);
        if let Some(returned) = meta.returned_at {
            assert!(returned >= meta.recorded_at);
        }
        if let Some(position) = meta.coordinates {
            assert!((-90.0..=90.0).contains(&position.latitude));
            assert!((-180.0..=180.0).contains(&position.longitude));
        }
    }
});

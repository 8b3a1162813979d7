//! GPS tracks uploaded beside a clip (GPX, NMEA) and the ISO 6709 location tag of a file:
//! never a panic, and every position they yield is on the earth.
#![no_main]

use chrono::{NaiveDate, TimeZone, Utc};
use custodian_core::media::{parse_gpx, parse_iso6709, parse_nmea};
use custodian_core::upload::Coordinates;
use libfuzzer_sys::fuzz_target;

fn on_earth(position: Coordinates) {
    assert!((-90.0..=90.0).contains(&position.latitude), "{position:?}");
    assert!((-180.0..=180.0).contains(&position.longitude), "{position:?}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let hint = NaiveDate::from_ymd_opt(2026, 2, 14).expect("a date");
    for track in [parse_gpx(&text), parse_nmea(&text, hint)].into_iter().flatten() {
        let points = track.points();
        assert!(!points.is_empty());
        assert!(points.windows(2).all(|w| w[0].at < w[1].at), "points sorted");
        for point in points {
            on_earth(point.position);
        }
        if let Some((start, end)) = track.span() {
            let middle = start + (end - start) / 2;
            for at in [start, middle, end, Utc.with_ymd_and_hms(2026, 2, 14, 1, 0, 0).unwrap()] {
                if let Some(position) = track.position_at(at) {
                    on_earth(position);
                }
            }
        }
    }
    if let Some(position) = parse_iso6709(&text) {
        on_earth(position);
    }
});

//! What a collection station knows about a file before uploading it. GA/T 947 stations name
//! each clip `{device}_{officer}_{YYYYMMDD}_{HHMMSS}[_IMP].ext` (time in China Standard Time,
//! `_IMP` for clips the officer marked important), so the name alone carries who recorded it,
//! with which camera and when.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use crate::deadlines::china_time;
use crate::LocalId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationName {
    pub device: LocalId,
    pub officer: LocalId,
    pub recorded_at: DateTime<Utc>,
    pub important: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("file name {name:?} is not DEVICE_OFFICER_YYYYMMDD_HHMMSS[_IMP].ext: {problem}")]
pub struct StationNameError {
    pub name: String,
    pub problem: String,
}

/// Reads device, officer and recording time from a GA/T 947 file name.
pub fn parse_station_name(file_name: &str) -> Result<StationName, StationNameError> {
    let bad = |problem: &str| StationNameError {
        name: file_name.to_owned(),
        problem: problem.to_owned(),
    };
    let stem = match file_name.rsplit_once('.') {
        Some((stem, _ext)) if !stem.is_empty() => stem,
        _ => file_name,
    };
    let mut fields: Vec<&str> = stem.split('_').collect();
    let important = fields.last().is_some_and(|f| f.eq_ignore_ascii_case("IMP"));
    if important {
        fields.pop();
    }
    let [device, officer, date, time] = fields.as_slice() else {
        return Err(bad("expected four fields separated by _"));
    };
    let device = LocalId::parse("device id", device).map_err(|e| bad(&e.to_string()))?;
    let officer = LocalId::parse("officer id", officer).map_err(|e| bad(&e.to_string()))?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(date, 8) || !digits(time, 6) {
        return Err(bad("date must be YYYYMMDD and time HHMMSS"));
    }
    let date = NaiveDate::parse_from_str(date, "%Y%m%d").map_err(|_| bad("no such date"))?;
    let time = NaiveTime::parse_from_str(time, "%H%M%S").map_err(|_| bad("no such time"))?;
    let local = NaiveDateTime::new(date, time);
    let recorded_at = china_time()
        .from_local_datetime(&local)
        .single()
        .ok_or_else(|| bad("no such time in China Standard Time"))?
        .with_timezone(&Utc);
    Ok(StationName {
        device,
        officer,
        recorded_at,
        important,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_station_file_name() {
        let name = parse_station_name("DSJ-0001_031234_20260214_093000.mp4").unwrap();
        assert_eq!(name.device.as_str(), "DSJ-0001");
        assert_eq!(name.officer.as_str(), "031234");
        assert_eq!(name.recorded_at.to_rfc3339(), "2026-02-14T01:30:00+00:00");
        assert!(!name.important);
        let important = parse_station_name("DSJ-0001_031234_20260214_093000_IMP.MP4").unwrap();
        assert!(important.important);
    }

    #[test]
    fn refuses_other_names() {
        for name in [
            "clip.mp4",
            "DSJ_031234_20260214.mp4",
            "DSJ_031234_20261314_093000.mp4",
            "DSJ_031234_20260214_250000.mp4",
            "DSJ_031234_2026021_093000.mp4",
            "DSJ_031234_20260214_093000_X.mp4",
            "_031234_20260214_093000.mp4",
        ] {
            assert!(parse_station_name(name).is_err(), "{name} accepted");
        }
    }
}

//! Which clock dates a clip's frames: the camera's own (`creation_time` in the file) or the
//! time the upload declared. A camera whose clock was never set writes 1970 or 2000, and one
//! set to the wrong zone is hours off; burning that into every frame of evidence is worse than
//! burning nothing. The file's clock is used only when it is plausible and agrees with the
//! declared time within a tolerance; otherwise the declared time is used and the disagreement
//! is a finding (art. 16: a deadline must not move because a clock was misreported).

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::continuity::{ContinuityFinding, Severity};

/// The default tolerance between the file's clock and the declared time.
pub const DEFAULT_TOLERANCE: Duration = Duration::minutes(5);

/// Where the time burned into a copy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The file's own `creation_time`, which agreed with the declared time.
    FileClock,
    /// The time the upload declared (the file has no clock, or one that cannot be trusted).
    Declared,
}

impl TimeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FileClock => "file_clock",
            Self::Declared => "declared",
        }
    }
}

/// The time a copy's first frame is dated with, where it came from, and what was wrong with
/// the file's clock if it was not used.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingStart {
    pub at: DateTime<Utc>,
    pub source: TimeSource,
    /// The finding when the file's clock was set aside (`clock_disagreement`, its size the
    /// difference in seconds); `None` when it was used or absent.
    pub disagreement: Option<ContinuityFinding>,
}

/// The earliest clock time a body camera can plausibly have recorded at (the ingest API
/// refuses a declared time before it too).
pub fn earliest_plausible() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Decides the start time from the file's clock and the declared time.
pub fn recording_start(
    file_clock: Option<DateTime<Utc>>,
    declared: DateTime<Utc>,
    tolerance: Duration,
) -> RecordingStart {
    let declared_start = |detail: Option<String>, file: DateTime<Utc>| RecordingStart {
        at: declared,
        source: TimeSource::Declared,
        disagreement: detail.map(|detail| ContinuityFinding {
            kind: "clock_disagreement",
            at_seconds: 0.0,
            size_seconds: (file - declared).num_milliseconds().abs() as f64 / 1000.0,
            severity: Severity::Warning,
            detail,
        }),
    };
    let Some(file) = file_clock else {
        return declared_start(None, declared);
    };
    let show = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    if file < earliest_plausible() {
        return declared_start(
            Some(format!(
            "the file's clock says {}, before 2000: the camera's clock was not set; the declared \
             time {} dates the copy",
            show(file),
            show(declared)
        )),
            file,
        );
    }
    let off_by = file - declared;
    if off_by.abs() > tolerance {
        let direction = if off_by > Duration::zero() {
            "after"
        } else {
            "before"
        };
        return declared_start(
            Some(format!(
            "the file's clock says {}, {} {direction} the declared time {} (tolerance {}); the \
             declared time dates the copy",
            show(file),
            human(off_by.abs()),
            show(declared),
            human(tolerance)
        )),
            file,
        );
    }
    RecordingStart {
        at: file,
        source: TimeSource::FileClock,
        disagreement: None,
    }
}

/// A duration as a person reads it: the two largest units.
fn human(d: Duration) -> String {
    let seconds = d.num_seconds();
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min {secs} s"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn an_agreeing_file_clock_dates_the_copy_to_the_second() {
        let declared = at(2026, 11, 29, 3, 0, 0);
        let file = at(2026, 11, 29, 3, 0, 41);
        let start = recording_start(Some(file), declared, DEFAULT_TOLERANCE);
        assert_eq!(start.at, file);
        assert_eq!(start.source, TimeSource::FileClock);
        assert_eq!(start.disagreement, None);
    }

    #[test]
    fn no_file_clock_means_the_declared_time_without_a_finding() {
        let declared = at(2026, 11, 29, 3, 0, 0);
        let start = recording_start(None, declared, DEFAULT_TOLERANCE);
        assert_eq!((start.at, start.source), (declared, TimeSource::Declared));
        assert!(start.disagreement.is_none());
    }

    #[test]
    fn an_unset_camera_clock_never_dates_the_copy() {
        let declared = at(2026, 11, 29, 3, 0, 0);
        for unset in [at(1970, 1, 1, 0, 0, 0), at(1999, 12, 31, 23, 59, 59)] {
            let start = recording_start(Some(unset), declared, DEFAULT_TOLERANCE);
            assert_eq!((start.at, start.source), (declared, TimeSource::Declared));
            let finding = start.disagreement.unwrap();
            assert_eq!(
                (finding.kind, finding.severity),
                ("clock_disagreement", Severity::Warning)
            );
            assert!(finding.detail.contains("not set"), "{}", finding.detail);
            assert!(finding.size_seconds > 26.0 * 365.0 * 86_400.0);
        }
    }

    #[test]
    fn a_clock_off_by_more_than_the_tolerance_is_set_aside_either_way() {
        let declared = at(2026, 11, 29, 3, 0, 0);
        // A camera set to Beijing time but writing it as UTC: eight hours after.
        let zone = recording_start(
            Some(at(2026, 11, 29, 11, 0, 0)),
            declared,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(zone.source, TimeSource::Declared);
        let finding = zone.disagreement.unwrap();
        assert!(
            finding.detail.contains("8 h 0 min after"),
            "{}",
            finding.detail
        );
        assert_eq!(finding.size_seconds, 8.0 * 3600.0);
        let early = recording_start(
            Some(at(2026, 11, 29, 2, 54, 59)),
            declared,
            DEFAULT_TOLERANCE,
        );
        assert!(early
            .disagreement
            .unwrap()
            .detail
            .contains("5 min 1 s before"));
        // Exactly at the tolerance the file's clock is still believed.
        let edge = recording_start(Some(at(2026, 11, 29, 3, 5, 0)), declared, DEFAULT_TOLERANCE);
        assert_eq!(edge.source, TimeSource::FileClock);
    }
}

//! Whether a recording is continuous (art. 12.5: no breaks, no insertions), judged from the
//! presentation times of its video frames. A cut leaves a gap in the timestamps; spliced-in
//! material leaves repeated timestamps or a jump backwards in decode order; a container whose
//! stated duration disagrees with its frames has been edited or damaged. Between clips of one
//! camera, the device's clock shows whether recording stopped or segments overlap.
//!
//! These are findings for a person to weigh, not verdicts: cameras drop frames under load,
//! and a finding records where and how much so that the reviewer can look.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Frame timing as read from a video stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameTimes {
    /// Presentation time of every video frame, in seconds, in any order. Non-finite values
    /// are ignored.
    pub pts_seconds: Vec<f64>,
    /// Seconds per frame from the stream's average frame rate, if known.
    pub nominal_interval: Option<f64>,
    /// The duration the container claims, in seconds, if known.
    pub container_duration: Option<f64>,
}

/// How much a finding matters. The strings of [`Severity::as_str`] are stored in the
/// database; do not change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One thing a reviewer should look at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContinuityFinding {
    /// One of "timestamp_gap", "timestamp_jump_back", "duplicate_timestamp",
    /// "duration_mismatch", "device_gap", "device_overlap".
    pub kind: &'static str,
    /// Where, in seconds from the clip's first frame (0 for findings between clips: the start
    /// of the later clip).
    pub at_seconds: f64,
    /// How much, in seconds (missing time, overlap, difference; 0 for duplicates).
    pub size_seconds: f64,
    pub severity: Severity,
    /// An English sentence naming position and size, for people and reports.
    pub detail: String,
}

/// What the frames themselves say about the clip's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeasuredTimeline {
    pub frames: usize,
    /// Earliest presentation time, seconds (0 when there are no frames).
    pub first_pts: f64,
    /// Last minus first presentation time plus one frame interval.
    pub duration_seconds: f64,
    /// Seconds per frame used for the analysis (0 when it cannot be known).
    pub interval_seconds: f64,
}

/// Thresholds of the analysis. The defaults are the ones the regulation's reviewers agreed
/// to; tests and special cameras may use others.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContinuityRules {
    /// A step between frames longer than this many intervals is a gap. 1.5 lets variable
    /// frame rate jitter through but not a single dropped frame at constant rate.
    pub gap_factor: f64,
    /// A gap at least this long (seconds of missing time) is critical: a whole second of
    /// footage does not go missing by accident.
    pub critical_gap_seconds: f64,
    /// Container and measured durations may differ by this many seconds …
    pub duration_tolerance_seconds: f64,
    /// … or by this fraction of the longer of the two, whichever is larger.
    pub duration_tolerance_ratio: f64,
    /// Consecutive clips of one device overlapping by more than this is reported.
    pub device_overlap_seconds: f64,
    /// Consecutive clips further apart than this are reported as a stop …
    pub device_gap_min_seconds: f64,
    /// … unless they are further apart than this, when they are separate recordings.
    pub device_gap_max_seconds: f64,
    /// At most this many findings of each kind are listed; the last listed one says how many
    /// more there were. A camera dropping every other frame would otherwise produce one
    /// finding per frame.
    pub max_findings_per_kind: usize,
}

impl Default for ContinuityRules {
    fn default() -> Self {
        Self {
            gap_factor: 1.5,
            critical_gap_seconds: 1.0,
            duration_tolerance_seconds: 1.0,
            duration_tolerance_ratio: 0.02,
            device_overlap_seconds: 1.0,
            device_gap_min_seconds: 1.0,
            device_gap_max_seconds: 30.0 * 60.0,
            max_findings_per_kind: 100,
        }
    }
}

/// H.264 and HEVC hold at most 16 frames for reordering, so in decode order a presentation
/// time may fall behind the latest one by at most that many intervals.
const MAX_REORDER_FRAMES: f64 = 16.0;

/// Timestamps come from integer time bases; anything closer than this is the same instant.
const SAME_INSTANT: f64 = 1e-9;

/// Frame intervals outside this range (1000 fps to one frame per 10 s) are not believed.
const SANE_INTERVAL: std::ops::RangeInclusive<f64> = 0.001..=10.0;

/// `MM:SS.mmm`, or `H:MM:SS.mmm` past the hour: how reviewers read positions in a player.
fn clock(seconds: f64) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    let (h, m, s, ms) = (
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000,
    );
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{ms:03}")
    } else {
        format!("{m:02}:{s:02}.{ms:03}")
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// [`analyse_with`] under the default rules.
pub fn analyse(times: &FrameTimes) -> (MeasuredTimeline, Vec<ContinuityFinding>) {
    analyse_with(times, &ContinuityRules::default())
}

/// Measures the timeline and lists gaps, duplicate timestamps and a duration mismatch.
///
/// The interval is the nominal one when it is plausible (within 1000 fps … 0.1 fps and within
/// a factor 2 of the measured median — an average frame rate computed over a clip with a
/// large gap is itself wrong), else the median of the positive steps between frames.
///
/// Timestamps are sorted first, so a jump backwards cannot be seen here; it shows up as
/// duplicates or, given frames in decode order, through [`jumps_back`].
pub fn analyse_with(
    times: &FrameTimes,
    rules: &ContinuityRules,
) -> (MeasuredTimeline, Vec<ContinuityFinding>) {
    let mut pts: Vec<f64> = times
        .pts_seconds
        .iter()
        .copied()
        .filter(|p| p.is_finite())
        .collect();
    pts.sort_by(f64::total_cmp);

    let deltas: Vec<f64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    let mut positive: Vec<f64> = deltas
        .iter()
        .copied()
        .filter(|&d| d > SAME_INSTANT)
        .collect();
    let measured = median(&mut positive);
    let nominal = times
        .nominal_interval
        .filter(|i| i.is_finite() && SANE_INTERVAL.contains(i))
        .filter(|&i| measured.is_none_or(|m| (0.5..=2.0).contains(&(i / m))));
    let interval = nominal.or(measured).unwrap_or(0.0);

    let first = pts.first().copied().unwrap_or(0.0);
    let timeline = MeasuredTimeline {
        frames: pts.len(),
        first_pts: first,
        duration_seconds: match (pts.first(), pts.last()) {
            (Some(a), Some(b)) => b - a + interval,
            _ => 0.0,
        },
        interval_seconds: interval,
    };

    let mut findings = Vec::new();
    let mut i = 0;
    while i < deltas.len() {
        let delta = deltas[i];
        if delta <= SAME_INSTANT {
            // One finding per run of frames sharing a time, not one per frame.
            let run = deltas[i..]
                .iter()
                .take_while(|&&d| d <= SAME_INSTANT)
                .count();
            let at = pts[i] - first;
            findings.push(ContinuityFinding {
                kind: "duplicate_timestamp",
                at_seconds: at,
                size_seconds: 0.0,
                severity: Severity::Warning,
                detail: format!("{} frames share the timestamp {}", run + 1, clock(at)),
            });
            i += run;
            continue;
        }
        // The frame before a gap lasts as long as its neighbours did, which in variable
        // frame rate footage is not the clip's average interval.
        let local = local_interval(&deltas, i, interval, rules.gap_factor);
        if local > 0.0 && delta > rules.gap_factor * local {
            let at = pts[i] - first + local;
            let size = delta - local;
            // Sub-microsecond slack so a gap of exactly the threshold, computed from
            // rounded timestamps, is not missed.
            let severity = if size >= rules.critical_gap_seconds - 1e-6 {
                Severity::Critical
            } else {
                Severity::Warning
            };
            findings.push(ContinuityFinding {
                kind: "timestamp_gap",
                at_seconds: at,
                size_seconds: size,
                severity,
                detail: format!(
                    "video jumps {size:.3} s forward at {} (expected {local:.3} s between frames)",
                    clock(at)
                ),
            });
        }
        i += 1;
    }

    if let Some(container) = times
        .container_duration
        .filter(|d| d.is_finite() && *d >= 0.0)
    {
        let measured = timeline.duration_seconds;
        let difference = (container - measured).abs();
        let tolerance = rules
            .duration_tolerance_seconds
            .max(rules.duration_tolerance_ratio * container.max(measured));
        if difference > tolerance {
            findings.push(ContinuityFinding {
                kind: "duration_mismatch",
                at_seconds: container.min(measured),
                size_seconds: difference,
                severity: Severity::Warning,
                detail: format!(
                    "the container says the clip lasts {container:.2} s but its {} frames span {measured:.2} s (difference {difference:.2} s)",
                    timeline.frames
                ),
            });
        }
    }

    (timeline, limit(findings, rules.max_findings_per_kind))
}

/// The real frame interval around the step `deltas[at]`: the median of up to four steps
/// before it (or after it, at the start) that are not gaps themselves, else `interval`.
fn local_interval(deltas: &[f64], at: usize, interval: f64, gap_factor: f64) -> f64 {
    let ordinary =
        |d: &&f64| **d > SAME_INSTANT && (interval <= 0.0 || **d <= gap_factor * interval);
    let mut near: Vec<f64> = deltas[..at]
        .iter()
        .rev()
        .filter(ordinary)
        .take(4)
        .copied()
        .collect();
    if near.is_empty() {
        near = deltas[at + 1..]
            .iter()
            .filter(ordinary)
            .take(4)
            .copied()
            .collect();
    }
    median(&mut near).unwrap_or(interval)
}

/// Presentation times that fall back further than decoder reordering allows, given frames
/// in decode (packet) order: material from elsewhere was spliced in, or the stream was
/// concatenated. `interval_seconds` is [`MeasuredTimeline::interval_seconds`].
///
/// Each jump is reported once; the stream is then followed from the new, earlier time.
pub fn jumps_back(
    pts_in_decode_order: &[f64],
    interval_seconds: f64,
    rules: &ContinuityRules,
) -> Vec<ContinuityFinding> {
    if !(interval_seconds.is_finite() && interval_seconds > 0.0) {
        return Vec::new();
    }
    let allowed = (MAX_REORDER_FRAMES + 0.5) * interval_seconds;
    let first = pts_in_decode_order
        .iter()
        .copied()
        .filter(|p| p.is_finite())
        .min_by(f64::total_cmp)
        .unwrap_or(0.0);
    let mut latest: Option<f64> = None;
    let mut findings = Vec::new();
    for &p in pts_in_decode_order.iter().filter(|p| p.is_finite()) {
        match latest {
            Some(top) if top - p > allowed => {
                let size = top - p;
                let at = top - first;
                findings.push(ContinuityFinding {
                    kind: "timestamp_jump_back",
                    at_seconds: at,
                    size_seconds: size,
                    severity: if size >= rules.critical_gap_seconds {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    },
                    detail: format!(
                        "video jumps {size:.2} s backwards after {} (decode order)",
                        clock(at)
                    ),
                });
                latest = Some(p);
            }
            Some(top) => latest = Some(top.max(p)),
            None => latest = Some(p),
        }
    }
    limit(findings, rules.max_findings_per_kind)
}

/// Keeps the first `max` findings of each kind; the last kept one says how many were left out.
fn limit(findings: Vec<ContinuityFinding>, max: usize) -> Vec<ContinuityFinding> {
    let mut kept: Vec<ContinuityFinding> = Vec::new();
    let mut dropped: Vec<(&'static str, usize)> = Vec::new();
    for finding in findings {
        let count = kept.iter().filter(|f| f.kind == finding.kind).count();
        if count < max {
            kept.push(finding);
        } else if let Some(entry) = dropped.iter_mut().find(|(k, _)| *k == finding.kind) {
            entry.1 += 1;
        } else {
            dropped.push((finding.kind, 1));
        }
    }
    for (kind, more) in dropped {
        if let Some(last) = kept.iter_mut().rev().find(|f| f.kind == kind) {
            last.detail
                .push_str(&format!("; {more} more like this are not listed"));
        }
    }
    kept
}

/// [`device_gap_with`] under the default rules.
pub fn device_gap(
    previous_end: DateTime<Utc>,
    next_start: DateTime<Utc>,
) -> Option<ContinuityFinding> {
    device_gap_with(previous_end, next_start, &ContinuityRules::default())
}

/// What lies between two consecutive clips of one device, by the device's clock: an overlap
/// (clock trouble, or footage inserted), a stop of the camera, or nothing worth saying (back
/// to back, or far enough apart to be separate recordings).
pub fn device_gap_with(
    previous_end: DateTime<Utc>,
    next_start: DateTime<Utc>,
    rules: &ContinuityRules,
) -> Option<ContinuityFinding> {
    let between = next_start.signed_duration_since(previous_end);
    // Whole milliseconds: device clocks are no finer, and this cannot overflow.
    let seconds = between.num_milliseconds() as f64 / 1000.0;
    if -seconds > rules.device_overlap_seconds {
        let size = -seconds;
        Some(ContinuityFinding {
            kind: "device_overlap",
            at_seconds: 0.0,
            size_seconds: size,
            severity: Severity::Warning,
            detail: format!(
                "this recording starts {size:.2} s before the device's previous recording ended ({} UTC)",
                previous_end.format("%Y-%m-%d %H:%M:%S")
            ),
        })
    } else if seconds > rules.device_gap_min_seconds && seconds <= rules.device_gap_max_seconds {
        Some(ContinuityFinding {
            kind: "device_gap",
            at_seconds: 0.0,
            size_seconds: seconds,
            severity: Severity::Info,
            detail: format!(
                "the device stopped recording for {} before this recording ({} UTC)",
                clock(seconds),
                next_start.format("%Y-%m-%d %H:%M:%S")
            ),
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn frames(fps: f64, seconds: f64) -> Vec<f64> {
        let n = (fps * seconds).round() as usize;
        (0..n).map(|i| i as f64 / fps).collect()
    }

    #[test]
    fn severity_strings_are_stable() {
        assert_eq!(Severity::Info.as_str(), "info");
        assert_eq!(Severity::Warning.as_str(), "warning");
        assert_eq!(Severity::Critical.as_str(), "critical");
    }

    #[test]
    fn clean_clip_has_no_findings() {
        let times = FrameTimes {
            pts_seconds: frames(25.0, 10.0),
            nominal_interval: Some(0.04),
            container_duration: Some(10.0),
        };
        let (timeline, findings) = analyse(&times);
        assert_eq!(findings, vec![]);
        assert_eq!(timeline.frames, 250);
        assert!((timeline.duration_seconds - 10.0).abs() < 1e-9);
        assert_eq!(timeline.interval_seconds, 0.04);
    }

    #[test]
    fn one_second_cut_at_two_seconds() {
        let pts: Vec<f64> = frames(25.0, 10.0)
            .into_iter()
            .filter(|&t| !(2.0 - 1e-9..3.0 - 1e-9).contains(&t))
            .rev() // any order
            .collect();
        let times = FrameTimes {
            pts_seconds: pts,
            nominal_interval: None,
            container_duration: Some(10.0),
        };
        let (timeline, findings) = analyse(&times);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let gap = &findings[0];
        assert_eq!(gap.kind, "timestamp_gap");
        assert!((gap.at_seconds - 2.0).abs() <= 0.04);
        assert!((gap.size_seconds - 1.0).abs() < 0.01);
        assert_eq!(gap.severity, Severity::Critical);
        assert_eq!(
            gap.detail,
            "video jumps 1.000 s forward at 00:02.000 (expected 0.040 s between frames)"
        );
        assert!((timeline.interval_seconds - 0.04).abs() < 1e-9);
    }

    #[test]
    fn short_gap_is_a_warning() {
        let pts: Vec<f64> = frames(25.0, 4.0)
            .into_iter()
            .filter(|&t| !(1.0 - 1e-9..1.2 - 1e-9).contains(&t))
            .collect();
        let (_, findings) = analyse(&FrameTimes {
            pts_seconds: pts,
            nominal_interval: Some(0.04),
            container_duration: None,
        });
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Warning);
    }

    #[test]
    fn vfr_jitter_is_not_a_gap() {
        let mut t = 0.0;
        let mut pts = Vec::new();
        for i in 0..600 {
            pts.push(t);
            t += if i % 2 == 0 { 0.033 } else { 0.034 };
        }
        let (_, findings) = analyse(&FrameTimes {
            pts_seconds: pts,
            nominal_interval: Some(0.0335),
            container_duration: Some(t),
        });
        assert_eq!(findings, vec![]);
    }

    #[test]
    fn duplicates_are_reported_once_per_run() {
        let mut pts = frames(25.0, 2.0);
        pts.extend([1.0, 1.0, 1.0]);
        let (_, findings) = analyse(&FrameTimes {
            pts_seconds: pts,
            nominal_interval: Some(0.04),
            container_duration: None,
        });
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].kind, "duplicate_timestamp");
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!((findings[0].at_seconds - 1.0).abs() < 1e-9);
        assert!(findings[0].detail.starts_with("4 frames"));
    }

    #[test]
    fn duration_mismatch() {
        let (_, findings) = analyse(&FrameTimes {
            pts_seconds: frames(25.0, 10.0),
            nominal_interval: Some(0.04),
            container_duration: Some(12.5),
        });
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].kind, "duration_mismatch");
        assert!((findings[0].size_seconds - 2.5).abs() < 1e-9);
        // 2 % of an hour is 72 s: a 30 s difference is within tolerance.
        let (_, findings) = analyse(&FrameTimes {
            pts_seconds: frames(5.0, 3600.0),
            nominal_interval: Some(0.2),
            container_duration: Some(3630.0),
        });
        assert_eq!(findings, vec![]);
    }

    #[test]
    fn implausible_nominal_interval_is_ignored() {
        // An average frame rate computed across a long gap is far too low.
        let mut pts = frames(25.0, 5.0);
        pts.extend(frames(25.0, 5.0).iter().map(|t| t + 65.0));
        let (timeline, findings) = analyse(&FrameTimes {
            pts_seconds: pts,
            nominal_interval: Some(0.28),
            container_duration: None,
        });
        assert!((timeline.interval_seconds - 0.04).abs() < 1e-9);
        assert_eq!(findings.len(), 1);
        assert!((findings[0].size_seconds - 60.0).abs() < 1e-6);
    }

    #[test]
    fn degenerate_inputs() {
        let (timeline, findings) = analyse(&FrameTimes::default());
        assert_eq!(timeline.frames, 0);
        assert_eq!(findings, vec![]);
        let (timeline, findings) = analyse(&FrameTimes {
            pts_seconds: vec![f64::NAN, 3.0, f64::INFINITY],
            nominal_interval: Some(f64::NAN),
            container_duration: Some(f64::NAN),
        });
        assert_eq!(timeline.frames, 1);
        assert_eq!(timeline.duration_seconds, 0.0);
        assert_eq!(findings, vec![]);
    }

    #[test]
    fn findings_are_capped_per_kind() {
        let pts: Vec<f64> = (0..1000).map(|i| f64::from(i) * 0.08).collect();
        let rules = ContinuityRules {
            max_findings_per_kind: 3,
            ..ContinuityRules::default()
        };
        let (_, findings) = analyse_with(
            &FrameTimes {
                pts_seconds: pts,
                nominal_interval: Some(0.04),
                container_duration: None,
            },
            &rules,
        );
        assert_eq!(findings.len(), 3);
        assert!(findings[2]
            .detail
            .ends_with("; 996 more like this are not listed"));
    }

    #[test]
    fn jump_back_in_decode_order() {
        // B-frame reordering: small regressions are normal.
        let mut decode = vec![0.0, 0.12, 0.04, 0.08, 0.24, 0.16, 0.20];
        assert_eq!(
            jumps_back(&decode, 0.04, &ContinuityRules::default()),
            vec![]
        );
        // Then material from 5 s earlier is spliced in.
        decode.extend([0.28, 0.32, 10.0, 10.04, 5.0, 5.04]);
        let found = jumps_back(&decode, 0.04, &ContinuityRules::default());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, "timestamp_jump_back");
        assert!((found[0].size_seconds - 5.04).abs() < 1e-9);
        assert_eq!(found[0].severity, Severity::Critical);
    }

    #[test]
    fn device_gaps_and_overlaps() {
        let end = Utc.with_ymd_and_hms(2026, 2, 14, 1, 30, 0).unwrap();
        let overlap = device_gap(end, end - Duration::seconds(5)).unwrap();
        assert_eq!(overlap.kind, "device_overlap");
        assert_eq!(overlap.severity, Severity::Warning);
        assert_eq!(overlap.size_seconds, 5.0);

        let gap = device_gap(end, end + Duration::seconds(90)).unwrap();
        assert_eq!(gap.kind, "device_gap");
        assert_eq!(gap.severity, Severity::Info);
        assert_eq!(gap.size_seconds, 90.0);

        assert_eq!(device_gap(end, end + Duration::milliseconds(500)), None);
        assert_eq!(device_gap(end, end - Duration::milliseconds(800)), None);
        assert_eq!(device_gap(end, end + Duration::minutes(31)), None);
        assert!(device_gap(end, end + Duration::minutes(30)).is_some());
    }

    #[test]
    fn clock_format() {
        assert_eq!(clock(2.0), "00:02.000");
        assert_eq!(clock(3725.5), "1:02:05.500");
        assert_eq!(clock(-1.0), "00:00.000");
    }

    #[test]
    fn a_gap_in_variable_frame_rate_footage_is_measured_from_the_real_frame_durations() {
        // 30 fps up to 1.600 s, nothing until 2.000 s, 30 fps again to 3 s; the container's
        // average rate (27.5 fps) is not the frames' own.
        let before = (0..48).map(|n| f64::from(n) / 30.0);
        let after = (0..30).map(|n| 2.0 + f64::from(n) / 30.0);
        let times = FrameTimes {
            pts_seconds: before.chain(after).collect(),
            nominal_interval: Some(1.0 / 27.5),
            container_duration: None,
        };
        let (_, findings) = analyse(&times);
        let gap = findings.iter().find(|f| f.kind == "timestamp_gap").unwrap();
        assert!((gap.at_seconds - 1.6).abs() < 1e-6, "{gap:?}");
        assert!((gap.size_seconds - 0.4).abs() < 1e-6, "{gap:?}");
        assert!(
            gap.detail.contains("0.400 s forward at 00:01.600"),
            "{}",
            gap.detail
        );
    }
}

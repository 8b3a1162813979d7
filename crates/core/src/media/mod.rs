//! What Custodian knows about the pictures and timing inside a clip, as pure rules over
//! numbers the media adapter extracts: perceptual hashes to recognise footage after
//! re-encoding, continuity findings from frame timestamps, GPS tracks and ISO 6709 tags for
//! where a clip was filmed, and the overlay text burned into viewing copies. Nothing here
//! reads a file or runs FFmpeg.

pub mod clock;
pub mod container;
pub mod continuity;
pub mod faces;
pub mod iso6709;
pub mod overlay;
pub mod phash;
pub mod similarity;
pub mod track;

pub use continuity::{
    analyse, analyse_with, device_gap, device_gap_with, jumps_back, ContinuityFinding,
    ContinuityRules, FrameTimes, MeasuredTimeline, Severity,
};
pub use iso6709::parse_iso6709;
pub use overlay::{
    ass, cues, drawtext_clock, format_coordinates, text_ems, webvtt, ClockLayout, Cue,
    OverlayFacts, MIN_COPY_HEIGHT, MIN_LEGIBLE_PX,
};
pub use phash::{hamming, phash, HASH_SIDE};
pub use similarity::{best_match, matching_spans, Match, MatchRules, Span};
pub use track::{parse_gpx, parse_nmea, Track, TrackError, TrackPoint, MAX_POINTS};

//! The facts burned into viewing copies and carried in their WebVTT sidecar (regulation
//! art. 12/17): the date and time of each frame in China Standard Time, the place and
//! coordinates, the device and the officer. The running clock is drawn per frame by FFmpeg's
//! drawtext ([`drawtext_clock`]); the slower-changing lines come from an ASS script
//! ([`ass`]), one event per second.
//!
//! Place names, device and officer ids reach here from uploads. Each output format has its
//! own way for text to become markup, so each one escapes for itself.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};

use super::track::Track;
use crate::deadlines::china_time;
use crate::upload::Coordinates;

/// A clip longer than this is not footage from one body camera; cues stop here rather than
/// allocate for a corrupt duration.
pub const MAX_CUE_SECONDS: f64 = 48.0 * 3600.0;

/// What the overlay of one clip says.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlayFacts {
    /// When the first frame was recorded.
    pub start: DateTime<Utc>,
    pub duration_seconds: f64,
    pub place: Option<String>,
    /// Where the clip was recorded if no track says better.
    pub fixed_position: Option<Coordinates>,
    pub track: Option<Track>,
    pub device: String,
    pub officer: String,
}

/// One second of overlay text.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start_seconds: f64,
    pub end_seconds: f64,
    /// The local time first, then place and coordinates (left out when neither is known),
    /// then device and officer. Control characters have been removed; format-specific
    /// escaping is left to [`webvtt`] and [`ass`].
    pub lines: Vec<String>,
}

/// Control characters (line breaks included) become spaces, so that no input can start a
/// new line or cue in any output format.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `31.23040°N 121.47370°E`: five decimals is about a metre, finer than any body camera's GPS.
pub fn format_coordinates(position: Coordinates) -> String {
    let ns = if position.latitude < 0.0 { 'S' } else { 'N' };
    let ew = if position.longitude < 0.0 { 'W' } else { 'E' };
    format!(
        "{:.5}°{ns} {:.5}°{ew}",
        position.latitude.abs(),
        position.longitude.abs()
    )
}

/// One cue per second of the clip; the last one ends with the clip.
///
/// The time shown is the whole second of `start` plus the cue's offset, like the drawtext
/// clock: sub-second precision of the start is not shown (MP4 creation times are whole
/// seconds anyway). The position is taken from the track at that instant when the track
/// covers it, else the fixed position.
pub fn cues(facts: &OverlayFacts) -> Vec<Cue> {
    let duration = if facts.duration_seconds.is_finite() {
        facts.duration_seconds.clamp(0.0, MAX_CUE_SECONDS)
    } else {
        0.0
    };
    let count = duration.ceil() as i64;
    let whole_start =
        facts.start - Duration::nanoseconds(i64::from(facts.start.timestamp_subsec_nanos()));
    let place = facts.place.as_deref().map(clean).filter(|p| !p.is_empty());
    let identity = format!(
        "设备 {}  警号 {}",
        clean(&facts.device),
        clean(&facts.officer)
    );

    (0..count)
        .map(|i| {
            let offset = Duration::seconds(i);
            let local = (whole_start + offset).with_timezone(&china_time());
            let mut lines = vec![local.format("%Y-%m-%d %H:%M:%S (UTC+8)").to_string()];

            let position = facts
                .track
                .as_ref()
                .and_then(|t| t.position_at(facts.start + offset))
                .or(facts.fixed_position);
            let whereabouts = match (&place, position) {
                (Some(p), Some(c)) => Some(format!("{p}  {}", format_coordinates(c))),
                (Some(p), None) => Some(p.clone()),
                (None, Some(c)) => Some(format_coordinates(c)),
                (None, None) => None,
            };
            lines.extend(whereabouts);
            lines.push(identity.clone());
            Cue {
                start_seconds: i as f64,
                end_seconds: ((i + 1) as f64).min(duration),
                lines,
            }
        })
        .collect()
}

/// Milliseconds, never negative, never NaN.
fn millis(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1000.0).round() as u64
    } else {
        0
    }
}

/// WebVTT cue text: `&`, `<`, `>` as character references. With no `>` left, no `-->` can
/// remain; line breaks and other control characters become spaces.
fn vtt_text(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn vtt_time(seconds: f64) -> String {
    let ms = millis(seconds);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// A WebVTT file of the cues. Lines that are blank after cleaning are left out, since a blank
/// line would end the cue.
pub fn webvtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for cue in cues {
        let _ = writeln!(
            out,
            "{} --> {}",
            vtt_time(cue.start_seconds),
            vtt_time(cue.end_seconds)
        );
        for line in &cue.lines {
            let text = vtt_text(line);
            if !text.trim().is_empty() {
                out.push_str(text.trim_end());
                out.push('\n');
            }
        }
        out.push('\n');
    }
    out
}

/// ASS event text: `\`, `{`, `}` are the only characters that start markup, so they become
/// their full-width forms (which CJK fonts carry); control characters are dropped.
fn ass_text(line: &str) -> String {
    line.chars()
        .filter_map(|c| match c {
            '\\' => Some('＼'),
            '{' => Some('｛'),
            '}' => Some('｝'),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// `H:MM:SS.cc`, the ASS time format (centiseconds).
fn ass_time(seconds: f64) -> String {
    let cs = millis(seconds).div_ceil(10);
    format!(
        "{}:{:02}:{:02}.{:02}",
        cs / 360_000,
        cs / 6000 % 60,
        cs / 100 % 60,
        cs % 100
    )
}

/// No burned-in text is drawn smaller than this many pixels high: below it 设备 and 警号
/// cannot be read. A line too long for the frame at this size is wrapped instead.
pub const MIN_LEGIBLE_PX: u32 = 14;

/// Viewing copies are at least this many lines high (smaller sources are scaled up), so the
/// burned-in text can be legible at all.
pub const MIN_COPY_HEIGHT: u32 = 360;

/// How wide `text` is, in ems of a CJK font, estimated generously so that what is laid out
/// to fit does fit: wide (CJK, fullwidth) characters 1 em, everything else 0.62 em.
pub fn text_ems(text: &str) -> f64 {
    text.chars()
        .map(|c| if is_wide(c) { 1.0 } else { 0.62 })
        .sum()
}

fn is_wide(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD)
}

/// The clock's text as one line, and as two (date above time), for sizing.
const CLOCK_ONE_LINE: &str = "2026-02-14 09:30:01.040 (UTC+8)";
const CLOCK_TIME_LINE: &str = "09:30:01.040 (UTC+8)";

/// How the running clock is drawn on a frame of `width` x `height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockLayout {
    pub font_size: u32,
    /// From the frame's top-left corner to the box.
    pub margin: u32,
    /// The box's padding around the text.
    pub box_border: u32,
    /// Date and time on two lines, because one line would not fit legibly.
    pub two_lines: bool,
}

impl ClockLayout {
    /// The largest clock (at most a 24th of the height) that fits the width, on one line if
    /// that is legible, else on two.
    pub fn for_frame(width: u32, height: u32) -> Self {
        let one = Self::sized(width, height, false);
        if one.font_size >= MIN_LEGIBLE_PX.min(height / 24) {
            one
        } else {
            Self::sized(width, height, true)
        }
    }

    /// The clock sized for a frame when the line count is already decided (the text file
    /// was written for it).
    pub fn sized(width: u32, height: u32, two_lines: bool) -> Self {
        let margin = (height / 48).max(4);
        let box_border = margin / 2;
        let ems = if two_lines {
            text_ems(CLOCK_TIME_LINE)
        } else {
            text_ems(CLOCK_ONE_LINE)
        };
        let room = f64::from(width.saturating_sub(2 * margin + 2 * box_border));
        let fits = (room / ems).floor() as u32;
        Self {
            font_size: (height / 24).max(12).min(fits).max(6),
            margin,
            box_border,
            two_lines,
        }
    }
}

/// An ASS script drawing every cue's lines after the first (the time is drawn per frame by
/// [`drawtext_clock`]) bottom-left in white on a black box, for a frame of `video_width` x
/// `video_height`. The font is a 24th of the height, smaller where a line would not fit the
/// width, never below [`MIN_LEGIBLE_PX`]: a line too long even then is wrapped, never cut.
pub fn ass(cues: &[Cue], font_family: &str, video_width: u32, video_height: u32) -> String {
    let height = video_height.max(144);
    let width = video_width.max(16);
    let box_padding = (height / 270).max(2);
    let margin = (height / 40).max(4);
    let lines_of = |cue: &Cue| -> Vec<String> {
        cue.lines
            .iter()
            .skip(1)
            .map(|l| ass_text(l))
            .filter(|l| !l.trim().is_empty())
            .collect()
    };
    let widest = cues
        .iter()
        .flat_map(&lines_of)
        .map(|line| text_ems(&line))
        .fold(0.0_f64, f64::max);
    let room = f64::from(width.saturating_sub(2 * margin + 2 * box_padding)).max(1.0);
    let preferred = (height / 24).max(MIN_LEGIBLE_PX);
    let fitting = if widest > 0.0 {
        (room / widest).floor() as u32
    } else {
        preferred
    };
    let font_size = preferred.min(fitting.max(MIN_LEGIBLE_PX));
    // What a line may hold at that size; only lines longer than it are wrapped.
    let line_ems = room / f64::from(font_size);
    // A comma would end the Style field; braces and backslashes mean nothing here but are
    // dropped for the same reason as in text.
    let font: String = font_family
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, ',' | '{' | '}' | '\\'))
        .collect();
    let font = if font.trim().is_empty() {
        "sans-serif".to_owned()
    } else {
        font.trim().to_owned()
    };

    let mut out = String::new();
    let _ = write!(
        out,
        "[Script Info]\n\
         ; Custodian viewing-copy overlay\n\
         ScriptType: v4.00+\n\
         PlayResX: {width}\n\
         PlayResY: {height}\n\
         WrapStyle: 2\n\
         ScaledBorderAndShadow: yes\n\
         \n\
         [V4+ Styles]\n\
         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
         Style: Overlay,{font},{font_size},&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,3,{box_padding},0,1,{margin},{margin},{margin},1\n\
         \n\
         [Events]\n\
         Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    );
    for cue in cues {
        let text: Vec<String> = lines_of(cue)
            .iter()
            .flat_map(|line| wrap(line, line_ems))
            .collect();
        if text.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "Dialogue: 0,{},{},Overlay,,0,0,0,,{}",
            ass_time(cue.start_seconds),
            ass_time(cue.end_seconds),
            text.join("\\N")
        );
    }
    out
}

/// Splits `line` into pieces at most `max_ems` wide, at a space where one is near the end.
fn wrap(line: &str, max_ems: f64) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut width = 0.0;
    for c in line.chars() {
        let w = text_ems(c.encode_utf8(&mut [0; 4]));
        if width + w > max_ems && !current.is_empty() {
            // Break at the last space of the piece if it is in its second half.
            let cut = current
                .rfind(' ')
                .filter(|&at| text_ems(&current[..at]) > max_ems / 2.0);
            match cut {
                Some(at) => {
                    let rest = current[at..].trim_start().to_owned();
                    current.truncate(at);
                    pieces.push(current.trim_end().to_owned());
                    width = text_ems(&rest);
                    current = rest;
                }
                None => {
                    pieces.push(std::mem::take(&mut current));
                    width = 0.0;
                }
            }
        }
        current.push(c);
        width += w;
    }
    if !current.trim().is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Text for FFmpeg's drawtext filter, to be passed through `textfile=` (not inline in a
/// filtergraph, which would need a second layer of escaping): the date and time of each
/// frame in China Standard Time, with milliseconds, e.g. `2026-02-14 09:30:01.040 (UTC+8)`,
/// on one line or, for a narrow frame ([`ClockLayout::two_lines`]), the date above the time.
///
/// `pts:gmtime` adds the frame's presentation time to an epoch offset; the offset is the
/// start's whole unix seconds plus 8 hours, so that "GMT" reads as CST. Inside `%{…}` the
/// arguments are separated by `:`, so the colons of the time format are escaped as `\:`;
/// commas need no escape in a text file. `eif` with width 3 zero-pads the milliseconds. The
/// clock is exact to the whole second of `start` plus each frame's pts.
pub fn drawtext_clock(start: DateTime<Utc>, two_lines: bool) -> String {
    let epoch = start.timestamp() + 8 * 3600;
    let between = if two_lines { "\n" } else { " " };
    format!(
        "%{{pts:gmtime:{epoch}:%Y-%m-%d}}{between}%{{pts:gmtime:{epoch}:%H\\:%M\\:%S}}.%{{eif:mod(t*1000,1000):d:3}} (UTC+8)"
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::media::track::TrackPoint;

    fn facts() -> OverlayFacts {
        OverlayFacts {
            start: Utc.with_ymd_and_hms(2026, 2, 14, 1, 30, 0).unwrap(),
            duration_seconds: 3.5,
            place: Some("人民广场".to_owned()),
            fixed_position: Some(Coordinates {
                latitude: 31.2304,
                longitude: 121.4737,
            }),
            track: None,
            device: "CAM-0042".to_owned(),
            officer: "031337".to_owned(),
        }
    }

    #[test]
    fn one_cue_per_second_in_china_time() {
        let cues = cues(&facts());
        assert_eq!(cues.len(), 4);
        assert_eq!(cues[0].lines[0], "2026-02-14 09:30:00 (UTC+8)");
        assert_eq!(cues[1].lines[0], "2026-02-14 09:30:01 (UTC+8)");
        assert_eq!(cues[3].lines[0], "2026-02-14 09:30:03 (UTC+8)");
        assert_eq!((cues[3].start_seconds, cues[3].end_seconds), (3.0, 3.5));
        assert_eq!(cues[0].lines[1], "人民广场  31.23040°N 121.47370°E");
        assert_eq!(cues[0].lines[2], "设备 CAM-0042  警号 031337");
    }

    #[test]
    fn cst_crosses_the_date_line() {
        let mut f = facts();
        f.start = Utc.with_ymd_and_hms(2026, 2, 13, 16, 0, 0).unwrap();
        assert_eq!(cues(&f)[0].lines[0], "2026-02-14 00:00:00 (UTC+8)");
    }

    #[test]
    fn unknowns_are_left_out_and_hemispheres_named() {
        let mut f = facts();
        f.place = None;
        f.fixed_position = Some(Coordinates {
            latitude: -33.8688,
            longitude: -70.5,
        });
        assert_eq!(cues(&f)[0].lines[1], "33.86880°S 70.50000°W");
        f.fixed_position = None;
        assert_eq!(cues(&f)[0].lines.len(), 2);
        f.duration_seconds = f64::NAN;
        assert!(cues(&f).is_empty());
        f.duration_seconds = 3.0;
        assert_eq!(cues(&f).len(), 3);
    }

    #[test]
    fn track_positions_win_over_the_fixed_one() {
        let mut f = facts();
        let at = |s| f.start + Duration::seconds(s);
        f.track = Some(
            Track::from_points(vec![
                TrackPoint {
                    at: at(0),
                    position: Coordinates {
                        latitude: 31.0,
                        longitude: 121.0,
                    },
                },
                TrackPoint {
                    at: at(2),
                    position: Coordinates {
                        latitude: 31.002,
                        longitude: 121.0,
                    },
                },
            ])
            .unwrap(),
        );
        let cues = cues(&f);
        assert_eq!(cues[1].lines[1], "人民广场  31.00100°N 121.00000°E");
        // Within the 2 s tolerance past the end, the last point is used.
        assert_eq!(cues[3].lines[1], "人民广场  31.00200°N 121.00000°E");
    }

    #[test]
    fn webvtt_is_well_formed_and_sanitised() {
        let mut f = facts();
        f.place = Some("a --> b\n\n<b>x</b> & y".to_owned());
        let vtt = webvtt(&cues(&f));
        assert!(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n"));
        assert!(vtt.contains("00:00:03.000 --> 00:00:03.500\n"));
        assert!(vtt.contains("a --&gt; b  &lt;b&gt;x&lt;/b&gt; &amp; y"));
        assert_eq!(vtt.matches("-->").count(), 4);
        // Blank lines only between cues.
        assert_eq!(vtt.matches("\n\n").count(), 5);
    }

    #[test]
    fn ass_escapes_markup() {
        let mut f = facts();
        f.place = Some("{\\b1}bold\\N".to_owned());
        let script = ass(&cues(&f), "Noto Sans CJK SC", 1920, 1080);
        assert!(script.contains("PlayResX: 1920\nPlayResY: 1080\n"));
        assert!(script.contains("Style: Overlay,Noto Sans CJK SC,45,"));
        assert!(script.contains(
            "Dialogue: 0,0:00:00.00,0:00:01.00,Overlay,,0,0,0,,｛＼b1｝bold＼N  31.23040°N 121.47370°E\\N设备 CAM-0042  警号 031337\n"
        ));
        assert!(script.contains("0:00:03.00,0:00:03.50,"));
        assert_eq!(script.matches("Dialogue:").count(), 4);
        assert!(ass(&[], "Bad,Font", 854, 480).contains("PlayResX: 854\n"));
        assert!(ass(&[], "Bad,Font", 854, 480).contains("Style: Overlay,BadFont,20,"));
    }

    #[test]
    fn drawtext_clock_in_cst() {
        let start = Utc.with_ymd_and_hms(2026, 2, 14, 1, 30, 0).unwrap();
        let epoch = start.timestamp() + 28_800;
        assert_eq!(
            drawtext_clock(start, false),
            format!(
                "%{{pts:gmtime:{epoch}:%Y-%m-%d}} %{{pts:gmtime:{epoch}:%H\\:%M\\:%S}}.%{{eif:mod(t*1000,1000):d:3}} (UTC+8)"
            )
        );
        assert!(drawtext_clock(start, true).contains("%Y-%m-%d}\n%{pts"));
    }

    #[test]
    fn the_clock_fits_every_frame_shape_legibly() {
        // (width, height): landscape, 4:3, square, portrait phone, tiny, narrow portrait.
        for (w, h) in [
            (1280, 720),
            (480, 360),
            (360, 360),
            (404, 720),
            (640, 360),
            (202, 360),
        ] {
            let layout = ClockLayout::for_frame(w, h);
            let ems = if layout.two_lines {
                text_ems(CLOCK_TIME_LINE)
            } else {
                text_ems(CLOCK_ONE_LINE)
            };
            let drawn = ems * f64::from(layout.font_size)
                + f64::from(2 * layout.margin + 2 * layout.box_border);
            assert!(
                drawn <= f64::from(w),
                "{w}x{h}: {layout:?} draws {drawn} px"
            );
            assert!(layout.font_size >= MIN_LEGIBLE_PX, "{w}x{h}: {layout:?}");
        }
        assert!(!ClockLayout::for_frame(1280, 720).two_lines);
        assert_eq!(ClockLayout::for_frame(1280, 720).font_size, 30);
        assert!(ClockLayout::for_frame(202, 360).two_lines);
    }

    #[test]
    fn ass_lines_fit_the_width_or_wrap_at_a_legible_size() {
        let mut f = facts();
        f.place = Some("杭州市西湖区文三路与学院路交叉口东南侧人行道".to_owned());
        for (w, h) in [(1280, 720), (404, 720), (360, 360), (202, 360)] {
            let script = ass(&cues(&f), "Noto Sans CJK SC", w, h);
            let style = script.lines().find(|l| l.starts_with("Style: ")).unwrap();
            let font: u32 = style.split(',').nth(2).unwrap().parse().unwrap();
            assert!(font >= MIN_LEGIBLE_PX, "{w}x{h}: {style}");
            let margin = (h / 40).max(4);
            let padding = (h / 270).max(2);
            let room = f64::from(w - 2 * margin - 2 * padding);
            let dialogue = script.lines().find(|l| l.starts_with("Dialogue:")).unwrap();
            let text = dialogue.splitn(10, ',').nth(9).unwrap();
            for line in text.split("\\N") {
                assert!(
                    text_ems(line) * f64::from(font) <= room + 0.5,
                    "{w}x{h}: {line:?} at {font} px is wider than {room}"
                );
            }
            // Nothing is lost by wrapping.
            assert_eq!(
                text.replace("\\N", "").replace(' ', ""),
                "杭州市西湖区文三路与学院路交叉口东南侧人行道31.23040°N121.47370°E设备CAM-0042警号031337"
            );
        }
    }
}

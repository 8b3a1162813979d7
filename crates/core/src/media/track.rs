//! GPS tracks uploaded beside a clip (GPX from phones and loggers, NMEA from body cameras),
//! so that the overlay can name where each second was filmed (art. 12: the place is named
//! or filmed). The files come from devices and officers, not from us: the parsers are
//! tolerant of what real devices write, skip what they cannot read, never panic, and do work
//! linear in the input's length.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::upload::Coordinates;

/// More points than this is not a track of one clip; refusing bounds memory.
pub const MAX_POINTS: usize = 1_000_000;

/// Just outside the track's first or last point, its position is still taken: loggers start
/// a moment after the camera.
const END_TOLERANCE: Duration = Duration::seconds(2);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrackError {
    #[error("the track holds no usable point ({skipped} unreadable or invalid entries skipped)")]
    NoPoints { skipped: usize },
    #[error("the track holds more than {limit} points")]
    TooManyPoints { limit: usize },
}

/// Where the device was at one instant.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackPoint {
    pub at: DateTime<Utc>,
    pub position: Coordinates,
}

/// Points in time order, at most one per instant, never empty. (De)serialised only to hand a
/// parsed track to the sandboxed media job, by the worker that parsed it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Track {
    points: Vec<TrackPoint>,
    skipped: usize,
}

fn valid(position: Coordinates) -> bool {
    position.latitude.is_finite()
        && position.longitude.is_finite()
        && (-90.0..=90.0).contains(&position.latitude)
        && (-180.0..=180.0).contains(&position.longitude)
}

impl Track {
    /// A track from points in any order. Points with impossible coordinates are dropped (and
    /// counted in [`Track::skipped`]); of several points at one instant the first is kept.
    pub fn from_points(points: Vec<TrackPoint>) -> Result<Track, TrackError> {
        Self::build(points, 0)
    }

    fn build(mut points: Vec<TrackPoint>, mut skipped: usize) -> Result<Track, TrackError> {
        if points.len() > MAX_POINTS {
            return Err(TrackError::TooManyPoints { limit: MAX_POINTS });
        }
        let before = points.len();
        points.retain(|p| valid(p.position));
        skipped += before - points.len();
        // Stable, so "the first at one instant" means first in the file.
        points.sort_by_key(|p| p.at);
        points.dedup_by_key(|p| p.at);
        if points.is_empty() {
            return Err(TrackError::NoPoints { skipped });
        }
        Ok(Track { points, skipped })
    }

    /// Same as the free [`parse_gpx`], for callers that think of parsing as a constructor.
    pub fn parse_gpx(text: &str) -> Result<Track, TrackError> {
        parse_gpx(text)
    }

    /// Same as the free [`parse_nmea`].
    pub fn parse_nmea(text: &str, date_hint: NaiveDate) -> Result<Track, TrackError> {
        parse_nmea(text, date_hint)
    }

    pub fn points(&self) -> &[TrackPoint] {
        &self.points
    }

    /// Entries of the source that were unreadable, failed their checksum, had no fix or had
    /// impossible coordinates. Worth showing: a track with many is a poor witness.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// First and last instant of the track.
    pub fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        Some((self.points.first()?.at, self.points.last()?.at))
    }

    /// Where the device was at `at`: linear between the surrounding points, the end point
    /// within 2 s outside the track, and None further outside (the track does not know).
    pub fn position_at(&self, at: DateTime<Utc>) -> Option<Coordinates> {
        let (first, last) = (self.points.first()?, self.points.last()?);
        if at < first.at {
            return (first.at - at <= END_TOLERANCE).then_some(first.position);
        }
        if at > last.at {
            return (at - last.at <= END_TOLERANCE).then_some(last.position);
        }
        let next = self.points.partition_point(|p| p.at <= at);
        let (Some(before), Some(after)) =
            (self.points.get(next.wrapping_sub(1)), self.points.get(next))
        else {
            return Some(last.position);
        };
        let span = (after.at - before.at).num_milliseconds() as f64;
        let fraction = if span > 0.0 {
            (at - before.at).num_milliseconds() as f64 / span
        } else {
            0.0
        };
        let latitude = before.position.latitude
            + (after.position.latitude - before.position.latitude) * fraction;
        // Across the antimeridian the short way round is through ±180, not through 0.
        let mut delta = after.position.longitude - before.position.longitude;
        if delta > 180.0 {
            delta -= 360.0;
        } else if delta < -180.0 {
            delta += 360.0;
        }
        let mut longitude = before.position.longitude + delta * fraction;
        if longitude > 180.0 {
            longitude -= 360.0;
        } else if longitude < -180.0 {
            longitude += 360.0;
        }
        Some(Coordinates {
            latitude,
            longitude,
        })
    }
}

// ---------------------------------------------------------------------------------------
// GPX

/// Parses the `<trkpt>` elements of a GPX file: `lat` and `lon` attributes (either order,
/// either quote) and the `<time>` child. Points without a readable time or with impossible
/// coordinates are skipped; everything else in the file is ignored. GPX times are UTC; a
/// time without an offset is read as UTC.
pub fn parse_gpx(text: &str) -> Result<Track, TrackError> {
    let mut points = Vec::new();
    let mut skipped = 0;
    let mut rest = text;
    while let Some(open) = find_element(rest, "trkpt") {
        rest = rest.get(open..).unwrap_or("");
        // The start tag ends at the first '>'; attribute values with '>' are not GPX.
        let Some(tag_end) = rest.find('>') else {
            skipped += 1;
            break;
        };
        let tag = rest.get(..tag_end).unwrap_or("");
        let self_closing = tag.ends_with('/');
        rest = rest.get(tag_end + 1..).unwrap_or("");
        let body_end = if self_closing {
            0
        } else {
            // Search for the end tag only up to the next point, so that a file of start tags
            // without end tags costs linear, not quadratic, time.
            let next = find_element(rest, "trkpt").unwrap_or(rest.len());
            let region = rest.get(..next).unwrap_or("");
            find_close(region, "trkpt").unwrap_or(next)
        };
        let body = rest.get(..body_end).unwrap_or("");
        rest = rest.get(body_end..).unwrap_or("");

        let position = attributes(tag).fold((None, None), |(lat, lon), (name, value)| {
            match local_name(name) {
                "lat" => (value.trim().parse::<f64>().ok(), lon),
                "lon" => (lat, value.trim().parse::<f64>().ok()),
                _ => (lat, lon),
            }
        });
        let at = child_text(body, "time").and_then(parse_gpx_time);
        match (position, at) {
            ((Some(latitude), Some(longitude)), Some(at)) => {
                if points.len() >= MAX_POINTS {
                    return Err(TrackError::TooManyPoints { limit: MAX_POINTS });
                }
                points.push(TrackPoint {
                    at,
                    position: Coordinates {
                        latitude,
                        longitude,
                    },
                });
            }
            _ => skipped += 1,
        }
    }
    Track::build(points, skipped)
}

/// Byte offset of the next `<name` or `<prefix:name` start tag (followed by whitespace, `/`
/// or `>`), so that `<trkpt` does not also find `<trkptExtension`.
fn find_element(text: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text.get(from..)?.find('<') {
        let start = from + found;
        let after = text.get(start + 1..)?;
        // Stopping at '<' too keeps "<<<<…" linear.
        let tag_name_len = after
            .find(|c: char| c.is_whitespace() || c == '/' || c == '>' || c == '<')
            .unwrap_or(after.len());
        let tag_name = after.get(..tag_name_len).unwrap_or("");
        if local_name(tag_name) == name {
            return Some(start);
        }
        from = start + 1;
    }
    None
}

/// Byte offset of the next `</name>` or `</prefix:name>`.
fn find_close(text: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text.get(from..)?.find("</") {
        let start = from + found;
        let after = text.get(start + 2..)?;
        let end = after.find(['>', '<']).unwrap_or(after.len());
        if after.get(end..)?.starts_with('>') && local_name(after.get(..end)?.trim()) == name {
            return Some(start);
        }
        from = start + 2;
    }
    None
}

fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// The text between `<name>` and `</name>` inside `body`, if both are there.
fn child_text<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = find_element(body, name)?;
    let after_open = body.get(open..)?;
    let content_start = open + after_open.find('>')? + 1;
    let content = body.get(content_start..)?;
    let end = find_close(content, name)?;
    content.get(..end)
}

/// `name="value"` / `name='value'` pairs of a start tag (the text after `<trkpt`). Stops at
/// the first thing that is not an attribute.
fn attributes(tag: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = tag
        .find(|c: char| c.is_whitespace())
        .and_then(|i| tag.get(i..))
        .unwrap_or("");
    std::iter::from_fn(move || {
        let trimmed = rest.trim_start();
        let eq = trimmed.find('=')?;
        let name = trimmed.get(..eq)?.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return None;
        }
        let after = trimmed.get(eq + 1..)?.trim_start();
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let value_and_rest = after.get(1..)?;
        let close = value_and_rest.find(quote)?;
        let value = value_and_rest.get(..close)?;
        rest = value_and_rest.get(close + 1..)?;
        Some((name, value))
    })
}

fn parse_gpx_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

// ---------------------------------------------------------------------------------------
// NMEA 0183

/// Parses RMC and GGA sentences of any talker (GP, GN, BD, GB, GL, GA …: Chinese cameras
/// often report BeiDou). RMC carries the date; GGA takes the date of the last RMC, or
/// `date_hint` before the first, moving to the next day when its time of day falls back by
/// more than 12 hours (midnight passed). A sentence with a `*hh` checksum that does not match,
/// a void fix (RMC status `V`, GGA quality 0) or an unreadable field is skipped.
pub fn parse_nmea(text: &str, date_hint: NaiveDate) -> Result<Track, TrackError> {
    let mut points = Vec::new();
    let mut skipped = 0;
    let mut date = date_hint;
    let mut last_time: Option<NaiveTime> = None;
    for line in text.lines() {
        // Some loggers prefix each sentence with their own timestamp.
        let Some(dollar) = line.find('$') else {
            continue;
        };
        let sentence = line.get(dollar + 1..).unwrap_or("").trim_end();
        let Some(body) = checked_body(sentence) else {
            skipped += 1;
            continue;
        };
        let mut fields = body.split(',').take(16);
        let kind = fields.next().unwrap_or("");
        let fields: Vec<&str> = fields.collect();
        let parsed = match kind.get(2..) {
            Some("RMC") if kind.len() == 5 => parse_rmc(&fields).map(|(at, day, position)| {
                date = day;
                (at, position)
            }),
            Some("GGA") if kind.len() == 5 => parse_gga(&fields).map(|(time, position)| {
                if let Some(previous) = last_time {
                    if previous.signed_duration_since(time) > Duration::hours(12) {
                        date = date.succ_opt().unwrap_or(date);
                    }
                }
                (date.and_time(time).and_utc(), position)
            }),
            _ => continue,
        };
        match parsed {
            Some((at, position)) => {
                if points.len() >= MAX_POINTS {
                    return Err(TrackError::TooManyPoints { limit: MAX_POINTS });
                }
                last_time = Some(at.time());
                points.push(TrackPoint { at, position });
            }
            None => skipped += 1,
        }
    }
    Track::build(points, skipped)
}

/// The sentence without `$` and checksum, if the checksum (when present) is right.
fn checked_body(sentence: &str) -> Option<&str> {
    let Some(star) = sentence.find('*') else {
        return Some(sentence);
    };
    let body = sentence.get(..star)?;
    let given = sentence.get(star + 1..)?.get(..2)?;
    let given = u8::from_str_radix(given, 16).ok()?;
    let computed = body.bytes().fold(0u8, |acc, b| acc ^ b);
    (given == computed).then_some(body)
}

/// `hhmmss` or `hhmmss.sss`.
fn nmea_time(field: &str) -> Option<NaiveTime> {
    let digits = field.get(..6)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: u32 = digits.get(0..2)?.parse().ok()?;
    let m: u32 = digits.get(2..4)?.parse().ok()?;
    let s: u32 = digits.get(4..6)?.parse().ok()?;
    let fraction = field.get(6..)?;
    let nanos = if fraction.is_empty() {
        0
    } else {
        let f: f64 = format!("0{fraction}").parse().ok()?;
        if !(0.0..1.0).contains(&f) || !fraction.starts_with('.') {
            return None;
        }
        (f * 1e9).round().min(999_999_999.0) as u32
    };
    NaiveTime::from_hms_nano_opt(h, m, s, nanos)
}

/// `ddmmyy`; two-digit years are read in 1980–2079 (GPS began in 1980).
fn nmea_date(field: &str) -> Option<NaiveDate> {
    if field.len() != 6 || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let d: u32 = field.get(0..2)?.parse().ok()?;
    let m: u32 = field.get(2..4)?.parse().ok()?;
    let y: i32 = field.get(4..6)?.parse().ok()?;
    let year = if y >= 80 { 1900 + y } else { 2000 + y };
    NaiveDate::from_ymd_opt(year, m, d)
}

/// `ddmm.mmmm` (or `dddmm.mmmm`) with its hemisphere letter, to signed degrees.
fn nmea_angle(value: &str, hemisphere: &str, positive: &str, negative: &str) -> Option<f64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let raw: f64 = value.parse().ok()?;
    let degrees = (raw / 100.0).trunc();
    let minutes = raw - degrees * 100.0;
    if !(0.0..60.0).contains(&minutes) {
        return None;
    }
    let angle = degrees + minutes / 60.0;
    match hemisphere {
        h if h == positive => Some(angle),
        h if h == negative => Some(-angle),
        _ => None,
    }
}

fn nmea_position(fields: &[&str]) -> Option<Coordinates> {
    let position = Coordinates {
        latitude: nmea_angle(fields.first()?, fields.get(1)?, "N", "S")?,
        longitude: nmea_angle(fields.get(2)?, fields.get(3)?, "E", "W")?,
    };
    valid(position).then_some(position)
}

/// RMC: time, status, lat, N/S, lon, E/W, speed, course, date, …
fn parse_rmc(fields: &[&str]) -> Option<(DateTime<Utc>, NaiveDate, Coordinates)> {
    if *fields.get(1)? != "A" {
        return None;
    }
    let time = nmea_time(fields.first()?)?;
    let position = nmea_position(fields.get(2..6)?)?;
    let date = nmea_date(fields.get(8)?)?;
    Some((date.and_time(time).and_utc(), date, position))
}

/// GGA: time, lat, N/S, lon, E/W, fix quality, …
fn parse_gga(fields: &[&str]) -> Option<(NaiveTime, Coordinates)> {
    let quality = fields.get(5)?;
    if quality.is_empty() || *quality == "0" {
        return None;
    }
    Some((
        nmea_time(fields.first()?)?,
        nmea_position(fields.get(1..5)?)?,
    ))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn utc(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 2, 14, h, m, s).unwrap()
    }

    const GPX: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="logger" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>巡逻</name><trkseg>
    <trkpt lat="31.2304" lon="121.4737"><ele>4.0</ele><time>2026-02-14T01:30:00Z</time></trkpt>
    <trkpt lon='121.4757' lat='31.2324'>
      <time>2026-02-14T09:30:10+08:00</time>
    </trkpt>
    <gpx:trkpt   lat = "31.2344"  lon="121.4777" ><time>2026-02-14T01:30:20</time></gpx:trkpt>
    <trkpt lat="95.0" lon="121.0"><time>2026-02-14T01:30:30Z</time></trkpt>
    <trkpt lat="31.0" lon="121.0"/>
  </trkseg></trk>
</gpx>"#;

    #[test]
    fn gpx_points_and_interpolation() {
        let track = Track::parse_gpx(GPX).unwrap();
        assert_eq!(track, parse_gpx(GPX).unwrap());
        assert_eq!(track.points().len(), 3);
        assert_eq!(track.skipped(), 2);
        assert_eq!(track.span(), Some((utc(1, 30, 0), utc(1, 30, 20))));
        let mid = track.position_at(utc(1, 30, 5)).unwrap();
        assert!((mid.latitude - 31.2314).abs() < 1e-9);
        assert!((mid.longitude - 121.4747).abs() < 1e-9);
        let exact = track.position_at(utc(1, 30, 10)).unwrap();
        assert!((exact.latitude - 31.2324).abs() < 1e-9);
        assert_eq!(
            track.position_at(utc(1, 30, 21)),
            Some(track.points()[2].position)
        );
        assert_eq!(
            track.position_at(utc(1, 29, 58)),
            Some(track.points()[0].position)
        );
        assert_eq!(track.position_at(utc(1, 30, 23)), None);
        assert_eq!(track.position_at(utc(1, 29, 57)), None);
    }

    #[test]
    fn interpolation_across_the_antimeridian() {
        let track = Track::from_points(vec![
            TrackPoint {
                at: utc(0, 0, 0),
                position: Coordinates {
                    latitude: 0.0,
                    longitude: 179.0,
                },
            },
            TrackPoint {
                at: utc(0, 0, 10),
                position: Coordinates {
                    latitude: 0.0,
                    longitude: -179.0,
                },
            },
        ])
        .unwrap();
        let mid = track.position_at(utc(0, 0, 5)).unwrap();
        assert!((mid.longitude.abs() - 180.0).abs() < 1e-9);
        let quarter = track.position_at(utc(0, 0, 7)).unwrap();
        assert!((quarter.longitude - -179.6).abs() < 1e-9);
    }

    fn with_checksum(body: &str) -> String {
        let sum = body.bytes().fold(0u8, |a, b| a ^ b);
        format!("${body}*{sum:02X}")
    }

    #[test]
    fn nmea_sentences() {
        let rmc = with_checksum("GPRMC,013000.00,A,3113.8240,N,12128.4220,E,0.5,90.0,140226,,,A");
        let mut bad =
            with_checksum("GNRMC,013001.00,A,3113.8240,N,12128.4220,E,0.5,90.0,140226,,,A");
        bad.pop();
        bad.push('0');
        let gga = with_checksum("BDGGA,013002.50,3113.9240,N,12128.5220,E,1,08,0.9,10.0,M,0,M,,");
        let void = with_checksum("GPRMC,013003.00,V,,,,,,,140226,,,N");
        let no_fix = with_checksum("GPGGA,013004.00,3113.9240,N,12128.5220,E,0,00,,,M,,M,,");
        let south = "$GNGGA,013005,3351.1280,S,15112.5580,W,1,08,0.9,10.0,M,0,M,,";
        let text = format!(
            "{rmc}\r\n{bad}\r\n2026-02-14 {gga}\r\n{void}\r\n{no_fix}\r\n{south}\r\n$GPGSV,1,1,00*79\r\n"
        );
        let hint = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let track = parse_nmea(&text, hint).unwrap();
        assert_eq!(track.skipped(), 3);
        let points = track.points();
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].at, utc(1, 30, 0));
        assert!((points[0].position.latitude - (31.0 + 13.824 / 60.0)).abs() < 1e-9);
        assert!((points[0].position.longitude - (121.0 + 28.422 / 60.0)).abs() < 1e-9);
        // GGA takes the RMC's date, not the hint.
        assert_eq!(points[1].at, utc(1, 30, 2) + Duration::milliseconds(500));
        assert!(points[2].position.latitude < -33.0);
        assert!(points[2].position.longitude < -151.0);
    }

    #[test]
    fn nmea_gga_without_rmc_uses_hint_and_passes_midnight() {
        let text = "$GPGGA,235959,3113.8240,N,12128.4220,E,1,08,0.9,10.0,M,0,M,,\n\
                    $GPGGA,000001,3113.8240,N,12128.4220,E,1,08,0.9,10.0,M,0,M,,\n";
        let hint = NaiveDate::from_ymd_opt(2026, 2, 13).unwrap();
        let track = parse_nmea(text, hint).unwrap();
        assert_eq!(
            track.span(),
            Some((
                Utc.with_ymd_and_hms(2026, 2, 13, 23, 59, 59).unwrap(),
                utc(0, 0, 1)
            ))
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let hint = NaiveDate::from_ymd_opt(2026, 2, 14).unwrap();
        for text in [
            "",
            "hello",
            "<trkpt",
            "<trkpt lat=\"1",
            "<trkpt lat=\"é\" lon='漢'><time>漢字</time>",
            "<trkpt lat=\"1\" lon=\"2\"><time>2026-02-14T01:30:00Z",
            "$GPRMC,漢字,A*",
            "$GPRMC,0130,A,3113.8240,N*ZZ",
            "$GPGGA,013000.é,3113.8240,N,12128.4220,E,1",
            "$$$$,,,,**",
        ] {
            let gpx = parse_gpx(text);
            let nmea = parse_nmea(text, hint);
            assert!(
                matches!(gpx, Err(TrackError::NoPoints { .. })) || text.contains("01:30:00Z"),
                "{text}: {gpx:?}"
            );
            assert!(matches!(nmea, Err(TrackError::NoPoints { .. })), "{text}");
        }
        // An unterminated point at the end still counts: loggers die mid-write.
        assert!(parse_gpx("<trkpt lat=\"1\" lon=\"2\"><time>2026-02-14T01:30:00Z</time>").is_ok());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in any::<String>()) {
            let hint = NaiveDate::from_ymd_opt(2026, 2, 14).unwrap();
            let _ = parse_gpx(&text);
            let _ = parse_nmea(&text, hint);
        }

        #[test]
        fn parsers_never_panic_on_near_misses(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("<trkpt".to_owned()),
                    Just(" lat=\"31.2\"".to_owned()),
                    Just(" lon='121.4'".to_owned()),
                    Just(">".to_owned()),
                    Just("/>".to_owned()),
                    Just("<time>".to_owned()),
                    Just("</time>".to_owned()),
                    Just("2026-02-14T01:30:00Z".to_owned()),
                    Just("</trkpt>".to_owned()),
                    Just("$GPRMC,".to_owned()),
                    Just("$GNGGA,".to_owned()),
                    Just("013000.00,".to_owned()),
                    Just("A,".to_owned()),
                    Just("3113.8240,N,".to_owned()),
                    Just("12128.4220,E,".to_owned()),
                    Just("140226".to_owned()),
                    Just("*".to_owned()),
                    Just("\n".to_owned()),
                    any::<char>().prop_map(String::from),
                ],
                0..40,
            )
        ) {
            let text = parts.concat();
            let hint = NaiveDate::from_ymd_opt(2026, 2, 14).unwrap();
            let _ = parse_gpx(&text);
            let _ = parse_nmea(&text, hint);
        }
    }
}

//! What a photograph's EXIF says about it: when it was taken, where (GPS), and which way up
//! it is. EXIF is untrusted like the rest of the file, so it is read in the sandboxed child
//! too, and damaged EXIF is reported as a problem, never a refusal: the picture is the record.

use std::path::Path;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use custodian_core::upload::Coordinates;

/// China Standard Time: what a camera's EXIF clock means when it does not say (EXIF before
/// 2.31 had no offset); the bureaus are in China.
const LOCAL_OFFSET_SECONDS: i32 = 8 * 3600;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhotoExif {
    pub taken_at: Option<DateTime<Utc>>,
    pub position: Option<Coordinates>,
    /// EXIF orientation 1–8 (1: as stored).
    pub orientation: u16,
    /// Why EXIF that is present could not be read.
    pub problem: Option<String>,
}

impl PhotoExif {
    /// The counter-clockwise rotation and mirroring that turn the stored picture upright.
    pub fn upright(&self) -> (u32, bool) {
        match self.orientation {
            2 => (0, true),
            3 => (180, false),
            4 => (180, true),
            5 => (270, true),
            6 => (270, false),
            7 => (90, true),
            8 => (90, false),
            _ => (0, false),
        }
    }
}

/// Reads the EXIF of the JPEG or PNG at `path`. No EXIF at all is no problem.
pub fn read(path: &Path) -> PhotoExif {
    let parsed = std::fs::File::open(path)
        .map_err(|e| e.to_string())
        .and_then(|file| {
            exif::Reader::new()
                .read_from_container(&mut std::io::BufReader::new(file))
                .map_err(|e| match e {
                    exif::Error::NotFound(_) => String::new(),
                    other => other.to_string(),
                })
        });
    let exif = match parsed {
        Ok(exif) => exif,
        Err(problem) if problem.is_empty() => return PhotoExif::default(),
        Err(problem) => {
            return PhotoExif {
                problem: Some(format!("the photo's EXIF is damaged: {problem}")),
                ..PhotoExif::default()
            }
        }
    };
    let field = |tag| exif.get_field(tag, exif::In::PRIMARY);
    let orientation = field(exif::Tag::Orientation)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|o| u16::try_from(o).ok())
        .filter(|o| (1..=8).contains(o))
        .unwrap_or(1);
    let ascii = |tag| match field(tag).map(|f| &f.value) {
        Some(exif::Value::Ascii(parts)) => parts.first().cloned(),
        _ => None,
    };
    let taken_at = ascii(exif::Tag::DateTimeOriginal)
        .or_else(|| ascii(exif::Tag::DateTime))
        .and_then(|text| {
            let mut when = exif::DateTime::from_ascii(&text).ok()?;
            if let Some(offset) = ascii(exif::Tag::OffsetTimeOriginal) {
                let _ = when.parse_offset(&offset);
            }
            to_utc(&when)
        });
    let degrees = |tag| match field(tag).map(|f| &f.value) {
        Some(exif::Value::Rational(parts)) if parts.len() == 3 => {
            let [d, m, s] = [parts[0], parts[1], parts[2]].map(|r| r.to_f64());
            let value = d + m / 60.0 + s / 3600.0;
            value.is_finite().then_some(value)
        }
        _ => None,
    };
    let hemisphere = |tag| ascii(tag).and_then(|t| t.first().copied());
    let position = match (
        degrees(exif::Tag::GPSLatitude),
        degrees(exif::Tag::GPSLongitude),
    ) {
        (Some(lat), Some(lon)) => {
            let latitude = if hemisphere(exif::Tag::GPSLatitudeRef) == Some(b'S') {
                -lat
            } else {
                lat
            };
            let longitude = if hemisphere(exif::Tag::GPSLongitudeRef) == Some(b'W') {
                -lon
            } else {
                lon
            };
            ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)).then_some(
                Coordinates {
                    latitude,
                    longitude,
                },
            )
        }
        _ => None,
    };
    PhotoExif {
        taken_at,
        position,
        orientation,
        problem: None,
    }
}

fn to_utc(when: &exif::DateTime) -> Option<DateTime<Utc>> {
    let date = NaiveDate::from_ymd_opt(
        i32::from(when.year),
        u32::from(when.month),
        u32::from(when.day),
    )?;
    let local = date.and_hms_opt(
        u32::from(when.hour),
        u32::from(when.minute),
        u32::from(when.second),
    )?;
    let offset_seconds = when
        .offset
        .map_or(LOCAL_OFFSET_SECONDS, |minutes| i32::from(minutes) * 60);
    let offset = FixedOffset::east_opt(offset_seconds)?;
    offset
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientations_turn_upright() {
        let turned = |orientation| {
            PhotoExif {
                orientation,
                ..PhotoExif::default()
            }
            .upright()
        };
        assert_eq!(turned(1), (0, false));
        assert_eq!(turned(6), (270, false));
        assert_eq!(turned(8), (90, false));
        assert_eq!(turned(3), (180, false));
        assert_eq!(turned(2), (0, true));
    }

    #[test]
    fn a_clock_without_offset_is_china_standard_time() {
        let when = exif::DateTime::from_ascii(b"2026:03:01 09:30:00").unwrap();
        assert_eq!(
            to_utc(&when).unwrap().to_rfc3339(),
            "2026-03-01T01:30:00+00:00"
        );
        let mut zoned = when;
        zoned.parse_offset(b"+02:00").unwrap();
        assert_eq!(
            to_utc(&zoned).unwrap().to_rfc3339(),
            "2026-03-01T07:30:00+00:00"
        );
    }

    #[test]
    fn garbage_exif_is_a_problem_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jpg");
        // A JPEG whose APP1 segment claims EXIF and holds garbage.
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x20];
        bytes.extend_from_slice(b"Exif\0\0MM\0\x2a\xff\xff\xff\xff");
        bytes.extend_from_slice(&[0x13; 16]);
        bytes.extend_from_slice(&[0xFF, 0xD9]);
        std::fs::write(&path, &bytes).unwrap();
        let read = read(&path);
        assert!(read.problem.is_some(), "{read:?}");
        assert_eq!(read.orientation, 0, "nothing is guessed from damaged EXIF");
    }
}

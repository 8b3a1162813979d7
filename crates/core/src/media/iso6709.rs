//! The ISO 6709 position strings cameras and phones write into the MP4/MOV `location` tag
//! (`©xyz`, `com.apple.quicktime.location.ISO6709`), e.g. `+31.2304+121.4737/`. The tag is
//! the device's own statement of where it recorded, so it is read as evidence beside the
//! place the officer typed at upload.
//!
//! Read: latitude then longitude, each signed, in decimal degrees (`±DD.DD±DDD.DD`), degrees
//! and minutes (`±DDMM.MM±DDDMM.MM`) or degrees, minutes and seconds (`±DDMMSS.S±DDDMMSS.S`);
//! then an optional signed altitude, an optional `CRS…` label and the closing `/`. Writers
//! that drop leading zeros (`+1.5-7.25/`) are accepted in the decimal-degree form.

use crate::upload::Coordinates;

/// The coordinates of an ISO 6709 string, or None if it is not one or names an impossible
/// place. The altitude, if any, is checked for form and dropped.
pub fn parse_iso6709(text: &str) -> Option<Coordinates> {
    // MP4 string atoms are sometimes NUL-terminated or padded.
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    let text = text.strip_suffix('/').unwrap_or(text);
    let text = match text.find("CRS") {
        Some(at) => text.get(..at)?,
        None => text,
    };

    let parts = split_signed(text)?;
    let (lat, lon, alt) = match parts.as_slice() {
        [lat, lon] => (*lat, *lon, None),
        [lat, lon, alt] => (*lat, *lon, Some(*alt)),
        _ => return None,
    };
    if let Some(alt) = alt {
        number(alt)?;
    }
    let latitude = angle(lat, 2)?;
    let longitude = angle(lon, 3)?;
    ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)).then_some(
        Coordinates {
            latitude,
            longitude,
        },
    )
}

/// Splits `+aa-bbb+cc` into `["+aa", "-bbb", "+cc"]`; None unless it starts with a sign.
fn split_signed(text: &str) -> Option<Vec<&str>> {
    if !text.starts_with(['+', '-']) {
        return None;
    }
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices().skip(1) {
        if c == '+' || c == '-' {
            parts.push(text.get(start..i)?);
            start = i;
        }
        if parts.len() > 3 {
            return None;
        }
    }
    parts.push(text.get(start..)?);
    Some(parts)
}

/// A signed decimal number made only of ASCII digits and at most one point.
fn number(part: &str) -> Option<(f64, &str)> {
    let unsigned = part.get(1..)?;
    if unsigned.is_empty()
        || !unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || unsigned.bytes().filter(|&b| b == b'.').count() > 1
        || unsigned.starts_with('.')
    {
        return None;
    }
    let value: f64 = part.parse().ok()?;
    value.is_finite().then_some((value, unsigned))
}

/// One signed angle; `degree_digits` is 2 for latitude and 3 for longitude, which tells the
/// forms apart by the number of digits before the point.
fn angle(part: &str, degree_digits: usize) -> Option<f64> {
    let (_, unsigned) = number(part)?;
    let negative = part.starts_with('-');
    let whole_digits = unsigned.find('.').unwrap_or(unsigned.len());
    let magnitude: f64 = unsigned.parse().ok()?;
    let degrees = if whole_digits <= degree_digits {
        magnitude
    } else if whole_digits == degree_digits + 2 {
        let degrees = (magnitude / 100.0).trunc();
        let minutes = magnitude - degrees * 100.0;
        if minutes >= 60.0 {
            return None;
        }
        degrees + minutes / 60.0
    } else if whole_digits == degree_digits + 4 {
        let degrees = (magnitude / 10_000.0).trunc();
        let minutes = ((magnitude - degrees * 10_000.0) / 100.0).trunc();
        let seconds = magnitude - degrees * 10_000.0 - minutes * 100.0;
        if minutes >= 60.0 || seconds >= 60.0 {
            return None;
        }
        degrees + minutes / 60.0 + seconds / 3600.0
    } else {
        return None;
    };
    Some(if negative { -degrees } else { degrees })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: Option<Coordinates>, latitude: f64, longitude: f64) {
        let got = got.unwrap_or_else(|| panic!("expected {latitude} {longitude}"));
        assert!((got.latitude - latitude).abs() < 1e-9, "{got:?}");
        assert!((got.longitude - longitude).abs() < 1e-9, "{got:?}");
    }

    #[test]
    fn decimal_degrees() {
        close(parse_iso6709("+31.2304+121.4737/"), 31.2304, 121.4737);
        close(
            parse_iso6709("+31.2304+121.4737+012.345/"),
            31.2304,
            121.4737,
        );
        close(parse_iso6709("-33.8688+151.2093/"), -33.8688, 151.2093);
        close(parse_iso6709("+40.7128-074.0060-010.5/"), 40.7128, -74.006);
        close(parse_iso6709("+1.5-7.25/"), 1.5, -7.25);
        close(parse_iso6709("+31.2304+121.4737"), 31.2304, 121.4737);
        close(parse_iso6709(" +31.2304+121.4737/\0"), 31.2304, 121.4737);
        close(
            parse_iso6709("+40.20361-075.00417CRSWGS_84/"),
            40.20361,
            -75.00417,
        );
    }

    #[test]
    fn degrees_minutes_and_seconds() {
        close(
            parse_iso6709("+3112.34+12128.44/"),
            31.0 + 12.34 / 60.0,
            121.0 + 28.44 / 60.0,
        );
        close(
            parse_iso6709("-334512.5+1510030/"),
            -(33.0 + 45.0 / 60.0 + 12.5 / 3600.0),
            151.0 + 0.5 / 60.0,
        );
    }

    #[test]
    fn rejects_what_is_not_a_position() {
        for text in [
            "",
            "/",
            "31.2304+121.4737/",
            "+91.0+121.0/",
            "+31.0+181.0/",
            "+3175.00+12128.44/",
            "+31.2304/",
            "+31.2304+121.4737+1+2/",
            "+31.2.3+121.4737/",
            "+31.2304+121.4737x/",
            "+NaN+inf/",
            "+.5+1.0/",
            "+漢字+121.0/",
            "+123.0+121.0/",
        ] {
            assert_eq!(parse_iso6709(text), None, "{text:?}");
        }
    }
}

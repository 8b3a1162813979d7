//! Where things live in the blob store. Keys derive from the bureau, the recording date and
//! the clip id, so an original is written once to a key no other clip can have, and every
//! output of a clip can be found again from its id alone.

use chrono::{DateTime, Utc};

use crate::{BureauId, ClipId};

/// `originals/<bureau>/<yyyy>/<mm>/<dd>/<clip id>[.ext]`, dated by when it was recorded (UTC),
/// so a bucket listing groups a bureau's footage by day.
pub fn original_key(
    bureau: &BureauId,
    recorded_at: DateTime<Utc>,
    clip: ClipId,
    original_name: &str,
) -> String {
    let date = recorded_at.format("%Y/%m/%d");
    match extension(original_name) {
        Some(ext) => format!("originals/{bureau}/{date}/{clip}.{ext}"),
        None => format!("originals/{bureau}/{date}/{clip}"),
    }
}

/// What an original's key says of it: its bureau, the day it was recorded (UTC) and its id.
/// `None` for a key not of that shape.
pub fn parse_original_key(key: &str) -> Option<(BureauId, chrono::NaiveDate, ClipId)> {
    let mut parts = key.strip_prefix("originals/")?.split('/');
    let bureau = BureauId::parse(parts.next()?).ok()?;
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    let file = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let date =
        chrono::NaiveDate::parse_from_str(&format!("{year}-{month}-{day}"), "%Y-%m-%d").ok()?;
    let stem = file.split_once('.').map_or(file, |(stem, _)| stem);
    Some((bureau, date, stem.parse().ok()?))
}

/// The files made from a clip: the viewing copy, its WebVTT sidecar, its poster, and a GPS
/// track uploaded beside it. Fixed by the clip id alone, so a redelivered job writes the same
/// keys again and a clip never has two copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedKeys {
    /// A video's viewing copy, or a sound recording's listening copy (AAC in MP4).
    pub view: String,
    /// A photo's display copy (JPEG).
    pub photo: String,
    pub subtitles: String,
    pub poster: String,
    pub track: String,
}

pub fn derived_keys(bureau: &BureauId, clip: ClipId) -> DerivedKeys {
    let base = format!("derived/{bureau}/{clip}");
    DerivedKeys {
        view: format!("{base}/view.mp4"),
        photo: format!("{base}/view.jpg"),
        subtitles: format!("{base}/subtitles.vtt"),
        poster: format!("{base}/poster.jpg"),
        track: format!("{base}/track"),
    }
}

/// Where version `version` of the GPS track uploaded beside a clip lives. Tracks are never
/// replaced: each upload is a new version, and copies name the one they used.
pub fn track_key(bureau: &BureauId, clip: ClipId, version: i64) -> String {
    format!("derived/{bureau}/{clip}/tracks/{version:06}")
}

/// Where the watermarked copy made for a party's copy request lives:
/// `derived/<bureau>/<clip>/copies/<request id>.mp4`, beside the clip's other outputs, so it
/// is made again under the same key and goes when the clip's files are purged.
pub fn copy_key(
    bureau: &BureauId,
    clip: ClipId,
    request: uuid::Uuid,
    kind: Option<crate::records::RecordKind>,
) -> String {
    let extension = copy_extension(kind);
    format!("derived/{bureau}/{clip}/copies/{request}.{extension}")
}

/// The file type of a record's copies: a photo's are JPEGs, and so are a document's (only a
/// scanned page, which is a picture, is copied; a PDF is not drawn on); a video's and a
/// recording's are MP4 (sound alone in a recording's).
pub fn copy_extension(kind: Option<crate::records::RecordKind>) -> &'static str {
    match kind {
        Some(crate::records::RecordKind::Photo | crate::records::RecordKind::Document) => "jpg",
        _ => "mp4",
    }
}

/// The original file's extension, lowercased, if it is short and plain enough to be useful
/// in a key (players and operators recognise `.mp4`); anything else is left out.
fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    let plain = !stem.is_empty()
        && (1..=5).contains(&ext.len())
        && ext.chars().all(|c| c.is_ascii_alphanumeric());
    plain.then(|| ext.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_are_dated_and_unique_per_clip() {
        let bureau = BureauId::parse("b1").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 2, 14, 23, 59, 0).unwrap();
        let a = ClipId::from_parts(1, [1; 10]);
        let b = ClipId::from_parts(1, [2; 10]);
        assert_eq!(
            original_key(&bureau, at, a, "DSJ1_0001_20260214_235900.MP4"),
            format!("originals/b1/2026/02/14/{a}.mp4")
        );
        assert_ne!(
            original_key(&bureau, at, a, "x.mp4"),
            original_key(&bureau, at, b, "x.mp4")
        );
        // Read back: what a catalogue rebuilt from storage knows of an original without its
        // sidecar.
        for name in ["x.mp4", "noextension"] {
            assert_eq!(
                parse_original_key(&original_key(&bureau, at, a, name)),
                Some((bureau.clone(), at.date_naive(), a))
            );
        }
        assert_eq!(parse_original_key("records/b1/x.json"), None);
        assert_eq!(parse_original_key("originals/b1/2026/13/01/x.mp4"), None);
        assert_eq!(
            parse_original_key(&format!("originals/b1/2026/02/14/{a}.mp4/more")),
            None
        );
    }

    #[test]
    fn party_copies_live_under_the_clips_derived_files() {
        let bureau = BureauId::parse("b1").unwrap();
        let clip = ClipId::from_parts(1, [1; 10]);
        let request = uuid::Uuid::nil();
        assert_eq!(
            copy_key(&bureau, clip, request, None),
            format!("derived/b1/{clip}/copies/{request}.mp4")
        );
    }

    #[test]
    fn odd_extensions_are_left_out() {
        let bureau = BureauId::parse("b1").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clip = ClipId::from_parts(1, [1; 10]);
        for name in [
            "noext",
            ".hidden",
            "a.b/../../x",
            "clip.视频",
            "clip.toolongext",
        ] {
            assert_eq!(
                original_key(&bureau, at, clip, name),
                format!("originals/b1/2026/01/01/{clip}"),
                "{name}"
            );
        }
    }
}

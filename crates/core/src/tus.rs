//! The parts of tus 1.0 (tus.io) that are rules rather than I/O: the `Upload-Metadata` header
//! (comma-separated `key base64value` pairs) read into the same upload metadata the plain PUT
//! takes, and the checksum extension's `Upload-Checksum: sha256 BASE64`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::upload::{MetadataError, RawUploadMetadata};
use crate::Sha256Digest;

/// The protocol version spoken, sent in every `Tus-Resumable` header.
pub const VERSION: &str = "1.0.0";
/// The extensions ingest implements, for `Tus-Extension`.
pub const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration,checksum";
/// The content type of every PATCH body.
pub const PATCH_CONTENT_TYPE: &str = "application/offset+octet-stream";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TusError {
    #[error("Upload-Metadata pair {0:?} is not `key base64value`")]
    BadPair(String),
    #[error("Upload-Metadata value of {key} is not base64 of UTF-8 text")]
    BadValue { key: String },
    #[error("Upload-Metadata names {0} twice")]
    Duplicate(String),
    #[error("Upload-Metadata sha256 {0:?} is neither 64 hex digits nor base64 of 32 bytes")]
    BadSha256(String),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("Upload-Checksum {0:?} is not `sha256 BASE64`")]
    BadChecksum(String),
    #[error("Upload-Checksum algorithm {0:?} is not supported (only sha256)")]
    UnsupportedAlgorithm(String),
}

/// What a tus client declared when creating an upload.
#[derive(Debug, Clone, Default)]
pub struct TusMetadata {
    pub raw: RawUploadMetadata,
    /// The whole file's SHA-256, if the client gave it (`sha256`, hex or base64).
    pub sha256: Option<Sha256Digest>,
}

/// Reads an `Upload-Metadata` header. Keys that are not upload fields (tus clients add their
/// own, such as `filetype`) are ignored; a malformed pair or a bad value of a known key is not.
pub fn parse_metadata(header: &str) -> Result<TusMetadata, TusError> {
    let mut out = TusMetadata::default();
    let mut seen: Vec<String> = Vec::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = pair.split(' ');
        let (Some(key), value, None) = (words.next(), words.next(), words.next()) else {
            return Err(TusError::BadPair(pair.to_owned()));
        };
        if key.is_empty() || !key.is_ascii() {
            return Err(TusError::BadPair(pair.to_owned()));
        }
        if seen.iter().any(|k| k == key) {
            return Err(TusError::Duplicate(key.to_owned()));
        }
        seen.push(key.to_owned());
        let value = match value {
            None => String::new(),
            Some(encoded) => BASE64
                .decode(encoded)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| TusError::BadValue {
                    key: key.to_owned(),
                })?,
        };
        if key == "sha256" {
            out.sha256 = Some(parse_sha256(&value)?);
        } else {
            out.raw.set_field(key, &value)?;
        }
    }
    Ok(out)
}

fn parse_sha256(value: &str) -> Result<Sha256Digest, TusError> {
    let value = value.trim();
    value
        .parse()
        .or_else(|_| Sha256Digest::from_base64(value))
        .map_err(|_| TusError::BadSha256(value.to_owned()))
}

/// Reads `Upload-Checksum`: the SHA-256 of one PATCH body.
pub fn parse_checksum(header: &str) -> Result<Sha256Digest, TusError> {
    let (algorithm, value) = header
        .trim()
        .split_once(' ')
        .ok_or_else(|| TusError::BadChecksum(header.to_owned()))?;
    if !algorithm.eq_ignore_ascii_case("sha256") {
        return Err(TusError::UnsupportedAlgorithm(algorithm.to_owned()));
    }
    Sha256Digest::from_base64(value.trim()).map_err(|_| TusError::BadChecksum(header.to_owned()))
}

/// Encodes metadata pairs as a client would (for tests and the upload agent).
pub fn encode_metadata<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(key, value)| format!("{key} {}", BASE64.encode(value)))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_same_fields_as_the_plain_upload() {
        let digest = Sha256Digest::of(b"clip");
        let header = encode_metadata([
            ("device", "DSJ-01"),
            ("officer", "031234"),
            ("recorded_at", "2026-03-01T09:30:00+08:00"),
            ("filename", "DSJ-01_031234_20260301_093000.mp4"),
            ("case", "应急罚〔2026〕12号"),
            ("lat", "35.96"),
            ("lon", "120.19"),
            ("filetype", "video/mp4"),
            ("sha256", &digest.to_hex()),
        ]) + ",empty";
        let meta = parse_metadata(&header).unwrap();
        assert_eq!(meta.sha256, Some(digest));
        assert_eq!(meta.raw.device.as_deref(), Some("DSJ-01"));
        assert_eq!(
            meta.raw.file_name.as_deref(),
            Some("DSJ-01_031234_20260301_093000.mp4")
        );
        assert_eq!(meta.raw.case_ref.as_deref(), Some("应急罚〔2026〕12号"));
        assert_eq!(meta.raw.longitude, Some(120.19));
        let base64 = encode_metadata([("sha256", digest.to_base64().as_str())]);
        assert_eq!(parse_metadata(&base64).unwrap().sha256, Some(digest));
    }

    #[test]
    fn refuses_malformed_metadata() {
        assert!(matches!(
            parse_metadata("device a b"),
            Err(TusError::BadPair(_))
        ));
        assert!(matches!(
            parse_metadata("device !!!"),
            Err(TusError::BadValue { .. })
        ));
        let twice = encode_metadata([("device", "a"), ("device", "b")]);
        assert!(matches!(
            parse_metadata(&twice),
            Err(TusError::Duplicate(_))
        ));
        let lat = encode_metadata([("lat", "north")]);
        assert!(matches!(parse_metadata(&lat), Err(TusError::Metadata(_))));
        let sha = encode_metadata([("sha256", "abc")]);
        assert!(matches!(parse_metadata(&sha), Err(TusError::BadSha256(_))));
    }

    #[test]
    fn reads_upload_checksum() {
        let digest = Sha256Digest::of(b"chunk");
        assert_eq!(
            parse_checksum(&format!("sha256 {}", digest.to_base64())),
            Ok(digest)
        );
        assert!(matches!(
            parse_checksum("md5 AAAA"),
            Err(TusError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            parse_checksum("sha256"),
            Err(TusError::BadChecksum(_))
        ));
        assert!(matches!(
            parse_checksum("sha256 AAAA"),
            Err(TusError::BadChecksum(_))
        ));
    }
}

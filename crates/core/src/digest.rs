//! SHA-256 digests, and the client's claim of one in an RFC 9530 `Content-Digest` or
//! `Repr-Digest` header (`sha-256=:BASE64:`), which ingest compares with what it received.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("sha-256 digest {0:?} is not 64 hex digits")]
    BadHex(String),
    #[error("digest header {0:?} has no sha-256 member (expected sha-256=:BASE64:)")]
    NoSha256(String),
    #[error("sha-256 member of {0:?} is not base64 of 32 bytes")]
    BadBase64(String),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    pub fn from_base64(value: &str) -> Result<Self, DigestError> {
        let bytes = BASE64
            .decode(value)
            .map_err(|_| DigestError::BadBase64(value.to_owned()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| DigestError::BadBase64(value.to_owned()))?;
        Ok(Self(bytes))
    }

    /// The value of a `Content-Digest` header carrying this digest.
    pub fn to_content_digest(&self) -> String {
        format!("sha-256=:{}:", self.to_base64())
    }

    /// Reads the sha-256 member of an RFC 9530 digest field. Other algorithms may be listed
    /// beside it and are ignored; a field without sha-256 is an error, since ingest can only
    /// check what it computes.
    pub fn from_digest_field(field: &str) -> Result<Self, DigestError> {
        for member in field.split(',') {
            let Some((key, value)) = member.trim().split_once('=') else {
                continue;
            };
            if !key.trim().eq_ignore_ascii_case("sha-256") {
                continue;
            }
            let value = value.trim();
            let inner = value
                .strip_prefix(':')
                .and_then(|v| v.strip_suffix(':'))
                .ok_or_else(|| DigestError::BadBase64(field.to_owned()))?;
            return Self::from_base64(inner).map_err(|_| DigestError::BadBase64(field.to_owned()));
        }
        Err(DigestError::NoSha256(field.to_owned()))
    }

    /// The checksum S3 reports for an object uploaded in parts with SHA-256 part checksums:
    /// the SHA-256 of the concatenated part digests, as base64, followed by `-<parts>`.
    pub fn composite_of_parts(parts: &[Sha256Digest]) -> String {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.0);
        }
        format!("{}-{}", BASE64.encode(hasher.finalize()), parts.len())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Sha256Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| DigestError::BadHex(s.to_owned()))?;
        Ok(Self(bytes))
    }
}

impl TryFrom<String> for Sha256Digest {
    type Error = DigestError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Sha256Digest> for String {
    fn from(digest: Sha256Digest) -> Self {
        digest.to_hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SHA-256 of "hello world", as in RFC 9530's examples.
    const HELLO: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

    #[test]
    fn reads_the_sha256_member_among_others() {
        let digest = Sha256Digest::of(b"hello world");
        assert_eq!(digest.to_hex(), HELLO);
        let field = format!(
            "md5=:XrY7u+Ae7tCTyyK7j1rNww==:, {}",
            digest.to_content_digest()
        );
        assert_eq!(Sha256Digest::from_digest_field(&field).unwrap(), digest);
        assert_eq!(
            Sha256Digest::from_digest_field(
                "SHA-256=:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=:"
            )
            .unwrap(),
            digest
        );
    }

    #[test]
    fn rejects_fields_it_cannot_check() {
        assert!(matches!(
            Sha256Digest::from_digest_field("md5=:abc:"),
            Err(DigestError::NoSha256(_))
        ));
        assert!(matches!(
            Sha256Digest::from_digest_field("sha-256=abc"),
            Err(DigestError::BadBase64(_))
        ));
        assert!(matches!(
            Sha256Digest::from_digest_field("sha-256=:AAAA:"),
            Err(DigestError::BadBase64(_))
        ));
        assert!(HELLO[1..].parse::<Sha256Digest>().is_err());
    }

    #[test]
    fn composite_checksum_covers_order_of_parts() {
        let a = Sha256Digest::of(b"a");
        let b = Sha256Digest::of(b"b");
        assert!(Sha256Digest::composite_of_parts(&[a, b]).ends_with("-2"));
        assert_ne!(
            Sha256Digest::composite_of_parts(&[a, b]),
            Sha256Digest::composite_of_parts(&[b, a])
        );
    }
}

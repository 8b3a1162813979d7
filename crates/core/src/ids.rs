//! Identifiers. Clip ids are UUIDv7, so they sort by creation time and make a stable cursor;
//! bureau, device and officer ids are short codes that appear in object keys and file names,
//! so they are restricted to characters that are safe in both.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} {value:?} is longer than {max} characters")]
    TooLong {
        kind: &'static str,
        value: String,
        max: usize,
    },
    #[error("{kind} {value:?} may hold only letters, digits, '.', '_' and '-'")]
    BadCharacter { kind: &'static str, value: String },
    #[error("clip id {value:?} is not a UUID")]
    NotUuid { value: String },
}

/// A clip's identity, assigned by ingest when the upload starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClipId(Uuid);

impl ClipId {
    /// A new id for a clip whose upload starts at `unix_millis` with the given random bits.
    /// Taking the time and randomness as arguments keeps this crate free of clocks and I/O.
    pub fn from_parts(unix_millis: u64, random: [u8; 10]) -> Self {
        Self(uuid::Builder::from_unix_timestamp_millis(unix_millis, &random).into_uuid())
    }

    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for ClipId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ClipId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self).map_err(|_| IdError::NotUuid {
            value: s.to_owned(),
        })
    }
}

fn check_code(kind: &'static str, value: &str, max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.chars().count() > max {
        return Err(IdError::TooLong {
            kind,
            value: value.to_owned(),
            max,
        });
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !value.chars().all(safe) || value.starts_with('.') {
        return Err(IdError::BadCharacter {
            kind,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// A bureau (执法单位): the tenant every clip, token and query is scoped to.
/// Lowercase so that `Bureau-7` and `bureau-7` can never be two tenants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BureauId(String);

impl BureauId {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check_code("bureau id", value, 64)?;
        if value.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(IdError::BadCharacter {
                kind: "bureau id (lowercase only)",
                value: value.to_owned(),
            });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BureauId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<BureauId> for String {
    fn from(id: BureauId) -> Self {
        id.0
    }
}

impl fmt::Display for BureauId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A device (执法记录仪) or officer (警号) code as printed on the camera or badge: the same
/// character rules as GA/T 947 file names, where these codes are joined with underscores.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LocalId(String);

impl LocalId {
    pub fn parse(kind: &'static str, value: &str) -> Result<Self, IdError> {
        check_code(kind, value, 64)?;
        if value.contains('_') {
            // Underscores separate the fields of a GA/T 947 name, so a code must not hold one.
            return Err(IdError::BadCharacter {
                kind,
                value: value.to_owned(),
            });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LocalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_ids_sort_by_creation_time() {
        let earlier = ClipId::from_parts(1_700_000_000_000, [9; 10]);
        let later = ClipId::from_parts(1_700_000_000_001, [0; 10]);
        assert!(earlier < later);
        assert_eq!(earlier.to_string().parse::<ClipId>().unwrap(), earlier);
    }

    #[test]
    fn bureau_ids_reject_what_would_break_a_key() {
        assert!(BureauId::parse("qd-yingji-01").is_ok());
        for bad in [
            "",
            "../etc",
            "a/b",
            "Upper",
            ".hidden",
            "空",
            &"x".repeat(65),
        ] {
            assert!(BureauId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn local_ids_reject_the_name_separator() {
        assert!(LocalId::parse("device id", "DSJ-A8").is_ok());
        let err = LocalId::parse("device id", "DSJ_A8").unwrap_err();
        assert!(err.to_string().contains("device id"), "{err}");
    }
}

//! The life of a clip. The catalogue, not the bus, is the source of truth for where a clip
//! stands; every change is a conditional update from one of these states to an allowed next.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClipState {
    /// The original is stored, verified and recorded; processing may start.
    Stored,
    /// Every processing step the deployment requires is done; the clip is in the catalogue.
    Catalogued,
    /// Copied to the long-term archive tier (art. 21).
    Archived,
    /// Past its retention period: in the recycle bin, restorable until it is purged.
    Recycled,
    /// Past its retention period and purged; a tombstone remains (art. 22).
    Expired,
    /// Processing gave up; the original stays as received and the reason is recorded.
    Failed,
}

/// A processing step a deployment may require before a stored clip is catalogued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessingStep {
    /// The viewing copy with time and place burned in.
    Transcode,
    /// The perceptual fingerprint and continuity checks.
    Fingerprint,
}

impl ProcessingStep {
    pub const ALL: [ProcessingStep; 2] = [Self::Transcode, Self::Fingerprint];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transcode => "transcode",
            Self::Fingerprint => "fingerprint",
        }
    }
}

impl FromStr for ProcessingStep {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|step| step.as_str() == s.trim())
            .ok_or_else(|| format!("unknown processing step {s:?}: transcode or fingerprint"))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransitionError {
    #[error("a clip cannot move from {from} to {to}")]
    NotAllowed { from: ClipState, to: ClipState },
    #[error("unknown clip state {0:?}")]
    Unknown(String),
}

impl ClipState {
    pub const ALL: [ClipState; 6] = [
        Self::Stored,
        Self::Catalogued,
        Self::Archived,
        Self::Recycled,
        Self::Expired,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Catalogued => "catalogued",
            Self::Archived => "archived",
            Self::Recycled => "recycled",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    /// Whether a clip may move from `self` to `next`. Expired is final and reached only through
    /// the recycle bin, from which a clip may be restored; a failed clip may be retried (back to
    /// stored) once its cause is fixed; nothing returns to stored otherwise.
    pub fn may_become(self, next: ClipState) -> bool {
        use ClipState::*;
        matches!(
            (self, next),
            (Stored, Catalogued)
                | (Stored, Failed)
                | (Failed, Stored)
                | (Catalogued, Archived)
                | (Catalogued, Recycled)
                | (Failed, Recycled)
                | (Recycled, Catalogued)
                | (Recycled, Expired)
        )
    }

    pub fn check_transition(self, next: ClipState) -> Result<(), TransitionError> {
        if self.may_become(next) {
            Ok(())
        } else {
            Err(TransitionError::NotAllowed {
                from: self,
                to: next,
            })
        }
    }
}

impl fmt::Display for ClipState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClipState {
    type Err = TransitionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| TransitionError::Unknown(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::ClipState::*;
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in ClipState::ALL {
            assert_eq!(state.as_str().parse::<ClipState>().unwrap(), state);
        }
        assert!("catalogued ".parse::<ClipState>().is_err());
    }

    #[test]
    fn expired_is_final_and_nothing_skips_storage() {
        for next in ClipState::ALL {
            assert!(!Expired.may_become(next), "expired -> {next}");
        }
        assert!(!Catalogued.may_become(Stored));
        assert!(
            !Archived.may_become(Expired),
            "archived clips are kept long-term"
        );
        assert_eq!(
            Stored.check_transition(Archived),
            Err(TransitionError::NotAllowed {
                from: Stored,
                to: Archived
            })
        );
        assert!(Stored.may_become(Catalogued));
    }

    #[test]
    fn expiry_goes_through_the_recycle_bin() {
        assert!(
            !Catalogued.may_become(Expired),
            "purged without a chance to restore"
        );
        assert!(Catalogued.may_become(Recycled));
        assert!(Recycled.may_become(Catalogued), "restore");
        assert!(Recycled.may_become(Expired));
        assert!(
            !Archived.may_become(Recycled),
            "long-term clips never expire"
        );
    }
}

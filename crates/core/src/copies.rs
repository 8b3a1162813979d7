//! Copy requests (art. 23): a party may receive a copy of footage only with a leader's
//! approval. A request is pending until a leader of the same bureau, not its requester,
//! approves or refuses it with a reason; an approval opens a download for a limited time.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CopyState {
    Pending,
    Approved,
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error("the request is {0}; only a pending request can be decided")]
    NotPending(CopyState),
    #[error("the requester may not decide their own request")]
    OwnRequest,
    #[error(
        "the clip is {0}: footage that must be kept confidential is not copied for a party \
         (art. 23); a leader may make it ordinary first if the law allows"
    )]
    Confidential(&'static str),
    #[error("the request was not approved")]
    NotApproved,
    #[error("the download expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("unknown copy request state {0:?}")]
    UnknownState(String),
}

impl CopyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Refused => "refused",
        }
    }

    /// Whether `decider` may decide a request `requester` made, in this state.
    pub fn decide(self, requester: &str, decider: &str) -> Result<(), CopyError> {
        if self != Self::Pending {
            return Err(CopyError::NotPending(self));
        }
        if requester == decider {
            return Err(CopyError::OwnRequest);
        }
        Ok(())
    }

    /// Whether footage of this confidentiality may be copied for a party: art. 23 excepts what
    /// must legally be kept confidential (依法应当保密的除外), so only ordinary footage may.
    pub fn releasable(level: crate::roles::Confidentiality) -> Result<(), CopyError> {
        match level {
            crate::roles::Confidentiality::Ordinary => Ok(()),
            other => Err(CopyError::Confidential(other.as_str())),
        }
    }

    /// Whether the copy may be downloaded at `now`.
    pub fn may_download(
        self,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), CopyError> {
        match (self, expires_at) {
            (Self::Approved, Some(until)) if now < until => Ok(()),
            (Self::Approved, Some(until)) => Err(CopyError::Expired(until)),
            _ => Err(CopyError::NotApproved),
        }
    }
}

impl fmt::Display for CopyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CopyState {
    type Err = CopyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Pending, Self::Approved, Self::Refused]
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| CopyError::UnknownState(s.to_owned()))
    }
}

/// The lines burned into every frame of a party's copy (art. 23): what it is, which request
/// it answers, for whom, and when it was approved (China Standard Time). Control characters
/// are dropped; the text is drawn verbatim (no expansion), from a file, never spliced into
/// a filter graph.
pub fn watermark_text(request: uuid::Uuid, party: &str, approved_at: DateTime<Utc>) -> String {
    let party: String = party.chars().filter(|c| !c.is_control()).collect();
    let approved = approved_at
        .with_timezone(&crate::deadlines::china_time())
        .format("%Y-%m-%d %H:%M");
    format!("复制件 COPY\n{request}\n{party}\n{approved} (UTC+8)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn the_watermark_names_the_request_the_party_and_the_approval() {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 16, 5, 0).unwrap();
        let id = uuid::Uuid::nil();
        assert_eq!(
            watermark_text(id, "张三 %{pts}\\x\r\n", at),
            format!("复制件 COPY\n{id}\n张三 %{{pts}}\\x\n2026-03-02 00:05 (UTC+8)")
        );
    }

    #[test]
    fn only_another_may_decide_and_only_once() {
        assert_eq!(
            CopyState::Pending.decide("officer 1", "officer 1"),
            Err(CopyError::OwnRequest)
        );
        assert!(CopyState::Pending.decide("officer 1", "leader 1").is_ok());
        assert_eq!(
            CopyState::Refused.decide("officer 1", "leader 1"),
            Err(CopyError::NotPending(CopyState::Refused))
        );
    }

    #[test]
    fn downloads_need_an_approval_still_in_time() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let until = now + Duration::hours(72);
        assert!(CopyState::Approved.may_download(Some(until), now).is_ok());
        assert_eq!(
            CopyState::Approved.may_download(Some(until), until),
            Err(CopyError::Expired(until))
        );
        assert_eq!(
            CopyState::Refused.may_download(Some(until), now),
            Err(CopyError::NotApproved)
        );
        assert_eq!(
            CopyState::Pending.may_download(None, now),
            Err(CopyError::NotApproved)
        );
    }
}

//! How long a clip is kept (art. 21, 22). Every rule that applies to a clip gives a reason to
//! keep it, and the longest wins: a legal hold or a long-term class keeps it indefinitely; a
//! case keeps its clips while open, while closed and waiting to be filed, and once filed for as
//! long as its case file is kept (art. 22: what is filed with a case file, 随卷宗归档保存, is
//! outside the two-year class; indefinitely unless an archival period is configured, never
//! less than the ordinary period); and an ordinary clip is kept for the ordinary period after
//! recording (two years at least). Only a clip that no rule keeps may expire, and expiry first
//! puts it in a recycle bin it can be restored from.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

use crate::cases::CaseState;

/// The shortest ordinary period the regulation allows (art. 22).
pub const MIN_ORDINARY_YEARS: u32 = 2;

/// Why footage is kept long-term (art. 21).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "reason", content = "text")]
pub enum LongTermReason {
    /// 采取行政强制措施
    CoerciveMeasure,
    /// 当事人有争议、投诉
    DisputeOrComplaint,
    /// 阻碍执法、暴力抗法
    ObstructionOrAssault,
    /// 群体性事件、突发事件
    MassIncidentOrEmergency,
    /// 其他需要长期保存的情形, with the reason written out.
    Other(String),
}

impl LongTermReason {
    pub fn code(&self) -> &str {
        match self {
            Self::CoerciveMeasure => "coercive_measure",
            Self::DisputeOrComplaint => "dispute_or_complaint",
            Self::ObstructionOrAssault => "obstruction_or_assault",
            Self::MassIncidentOrEmergency => "mass_incident_or_emergency",
            Self::Other(_) => "other",
        }
    }

    /// Stored as `code` or `other:TEXT`.
    pub fn to_stored(&self) -> String {
        match self {
            Self::Other(text) => format!("other:{text}"),
            other => other.code().to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RetentionError {
    #[error("unknown long-term reason {0:?} (coercive_measure, dispute_or_complaint, obstruction_or_assault, mass_incident_or_emergency, other:TEXT)")]
    UnknownReason(String),
    #[error("a long-term reason of `other` needs its text")]
    OtherWithoutText,
    #[error("ordinary retention of {0} years is shorter than the {MIN_ORDINARY_YEARS} years art. 22 requires")]
    TooShort(u32),
    #[error("a case file kept {0} years is kept shorter than the {MIN_ORDINARY_YEARS} years art. 22 requires of any footage")]
    CaseFileTooShort(u32),
}

impl FromStr for LongTermReason {
    type Err = RetentionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "coercive_measure" => Self::CoerciveMeasure,
            "dispute_or_complaint" => Self::DisputeOrComplaint,
            "obstruction_or_assault" => Self::ObstructionOrAssault,
            "mass_incident_or_emergency" => Self::MassIncidentOrEmergency,
            other => match other.strip_prefix("other:").map(str::trim) {
                Some("") => return Err(RetentionError::OtherWithoutText),
                Some(text) => Self::Other(text.to_owned()),
                None if other == "other" => return Err(RetentionError::OtherWithoutText),
                None => return Err(RetentionError::UnknownReason(other.to_owned())),
            },
        })
    }
}

impl fmt::Display for LongTermReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_stored())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    ordinary_years: u32,
    /// Years a filed case file is kept after filing; `None`: indefinitely.
    case_file_years: Option<u32>,
    /// Days an expired clip stays restorable before it is purged.
    pub recycle_days: u32,
}

impl RetentionPolicy {
    /// Refuses an ordinary period shorter than the regulation's.
    pub fn new(ordinary_years: u32, recycle_days: u32) -> Result<Self, RetentionError> {
        if ordinary_years < MIN_ORDINARY_YEARS {
            return Err(RetentionError::TooShort(ordinary_years));
        }
        Ok(Self {
            ordinary_years,
            case_file_years: None,
            recycle_days,
        })
    }

    /// Keeps filed case files, and the footage filed with them, `years` after filing
    /// (`None`: indefinitely); never shorter than the regulation's floor.
    pub fn with_case_file_years(self, years: Option<u32>) -> Result<Self, RetentionError> {
        match years {
            Some(years) if years < MIN_ORDINARY_YEARS => {
                Err(RetentionError::CaseFileTooShort(years))
            }
            _ => Ok(Self {
                case_file_years: years,
                ..self
            }),
        }
    }

    pub fn case_file_years(&self) -> Option<u32> {
        self.case_file_years
    }

    pub fn ordinary_years(&self) -> u32 {
        self.ordinary_years
    }

    /// `at` plus the ordinary period, in calendar months (29 February rolls to 28 February).
    pub fn ordinary_end(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        at.checked_add_months(Months::new(self.ordinary_years * 12))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            ordinary_years: MIN_ORDINARY_YEARS,
            case_file_years: None,
            recycle_days: 7,
        }
    }
}

/// A case a clip is linked to, as far as retention cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFacts {
    pub state: CaseState,
    pub long_term: bool,
    pub closed_at: Option<DateTime<Utc>>,
    pub filed_at: Option<DateTime<Utc>>,
}

/// Everything about a clip that decides how long it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionFacts {
    pub recorded_at: DateTime<Utc>,
    pub long_term: Option<LongTermReason>,
    pub legal_hold: bool,
    pub cases: Vec<CaseFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Retention {
    /// Kept, at least until `until` (`None`: indefinitely), for `reason`.
    Keep {
        until: Option<DateTime<Utc>>,
        reason: String,
    },
    /// No rule keeps it since `since`.
    Expired { since: DateTime<Utc> },
}

impl Retention {
    pub fn is_expired(&self) -> bool {
        matches!(self, Self::Expired { .. })
    }
}

/// Decides a clip's retention at `now`: the longest applicable rule wins.
pub fn decide(policy: &RetentionPolicy, facts: &RetentionFacts, now: DateTime<Utc>) -> Retention {
    if facts.legal_hold {
        return Retention::Keep {
            until: None,
            reason: "legal hold".into(),
        };
    }
    if let Some(reason) = &facts.long_term {
        return Retention::Keep {
            until: None,
            reason: format!("long-term: {reason}"),
        };
    }
    let mut until = policy.ordinary_end(facts.recorded_at);
    let mut reason = String::from("ordinary period after recording");
    for case in &facts.cases {
        if case.long_term {
            return Retention::Keep {
                until: None,
                reason: "linked to a long-term case".into(),
            };
        }
        let keep = |reason: &str| Retention::Keep {
            until: None,
            reason: reason.into(),
        };
        match case.state {
            CaseState::Open => return keep("linked to an open case"),
            // Closed cases are filed within 30 working days (art. 18); until then nothing of
            // them may go.
            CaseState::Closed => {
                return keep("linked to a closed case waiting to be filed with its case file")
            }
            CaseState::Filed => {
                let filed = case.filed_at.or(case.closed_at);
                match (policy.case_file_years, filed) {
                    (Some(years), Some(filed)) => {
                        let end = filed
                            .checked_add_months(Months::new(years * 12))
                            .unwrap_or(DateTime::<Utc>::MAX_UTC);
                        if end > until {
                            until = end;
                            reason = format!(
                                "filed with its case file (art. 22), kept {years} years after filing"
                            );
                        }
                    }
                    _ => return keep("filed with its case file (art. 22), kept as long as it is"),
                }
            }
        }
    }
    if now < until {
        Retention::Keep {
            until: Some(until),
            reason,
        }
    } else {
        Retention::Expired { since: until }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    fn ordinary(recorded: DateTime<Utc>) -> RetentionFacts {
        RetentionFacts {
            recorded_at: recorded,
            long_term: None,
            legal_hold: false,
            cases: vec![],
        }
    }

    #[test]
    fn ordinary_clips_expire_two_years_after_recording_not_sooner() {
        let policy = RetentionPolicy::default();
        let facts = ordinary(t(2024, 2, 29));
        assert_eq!(
            decide(&policy, &facts, t(2026, 2, 27)),
            Retention::Keep {
                until: Some(t(2026, 2, 28)),
                reason: "ordinary period after recording".into()
            }
        );
        assert_eq!(
            decide(&policy, &facts, t(2026, 2, 28)),
            Retention::Expired {
                since: t(2026, 2, 28)
            }
        );
        let longer = RetentionPolicy::new(5, 7).unwrap();
        assert!(!decide(&longer, &facts, t(2026, 3, 1)).is_expired());
        assert_eq!(RetentionPolicy::new(1, 7), Err(RetentionError::TooShort(1)));
    }

    #[test]
    fn holds_long_term_and_cases_keep_clips() {
        let policy = RetentionPolicy::default();
        let now = t(2030, 1, 1);
        let held = RetentionFacts {
            legal_hold: true,
            ..ordinary(t(2020, 1, 1))
        };
        assert_eq!(
            decide(&policy, &held, now),
            Retention::Keep {
                until: None,
                reason: "legal hold".into()
            }
        );
        let long = RetentionFacts {
            long_term: Some(LongTermReason::DisputeOrComplaint),
            ..ordinary(t(2020, 1, 1))
        };
        assert!(!decide(&policy, &long, now).is_expired());
        let open_case = RetentionFacts {
            cases: vec![CaseFacts {
                state: CaseState::Open,
                long_term: false,
                closed_at: None,
                filed_at: None,
            }],
            ..ordinary(t(2020, 1, 1))
        };
        assert!(!decide(&policy, &open_case, now).is_expired());
        // A case filed in 2020 keeps its clips as long as its case file is kept: indefinitely
        // by default, however old the footage, and otherwise the configured years after filing.
        let filed = CaseFacts {
            state: CaseState::Filed,
            long_term: false,
            closed_at: Some(t(2020, 3, 1)),
            filed_at: Some(t(2020, 4, 1)),
        };
        let linked = RetentionFacts {
            cases: vec![filed.clone()],
            ..ordinary(t(2020, 1, 1))
        };
        assert_eq!(
            decide(&policy, &linked, t(2040, 1, 1)),
            Retention::Keep {
                until: None,
                reason: "filed with its case file (art. 22), kept as long as it is".into()
            }
        );
        let ten_years = policy.with_case_file_years(Some(10)).unwrap();
        assert_eq!(
            decide(&ten_years, &linked, now),
            Retention::Keep {
                until: Some(t(2030, 4, 1)),
                reason: "filed with its case file (art. 22), kept 10 years after filing".into()
            }
        );
        assert!(decide(&ten_years, &linked, t(2030, 4, 1)).is_expired());
        assert_eq!(
            policy.with_case_file_years(Some(1)),
            Err(RetentionError::CaseFileTooShort(1))
        );
        // Closed and not yet filed: kept.
        let closed = RetentionFacts {
            cases: vec![CaseFacts {
                state: CaseState::Closed,
                filed_at: None,
                ..filed
            }],
            ..ordinary(t(2020, 1, 1))
        };
        assert!(!decide(&ten_years, &closed, t(2040, 1, 1)).is_expired());
        let long_case = RetentionFacts {
            cases: vec![CaseFacts {
                state: CaseState::Filed,
                long_term: true,
                closed_at: Some(t(2020, 2, 1)),
                filed_at: Some(t(2020, 2, 2)),
            }],
            ..ordinary(t(2020, 1, 1))
        };
        assert!(!decide(&policy, &long_case, now).is_expired());
    }

    #[test]
    fn long_term_reasons_round_trip_and_other_needs_text() {
        for reason in [
            LongTermReason::CoerciveMeasure,
            LongTermReason::DisputeOrComplaint,
            LongTermReason::ObstructionOrAssault,
            LongTermReason::MassIncidentOrEmergency,
            LongTermReason::Other("信访".into()),
        ] {
            assert_eq!(
                reason.to_stored().parse::<LongTermReason>().unwrap(),
                reason
            );
        }
        assert_eq!(
            "other:".parse::<LongTermReason>(),
            Err(RetentionError::OtherWithoutText)
        );
        assert_eq!(
            "other".parse::<LongTermReason>(),
            Err(RetentionError::OtherWithoutText)
        );
        assert!(matches!(
            "forever".parse::<LongTermReason>(),
            Err(RetentionError::UnknownReason(_))
        ));
    }

    fn case_strategy() -> impl Strategy<Value = CaseFacts> {
        (
            0u8..3,
            any::<bool>(),
            proptest::option::of(0i64..4000),
            0i64..60,
        )
            .prop_map(|(state, long_term, closed_days, filing_days)| {
                let state = [CaseState::Open, CaseState::Closed, CaseState::Filed][state as usize];
                let closed_at = if state == CaseState::Open {
                    None
                } else {
                    closed_days.map(|d| t(2020, 1, 1) + Duration::days(d))
                };
                let filed_at = (state == CaseState::Filed)
                    .then(|| closed_at.map(|c| c + Duration::days(filing_days)))
                    .flatten();
                CaseFacts {
                    state,
                    long_term,
                    closed_at,
                    filed_at,
                }
            })
    }

    proptest! {
        /// Whatever the history, a clip younger than the ordinary period, held, long-term,
        /// linked to an open, closed or long-term case, or filed with a case file that is still
        /// kept is never expired; and an expired clip stays expired as time goes on.
        #[test]
        fn nothing_that_must_be_kept_ever_expires(
            recorded_days in 0i64..4000,
            now_days in 0i64..8000,
            later_days in 0i64..2000,
            legal_hold in any::<bool>(),
            long_term in any::<bool>(),
            years in 2u32..6,
            case_file_years in proptest::option::of(2u32..30),
            cases in proptest::collection::vec(case_strategy(), 0..4),
        ) {
            let policy = RetentionPolicy::new(years, 7)
                .unwrap()
                .with_case_file_years(case_file_years)
                .unwrap();
            let recorded_at = t(2020, 1, 1) + Duration::days(recorded_days);
            let now = t(2020, 1, 1) + Duration::days(now_days);
            let facts = RetentionFacts {
                recorded_at,
                long_term: long_term.then_some(LongTermReason::CoerciveMeasure),
                legal_hold,
                cases: cases.clone(),
            };
            let decision = decide(&policy, &facts, now);
            if decision.is_expired() {
                prop_assert!(now >= policy.ordinary_end(recorded_at), "expired before the ordinary period");
                prop_assert!(now >= recorded_at + Duration::days(365 * 2));
                prop_assert!(!legal_hold && !long_term);
                for case in &cases {
                    // Only a filed case lets its clips go, and only once its case file may go.
                    prop_assert!(case.state == CaseState::Filed && !case.long_term);
                    let years = case_file_years.expect("filed footage expired with case files kept indefinitely");
                    let filed = case.filed_at.or(case.closed_at).unwrap();
                    prop_assert!(now >= filed + Duration::days(365 * i64::from(years)), "expired while its case file is kept");
                }
                let later = now + Duration::days(later_days);
                prop_assert!(decide(&policy, &facts, later).is_expired());
            }
        }
    }
}

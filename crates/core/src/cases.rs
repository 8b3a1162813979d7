//! Cases (案件): a group of clips with a life of its own. A case is opened, closed on its
//! closure date (结案之日, which starts the 30-working-day filing clock of art. 18) and filed
//! into the case archive, which is allowed only once every clip in it is classified. Also the
//! enforcement teams (执法队) of art. 15 and their cameras.

use std::fmt;
use std::str::FromStr;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    Open,
    Closed,
    Filed,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaseError {
    #[error("the case is {0}; only an open case can be closed")]
    NotOpen(CaseState),
    #[error("the case is {0}; only a closed case can be filed")]
    NotClosed(CaseState),
    #[error("{0} clip(s) of the case are not classified yet")]
    Unclassified(usize),
    #[error("the case is filed; its clips can no longer change")]
    Filed,
    #[error("unknown case state {0:?}")]
    UnknownState(String),
    #[error("the closure date {closed_on} is in the future (today is {today})")]
    ClosureInFuture {
        closed_on: NaiveDate,
        today: NaiveDate,
    },
    #[error("the closure date {closed_on} is before the case was opened ({opened_on})")]
    ClosureBeforeOpening {
        closed_on: NaiveDate,
        opened_on: NaiveDate,
    },
    #[error("the closure date {closed_on} is more than {MAX_CLOSURE_BACKDATE_MONTHS} months back (earliest {earliest}); a case closed that long ago is long overdue for filing, so say so rather than restart its clock")]
    ClosureTooOld {
        closed_on: NaiveDate,
        earliest: NaiveDate,
    },
}

/// How far back a closure date may be entered. A case is often closed on paper before anyone
/// records it here, but a date much older would quietly grant a fresh filing deadline to a
/// case whose own ran out long ago.
pub const MAX_CLOSURE_BACKDATE_MONTHS: u32 = 12;

/// Checks the closure date (结案之日) entered for a case, in local dates: not after today, not
/// before the case was opened, and not more than [`MAX_CLOSURE_BACKDATE_MONTHS`] back.
pub fn check_closure_date(
    closed_on: NaiveDate,
    opened_on: NaiveDate,
    today: NaiveDate,
) -> Result<NaiveDate, CaseError> {
    if closed_on > today {
        return Err(CaseError::ClosureInFuture { closed_on, today });
    }
    if closed_on < opened_on {
        return Err(CaseError::ClosureBeforeOpening {
            closed_on,
            opened_on,
        });
    }
    let earliest = today
        .checked_sub_months(Months::new(MAX_CLOSURE_BACKDATE_MONTHS))
        .unwrap_or(NaiveDate::MIN);
    if closed_on < earliest {
        return Err(CaseError::ClosureTooOld {
            closed_on,
            earliest,
        });
    }
    Ok(closed_on)
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Filed => "filed",
        }
    }

    pub fn close(self) -> Result<CaseState, CaseError> {
        match self {
            Self::Open => Ok(Self::Closed),
            other => Err(CaseError::NotOpen(other)),
        }
    }

    pub fn file(self, unclassified_clips: usize) -> Result<CaseState, CaseError> {
        match self {
            Self::Closed if unclassified_clips == 0 => Ok(Self::Filed),
            Self::Closed => Err(CaseError::Unclassified(unclassified_clips)),
            other => Err(CaseError::NotClosed(other)),
        }
    }

    /// Clips may be linked while the case is open or closed (late footage), not once filed.
    pub fn may_link(self) -> Result<(), CaseError> {
        if self == Self::Filed {
            Err(CaseError::Filed)
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CaseState {
    type Err = CaseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Open, Self::Closed, Self::Filed]
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| CaseError::UnknownState(s.to_owned()))
    }
}

/// The longest team name, in characters.
pub const MAX_TEAM_CHARS: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a team name must be 1 to {MAX_TEAM_CHARS} characters without control characters")]
pub struct BadTeamName;

/// A team name as it is kept: trimmed, 1 to [`MAX_TEAM_CHARS`] characters, no control
/// characters.
pub fn team_name(text: &str) -> Result<String, BadTeamName> {
    let name = text.trim();
    if name.is_empty()
        || name.chars().count() > MAX_TEAM_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(BadTeamName);
    }
    Ok(name.to_owned())
}

/// A team short of the two cameras art. 15 asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TeamShortfall {
    pub team: String,
    pub cameras: usize,
}

/// Teams with fewer than two cameras: the registered `teams` (a team with no camera at all
/// among them) and every team a (team, device) pair names.
pub fn teams_short_of_cameras<'a>(
    teams: impl IntoIterator<Item = &'a str>,
    devices: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<TeamShortfall> {
    let mut per_team: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> = teams
        .into_iter()
        .map(|team| (team, Default::default()))
        .collect();
    for (team, device) in devices {
        per_team.entry(team).or_default().insert(device);
    }
    per_team
        .into_iter()
        .filter(|(_, devices)| devices.len() < 2)
        .map(|(team, devices)| TeamShortfall {
            team: team.to_owned(),
            cameras: devices.len(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_closes_once_and_files_only_when_classified() {
        let closed = CaseState::Open.close().unwrap();
        assert_eq!(closed.close(), Err(CaseError::NotOpen(CaseState::Closed)));
        assert_eq!(
            CaseState::Open.file(0),
            Err(CaseError::NotClosed(CaseState::Open))
        );
        assert_eq!(closed.file(2), Err(CaseError::Unclassified(2)));
        let filed = closed.file(0).unwrap();
        assert_eq!(filed, CaseState::Filed);
        assert_eq!(filed.may_link(), Err(CaseError::Filed));
        assert!(closed.may_link().is_ok());
    }

    #[test]
    fn teams_with_fewer_than_two_cameras_are_reported() {
        let devices = [
            ("一中队", "DSJ-1"),
            ("一中队", "DSJ-2"),
            ("二中队", "DSJ-3"),
            ("二中队", "DSJ-3"),
        ];
        assert_eq!(
            teams_short_of_cameras([], devices),
            vec![TeamShortfall {
                team: "二中队".into(),
                cameras: 1
            }]
        );
        // A registered team without any camera is the shortest of all; registering a team
        // that has cameras changes nothing.
        assert_eq!(
            teams_short_of_cameras(["三中队", "一中队"], devices),
            vec![
                TeamShortfall {
                    team: "三中队".into(),
                    cameras: 0
                },
                TeamShortfall {
                    team: "二中队".into(),
                    cameras: 1
                }
            ]
        );
    }

    #[test]
    fn team_names_are_trimmed_and_bounded() {
        assert_eq!(team_name(" 一中队 ").unwrap(), "一中队");
        assert_eq!(team_name("  "), Err(BadTeamName));
        assert_eq!(team_name("一\n中队"), Err(BadTeamName));
        assert_eq!(team_name(&"队".repeat(101)), Err(BadTeamName));
        assert!(team_name(&"队".repeat(100)).is_ok());
    }

    #[test]
    fn a_closure_date_is_neither_future_nor_before_opening_nor_too_old() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let today = d(2026, 9, 16);
        let opened = d(2025, 3, 1);
        assert_eq!(check_closure_date(today, opened, today), Ok(today));
        assert_eq!(
            check_closure_date(d(2026, 9, 10), opened, today),
            Ok(d(2026, 9, 10))
        );
        assert!(matches!(
            check_closure_date(d(2026, 9, 17), opened, today),
            Err(CaseError::ClosureInFuture { .. })
        ));
        assert!(matches!(
            check_closure_date(d(2025, 2, 28), opened, today),
            Err(CaseError::ClosureBeforeOpening { .. })
        ));
        // Twelve months back is the limit, to the day.
        assert_eq!(
            check_closure_date(d(2025, 9, 16), opened, today),
            Ok(d(2025, 9, 16))
        );
        assert_eq!(
            check_closure_date(d(2025, 9, 15), opened, today),
            Err(CaseError::ClosureTooOld {
                closed_on: d(2025, 9, 15),
                earliest: d(2025, 9, 16)
            })
        );
    }
}

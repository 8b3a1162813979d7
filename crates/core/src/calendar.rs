//! Working days in mainland China: weekends are rest days except the make-up working days
//! (调休上班) the State Council announces each year, and statutory holidays are rest days even
//! on weekdays. A year without published data counts weekends only, and says so, so that
//! operators know to add the next year's notice.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("calendar is not valid TOML: {0}")]
    Syntax(String),
    #[error("calendar year {year}: {date} is listed under year {year} but falls in another year")]
    WrongYear { year: i32, date: NaiveDate },
    #[error("calendar year {year}: {date} is both a holiday and a make-up working day")]
    Both { year: i32, date: NaiveDate },
    #[error("calendar year key {0:?} is not a year")]
    BadYear(String),
}

#[derive(Debug, Deserialize)]
struct CalendarFile {
    years: BTreeMap<String, YearFile>,
}

#[derive(Debug, Deserialize)]
struct YearFile {
    #[serde(default)]
    holidays: Vec<NaiveDate>,
    #[serde(default)]
    workdays: Vec<NaiveDate>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct YearRules {
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
}

/// The calendar the project ships: 2025 and 2026 as published by the State Council.
pub const SHIPPED: &str = include_str!("../../../data/cn-workdays.toml");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkdayCalendar {
    years: BTreeMap<i32, YearRules>,
}

/// Whether a day is a working day, and whether the calendar actually knew that year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayKind {
    pub working: bool,
    /// False when the year has no published data and only weekends were counted.
    pub year_known: bool,
}

impl WorkdayCalendar {
    pub fn shipped() -> Self {
        // The shipped file is checked by a unit test; a broken one cannot be built into a
        // release that passes its tests.
        Self::from_toml(SHIPPED).unwrap_or(Self {
            years: BTreeMap::new(),
        })
    }

    pub fn from_toml(text: &str) -> Result<Self, CalendarError> {
        let file: CalendarFile =
            toml::from_str(text).map_err(|e| CalendarError::Syntax(e.to_string()))?;
        let mut years = BTreeMap::new();
        for (key, year_file) in file.years {
            let year: i32 = key
                .parse()
                .map_err(|_| CalendarError::BadYear(key.clone()))?;
            let rules = YearRules {
                holidays: year_file.holidays.into_iter().collect(),
                workdays: year_file.workdays.into_iter().collect(),
            };
            for date in rules.holidays.iter().chain(&rules.workdays) {
                if date.year() != year {
                    return Err(CalendarError::WrongYear { year, date: *date });
                }
            }
            if let Some(date) = rules.holidays.intersection(&rules.workdays).next() {
                return Err(CalendarError::Both { year, date: *date });
            }
            years.insert(year, rules);
        }
        Ok(Self { years })
    }

    pub fn known_years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    pub fn day(&self, date: NaiveDate) -> DayKind {
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        match self.years.get(&date.year()) {
            Some(rules) if rules.holidays.contains(&date) => DayKind {
                working: false,
                year_known: true,
            },
            Some(rules) if rules.workdays.contains(&date) => DayKind {
                working: true,
                year_known: true,
            },
            Some(_) => DayKind {
                working: !weekend,
                year_known: true,
            },
            None => DayKind {
                working: !weekend,
                year_known: false,
            },
        }
    }

    /// The `n`-th working day after `date` (not counting `date` itself), and whether every
    /// year crossed was known. `n = 0` is `date`.
    pub fn working_days_after(&self, date: NaiveDate, n: u32) -> (NaiveDate, bool) {
        let mut current = date;
        let mut all_known = true;
        let mut counted = 0;
        while counted < n {
            current = current.succ_opt().unwrap_or(current);
            let kind = self.day(current);
            all_known &= kind.year_known;
            if kind.working {
                counted += 1;
            }
        }
        (current, all_known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_shipped_calendar_loads() {
        let calendar = WorkdayCalendar::from_toml(SHIPPED).expect("shipped calendar is valid");
        assert_eq!(calendar.known_years(), vec![2025, 2026]);
    }

    #[test]
    fn spring_festival_2026_and_its_make_up_saturdays() {
        let calendar = WorkdayCalendar::shipped();
        // 2026-02-14 is a Saturday worked in exchange (调休上班).
        assert!(calendar.day(d(2026, 2, 14)).working);
        // 2026-02-16 (Monday) to 2026-02-23 (Monday) are holidays.
        for day in 15..=23 {
            assert!(!calendar.day(d(2026, 2, day)).working, "2026-02-{day}");
        }
        assert!(calendar.day(d(2026, 2, 24)).working);
        assert!(
            calendar.day(d(2026, 2, 28)).working,
            "the second make-up Saturday"
        );
        // An ordinary weekend is not a working day.
        assert!(!calendar.day(d(2026, 3, 7)).working);
    }

    #[test]
    fn counting_working_days_skips_the_festival() {
        let calendar = WorkdayCalendar::shipped();
        // Uploaded on Friday 2026-02-13: the 1st working day after is the make-up Saturday
        // 2026-02-14, the 2nd is Tuesday 2026-02-24, after the festival.
        assert_eq!(
            calendar.working_days_after(d(2026, 2, 13), 1),
            (d(2026, 2, 14), true)
        );
        assert_eq!(
            calendar.working_days_after(d(2026, 2, 13), 2),
            (d(2026, 2, 24), true)
        );
        // Uploaded during the holiday: counting starts after it.
        assert_eq!(
            calendar.working_days_after(d(2026, 2, 18), 2),
            (d(2026, 2, 25), true)
        );
        // National Day 2025 with the make-up Saturday 2025-10-11.
        assert_eq!(
            calendar.working_days_after(d(2025, 9, 30), 1),
            (d(2025, 10, 9), true)
        );
        assert_eq!(
            calendar.working_days_after(d(2025, 10, 10), 1),
            (d(2025, 10, 11), true)
        );
    }

    #[test]
    fn an_unknown_year_counts_weekends_only_and_says_so() {
        let calendar = WorkdayCalendar::shipped();
        let kind = calendar.day(d(2027, 1, 1));
        assert_eq!(
            kind,
            DayKind {
                working: true,
                year_known: false
            }
        );
        // Crossing into 2027 from 2026-12-31 (Thursday): Friday 1 Jan, then Monday 4 Jan.
        assert_eq!(
            calendar.working_days_after(d(2026, 12, 31), 2),
            (d(2027, 1, 4), false)
        );
        assert!(calendar.working_days_after(d(2026, 12, 28), 2).1);
    }

    #[test]
    fn a_broken_calendar_is_refused_with_the_reason() {
        assert!(matches!(
            WorkdayCalendar::from_toml("years = 3"),
            Err(CalendarError::Syntax(_))
        ));
        let wrong_year = "[years.2026]\nholidays = [\"2025-01-01\"]\n";
        assert_eq!(
            WorkdayCalendar::from_toml(wrong_year),
            Err(CalendarError::WrongYear {
                year: 2026,
                date: d(2025, 1, 1)
            })
        );
        let both = "[years.2026]\nholidays = [\"2026-01-01\"]\nworkdays = [\"2026-01-01\"]\n";
        assert!(matches!(
            WorkdayCalendar::from_toml(both),
            Err(CalendarError::Both { .. })
        ));
    }
}

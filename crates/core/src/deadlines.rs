//! The regulation's deadlines (art. 16-18), computed on the working-day calendar in China
//! Standard Time. A deadline counted in working days falls due at the end of its last day,
//! local time: "within 2 working days of upload" on a Friday means by Tuesday midnight, or
//! later when a festival intervenes.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::calendar::WorkdayCalendar;

/// China Standard Time: UTC+8 all year, no daylight saving.
pub fn china_time() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
}

pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&china_time()).date_naive()
}

/// The first instant after `date` ends, local time.
fn end_of_local_day(date: NaiveDate) -> DateTime<Utc> {
    let next = date.succ_opt().unwrap_or(date);
    china_time()
        .from_local_datetime(&next.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0).unwrap_or_default()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// Art. 16: upload within 24 hours of the return to the office (of the recording's end
    /// where no return was recorded).
    #[serde(rename = "upload_24_hours")]
    Upload24Hours,
    /// Art. 16: never later than 3 working days.
    #[serde(rename = "upload_3_working_days")]
    Upload3WorkingDays,
    /// Art. 17: classified and named within 2 working days of upload.
    Classification,
    /// Art. 18: case records filed within 30 working days of the case's closure.
    CaseFiling,
}

impl DeadlineKind {
    pub const ALL: [DeadlineKind; 4] = [
        Self::Upload24Hours,
        Self::Upload3WorkingDays,
        Self::Classification,
        Self::CaseFiling,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload24Hours => "upload_24_hours",
            Self::Upload3WorkingDays => "upload_3_working_days",
            Self::Classification => "classification",
            Self::CaseFiling => "case_filing",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    /// Not done yet, and not due yet.
    Open,
    /// Done by the due time.
    Met,
    /// Due and not done, or done late.
    Overdue,
    /// Done late for a special circumstance (特殊情况) recorded with it, within the hard limit
    /// that no circumstance moves (art. 16: 24 hours, in special cases 3 working days).
    Excused,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Deadline {
    pub kind: DeadlineKind,
    pub due: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub state: DeadlineState,
    /// False when the due date was counted across a year the calendar has no data for.
    pub calendar_complete: bool,
}

impl Deadline {
    pub fn evaluate(
        kind: DeadlineKind,
        due: DateTime<Utc>,
        completed_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        calendar_complete: bool,
    ) -> Self {
        let state = match completed_at {
            Some(done) if done < due => DeadlineState::Met,
            Some(_) => DeadlineState::Overdue,
            None if now >= due => DeadlineState::Overdue,
            None => DeadlineState::Open,
        };
        Self {
            kind,
            due,
            completed_at,
            state,
            calendar_complete,
        }
    }
}

/// Art. 16's two upload deadlines of a clip that arrived at `received_at`: a special
/// circumstance recorded with the upload (`excuse`) excuses missing the 24 hours when the clip
/// still arrived within the 3 working days, never missing those.
pub fn upload_deadlines(
    due_24_hours: DateTime<Utc>,
    due_3_working_days: DateTime<Utc>,
    received_at: DateTime<Utc>,
    excuse: bool,
    calendar_complete: bool,
    now: DateTime<Utc>,
) -> [Deadline; 2] {
    let hard = Deadline::evaluate(
        DeadlineKind::Upload3WorkingDays,
        due_3_working_days,
        Some(received_at),
        now,
        calendar_complete,
    );
    let mut soft = Deadline::evaluate(
        DeadlineKind::Upload24Hours,
        due_24_hours,
        Some(received_at),
        now,
        true,
    );
    if excuse && soft.state == DeadlineState::Overdue && hard.state == DeadlineState::Met {
        soft.state = DeadlineState::Excused;
    }
    [soft, hard]
}

/// When each deadline falls due.
#[derive(Debug, Clone)]
pub struct DeadlineRules {
    calendar: WorkdayCalendar,
}

impl DeadlineRules {
    pub fn new(calendar: WorkdayCalendar) -> Self {
        Self { calendar }
    }

    pub fn calendar(&self) -> &WorkdayCalendar {
        &self.calendar
    }

    /// The end (China Standard Time) of the `days`-th working day after `from`'s day, and
    /// whether the calendar knew every day counted.
    pub fn working_days_due(&self, from: DateTime<Utc>, days: u32) -> (DateTime<Utc>, bool) {
        let (last, known) = self.calendar.working_days_after(local_date(from), days);
        (end_of_local_day(last), known)
    }

    /// Upload deadlines counted from `from`: the officer's return to the office, or where
    /// none was recorded, the recording's end.
    pub fn upload_due(&self, from: DateTime<Utc>) -> [(DeadlineKind, DateTime<Utc>, bool); 2] {
        let (hard, known) = self.working_days_due(from, 3);
        [
            (
                DeadlineKind::Upload24Hours,
                from + Duration::hours(24),
                true,
            ),
            (DeadlineKind::Upload3WorkingDays, hard, known),
        ]
    }

    pub fn classification_due(&self, uploaded_at: DateTime<Utc>) -> (DateTime<Utc>, bool) {
        self.working_days_due(uploaded_at, 2)
    }

    /// Art. 18 counts from the closure date (结案之日) as entered, a local date, not from when
    /// the case was closed in the catalogue.
    pub fn case_filing_due(&self, closed_on: NaiveDate) -> (DateTime<Utc>, bool) {
        let (last, known) = self.calendar.working_days_after(closed_on, 30);
        (end_of_local_day(last), known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cst(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        china_time()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn rules() -> DeadlineRules {
        DeadlineRules::new(WorkdayCalendar::shipped())
    }

    #[test]
    fn classification_is_due_at_local_midnight_after_two_working_days() {
        // Uploaded Thursday 2026-03-05 23:30 CST (15:30 UTC): due end of Monday 2026-03-09.
        let (due, known) = rules().classification_due(cst(2026, 3, 5, 23, 30));
        assert_eq!(due, cst(2026, 3, 10, 0, 0));
        assert!(known);
        // Uploaded Friday 2026-03-06 00:30 CST, which is still Thursday in UTC: the local date
        // decides, so it is due end of Tuesday.
        assert_eq!(
            rules().classification_due(cst(2026, 3, 6, 0, 30)).0,
            cst(2026, 3, 11, 0, 0)
        );
    }

    #[test]
    fn spring_festival_and_make_up_saturday_move_the_deadline() {
        // Uploaded Friday 2026-02-13: Saturday 14 is a make-up working day, then the festival
        // runs to 23 February, so the 2nd working day is Tuesday 24 February.
        assert_eq!(
            rules().classification_due(cst(2026, 2, 13, 10, 0)).0,
            cst(2026, 2, 25, 0, 0)
        );
        // Recorded Thursday 2026-02-12 evening: 3 working days are 13, 14 (Saturday) and 24.
        let [(kind24, due24, _), (kind3, due3, _)] = rules().upload_due(cst(2026, 2, 12, 20, 0));
        assert_eq!(
            (kind24, due24),
            (DeadlineKind::Upload24Hours, cst(2026, 2, 13, 20, 0))
        );
        assert_eq!(
            (kind3, due3),
            (DeadlineKind::Upload3WorkingDays, cst(2026, 2, 25, 0, 0))
        );
    }

    #[test]
    fn case_filing_counts_thirty_working_days() {
        // Closed Wednesday 2026-09-16. Counted by hand: 17, 18, 20 (make-up Sunday), 21-24 = 7;
        // Mid-Autumn 25-27 off; 28-30 = 10; National Day 1-7 October off; 8, 9, 10 (make-up
        // Saturday) = 13; 12-16, 19-23, 26-30 = 28; 2 and 3 November = 30.
        let (due, known) = rules().case_filing_due(local_date(cst(2026, 9, 16, 9, 0)));
        assert!(known);
        assert_eq!(due, cst(2026, 11, 4, 0, 0));
    }

    #[test]
    fn states_follow_completion_and_the_clock() {
        let due = cst(2026, 3, 10, 0, 0);
        let before = due - Duration::seconds(1);
        let eval = |done, now| {
            Deadline::evaluate(DeadlineKind::Classification, due, done, now, true).state
        };
        assert_eq!(eval(None, before), DeadlineState::Open);
        assert_eq!(eval(None, due), DeadlineState::Overdue);
        assert_eq!(
            eval(Some(before), due + Duration::days(9)),
            DeadlineState::Met
        );
        assert_eq!(
            eval(Some(due), due),
            DeadlineState::Overdue,
            "done at the due instant is late"
        );
    }

    #[test]
    fn a_special_circumstance_excuses_the_24_hours_never_the_3_working_days() {
        let due24 = cst(2026, 3, 3, 9, 0);
        let due3 = cst(2026, 3, 6, 0, 0);
        let states = |received, excuse| {
            let [soft, hard] = upload_deadlines(due24, due3, received, excuse, true, due3);
            (soft.state, hard.state)
        };
        let on_time = cst(2026, 3, 3, 8, 0);
        let a_day_late = cst(2026, 3, 4, 9, 0);
        let too_late = cst(2026, 3, 6, 9, 0);
        use DeadlineState::*;
        assert_eq!(states(on_time, false), (Met, Met));
        assert_eq!(states(on_time, true), (Met, Met));
        assert_eq!(states(a_day_late, false), (Overdue, Met));
        assert_eq!(states(a_day_late, true), (Excused, Met));
        assert_eq!(states(too_late, true), (Overdue, Overdue));
    }

    #[test]
    fn kinds_are_named_alike_in_json_and_metrics() {
        for kind in DeadlineKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
        }
    }

    #[test]
    fn deadlines_into_an_unknown_year_are_flagged() {
        assert!(!rules().classification_due(cst(2026, 12, 31, 9, 0)).1);
    }
}

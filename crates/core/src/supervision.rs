//! Supervision (监督, art. 6, 7, 8 and 25): the enforcement tasks (执法任务) a bureau plans for
//! the year, which recordings belong to each, the moments of art. 7 each task's recordings
//! must cover, the reasons art. 8 allows for not filming, and what a supervisor is shown:
//! tasks with no recording, and required moments nobody filmed.
//!
//! A recording belongs to a task by rule (one of the task's officers recorded it within the
//! task's window) or by hand; the rule is applied whenever a task is read, so a recording
//! uploaded late is linked as soon as it arrives.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// One of the moments art. 7 says must be filmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    pub number: u8,
    pub zh: &'static str,
    pub en: &'static str,
}

/// Art. 7's sixteen moments of an inspection, penalty or coercive measure.
pub const MOMENTS: [Moment; 16] = [
    Moment {
        number: 1,
        zh: "能够反映企业名称、概貌的标志性建筑",
        en: "a landmark showing the enterprise's name and overall view",
    },
    Moment {
        number: 2,
        zh: "向企业介绍执法目的、意义、重点及相关要求",
        en: "officers explain the purpose, focus and requirements of the inspection",
    },
    Moment {
        number: 3,
        zh: "依据现场检查方案对企业有关资料、现场进行执法检查",
        en: "documents and the site inspected according to the plan",
    },
    Moment {
        number: 4,
        zh: "通报执法检查情况、交换意见",
        en: "the findings told to the enterprise and views exchanged",
    },
    Moment {
        number: 5,
        zh: "告知当事人享有的权利、应履行的义务及监管监察指令",
        en: "the party told its rights, duties and the directives to carry out",
    },
    Moment {
        number: 6,
        zh: "就所需调查的问题进行询问",
        en: "the party or others questioned",
    },
    Moment {
        number: 7,
        zh: "现场勘验",
        en: "the site surveyed",
    },
    Moment {
        number: 8,
        zh: "在现场检查记录或执法文书上签署姓名和意见",
        en: "the enterprise's people sign the inspection record or documents",
    },
    Moment {
        number: 9,
        zh: "对企业采取现场处理措施",
        en: "on-site measures taken against the enterprise",
    },
    Moment {
        number: 10,
        zh: "调取原始凭证确有困难，照相、录像取证",
        en: "evidence photographed or filmed where originals cannot be taken",
    },
    Moment {
        number: 11,
        zh: "抽样取证不能提取原物，照相、录像取证",
        en: "samples photographed or filmed where they cannot be taken away",
    },
    Moment {
        number: 12,
        zh: "简易程序处罚或当场收缴罚款",
        en: "a summary penalty or a fine collected on the spot",
    },
    Moment {
        number: 13,
        zh: "留置送达执法文书",
        en: "documents served by leaving them at the party's office or home",
    },
    Moment {
        number: 14,
        zh: "公告送达执法文书",
        en: "documents served by public notice",
    },
    Moment {
        number: 15,
        zh: "对企业现场进行执法复查",
        en: "the site re-inspected",
    },
    Moment {
        number: 16,
        zh: "其他应当音像记录的内容",
        en: "anything else that must be filmed",
    },
];

/// The moment numbered `number`, if art. 7 has it.
pub fn moment(number: u8) -> Option<&'static Moment> {
    MOMENTS.iter().find(|m| m.number == number)
}

/// Which moments each kind of task must have filmed, when no rules are configured. The rest
/// of art. 7's moments happen only in some tasks (a sample taken, a document served by
/// notice) and are marked when they do.
pub const DEFAULT_REQUIRED_MOMENTS: [(&str, &[u8]); 4] = [
    ("行政检查", &[1, 2, 3, 4, 5, 8]),
    ("行政处罚", &[1, 5, 6, 8]),
    ("行政强制", &[1, 5, 8, 9]),
    ("复查", &[1, 8, 15]),
];

/// Why art. 8 says a task, or a moment of it, is not filmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotFilmedReason {
    /// 8(1): an explosive zone, and no explosion-proof recorder.
    ExplosiveZone,
    /// 8(2): military, commercial or technical secrets, or privacy, without the party's
    /// consent.
    SecretsWithoutConsent,
    /// 8(3): anything else not fit to be filmed (the note says what).
    Other,
    /// Not an art. 8 case: the moment did not happen in this task (no sample was taken).
    DidNotHappen,
}

impl NotFilmedReason {
    pub fn article(self) -> Option<&'static str> {
        match self {
            Self::ExplosiveZone => Some("8(1)"),
            Self::SecretsWithoutConsent => Some("8(2)"),
            Self::Other => Some("8(3)"),
            Self::DidNotHappen => None,
        }
    }
}

/// What a task holds, as planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskPlan {
    /// The plan's own number for the task, unique in the bureau (an import of the same plan
    /// twice makes each task once).
    pub external_id: String,
    /// The enterprise inspected (被检查单位).
    pub enterprise: String,
    /// 行政检查, 行政处罚, 行政强制, 复查, or another configured case type.
    pub kind: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The officers' numbers.
    pub officers: Vec<String>,
    #[serde(default)]
    pub place: Option<String>,
    /// The case it belongs to, by its reference.
    #[serde(default)]
    pub case_ref: Option<String>,
}

/// The longest window a task may have: a plan's task is a visit, not a season.
pub const MAX_WINDOW_DAYS: i64 = 31;
/// How long before a task's window a recording may start and still be the task's (the
/// officer switches the camera on on the way in).
pub const LEAD_MINUTES: i64 = 30;
/// How many tasks one import may hold.
pub const MAX_IMPORT: usize = 5_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("task kind {0:?} is not a configured case type")]
    UnknownKind(String),
    #[error("moment {0} is not one of art. 7's 16")]
    UnknownMoment(u8),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> TaskError {
    TaskError::Invalid {
        field,
        problem: problem.into(),
    }
}

impl TaskPlan {
    /// Checks the plan's fields and trims them; `kinds` are the configured task kinds.
    pub fn validated(mut self, kinds: &[&str]) -> Result<Self, TaskError> {
        let text = |field: &'static str, value: &mut String, max: usize| {
            *value = value.trim().to_owned();
            if value.is_empty() {
                Err(invalid(field, "is empty"))
            } else if value.chars().count() > max || value.chars().any(char::is_control) {
                Err(invalid(
                    field,
                    format!("must be at most {max} characters, no control characters"),
                ))
            } else {
                Ok(())
            }
        };
        text("external_id", &mut self.external_id, 64)?;
        text("enterprise", &mut self.enterprise, 200)?;
        text("kind", &mut self.kind, 32)?;
        if !kinds.contains(&self.kind.as_str()) {
            return Err(TaskError::UnknownKind(self.kind));
        }
        if self.ends_at <= self.starts_at {
            return Err(invalid("ends_at", "must be after starts_at"));
        }
        if self.ends_at - self.starts_at > Duration::days(MAX_WINDOW_DAYS) {
            return Err(invalid(
                "ends_at",
                format!("a task's window is at most {MAX_WINDOW_DAYS} days"),
            ));
        }
        let mut officers = BTreeSet::new();
        for officer in &mut self.officers {
            text("officers", officer, 32)?;
            officers.insert(officer.clone());
        }
        if officers.is_empty() {
            return Err(invalid("officers", "a task needs at least one officer"));
        }
        if officers.len() > 20 {
            return Err(invalid("officers", "at most 20 officers"));
        }
        self.officers = officers.into_iter().collect();
        for (field, value, max) in [
            ("place", &mut self.place, 200),
            ("case_ref", &mut self.case_ref, 64),
        ] {
            if let Some(v) = value {
                text(field, v, max)?;
            }
        }
        Ok(self)
    }
}

/// A plan row that could not be read: its line (CSV) or index (JSON, from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub row: usize,
    pub error: String,
}

/// The columns of a plan in CSV, in Chinese or English (a header row names them, in any
/// order). Officers are separated by `;`, `、` or spaces.
pub const CSV_COLUMNS: [(&str, &str); 8] = [
    ("external_id", "任务编号"),
    ("enterprise", "被检查单位"),
    ("kind", "执法类型"),
    ("starts_at", "开始时间"),
    ("ends_at", "结束时间"),
    ("officers", "执法人员"),
    ("place", "地点"),
    ("case_ref", "案件编号"),
];

/// Reads a plan in CSV. Times are RFC 3339, or `YYYY-MM-DD HH:MM` in China Standard Time.
/// Every row is read; any bad row fails the whole plan, with every bad row named.
pub fn parse_plan_csv(text: &str, kinds: &[&str]) -> Result<Vec<TaskPlan>, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header = match reader.headers() {
        Ok(header) => header.clone(),
        Err(e) => {
            return Err(vec![RowError {
                row: 1,
                error: format!("the header: {e}"),
            }])
        }
    };
    let mut columns = BTreeMap::new();
    for (index, name) in header.iter().enumerate() {
        match CSV_COLUMNS
            .iter()
            .find(|(en, zh)| *en == name || *zh == name)
        {
            Some((en, _)) => {
                columns.insert(*en, index);
            }
            None => {
                return Err(vec![RowError {
                    row: 1,
                    error: format!("unknown column {name:?}"),
                }])
            }
        }
    }
    for (required, zh) in &CSV_COLUMNS[..6] {
        if !columns.contains_key(required) {
            return Err(vec![RowError {
                row: 1,
                error: format!("the column {required} ({zh}) is missing"),
            }]);
        }
    }
    let mut plans = Vec::new();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let row = index + 2;
        if plans.len() + errors.len() >= MAX_IMPORT {
            errors.push(RowError {
                row,
                error: format!("a plan holds at most {MAX_IMPORT} tasks"),
            });
            break;
        }
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                errors.push(RowError {
                    row,
                    error: e.to_string(),
                });
                continue;
            }
        };
        let field = |name: &str| {
            columns
                .get(name)
                .and_then(|&i| record.get(i))
                .unwrap_or("")
                .to_owned()
        };
        let optional = |name: &str| Some(field(name)).filter(|v| !v.is_empty());
        let plan = (|| {
            TaskPlan {
                external_id: field("external_id"),
                enterprise: field("enterprise"),
                kind: field("kind"),
                starts_at: parse_time("starts_at", &field("starts_at"))?,
                ends_at: parse_time("ends_at", &field("ends_at"))?,
                officers: field("officers")
                    .split([';', '、', ' ', ','])
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned)
                    .collect(),
                place: optional("place"),
                case_ref: optional("case_ref"),
            }
            .validated(kinds)
        })();
        match plan {
            Ok(plan) => {
                plans.push(plan);
                rows.push(row);
            }
            Err(e) => errors.push(RowError {
                row,
                error: e.to_string(),
            }),
        }
    }
    duplicates(&plans, &rows, &mut errors);
    if errors.is_empty() {
        Ok(plans)
    } else {
        Err(errors)
    }
}

/// Checks a plan given as JSON (an array of tasks), as `parse_plan_csv` does.
pub fn check_plan(plans: Vec<TaskPlan>, kinds: &[&str]) -> Result<Vec<TaskPlan>, Vec<RowError>> {
    if plans.len() > MAX_IMPORT {
        return Err(vec![RowError {
            row: MAX_IMPORT + 1,
            error: format!("a plan holds at most {MAX_IMPORT} tasks"),
        }]);
    }
    let mut checked = Vec::new();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (index, plan) in plans.into_iter().enumerate() {
        match plan.validated(kinds) {
            Ok(plan) => {
                checked.push(plan);
                rows.push(index + 1);
            }
            Err(e) => errors.push(RowError {
                row: index + 1,
                error: e.to_string(),
            }),
        }
    }
    duplicates(&checked, &rows, &mut errors);
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(errors)
    }
}

/// Each task once per plan: a second row with a task's number is refused (`rows` are the
/// plans' rows in the file).
fn duplicates(plans: &[TaskPlan], rows: &[usize], errors: &mut Vec<RowError>) {
    let mut seen = BTreeMap::new();
    for (plan, &row) in plans.iter().zip(rows) {
        if let Some(first) = seen.get(plan.external_id.as_str()) {
            errors.push(RowError {
                row,
                error: format!("task {} is also in row {first}", plan.external_id),
            });
        } else {
            seen.insert(plan.external_id.as_str(), row);
        }
    }
    errors.sort_by_key(|e| e.row);
}

fn parse_time(field: &'static str, value: &str) -> Result<DateTime<Utc>, TaskError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Ok(time.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M")
        .ok()
        .and_then(|local| {
            local
                .and_local_timezone(crate::deadlines::china_time())
                .single()
        })
        .map(|time| time.with_timezone(&Utc))
        .ok_or_else(|| {
            invalid(
                field,
                format!("{value:?} is not a time (RFC 3339, or YYYY-MM-DD HH:MM in China time)"),
            )
        })
}

/// A recording as the linking rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub officer: String,
    pub recorded_at: DateTime<Utc>,
    /// As measured by the media workers; unknown counts as an instant.
    pub duration: Option<Duration>,
}

/// The rule that links a recording to a task without a person doing it: one of the task's
/// officers recorded it, and it ran within the task's window (starting at most
/// `LEAD_MINUTES` before it).
pub fn recorded_for(task: &TaskPlan, recording: &Recording) -> bool {
    let end = recording.recorded_at + recording.duration.unwrap_or_else(Duration::zero);
    task.officers.contains(&recording.officer)
        && recording.recorded_at <= task.ends_at
        && end >= task.starts_at
        && recording.recorded_at >= task.starts_at - Duration::minutes(LEAD_MINUTES)
}

/// How a recording came to be a task's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkRule {
    /// One of the task's officers recorded it within the task's window.
    OfficerAndTime,
    /// Someone linked it by hand.
    ByHand,
}

/// A moment as marked on a task: filmed in these recordings, or not filmed for a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MomentMark {
    pub moment: u8,
    /// The recordings that show it (clip ids).
    #[serde(default)]
    pub clips: Vec<String>,
    #[serde(default)]
    pub not_filmed: Option<NotFilmedReason>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Where a task's checklist stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Coverage {
    pub required: Vec<u8>,
    pub covered: Vec<u8>,
    /// Required moments not filmed for a reason art. 8 accepts (or that did not happen).
    pub excused: Vec<u8>,
    pub missing: Vec<u8>,
}

/// The checklist of a task of `required` moments, given its marks.
pub fn coverage(required: &[u8], marks: &[MomentMark]) -> Coverage {
    let covered: BTreeSet<u8> = marks
        .iter()
        .filter(|m| !m.clips.is_empty())
        .map(|m| m.moment)
        .collect();
    let excused: BTreeSet<u8> = marks
        .iter()
        .filter(|m| m.clips.is_empty() && m.not_filmed.is_some())
        .map(|m| m.moment)
        .collect();
    Coverage {
        required: required.to_vec(),
        covered: covered.iter().copied().collect(),
        excused: required
            .iter()
            .copied()
            .filter(|n| excused.contains(n) && !covered.contains(n))
            .collect(),
        missing: required
            .iter()
            .copied()
            .filter(|n| !covered.contains(n) && !excused.contains(n))
            .collect(),
    }
}

/// What supervision finds about a task once its window has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskFinding {
    /// Art. 25(1): the task's window ended and nothing was recorded for it, and no art. 8
    /// reason was given.
    NoRecording,
    /// Art. 7: required moments nobody filmed or excused.
    MomentsMissing { moments: Vec<u8> },
    /// Art. 8: the task was not filmed, for this reason (counted, not a fault).
    NotFilmed { reason: NotFilmedReason },
    /// Art. 16: recordings of the task uploaded after their deadline (without a special
    /// circumstance that excuses it).
    LateUpload { clips: Vec<String> },
    /// Art. 17: recordings of the task not classified within their 2 working days.
    ClassificationOverdue { clips: Vec<String> },
}

/// How a recording of a task stands against its deadlines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingStanding {
    pub clip: String,
    /// Uploaded after its deadline, unexcused.
    pub late_upload: bool,
    /// Classified late, or still not classified after its deadline.
    pub late_classification: bool,
}

impl TaskFinding {
    /// Its `kind`, as the JSON names it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::NoRecording => "no_recording",
            Self::MomentsMissing { .. } => "moments_missing",
            Self::NotFilmed { .. } => "not_filmed",
            Self::LateUpload { .. } => "late_upload",
            Self::ClassificationOverdue { .. } => "classification_overdue",
        }
    }

    pub fn article(&self) -> &'static str {
        match self {
            Self::NoRecording => "25(1)",
            Self::MomentsMissing { .. } => "7",
            Self::NotFilmed { reason } => reason.article().unwrap_or("8"),
            Self::LateUpload { .. } => "16",
            Self::ClassificationOverdue { .. } => "17",
        }
    }
}

/// The findings of a task at `now`: none while its window is open.
pub fn findings(
    task: &TaskPlan,
    recordings: &[RecordingStanding],
    not_filmed: Option<NotFilmedReason>,
    coverage: &Coverage,
    now: DateTime<Utc>,
) -> Vec<TaskFinding> {
    if now < task.ends_at {
        return Vec::new();
    }
    if let Some(reason) = not_filmed {
        return vec![TaskFinding::NotFilmed { reason }];
    }
    if recordings.is_empty() {
        return vec![TaskFinding::NoRecording];
    }
    let mut found = Vec::new();
    if !coverage.missing.is_empty() {
        found.push(TaskFinding::MomentsMissing {
            moments: coverage.missing.clone(),
        });
    }
    let clips = |late: fn(&RecordingStanding) -> bool| -> Vec<String> {
        recordings
            .iter()
            .filter(|r| late(r))
            .map(|r| r.clip.clone())
            .collect()
    };
    let late = clips(|r| r.late_upload);
    if !late.is_empty() {
        found.push(TaskFinding::LateUpload { clips: late });
    }
    let unclassified = clips(|r| r.late_classification);
    if !unclassified.is_empty() {
        found.push(TaskFinding::ClassificationOverdue {
            clips: unclassified,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [&str; 4] = ["行政检查", "行政处罚", "行政强制", "复查"];

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn task() -> TaskPlan {
        TaskPlan {
            external_id: "2026-JC-001".into(),
            enterprise: "华东化工有限公司".into(),
            kind: "行政检查".into(),
            starts_at: at("2026-10-12T09:00:00+08:00"),
            ends_at: at("2026-10-12T11:00:00+08:00"),
            officers: vec!["031234".into(), "031235".into()],
            place: None,
            case_ref: None,
        }
    }

    #[test]
    fn a_recording_is_the_tasks_when_its_officer_filmed_within_the_window() {
        let task = task();
        let rec = |officer: &str, when: &str, minutes: i64| Recording {
            officer: officer.into(),
            recorded_at: at(when),
            duration: Some(Duration::minutes(minutes)),
        };
        assert!(recorded_for(
            &task,
            &rec("031234", "2026-10-12T09:10:00+08:00", 5)
        ));
        // Started on the way in, ran into the window.
        assert!(recorded_for(
            &task,
            &rec("031235", "2026-10-12T08:45:00+08:00", 20)
        ));
        // Another officer, the same time.
        assert!(!recorded_for(
            &task,
            &rec("039999", "2026-10-12T09:10:00+08:00", 5)
        ));
        // Ended before the window opened, or started after it closed.
        assert!(!recorded_for(
            &task,
            &rec("031234", "2026-10-12T08:00:00+08:00", 10)
        ));
        assert!(!recorded_for(
            &task,
            &rec("031234", "2026-10-12T11:01:00+08:00", 10)
        ));
        // A long recording started hours before is another errand's.
        assert!(!recorded_for(
            &task,
            &rec("031234", "2026-10-12T06:00:00+08:00", 240)
        ));
    }

    #[test]
    fn a_plan_in_csv_is_read_whole_or_refused_row_by_row() {
        let csv = "\u{feff}任务编号,被检查单位,执法类型,开始时间,结束时间,执法人员,地点\n\
                   2026-JC-001,华东化工有限公司,行政检查,2026-10-12 09:00,2026-10-12 11:00,031234、031235,浦东新区\n\
                   2026-CF-002,\"Acme, Ltd.\",行政处罚,2026-10-13T14:00:00+08:00,2026-10-13T16:00:00+08:00,031236,\n";
        let plans = parse_plan_csv(csv, &KINDS).unwrap();
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].officers, vec!["031234", "031235"]);
        assert_eq!(plans[0].starts_at, at("2026-10-12T01:00:00Z"));
        assert_eq!(plans[0].place.as_deref(), Some("浦东新区"));
        assert_eq!(plans[1].enterprise, "Acme, Ltd.");
        assert_eq!(plans[1].place, None);

        let bad = "external_id,enterprise,kind,starts_at,ends_at,officers\n\
                   A,X,行政检查,2026-10-12 09:00,2026-10-12 08:00,1\n\
                   B,X,踏勘,2026-10-12 09:00,2026-10-12 10:00,1\n\
                   C,X,行政检查,yesterday,2026-10-12 10:00,1\n\
                   D,X,行政检查,2026-10-12 09:00,2026-10-12 10:00,\n\
                   E,X,行政检查,2026-10-12 09:00,2026-10-12 10:00,1\n\
                   E,Y,行政检查,2026-10-12 09:00,2026-10-12 10:00,1\n";
        let errors = parse_plan_csv(bad, &KINDS).unwrap_err();
        let rows: Vec<usize> = errors.iter().map(|e| e.row).collect();
        assert_eq!(rows, vec![2, 3, 4, 5, 7], "{errors:?}");
        assert!(errors[1].error.contains("踏勘"));
        assert!(errors[4].error.contains("row 6"));

        let missing = parse_plan_csv("external_id,enterprise\nA,B\n", &KINDS).unwrap_err();
        assert!(missing[0].error.contains("kind"));
        let unknown = parse_plan_csv("external_id,colour\n", &KINDS).unwrap_err();
        assert!(unknown[0].error.contains("colour"));
    }

    #[test]
    fn findings_wait_for_the_window_to_end_and_respect_art_8() {
        let task = task();
        let required = [1, 2, 3, 4, 5, 8];
        let during = at("2026-10-12T10:00:00+08:00");
        let after = at("2026-10-12T12:00:00+08:00");
        let none = coverage(&required, &[]);
        assert!(findings(&task, &[], None, &none, during).is_empty());
        assert_eq!(
            findings(&task, &[], None, &none, after),
            vec![TaskFinding::NoRecording]
        );
        assert_eq!(
            findings(
                &task,
                &[],
                Some(NotFilmedReason::ExplosiveZone),
                &none,
                after
            ),
            vec![TaskFinding::NotFilmed {
                reason: NotFilmedReason::ExplosiveZone
            }]
        );
        let mark = |moment, clips: &[&str], not_filmed| MomentMark {
            moment,
            clips: clips.iter().map(|c| (*c).to_owned()).collect(),
            not_filmed,
            note: None,
        };
        let marks = [
            mark(1, &["a"], None),
            mark(2, &["a", "b"], None),
            mark(3, &["b"], None),
            mark(4, &[], Some(NotFilmedReason::SecretsWithoutConsent)),
            mark(9, &["b"], None),
        ];
        let partly = coverage(&required, &marks);
        assert_eq!(partly.covered, vec![1, 2, 3, 9]);
        assert_eq!(partly.excused, vec![4]);
        assert_eq!(partly.missing, vec![5, 8]);
        let standing = |clip: &str, late_upload, late_classification| RecordingStanding {
            clip: clip.into(),
            late_upload,
            late_classification,
        };
        let on_time = [standing("a", false, false), standing("b", false, false)];
        assert_eq!(
            findings(&task, &on_time, None, &partly, after),
            vec![TaskFinding::MomentsMissing {
                moments: vec![5, 8]
            }]
        );
        let late = [standing("a", true, true), standing("b", false, true)];
        assert_eq!(
            findings(&task, &late, None, &partly, after),
            vec![
                TaskFinding::MomentsMissing {
                    moments: vec![5, 8]
                },
                TaskFinding::LateUpload {
                    clips: vec!["a".into()]
                },
                TaskFinding::ClassificationOverdue {
                    clips: vec!["a".into(), "b".into()]
                },
            ]
        );
        for finding in findings(&task, &late, None, &partly, after) {
            assert_eq!(
                serde_json::to_value(&finding).unwrap()["kind"],
                finding.name()
            );
        }
        assert_eq!(TaskFinding::NoRecording.article(), "25(1)");
    }

    #[test]
    fn the_default_checklists_name_art_7_moments() {
        for (kind, moments) in DEFAULT_REQUIRED_MOMENTS {
            assert!(KINDS.contains(&kind));
            assert!(moments.iter().all(|n| moment(*n).is_some()));
        }
        assert_eq!(
            MOMENTS.iter().map(|m| m.number).collect::<Vec<_>>(),
            (1..=16).collect::<Vec<_>>()
        );
    }
}

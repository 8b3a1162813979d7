//! The kinds of record the rules name (art. 5): audio-visual records (录像, 录音, 照相) and text
//! records (文字记录) such as the documents served on a party and the transcripts of an
//! inquiry. Every kind takes the same custody path as a video clip; what differs is how it is
//! looked at (a listening copy, an upright photo, a document's first page) and where it sits
//! in a case file (案卷, art. 18): the enforcement stage it belongs to, and which documents a
//! case of a given type must hold before it can be filed.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a record is. A catalogued clip has always been a video; the others arrived with the
/// record kinds. The kind is decided from the file's contents by the media workers, except
/// that a record given a document type is a document whatever its format (a scanned page).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// 录像: pictures with or without sound.
    Video,
    /// 录音: sound only (a phone's or recorder's file, or a video file with no usable picture).
    Audio,
    /// 照相: one still picture.
    Photo,
    /// 文字记录: a PDF, or a scanned page given a document type.
    Document,
}

impl RecordKind {
    pub const ALL: [RecordKind; 4] = [Self::Video, Self::Audio, Self::Photo, Self::Document];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Photo => "photo",
            Self::Document => "document",
        }
    }

    /// Whether the record plays over time (a timeline with continuity checks and a running
    /// clock track).
    pub fn is_timed(self) -> bool {
        matches!(self, Self::Video | Self::Audio)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record kind {0:?}: one of video, audio, photo, document")]
pub struct UnknownKind(pub String);

impl FromStr for RecordKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// The enforcement stages a case file is ordered by (启动 / 调查取证 / 审查决定 / 送达执行 /
/// 归档).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 启动: plans, notices, complaints and the approval to open a case.
    Start,
    /// 调查取证: inspection and inquiry, and every recording, photo and video.
    Investigation,
    /// 审查决定: opinions, hearings, collective discussion and the decision.
    Decision,
    /// 送达执行: serving the decision and carrying it out.
    Service,
    /// 归档: the closing papers.
    Archive,
}

impl Stage {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Start => "启动",
            Self::Investigation => "调查取证",
            Self::Decision => "审查决定",
            Self::Service => "送达执行",
            Self::Archive => "归档",
        }
    }
}

/// The default document types: the text records art. 5, 6 and 10 name, each with the stage
/// of a case it belongs to.
pub const DEFAULT_DOCUMENT_TYPES: &[(&str, Stage)] = &[
    ("年度监督检查计划", Stage::Start),
    ("督导检查通知", Stage::Start),
    ("投诉举报信件", Stage::Start),
    ("领导批示", Stage::Start),
    ("立案审批表", Stage::Start),
    ("现场检查记录", Stage::Investigation),
    ("调查笔录", Stage::Investigation),
    ("询问笔录", Stage::Investigation),
    ("当事人证件资料", Stage::Investigation),
    ("鉴定意见", Stage::Investigation),
    ("专家论证报告", Stage::Decision),
    ("听证报告", Stage::Decision),
    ("内部程序审批表", Stage::Decision),
    ("集体讨论记录", Stage::Decision),
    ("行政执法文书", Stage::Decision),
    ("处罚决定书", Stage::Decision),
    ("强制措施决定书", Stage::Decision),
    ("送达回证", Stage::Service),
    ("结案审批表", Stage::Archive),
];

/// The default case types (the kinds of enforcement action of art. 6 and 7).
pub const DEFAULT_CASE_TYPES: &[&str] = &["行政检查", "行政处罚", "行政强制", "复查"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordRulesError {
    #[error("unknown document type {given:?}; the configured types are: {known}")]
    UnknownDocumentType { given: String, known: String },
    #[error("unknown case type {given:?}; the configured types are: {known}")]
    UnknownCaseType { given: String, known: String },
    #[error("the case file rules name document type {0:?}, which is not a configured type")]
    RequirementNotAType(String),
    #[error("document type {0:?} is configured twice")]
    Duplicate(String),
    #[error("a document type must be 1 to 40 characters without control characters: {0:?}")]
    BadName(String),
    #[error("the checklist of {kind:?} names moment {moment}; art. 7 has moments 1 to 16")]
    UnknownMoment { kind: String, moment: u8 },
    #[error("{0}")]
    Syntax(String),
}

/// The rules as a file gives them (`--record-rules`, as data/record-rules.toml); a section
/// left out keeps the default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    case_types: Option<Vec<String>>,
    document_types: Option<Vec<DocumentTypeEntry>>,
    /// Per case type, its requirements; each a list of types any one of which meets it.
    required: Option<BTreeMap<String, Vec<Vec<String>>>>,
    /// Per case (task) type, the art. 7 moments its recordings must cover.
    moments: Option<BTreeMap<String, Vec<u8>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentTypeEntry {
    name: String,
    stage: Stage,
}

/// One requirement of a case file: a document of one of these types (调查笔录 or 询问笔录).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Requirement {
    pub any_of: Vec<String>,
}

impl Requirement {
    /// How the requirement reads in a refusal: `调查笔录/询问笔录` (either will do).
    pub fn describe(&self) -> String {
        self.any_of.join("/")
    }
}

/// The document types, the case types, and what each case type's file must hold before it is
/// filed (art. 18). Configurable; the defaults follow the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRules {
    document_types: Vec<(String, Stage)>,
    case_types: Vec<String>,
    required: BTreeMap<String, Vec<Requirement>>,
    /// Per case type, the moments of art. 7 a task of that type must have filmed.
    moments: BTreeMap<String, Vec<u8>>,
}

impl Default for RecordRules {
    fn default() -> Self {
        let document_types = DEFAULT_DOCUMENT_TYPES
            .iter()
            .map(|(name, stage)| ((*name).to_owned(), *stage))
            .collect();
        let case_types = DEFAULT_CASE_TYPES.iter().map(|t| (*t).to_owned()).collect();
        let one = |t: &str| Requirement {
            any_of: vec![t.to_owned()],
        };
        let mut required = BTreeMap::new();
        required.insert(
            "行政处罚".to_owned(),
            vec![
                one("立案审批表"),
                Requirement {
                    any_of: vec!["调查笔录".to_owned(), "询问笔录".to_owned()],
                },
                one("处罚决定书"),
                one("送达回证"),
            ],
        );
        required.insert(
            "行政强制".to_owned(),
            vec![one("强制措施决定书"), one("送达回证")],
        );
        required.insert("行政检查".to_owned(), vec![one("现场检查记录")]);
        let moments = crate::supervision::DEFAULT_REQUIRED_MOMENTS
            .iter()
            .map(|(kind, moments)| ((*kind).to_owned(), moments.to_vec()))
            .collect();
        Self {
            document_types,
            case_types,
            required,
            moments,
        }
    }
}

fn check_name(name: &str) -> Result<(), RecordRulesError> {
    let count = name.chars().count();
    if count == 0 || count > 40 || name.chars().any(char::is_control) || name.trim() != name {
        return Err(RecordRulesError::BadName(name.to_owned()));
    }
    Ok(())
}

impl RecordRules {
    /// Rules from a TOML file; sections it leaves out keep their defaults, and what it gives
    /// is checked as `new` checks it.
    pub fn from_toml(text: &str) -> Result<Self, RecordRulesError> {
        let file: RulesFile =
            toml::from_str(text).map_err(|e| RecordRulesError::Syntax(e.to_string()))?;
        let defaults = Self::default();
        let default_moments = defaults.moments.clone();
        let given_moments = file.moments;
        let rules = Self::new(
            file.document_types
                .map_or(defaults.document_types, |types| {
                    types.into_iter().map(|t| (t.name, t.stage)).collect()
                }),
            file.case_types.unwrap_or(defaults.case_types),
            file.required.map_or(defaults.required, |required| {
                required
                    .into_iter()
                    .map(|(case_type, requirements)| {
                        let requirements = requirements
                            .into_iter()
                            .map(|any_of| Requirement { any_of })
                            .collect();
                        (case_type, requirements)
                    })
                    .collect()
            }),
        )?;
        // Without a [moments] section, the default checklists of the case types kept.
        let moments = given_moments.unwrap_or_else(|| {
            default_moments
                .into_iter()
                .filter(|(kind, _)| rules.case_types.contains(kind))
                .collect()
        });
        rules.with_moments(moments)
    }

    /// The same rules with these art. 7 checklists: each names a configured case type and
    /// moments 1 to 16.
    pub fn with_moments(
        mut self,
        moments: BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, RecordRulesError> {
        for (kind, numbers) in &moments {
            self.case_type(kind)?;
            if let Some(&moment) = numbers
                .iter()
                .find(|n| crate::supervision::moment(**n).is_none())
            {
                return Err(RecordRulesError::UnknownMoment {
                    kind: kind.clone(),
                    moment,
                });
            }
        }
        self.moments = moments;
        Ok(self)
    }

    /// The art. 7 moments a task of `kind` must have filmed (none for a type without a
    /// checklist).
    pub fn required_moments(&self, kind: &str) -> &[u8] {
        self.moments.get(kind).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Rules of one's own: every requirement must name configured document types.
    pub fn new(
        document_types: Vec<(String, Stage)>,
        case_types: Vec<String>,
        required: BTreeMap<String, Vec<Requirement>>,
    ) -> Result<Self, RecordRulesError> {
        let mut seen = std::collections::BTreeSet::new();
        for (name, _) in &document_types {
            check_name(name)?;
            if !seen.insert(name.as_str()) {
                return Err(RecordRulesError::Duplicate(name.clone()));
            }
        }
        for case_type in &case_types {
            check_name(case_type)?;
        }
        let rules = Self {
            document_types,
            case_types,
            required,
            moments: BTreeMap::new(),
        };
        for (case_type, requirements) in &rules.required {
            rules.case_type(case_type)?;
            for name in requirements.iter().flat_map(|r| r.any_of.iter()) {
                if rules.stage_of_type(name).is_none() {
                    return Err(RecordRulesError::RequirementNotAType(name.clone()));
                }
            }
        }
        Ok(rules)
    }

    pub fn document_types(&self) -> impl Iterator<Item = (&str, Stage)> {
        self.document_types.iter().map(|(n, s)| (n.as_str(), *s))
    }

    pub fn case_types(&self) -> &[String] {
        &self.case_types
    }

    fn stage_of_type(&self, name: &str) -> Option<Stage> {
        self.document_types
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s)
    }

    /// A document type as given, if it is one of the configured ones.
    pub fn document_type(&self, given: &str) -> Result<String, RecordRulesError> {
        let given = given.trim();
        match self.stage_of_type(given) {
            Some(_) => Ok(given.to_owned()),
            None => Err(RecordRulesError::UnknownDocumentType {
                given: given.to_owned(),
                known: self
                    .document_types
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// A case type as given, if it is one of the configured ones.
    pub fn case_type(&self, given: &str) -> Result<String, RecordRulesError> {
        let given = given.trim();
        if self.case_types.iter().any(|t| t == given) {
            Ok(given.to_owned())
        } else {
            Err(RecordRulesError::UnknownCaseType {
                given: given.to_owned(),
                known: self.case_types.join(", "),
            })
        }
    }

    /// The stage of a case a record belongs to: a document by its type (an unknown type and
    /// an untyped document go with the investigation), every recording, photo and video to
    /// the investigation (调查取证).
    pub fn stage_of(&self, kind: RecordKind, document_type: Option<&str>) -> Stage {
        match (kind, document_type) {
            (RecordKind::Document, Some(t)) => {
                self.stage_of_type(t).unwrap_or(Stage::Investigation)
            }
            _ => Stage::Investigation,
        }
    }

    /// What a case of `case_type` must hold before it is filed.
    pub fn requirements(&self, case_type: &str) -> &[Requirement] {
        self.required
            .get(case_type)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The requirements of `case_type` that the document types present do not meet, in the
    /// order they are configured. Empty: the case file is complete.
    pub fn missing<'a>(&'a self, case_type: &str, present: &[&str]) -> Vec<&'a Requirement> {
        self.requirements(case_type)
            .iter()
            .filter(|r| !r.any_of.iter().any(|t| present.contains(&t.as_str())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_unknown_ones_are_named() {
        for kind in RecordKind::ALL {
            assert_eq!(kind.as_str().parse::<RecordKind>(), Ok(kind));
        }
        let e = "pdf".parse::<RecordKind>().unwrap_err();
        assert!(e.to_string().contains("\"pdf\""), "{e}");
        assert!(RecordKind::Audio.is_timed() && !RecordKind::Photo.is_timed());
    }

    #[test]
    fn a_penalty_case_needs_its_four_documents_and_either_transcript() {
        let rules = RecordRules::default();
        let all = ["立案审批表", "询问笔录", "处罚决定书", "送达回证"];
        assert!(rules.missing("行政处罚", &all).is_empty());
        let without_receipt = ["立案审批表", "调查笔录", "处罚决定书"];
        let missing: Vec<String> = rules
            .missing("行政处罚", &without_receipt)
            .iter()
            .map(|r| r.describe())
            .collect();
        assert_eq!(missing, vec!["送达回证"]);
        let none = rules.missing("行政处罚", &[]);
        assert_eq!(none.len(), 4);
        assert_eq!(none[1].describe(), "调查笔录/询问笔录");
        // A type without requirements files with whatever it holds.
        assert!(rules.missing("复查", &[]).is_empty());
    }

    #[test]
    fn records_sort_into_the_stages_of_a_case() {
        let rules = RecordRules::default();
        assert_eq!(
            rules.stage_of(RecordKind::Document, Some("立案审批表")),
            Stage::Start
        );
        assert_eq!(
            rules.stage_of(RecordKind::Document, Some("送达回证")),
            Stage::Service
        );
        assert_eq!(
            rules.stage_of(RecordKind::Audio, None),
            Stage::Investigation
        );
        assert_eq!(
            rules.stage_of(RecordKind::Document, Some("自定义")),
            Stage::Investigation
        );
        assert!(Stage::Start < Stage::Investigation && Stage::Service < Stage::Archive);
    }

    #[test]
    fn unknown_types_are_refused_with_the_known_ones_listed() {
        let rules = RecordRules::default();
        assert_eq!(rules.document_type(" 送达回证 ").unwrap(), "送达回证");
        let e = rules.document_type("收据").unwrap_err().to_string();
        assert!(e.contains("收据") && e.contains("送达回证"), "{e}");
        assert!(rules.case_type("行政处罚").is_ok());
        assert!(rules.case_type("刑事").is_err());
    }

    #[test]
    fn the_shipped_rules_file_is_the_default() {
        let shipped = RecordRules::from_toml(include_str!("../../../data/record-rules.toml"));
        assert_eq!(shipped.unwrap(), RecordRules::default());
    }

    #[test]
    fn rules_read_from_a_file_keep_the_defaults_they_leave_out() {
        let rules = RecordRules::from_toml(
            r#"
case_types = ["行政处罚", "专项督导"]
[required]
"专项督导" = [["督导检查通知"], ["现场检查记录", "调查笔录"]]
"#,
        )
        .unwrap();
        assert!(rules.case_type("专项督导").is_ok());
        assert!(
            rules.case_type("行政检查").is_err(),
            "the list was replaced"
        );
        assert!(
            rules.document_type("送达回证").is_ok(),
            "default document types kept"
        );
        let missing = rules.missing("专项督导", &["调查笔录"]);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].describe(), "督导检查通知");
        assert!(
            rules.requirements("行政处罚").is_empty(),
            "required was replaced"
        );
        let typo = RecordRules::from_toml("[required]\n\"行政处罚\" = [[\"送达回執\"]]\n");
        assert_eq!(
            typo.unwrap_err(),
            RecordRulesError::RequirementNotAType("送达回執".into())
        );
        let unknown = RecordRules::from_toml("case_type = []").unwrap_err();
        assert!(unknown.to_string().contains("case_type"), "{unknown}");
        assert!(
            RecordRules::from_toml("[[document_types]]\nname = \"x\"\nstage = \"later\"").is_err()
        );
    }

    #[test]
    fn configured_rules_must_name_configured_types() {
        let mut required = BTreeMap::new();
        required.insert(
            "行政处罚".to_owned(),
            vec![Requirement {
                any_of: vec!["不存在".to_owned()],
            }],
        );
        let e = RecordRules::new(
            vec![("送达回证".to_owned(), Stage::Service)],
            vec!["行政处罚".to_owned()],
            required,
        )
        .unwrap_err();
        assert_eq!(e, RecordRulesError::RequirementNotAType("不存在".into()));
        let duplicate = RecordRules::new(
            vec![
                ("送达回证".to_owned(), Stage::Service),
                ("送达回证".to_owned(), Stage::Start),
            ],
            vec![],
            BTreeMap::new(),
        );
        assert!(matches!(duplicate, Err(RecordRulesError::Duplicate(_))));
    }
}

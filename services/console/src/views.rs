//! What the pages show, read from the API's JSON and put into words and China Standard Time,
//! and the templates that show it.

use askama::Template;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;

use crate::i18n::{Lang, Messages};

/// China Standard Time, in which every time is shown (checked when compiling).
pub(crate) const CST: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// `2026-02-14 09:30` in China Standard Time.
pub fn when(at: &DateTime<Utc>) -> String {
    at.with_timezone(&CST).format("%Y-%m-%d %H:%M").to_string()
}

/// The frame every page shares: language, links, the signed-in person's CSRF token.
pub struct Chrome {
    pub t: &'static Messages,
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub stylesheet: String,
    pub script: String,
    /// Present when someone is signed in (the sign-out form needs it).
    pub csrf: Option<String>,
    /// This page's address, for the language switch to come back to.
    pub here: String,
}

impl Chrome {
    pub fn new(lang: Lang, csrf: Option<String>, here: String) -> Self {
        Self {
            t: lang.messages(),
            lang: lang.code(),
            other_lang: lang.other().code(),
            other_lang_name: lang.other().messages().get("lang.name"),
            stylesheet: crate::assets::stylesheet(),
            script: crate::assets::script(),
            csrf,
            here,
        }
    }

    /// The CSRF token for a form (empty when signed out: the server refuses the form then).
    pub fn csrf(&self) -> &str {
        self.csrf.as_deref().unwrap_or_default()
    }

    /// The language switch's address, coming back here.
    pub fn switch_href(&self) -> String {
        format!(
            "/language/{}?next={}",
            self.other_lang,
            url_encode(&self.here)
        )
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn url_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

// ---- What the API answers (only the fields the pages use) ----

#[derive(Debug, Clone, Deserialize)]
pub struct ApiDeadline {
    pub kind: String,
    pub due: DateTime<Utc>,
    pub state: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiClip {
    pub id: String,
    pub device: String,
    pub officer: String,
    pub recorded_at: DateTime<Utc>,
    pub original_name: String,
    pub state: String,
    #[serde(default)]
    pub canonical_name: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub place: Option<String>,
    #[serde(default)]
    pub matter: Option<String>,
    #[serde(default)]
    pub party: Option<String>,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
    #[serde(default)]
    pub important: bool,
    #[serde(default)]
    pub classified_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub classified_by: Option<String>,
    #[serde(default)]
    pub case_ref: Option<String>,
    pub sha256: String,
    pub size_bytes: u64,
    pub received_at: DateTime<Utc>,
    #[serde(default)]
    pub confidentiality: String,
    #[serde(default)]
    pub legal_hold: bool,
    #[serde(default)]
    pub deadlines: Vec<ApiDeadline>,
    /// `video`, `audio`, `photo` or `document`; absent until the media workers have looked.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub document_type: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ApiClipPage {
    pub items: Vec<ApiClip>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiFinding {
    pub kind: String,
    pub severity: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub position_seconds: Option<f64>,
    #[serde(default)]
    pub size_seconds: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiTransition {
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub from: Option<String>,
    pub to: String,
}

#[derive(Debug, Deserialize)]
pub struct ApiClipDetail {
    #[serde(flatten)]
    pub clip: ApiClip,
    #[serde(default)]
    pub history: Vec<ApiTransition>,
    #[serde(default)]
    pub findings: Vec<ApiFinding>,
    #[serde(default)]
    pub media: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct ApiSimilar {
    #[serde(default)]
    pub items: Vec<ApiMatch>,
}

#[derive(Debug, Deserialize)]
pub struct ApiMatch {
    pub clip_id: String,
    /// Where the other clip's first second lies in this one.
    #[serde(default)]
    pub offset_seconds: i64,
    #[serde(default)]
    pub overlap_seconds: u32,
}

// ---- What the pages show ----

/// A clip in a list: its name, who and when, its state and its classification deadline.
pub struct ClipRow {
    pub id: String,
    pub name: String,
    pub device: String,
    pub officer: String,
    pub recorded: String,
    pub state: String,
    pub classified: bool,
    pub important: bool,
    pub category: String,
    /// The record's kind in the person's language, with a document's type.
    pub kind: String,
    /// The classification deadline (art. 17), while it matters.
    pub due: Option<Due>,
}

pub struct Due {
    pub at: String,
    pub overdue: bool,
    /// "3 h left", "overdue by 1 d 2 h".
    pub left: String,
}

impl ClipRow {
    pub fn new(clip: &ApiClip, t: &Messages, now: DateTime<Utc>) -> Self {
        let due = clip
            .deadlines
            .iter()
            .find(|d| d.kind == "classification" && clip.classified_at.is_none())
            .map(|d| Due::new(d, t, now));
        Self {
            id: clip.id.clone(),
            name: clip
                .canonical_name
                .clone()
                .unwrap_or_else(|| clip.original_name.clone()),
            device: clip.device.clone(),
            officer: clip.officer.clone(),
            recorded: when(&clip.recorded_at),
            state: t.get(&state_key(&clip.state)).to_owned(),
            classified: clip.classified_at.is_some(),
            important: clip.important,
            category: clip.category.clone().unwrap_or_default(),
            kind: match (&clip.kind, &clip.document_type) {
                (_, Some(document_type)) => {
                    format!("{} · {document_type}", t.get("kind.document"))
                }
                (Some(kind), None) => t.get(&format!("kind.{kind}")).to_owned(),
                (None, None) => String::new(),
            },
            due,
        }
    }
}

fn state_key(state: &str) -> String {
    format!("state.{state}")
}

impl Due {
    fn new(deadline: &ApiDeadline, t: &Messages, now: DateTime<Utc>) -> Self {
        let overdue = deadline.state == "overdue" || deadline.due < now;
        let span = if overdue {
            now - deadline.due
        } else {
            deadline.due - now
        };
        let hours = span.num_hours();
        let amount = if hours >= 48 {
            format!(
                "{} {} {} {}",
                hours / 24,
                t.get("time.days"),
                hours % 24,
                t.get("time.hours")
            )
        } else {
            format!("{} {}", hours.max(0), t.get("time.hours"))
        };
        let left = if overdue {
            format!("{} {amount}", t.get("due.overdue_by"))
        } else {
            format!("{} {amount}", t.get("due.left"))
        };
        Self {
            at: when(&deadline.due),
            overdue,
            left,
        }
    }
}

pub struct FindingRow {
    pub kind: String,
    pub severity: String,
    pub detail: String,
    /// Where in the clip, when the finding has a place: seconds, and as `m:ss`.
    pub at: Option<(f64, String)>,
}

impl FindingRow {
    pub fn new(finding: &ApiFinding, t: &Messages) -> Self {
        let kind_key = format!("finding.{}", finding.kind);
        let kind = match t.get(&kind_key) {
            text if text == kind_key => finding.kind.clone(),
            text => text.to_owned(),
        };
        Self {
            kind,
            severity: finding.severity.clone(),
            detail: finding.detail.clone(),
            at: finding.position_seconds.map(|s| {
                (
                    s,
                    format!("{}:{:04.1}", (s / 60.0).floor() as u64, s % 60.0),
                )
            }),
        }
    }
}

pub struct SimilarRow {
    pub id: String,
    /// Where to open the other clip: the moment this clip's start lies in it (0 or later).
    pub open_at_seconds: i64,
    pub offset_seconds: i64,
    pub overlap_seconds: u32,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub page: Chrome,
    pub next: String,
    pub bureau: String,
    pub username: String,
    /// Why the last attempt failed, if it did.
    pub problem: Option<String>,
    /// The form's token, matched against the login cookie set with the page (login CSRF).
    pub login_check: String,
}

/// A case as the API lists it (its record flattened beside its filing deadline).
#[derive(Debug, Deserialize)]
pub struct ApiCase {
    pub id: String,
    pub reference: String,
    pub title: String,
    pub state: String,
    pub opened_at: DateTime<Utc>,
    #[serde(default)]
    pub closed_on: Option<String>,
    #[serde(default)]
    pub filed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub filing_deadline: Option<ApiDeadline>,
    #[serde(default)]
    pub case_type: Option<String>,
    #[serde(default)]
    pub missing_documents: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct ApiCasePage {
    pub items: Vec<ApiCase>,
}

pub struct CaseRow {
    pub id: String,
    pub reference: String,
    pub title: String,
    pub state: String,
    pub state_label: String,
    pub opened: String,
    pub closed_on: String,
    pub filed: String,
    /// The filing deadline (art. 18), while the case is closed and not filed.
    pub due: Option<Due>,
    pub case_type: String,
    /// What its type requires that its file lacks (a closed case's).
    pub missing: String,
}

impl CaseRow {
    pub fn new(case: &ApiCase, t: &Messages, now: DateTime<Utc>) -> Self {
        Self {
            id: case.id.clone(),
            reference: case.reference.clone(),
            title: case.title.clone(),
            state: case.state.clone(),
            state_label: t.get(&format!("case.state.{}", case.state)).to_owned(),
            opened: when(&case.opened_at),
            closed_on: case.closed_on.clone().unwrap_or_default(),
            filed: case.filed_at.as_ref().map(when).unwrap_or_default(),
            case_type: case.case_type.clone().unwrap_or_default(),
            missing: case.missing_documents.join("、"),
            due: case
                .filing_deadline
                .as_ref()
                .filter(|_| case.state == "closed")
                .map(|d| Due::new(d, t, now)),
        }
    }
}

/// The cases page's filters, as the address holds them.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CaseFilters {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub overdue: String,
    #[serde(default)]
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "cases.html")]
pub struct CasesPage {
    pub page: Chrome,
    pub filters: CaseFilters,
    pub rows: Vec<CaseRow>,
    /// The case types a case may be opened as.
    pub case_types: Vec<String>,
    /// Today in China Standard Time: the closure date the form offers.
    pub today: String,
    pub notice: Option<String>,
}

/// Today's date in China Standard Time.
pub fn today() -> String {
    Utc::now()
        .with_timezone(&CST)
        .format("%Y-%m-%d")
        .to_string()
}

/// The device registry as the API reports it (art. 15).
#[derive(Debug, Deserialize)]
pub struct ApiDeviceReport {
    pub devices: Vec<ApiDevice>,
    pub teams_short_of_cameras: Vec<ApiShortfall>,
}

#[derive(Debug, Deserialize)]
pub struct ApiDevice {
    pub device: String,
    pub team: String,
    #[serde(default)]
    pub officer: Option<String>,
    pub registered_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
pub struct ApiShortfall {
    pub team: String,
    pub cameras: usize,
}

#[derive(Template)]
#[template(path = "devices.html")]
pub struct DevicesPage {
    pub page: Chrome,
    /// Camera, team, officer, registered (CST).
    pub devices: Vec<(String, String, String, String)>,
    pub short: Vec<ApiShortfall>,
}

/// Who the API says the signed-in person is.
#[derive(Debug, Deserialize)]
pub struct ApiMe {
    pub role: String,
}

/// A party's copy request waiting for a leader (art. 23).
#[derive(Debug, Deserialize)]
pub struct ApiCopyRequest {
    pub id: String,
    pub clip: String,
    pub party: String,
    pub purpose: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// What the copy will hide, and the hash the approval must name.
    #[serde(default)]
    pub redaction: Option<custodian_core::redaction::RedactionPlan>,
    #[serde(default)]
    pub redaction_sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ApiCopyRequestPage {
    pub items: Vec<ApiCopyRequest>,
}

pub struct CopyRow {
    pub id: String,
    pub clip: String,
    pub party: String,
    pub purpose: String,
    pub requested_by: String,
    pub requested_at: String,
    /// The redaction plan the leader approves, if the request has one.
    pub redaction: Option<RedactionSummary>,
}

/// A copy request's redaction plan as the leader sees it before approving.
pub struct RedactionSummary {
    /// The plan's SHA-256, sent with the approval.
    pub sha256: String,
    pub regions: usize,
    pub frame_spans: usize,
    pub sound_spans: usize,
}

impl RedactionSummary {
    pub fn short(&self) -> &str {
        self.sha256.get(..12).unwrap_or(&self.sha256)
    }
}

#[derive(Template)]
#[template(path = "work.html")]
pub struct WorkPage {
    pub page: Chrome,
    pub unclassified: Vec<ClipRow>,
    pub overdue_count: usize,
    pub overdue_cases: Vec<(String, String, String)>,
    pub critical: Vec<ClipRow>,
    /// Copy requests waiting for a decision, shown to leaders only (they decide them).
    pub copy_requests: Vec<CopyRow>,
    pub categories: Vec<String>,
    /// What the last bulk action did, if one was made.
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub page: Chrome,
    pub filters: SearchFilters,
    pub rows: Vec<ClipRow>,
    pub next_page: Option<String>,
    pub categories: Vec<String>,
}

/// The search form's fields, as the address holds them.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct SearchFilters {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub officer: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub classified: String,
    #[serde(default)]
    pub important: String,
    #[serde(default)]
    pub finding: String,
    #[serde(default)]
    pub recorded_from: String,
    #[serde(default)]
    pub recorded_to: String,
    #[serde(default)]
    pub case: String,
    #[serde(default)]
    pub cursor: String,
}

impl SearchFilters {
    /// The API query for these filters: only the fields given, each encoded.
    pub fn api_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let date = |d: &str, end: bool| -> String {
            // A date picker gives a day; the API takes an instant. Days are CST days.
            if d.len() == 10 {
                format!("{d}T{}+08:00", if end { "23:59:59" } else { "00:00:00" })
            } else {
                d.to_owned()
            }
        };
        for (key, value) in [
            ("q", self.q.clone()),
            ("device", self.device.clone()),
            ("officer", self.officer.clone()),
            ("category", self.category.clone()),
            ("kind", self.kind.clone()),
            ("state", self.state.clone()),
            ("classified", self.classified.clone()),
            ("important", self.important.clone()),
            ("finding", self.finding.clone()),
            ("case", self.case.clone()),
            ("cursor", self.cursor.clone()),
        ] {
            if !value.trim().is_empty() {
                pairs.push((key, value.trim().to_owned()));
            }
        }
        if !self.recorded_from.trim().is_empty() {
            pairs.push(("recorded_from", date(self.recorded_from.trim(), false)));
        }
        if !self.recorded_to.trim().is_empty() {
            pairs.push(("recorded_to", date(self.recorded_to.trim(), true)));
        }
        pairs.push(("limit", "50".into()));
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// This search's own address with another cursor (the next page).
    pub fn with_cursor(&self, cursor: &str) -> String {
        let page = SearchFilters {
            cursor: cursor.to_owned(),
            ..self.clone()
        };
        let mut pairs = Vec::new();
        for (key, value) in [
            ("q", &page.q),
            ("device", &page.device),
            ("officer", &page.officer),
            ("category", &page.category),
            ("kind", &page.kind),
            ("state", &page.state),
            ("classified", &page.classified),
            ("important", &page.important),
            ("finding", &page.finding),
            ("recorded_from", &page.recorded_from),
            ("recorded_to", &page.recorded_to),
            ("case", &page.case),
            ("cursor", &page.cursor),
        ] {
            if !value.is_empty() {
                pairs.push(format!("{key}={}", url_encode(value)));
            }
        }
        format!("/clips?{}", pairs.join("&"))
    }
}

#[derive(Template)]
#[template(path = "clip.html")]
pub struct ClipPage {
    pub page: Chrome,
    pub row: ClipRow,
    pub clip: ApiClip,
    pub recorded: String,
    pub received: String,
    pub classified_at: String,
    pub has_view: bool,
    pub duration_seconds: f64,
    pub findings: Vec<FindingRow>,
    pub history: Vec<(String, String)>,
    pub similar: Vec<SimilarRow>,
    pub categories: Vec<String>,
    pub retention: String,
    /// Whether the form opens on this clip's classification (it is not classified yet).
    pub needs_classifying: bool,
    pub notice: Option<String>,
    /// The document types a record may be given (art. 6, 10).
    pub document_types: Vec<String>,
    /// A document's pages.
    pub page_count: Option<u64>,
}

impl ClipPage {
    /// What the record is, for how it is shown: a video until the workers say otherwise.
    pub fn kind(&self) -> &str {
        self.clip.kind.as_deref().unwrap_or("video")
    }

    /// The catalogue key naming the record's kind.
    pub fn kind_key(&self) -> String {
        format!("kind.{}", self.kind())
    }

    /// The catalogue key naming the clip's confidentiality level.
    pub fn confidentiality_key(&self) -> String {
        format!("confidentiality.{}", self.clip.confidentiality)
    }
}

#[derive(Template)]
#[template(path = "problem.html")]
pub struct ProblemPage {
    pub page: Chrome,
    pub title: String,
    pub detail: String,
}

//! The supervision page (art. 6-8, 25): a month's enforcement tasks, with what supervision
//! finds about those that ended (no recording, required moments not filmed, art. 8 reasons),
//! and the form that imports the year's plan. Everything it shows and does is the API's
//! `/v1/supervision/findings`, `/v1/tasks` and `/v1/tasks/import`, as the signed-in person.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Form;
use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use serde::Deserialize;

use super::{html, notice, see_other, Shared, Visitor};
use crate::api::{fetch, Call, CallError};
use crate::views::{when, Chrome, CST};

#[derive(Deserialize)]
pub struct MonthQuery {
    #[serde(default)]
    month: String,
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Deserialize)]
struct ApiFindings {
    tasks: usize,
    recorded: usize,
    findings: Vec<ApiFinding>,
}

#[derive(Deserialize)]
struct ApiFinding {
    external_id: String,
    enterprise: String,
    task_kind: String,
    officers: Vec<String>,
    ends_at: DateTime<Utc>,
    kind: String,
    article: String,
    #[serde(default)]
    moments: Vec<u8>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    clips: Vec<String>,
}

#[derive(Deserialize)]
struct ApiTaskPage {
    items: Vec<ApiTask>,
}

#[derive(Deserialize)]
struct ApiTask {
    external_id: String,
    enterprise: String,
    kind: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    officers: Vec<String>,
    #[serde(default)]
    place: Option<String>,
    recording_count: usize,
    coverage: ApiCoverage,
}

#[derive(Deserialize)]
struct ApiCoverage {
    required: Vec<u8>,
    covered: Vec<u8>,
    missing: Vec<u8>,
}

/// A finding as the table shows it.
pub struct FindingLine {
    pub number: String,
    pub enterprise: String,
    pub task_kind: String,
    pub officers: String,
    pub ended: String,
    /// `no_recording`, `moments_missing` or `not_filmed` (a class for the row).
    pub kind: String,
    pub label: String,
    pub detail: String,
    pub article: String,
    /// A fault (not an art. 8 reason).
    pub fault: bool,
}

/// A task as the table shows it.
pub struct TaskLine {
    pub number: String,
    pub enterprise: String,
    pub place: String,
    pub kind: String,
    pub window: String,
    pub officers: String,
    pub recordings: usize,
    pub coverage: String,
    pub missing: String,
}

#[derive(Template)]
#[template(path = "supervision.html")]
pub struct SupervisionPage {
    pub page: Chrome,
    /// `YYYY-MM`, as the month field takes it.
    pub month: String,
    pub tasks_ended: usize,
    pub recorded: usize,
    pub findings: Vec<FindingLine>,
    pub tasks: Vec<TaskLine>,
    pub notice: Option<String>,
    /// A refused plan's rows, each with why.
    pub errors: Vec<String>,
    /// The plan as pasted, given back when refused.
    pub plan: String,
}

/// Numbers joined as Chinese lists are: 5、8.
fn numbers(list: &[u8]) -> String {
    list.iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join("、")
}

/// The month asked for (the current one in China time when none or a bad one is given), and
/// its bounds.
fn month_of(given: &str) -> (String, DateTime<Utc>, DateTime<Utc>) {
    let first = NaiveDate::parse_from_str(&format!("{given}-01"), "%Y-%m-%d")
        .ok()
        .unwrap_or_else(|| {
            let today = Utc::now().with_timezone(&CST).date_naive();
            today.with_day(1).unwrap_or(today)
        });
    let next = first.checked_add_months(Months::new(1)).unwrap_or(first);
    let at = |day: NaiveDate| {
        CST.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    (first.format("%Y-%m").to_string(), at(first), at(next))
}

/// `/supervision?month=YYYY-MM`.
pub async fn page(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Query(query): Query<MonthQuery>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let token = match visitor.session() {
        Ok(token) => token,
        Err(to_sign_in) => return to_sign_in,
    };
    let notice = notice(&visitor, query.notice.as_deref());
    render(
        &console,
        &visitor,
        &token,
        &extensions,
        &query.month,
        notice,
        Vec::new(),
        String::new(),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn render(
    console: &crate::Console,
    visitor: &Visitor,
    token: &str,
    extensions: &Extensions,
    month: &str,
    notice: Option<String>,
    errors: Vec<String>,
    plan: String,
) -> Response {
    let (month, from, to) = month_of(month);
    let stamp = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (from, to) = (stamp(from), stamp(to));
    let findings = fetch::<ApiFindings>(
        &*console.api,
        Call::get(
            format!("/v1/supervision/findings?from={from}&to={to}"),
            token,
        ),
        extensions,
    );
    let tasks = fetch::<ApiTaskPage>(
        &*console.api,
        Call::get(
            format!("/v1/tasks?limit=200&ends_from={from}&ends_to={to}"),
            token,
        ),
        extensions,
    );
    let (findings, tasks) = match tokio::join!(findings, tasks) {
        (Ok(findings), Ok(tasks)) => (findings, tasks),
        (Err(e), _) | (_, Err(e)) => return visitor.problem(e),
    };
    let t = visitor.lang.messages();
    let lines = findings
        .findings
        .iter()
        .map(|f| {
            let detail = match (f.kind.as_str(), &f.reason) {
                ("moments_missing", _) => numbers(&f.moments),
                ("not_filmed", Some(reason)) => t.get(&format!("reason.{reason}")).to_owned(),
                ("late_upload" | "classification_overdue", _) => {
                    format!("{} {}", f.clips.len(), t.get("supervision.clips"))
                }
                _ => String::new(),
            };
            FindingLine {
                number: f.external_id.clone(),
                enterprise: f.enterprise.clone(),
                task_kind: f.task_kind.clone(),
                officers: f.officers.join("、"),
                ended: when(&f.ends_at),
                kind: f.kind.clone(),
                label: t.get(&format!("finding.{}", f.kind)).to_owned(),
                detail,
                article: f.article.clone(),
                fault: f.kind != "not_filmed",
            }
        })
        .collect();
    let task_lines = tasks
        .items
        .iter()
        .map(|task| TaskLine {
            number: task.external_id.clone(),
            enterprise: task.enterprise.clone(),
            place: task.place.clone().unwrap_or_default(),
            kind: task.kind.clone(),
            window: format!("{} – {}", when(&task.starts_at), when(&task.ends_at)),
            officers: task.officers.join("、"),
            recordings: task.recording_count,
            coverage: format!(
                "{} / {}",
                task.coverage
                    .covered
                    .iter()
                    .filter(|n| task.coverage.required.contains(n))
                    .count(),
                task.coverage.required.len()
            ),
            missing: numbers(&task.coverage.missing),
        })
        .collect();
    let page = SupervisionPage {
        page: visitor.chrome(),
        month,
        tasks_ended: findings.tasks,
        recorded: findings.recorded,
        findings: lines,
        tasks: task_lines,
        notice,
        errors: errors.clone(),
        plan,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    html(status, page.render())
}

#[derive(Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    plan: String,
}

/// `POST /supervision/import`: the pasted plan to the API as CSV; imported, back to the
/// page with a notice; refused, the page again with every bad row and the plan as pasted.
pub async fn import(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Form(form): Form<PlanForm>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let token = match visitor.form_session(&form.csrf) {
        Ok(token) => token,
        Err(refusal) => return refusal,
    };
    let call = Call::new(Method::POST, "/v1/tasks/import", Some(&token))
        .text(form.plan.clone(), "text/csv; charset=utf-8");
    let errors = match fetch::<serde_json::Value>(&*console.api, call, &extensions).await {
        Ok(_) => return see_other("/supervision?notice=plan_imported"),
        Err(CallError::SignedOut) => return visitor.sign_in(),
        // The API's message names every bad row, one a line, after its first line.
        Err(CallError::Refused {
            status, message, ..
        }) if status.is_client_error() => {
            let rows: Vec<String> = message.lines().skip(1).map(str::to_owned).collect();
            if rows.is_empty() {
                vec![message]
            } else {
                rows
            }
        }
        Err(e) => return visitor.problem(e),
    };
    render(
        &console,
        &visitor,
        &token,
        &extensions,
        "",
        None,
        errors,
        form.plan,
    )
    .await
}

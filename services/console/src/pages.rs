//! The console's pages and actions. Each reads the person's session from the cookie, asks the
//! API as that person, and renders the answer; an ended session leads to the sign-in page and
//! back. Forms that change something must carry the session's CSRF token.

use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{fetch, Call, CallError};
use crate::i18n::{Lang, LANG_COOKIE};
use crate::session::{
    cleared_session_cookie, cookie, csrf_matches, csrf_token, login_cookie, login_matches,
    login_token, safe_next, session_cookie, SESSION_COOKIE,
};
use crate::views::{
    today, url_encode, when, ApiCasePage, ApiClip, ApiClipDetail, ApiClipPage, ApiCopyRequestPage,
    ApiDeviceReport, ApiMe, ApiSimilar, CaseFilters, CaseRow, CasesPage, Chrome, ClipPage, ClipRow,
    CopyRow, DevicesPage, FindingRow, LoginPage, ProblemPage, RedactionSummary, SearchFilters,
    SearchPage, SimilarRow, WorkPage,
};
use crate::Console;

type Shared = State<Arc<Console>>;

pub(crate) mod supervision;

/// Who is asking, as far as the console can tell before asking the API.
struct Visitor {
    lang: Lang,
    token: Option<String>,
    here: String,
}

impl Visitor {
    fn of(headers: &HeaderMap, uri: &Uri) -> Self {
        Self {
            lang: Lang::of_request(headers),
            token: cookie(headers, SESSION_COOKIE).map(str::to_owned),
            here: uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/".into()),
        }
    }

    fn chrome(&self) -> Chrome {
        Chrome::new(
            self.lang,
            self.token.as_deref().map(csrf_token),
            self.here.clone(),
        )
    }

    fn t(&self, key: &'static str) -> &'static str {
        self.lang.messages().get(key)
    }

    /// The session token, or the way to the sign-in page and back. The error is the page to
    /// answer with (large, and returned at once: boxing it would buy nothing).
    #[allow(clippy::result_large_err)]
    fn session(&self) -> Result<String, Response> {
        self.token.clone().ok_or_else(|| self.sign_in())
    }

    /// The session token of a form that carries the session's CSRF token; a form without it
    /// (another site's page) is refused.
    #[allow(clippy::result_large_err)]
    fn form_session(&self, csrf: &str) -> Result<String, Response> {
        let token = self.session()?;
        if csrf_matches(&token, csrf) {
            Ok(token)
        } else {
            Err(forbidden_form(self))
        }
    }

    /// To the sign-in page, and back here afterwards.
    fn sign_in(&self) -> Response {
        see_other(&format!("/login?next={}", url_encode(&self.here)))
    }

    /// What a failed call shows: the sign-in page for an ended session, otherwise a page
    /// saying what went wrong. A clip of another bureau answers exactly like a missing one,
    /// because the API answers 404 for both and this page says nothing more.
    fn problem(&self, error: CallError) -> Response {
        let (title, detail) = match &error {
            CallError::SignedOut => return self.sign_in(),
            CallError::Refused { status, .. } if *status == StatusCode::NOT_FOUND => {
                (self.t("problem.not_found"), String::new())
            }
            CallError::Refused { status, .. } if *status == StatusCode::FORBIDDEN => {
                (self.t("problem.forbidden"), String::new())
            }
            CallError::Refused { code, message, .. } => {
                (self.t("problem.refused"), format!("{code}: {message}"))
            }
            CallError::BadAddress(_) => (self.t("problem.not_found"), String::new()),
            CallError::Unreadable(_) => (self.t("problem.unavailable"), String::new()),
        };
        if error.status().is_server_error() {
            tracing::warn!(error = %error, "a console page could not be made");
        }
        let page = ProblemPage {
            page: self.chrome(),
            title: title.to_owned(),
            detail,
        };
        html(error.status(), page.render())
    }
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A rendered page with the headers every page carries: no caching (pages show footage
/// metadata), no framing, no script or style from anywhere but here.
fn html(status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    let body = match rendered {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "a console template failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self'; media-src 'self'; script-src 'self'; \
                 style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                 frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::VARY, "Cookie, Accept-Language"),
        ],
        body,
    )
        .into_response()
}

fn forbidden_form(visitor: &Visitor) -> Response {
    let page = ProblemPage {
        page: visitor.chrome(),
        title: visitor.t("problem.csrf").to_owned(),
        detail: String::new(),
    };
    html(StatusCode::FORBIDDEN, page.render())
}

/// A clip id as the API takes it; anything else is no clip at all.
fn is_clip_id(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    Query(query): Query<NextQuery>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    login_page(
        &console,
        &visitor,
        StatusCode::OK,
        safe_next(query.next.as_deref()),
        String::new(),
        String::new(),
        None,
    )
}

/// The sign-in page, with a fresh token in its form and in the login cookie it sets.
fn login_page(
    console: &Console,
    visitor: &Visitor,
    status: StatusCode,
    next: String,
    bureau: String,
    username: String,
    problem: Option<String>,
) -> Response {
    let login_check = login_token();
    let page = LoginPage {
        page: visitor.chrome(),
        next,
        bureau,
        username,
        problem,
        login_check: login_check.clone(),
    };
    let mut response = html(status, page.render());
    if let Ok(value) =
        HeaderValue::from_str(&login_cookie(&login_check, console.config.secure_cookies))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct LoginForm {
    bureau: String,
    username: String,
    password: String,
    next: Option<String>,
    /// The token the sign-in page put in its form (login CSRF).
    #[serde(default)]
    login_check: String,
}

#[derive(Deserialize)]
struct Session {
    token: String,
    expires_at: DateTime<Utc>,
}

pub async fn login(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let next = safe_next(form.next.as_deref());
    // A form another site's page posted here carries no login cookie of ours: refused before
    // the password is even tried, so no one is signed in as the attacker.
    if !login_matches(&headers, &form.login_check) {
        tracing::warn!("sign-in refused: the form was not one this console served to this browser");
        return login_page(
            &console,
            &visitor,
            StatusCode::FORBIDDEN,
            next,
            form.bureau,
            form.username,
            Some(visitor.t("problem.csrf").to_owned()),
        );
    }
    let call = Call::new(Method::POST, "/v1/sessions", None).json(json!({
        "bureau": form.bureau.trim(),
        "username": form.username.trim(),
        "password": form.password,
    }));
    let problem = match fetch::<Session>(&*console.api, call, &extensions).await {
        Ok(session) => {
            let seconds = (session.expires_at - Utc::now()).num_seconds();
            let mut response = see_other(&next);
            if let Ok(value) = HeaderValue::from_str(&session_cookie(
                &session.token,
                seconds,
                console.config.secure_cookies,
            )) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            return response;
        }
        Err(CallError::Refused { status, .. }) if status == StatusCode::TOO_MANY_REQUESTS => {
            visitor.t("login.throttled")
        }
        Err(CallError::SignedOut | CallError::Refused { .. }) => visitor.t("login.failed"),
        Err(_) => visitor.t("problem.unavailable"),
    };
    login_page(
        &console,
        &visitor,
        StatusCode::UNAUTHORIZED,
        next,
        form.bureau,
        form.username,
        Some(problem.to_owned()),
    )
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Form(form): Form<CsrfForm>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let Some(token) = visitor.token.as_deref() else {
        return see_other("/login");
    };
    if !csrf_matches(token, &form.csrf) {
        return forbidden_form(&visitor);
    }
    let call = Call::new(Method::POST, "/v1/sessions/end", Some(token));
    if let Err(e) = fetch::<Value>(&*console.api, call, &extensions).await {
        // The cookie goes either way; an ended or expired session is what was wanted.
        tracing::debug!(error = %e, "ending the session");
    }
    let mut response = see_other("/login");
    if let Ok(value) = HeaderValue::from_str(&cleared_session_cookie(console.config.secure_cookies))
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

pub async fn language(Path(code): Path<String>, Query(query): Query<NextQuery>) -> Response {
    let Some(lang) = Lang::from_code(&code) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = see_other(&safe_next(query.next.as_deref()));
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn categories(console: &Console, token: &str, extensions: &Extensions) -> Vec<String> {
    fetch(
        &*console.api,
        Call::get("/v1/categories", token),
        extensions,
    )
    .await
    .unwrap_or_default()
}

/// The record kinds, document types and case types the bureau works with.
#[derive(Debug, Default, Deserialize)]
pub struct RecordTypes {
    #[serde(default)]
    pub document_types: Vec<NamedType>,
    #[serde(default)]
    pub case_types: Vec<NamedType>,
}

#[derive(Debug, Deserialize)]
pub struct NamedType {
    pub name: String,
}

async fn record_types(console: &Console, token: &str, extensions: &Extensions) -> RecordTypes {
    fetch(
        &*console.api,
        Call::get("/v1/record-types", token),
        extensions,
    )
    .await
    .unwrap_or_default()
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// A notice the address names, in the person's language (only known notices are shown, so an
/// address cannot put words of its own on the page).
fn notice(visitor: &Visitor, code: Option<&str>) -> Option<String> {
    let key = match code? {
        "saved" => "notice.saved",
        "all_done" => "notice.all_done",
        "bulk_done" => "notice.bulk_done",
        "refused" => "notice.refused",
        "nothing_chosen" => "notice.nothing_chosen",
        "decided" => "notice.decided",
        "own_request" => "notice.own_request",
        "not_decided" => "notice.not_decided",
        "case_saved" => "notice.case_saved",
        "case_refused" => "notice.case_refused",
        "plan_imported" => "notice.plan_imported",
        _ => return None,
    };
    Some(visitor.t(key).to_owned())
}

/// Today's work (待办): the clips waiting for classification with the time left on their
/// deadline, the cases overdue for filing, and the clips with critical findings; each links
/// to where it is acted on. A list the person's role may not see is simply absent.
pub async fn work(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let token = match visitor.session() {
        Ok(token) => token,
        Err(to_sign_in) => return to_sign_in,
    };
    let api = &*console.api;
    let t = visitor.lang.messages();
    let now = Utc::now();
    // The page's questions are independent: asked at once, not one after another.
    let (waiting, overdue_cases, critical, me, categories) = tokio::join!(
        fetch::<ApiClipPage>(
            api,
            Call::get("/v1/clips?classified=false&limit=200", &token),
            &extensions,
        ),
        fetch::<ApiCasePage>(
            api,
            Call::get("/v1/cases?overdue=filing&limit=50", &token),
            &extensions,
        ),
        fetch::<ApiClipPage>(
            api,
            Call::get("/v1/clips?finding=critical&limit=50", &token),
            &extensions,
        ),
        fetch::<ApiMe>(api, Call::get("/v1/me", &token), &extensions),
        categories(&console, &token, &extensions),
    );
    let waiting = match waiting {
        Ok(page) => page,
        Err(e) => return visitor.problem(e),
    };
    // Soonest deadline first; within one, in the order of recording (art. 17: 按先后顺序).
    let mut unclassified: Vec<(DateTime<Utc>, DateTime<Utc>, ClipRow)> = waiting
        .items
        .iter()
        .map(|clip| {
            let row = ClipRow::new(clip, t, now);
            (classification_due(clip), clip.recorded_at, row)
        })
        .collect();
    unclassified.sort_by_key(|(due, recorded, _)| (*due, *recorded));
    let unclassified: Vec<ClipRow> = unclassified.into_iter().map(|(_, _, row)| row).collect();
    let overdue_count = unclassified
        .iter()
        .filter(|row| row.due.as_ref().is_some_and(|d| d.overdue))
        .count();
    let overdue_cases = match overdue_cases {
        Ok(page) => page
            .items
            .into_iter()
            .map(|case| {
                let due = case
                    .filing_deadline
                    .map(|d| when(&d.due))
                    .unwrap_or_default();
                (case.reference, case.title, due)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let critical = match critical {
        Ok(page) => page.items.iter().map(|c| ClipRow::new(c, t, now)).collect(),
        Err(_) => Vec::new(),
    };
    let copy_requests = match me.ok() {
        Some(me) if me.role == "leader" => fetch::<ApiCopyRequestPage>(
            api,
            Call::get("/v1/copy-requests?state=pending&limit=50", &token),
            &extensions,
        )
        .await
        .map(|page| {
            page.items
                .into_iter()
                .map(|r| CopyRow {
                    id: r.id,
                    clip: r.clip,
                    party: r.party,
                    purpose: r.purpose,
                    requested_by: r.requested_by,
                    requested_at: when(&r.requested_at),
                    redaction: r.redaction.zip(r.redaction_sha256).map(|(plan, sha256)| {
                        RedactionSummary {
                            sha256,
                            regions: plan.regions.len(),
                            frame_spans: plan.frame_spans.len(),
                            sound_spans: plan.sound_spans.len(),
                        }
                    }),
                })
                .collect()
        })
        .unwrap_or_default(),
        _ => Vec::new(),
    };
    let page = WorkPage {
        page: visitor.chrome(),
        unclassified,
        overdue_count,
        overdue_cases,
        critical,
        copy_requests,
        categories,
        notice: notice(&visitor, query.notice.as_deref()),
    };
    html(StatusCode::OK, page.render())
}

fn classification_due(clip: &ApiClip) -> DateTime<Utc> {
    clip.deadlines
        .iter()
        .find(|d| d.kind == "classification")
        .map(|d| d.due)
        .unwrap_or(clip.received_at)
}

/// Classifies several clips at once with one category and description: a day's footage of
/// one task, from the work page.
pub async fn classify_many(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let token = match visitor.session() {
        Ok(token) => token,
        Err(to_sign_in) => return to_sign_in,
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    if !csrf_matches(&token, &field("csrf")) {
        return forbidden_form(&visitor);
    }
    let clips: Vec<&String> = fields
        .iter()
        .filter(|(key, value)| key == "clip" && is_clip_id(value))
        .map(|(_, value)| value)
        .collect();
    if clips.is_empty() {
        return see_other("/?notice=nothing_chosen");
    }
    let body = classification_body(
        field("category"),
        field("description"),
        field("place"),
        field("matter"),
        field("party"),
        !field("important").is_empty(),
    );
    for id in clips {
        let call = Call::new(
            Method::PUT,
            format!("/v1/clips/{id}/classification"),
            Some(&token),
        )
        .json(body.clone());
        match fetch::<Value>(&*console.api, call, &extensions).await {
            Ok(_) => {}
            Err(CallError::SignedOut) => return visitor.sign_in(),
            Err(_) => return see_other("/?notice=refused"),
        }
    }
    see_other("/?notice=bulk_done")
}

fn classification_body(
    category: String,
    description: String,
    place: String,
    matter: String,
    party: String,
    important: bool,
) -> Value {
    let optional = |text: String| {
        let text = text.trim().to_owned();
        (!text.is_empty()).then_some(text)
    };
    json!({
        "category": category.trim(),
        "description": description.trim(),
        "place": optional(place),
        "matter": optional(matter),
        "party": optional(party),
        "important": important,
    })
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    /// The redaction plan shown to the leader, which the approval names.
    #[serde(default)]
    redaction_sha256: String,
}

/// A leader approves or refuses a party's copy request (art. 23); the API holds the rules
/// (not one's own request, never confidential footage) and the console says which one held.
pub async fn decide_copy(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Path((id, decision)): Path<(String, String)>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let token = match visitor.form_session(&form.csrf) {
        Ok(token) => token,
        Err(refusal) => return refusal,
    };
    if !is_clip_id(&id) || !matches!(decision.as_str(), "approve" | "refuse") {
        return visitor.problem(CallError::BadAddress(id));
    }
    let call = Call::new(
        Method::POST,
        format!("/v1/copy-requests/{id}/{decision}"),
        Some(&token),
    )
    .json(if form.redaction_sha256.is_empty() {
        json!({ "reason": form.reason.trim() })
    } else {
        json!({ "reason": form.reason.trim(), "redaction_sha256": form.redaction_sha256 })
    });
    match fetch::<Value>(&*console.api, call, &extensions).await {
        Ok(_) => see_other("/?notice=decided"),
        Err(CallError::SignedOut) => visitor.sign_in(),
        Err(CallError::Refused { code, .. }) if code == "own-request" => {
            see_other("/?notice=own_request")
        }
        Err(CallError::Refused { .. }) => see_other("/?notice=not_decided"),
        Err(e) => visitor.problem(e),
    }
}

/// Cases (art. 18): the bureau's cases by state, those overdue for filing, and the forms that
/// open, close (on the closure date entered) and file them.
pub async fn cases(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Query(filters): Query<CaseFilters>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let token = match visitor.session() {
        Ok(token) => token,
        Err(to_sign_in) => return to_sign_in,
    };
    // The first 200, newest first: a bureau's working set (paging is for the API).
    let mut query = vec!["limit=200".to_owned()];
    if matches!(filters.state.as_str(), "open" | "closed" | "filed") {
        query.push(format!("state={}", filters.state));
    }
    if filters.overdue == "filing" {
        query.push("overdue=filing".to_owned());
    }
    let call = Call::get(format!("/v1/cases?{}", query.join("&")), &token);
    let page: ApiCasePage = match fetch(&*console.api, call, &extensions).await {
        Ok(page) => page,
        Err(e) => return visitor.problem(e),
    };
    let t = visitor.lang.messages();
    let now = Utc::now();
    let page = CasesPage {
        page: visitor.chrome(),
        rows: page.items.iter().map(|c| CaseRow::new(c, t, now)).collect(),
        case_types: record_types(&console, &token, &extensions)
            .await
            .case_types
            .into_iter()
            .map(|t| t.name)
            .collect(),
        today: today(),
        notice: notice(&visitor, filters.notice.as_deref()),
        filters,
    };
    html(StatusCode::OK, page.render())
}

#[derive(Deserialize)]
pub struct CaseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    case_type: String,
    #[serde(default)]
    closed_on: String,
}

/// Opens a case (`/cases`), or closes or files one (`/cases/{id}/close`, `/cases/{id}/file`).
pub async fn case_action(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Form(form): Form<CaseForm>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let token = match visitor.form_session(&form.csrf) {
        Ok(token) => token,
        Err(refusal) => return refusal,
    };
    let path = uri.path().to_owned();
    let call = match path.strip_prefix("/cases").unwrap_or_default() {
        "" => {
            let mut body = json!({"reference": form.reference.trim(), "title": form.title.trim()});
            if !form.case_type.trim().is_empty() {
                body["case_type"] = json!(form.case_type.trim());
            }
            Call::new(Method::POST, "/v1/cases", Some(&token)).json(body)
        }
        rest => match rest.trim_start_matches('/').split_once('/') {
            Some((id, "close")) if is_clip_id(id) => {
                let closed_on = form.closed_on.trim();
                let body = if closed_on.is_empty() {
                    json!({})
                } else {
                    json!({ "closed_on": closed_on })
                };
                Call::new(Method::POST, format!("/v1/cases/{id}/close"), Some(&token)).json(body)
            }
            Some((id, "file")) if is_clip_id(id) => {
                Call::new(Method::POST, format!("/v1/cases/{id}/file"), Some(&token))
            }
            _ => return visitor.problem(CallError::BadAddress(path)),
        },
    };
    match fetch::<Value>(&*console.api, call, &extensions).await {
        Ok(_) => see_other("/cases?notice=case_saved"),
        Err(CallError::SignedOut) => visitor.sign_in(),
        Err(CallError::Refused { status, .. }) if status.is_client_error() => {
            see_other("/cases?notice=case_refused")
        }
        Err(e) => visitor.problem(e),
    }
}

/// The device registry and the teams short of the two cameras art. 15 asks for.
pub async fn devices(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let token = match visitor.session() {
        Ok(token) => token,
        Err(to_sign_in) => return to_sign_in,
    };
    let report: ApiDeviceReport =
        match fetch(&*console.api, Call::get("/v1/devices", &token), &extensions).await {
            Ok(report) => report,
            Err(e) => return visitor.problem(e),
        };
    let page = DevicesPage {
        page: visitor.chrome(),
        devices: report
            .devices
            .iter()
            .map(|d| {
                (
                    d.device.clone(),
                    d.team.clone(),
                    d.officer.clone().unwrap_or_default(),
                    when(&d.registered_at),
                )
            })
            .collect(),
        short: report.teams_short_of_cameras,
    };
    html(StatusCode::OK, page.render())
}

/// Clip search: every filter of the API, the query in the address so a search can be
/// bookmarked and shared, pages by cursor.
pub async fn search(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Query(filters): Query<SearchFilters>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let token = match visitor.session() {
        Ok(token) => token,
        Err(to_sign_in) => return to_sign_in,
    };
    let t = visitor.lang.messages();
    let call = Call::get(format!("/v1/clips?{}", filters.api_query()), &token);
    let (rows, next_page) = match fetch::<ApiClipPage>(&*console.api, call, &extensions).await {
        Ok(page) => (
            page.items
                .iter()
                .map(|c| ClipRow::new(c, t, Utc::now()))
                .collect(),
            page.next_cursor.map(|cursor| filters.with_cursor(&cursor)),
        ),
        // A filter the API refuses (a bad date) shows the form again with nothing found.
        Err(CallError::Refused { status, .. }) if status == StatusCode::BAD_REQUEST => {
            (Vec::new(), None)
        }
        Err(e) => return visitor.problem(e),
    };
    let page = SearchPage {
        page: visitor.chrome(),
        filters,
        rows,
        next_page,
        categories: categories(&console, &token, &extensions).await,
    };
    html(StatusCode::OK, page.render())
}

#[derive(Deserialize)]
struct RetentionAnswer {
    decision: RetentionDecision,
}

#[derive(Deserialize)]
struct RetentionDecision {
    decision: String,
    #[serde(default)]
    until: Option<DateTime<Utc>>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    since: Option<DateTime<Utc>>,
}

/// A clip's page: the viewing copy with its subtitles and findings on the timeline, what is
/// known of it, its history and retention, similar clips, and the classification form.
pub async fn clip(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Path(id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let token = match visitor.session() {
        Ok(token) => token,
        Err(to_sign_in) => return to_sign_in,
    };
    if !is_clip_id(&id) {
        return visitor.problem(CallError::BadAddress(id));
    }
    let api = &*console.api;
    let t = visitor.lang.messages();
    let detail: ApiClipDetail = match fetch(
        api,
        Call::get(format!("/v1/clips/{id}"), &token),
        &extensions,
    )
    .await
    {
        Ok(detail) => detail,
        Err(e) => return visitor.problem(e),
    };
    let similar = match fetch::<ApiSimilar>(
        api,
        Call::get(format!("/v1/clips/{id}/similar"), &token),
        &extensions,
    )
    .await
    {
        Ok(similar) => similar
            .items
            .into_iter()
            .map(|m| SimilarRow {
                id: m.clip_id,
                // This clip starts `-offset` seconds into the other one when the offset is
                // negative; open it there.
                open_at_seconds: (-m.offset_seconds).max(0),
                offset_seconds: m.offset_seconds,
                overlap_seconds: m.overlap_seconds,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let retention = match fetch::<RetentionAnswer>(
        api,
        Call::get(format!("/v1/clips/{id}/retention"), &token),
        &extensions,
    )
    .await
    {
        Ok(answer) => retention_text(&visitor, &answer.decision),
        Err(_) => String::new(),
    };
    let media = detail.media.clone().unwrap_or_default();
    let facts = |name: &str| {
        media
            .get(name)
            .or_else(|| media["facts"].get(name))
            .cloned()
    };
    let duration_seconds = facts("duration_seconds")
        .and_then(|v| v.as_f64())
        .unwrap_or_default();
    // The API keeps where the copy lies to itself; its size says that there is one.
    let has_view = media
        .get("view_size_bytes")
        .is_some_and(|size| !size.is_null());
    let clip = detail.clip;
    let page = ClipPage {
        page: visitor.chrome(),
        row: ClipRow::new(&clip, t, Utc::now()),
        recorded: when(&clip.recorded_at),
        received: when(&clip.received_at),
        classified_at: clip.classified_at.as_ref().map(when).unwrap_or_default(),
        has_view,
        duration_seconds,
        findings: detail
            .findings
            .iter()
            .map(|f| FindingRow::new(f, t))
            .collect(),
        history: detail
            .history
            .iter()
            .map(|h| {
                let to = t.get(&format!("state.{}", h.to)).to_owned();
                let from = h
                    .from
                    .as_ref()
                    .map(|f| t.get(&format!("state.{f}")).to_owned());
                (
                    when(&h.at),
                    match from {
                        Some(from) => format!("{from} → {to}"),
                        None => to,
                    },
                )
            })
            .collect(),
        similar,
        categories: categories(&console, &token, &extensions).await,
        retention,
        needs_classifying: clip.classified_at.is_none(),
        notice: notice(&visitor, query.notice.as_deref()),
        document_types: record_types(&console, &token, &extensions)
            .await
            .document_types
            .into_iter()
            .map(|t| t.name)
            .collect(),
        page_count: facts("page_count").and_then(|v| v.as_u64()),
        clip,
    };
    html(StatusCode::OK, page.render())
}

fn retention_text(visitor: &Visitor, decision: &RetentionDecision) -> String {
    match decision.decision.as_str() {
        "keep" => {
            let reason = decision.reason.clone().unwrap_or_default();
            match &decision.until {
                Some(until) => format!(
                    "{} {} ({reason})",
                    visitor.t("retention.kept_until"),
                    when(until)
                ),
                None => format!("{} ({reason})", visitor.t("retention.kept_indefinitely")),
            }
        }
        _ => format!(
            "{} {}",
            visitor.t("retention.expired_since"),
            decision.since.as_ref().map(when).unwrap_or_default()
        ),
    }
}

#[derive(Deserialize)]
pub struct ClassifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    matter: String,
    #[serde(default)]
    party: String,
    #[serde(default)]
    important: Option<String>,
    /// A text record's type; empty: not a document.
    #[serde(default)]
    document_type: String,
    /// "Save and next unclassified".
    #[serde(default)]
    next: Option<String>,
}

/// Saves a clip's classification; "save and next" goes on to the next unclassified clip, so
/// a day's footage can be cleared without the mouse.
pub async fn classify(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Path(id): Path<String>,
    Form(form): Form<ClassifyForm>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let token = match visitor.form_session(&form.csrf) {
        Ok(token) => token,
        Err(refusal) => return refusal,
    };
    if !is_clip_id(&id) {
        return visitor.problem(CallError::BadAddress(id));
    }
    let mut body = classification_body(
        form.category,
        form.description,
        form.place,
        form.matter,
        form.party,
        form.important.is_some(),
    );
    let document_type = form.document_type.trim();
    if !document_type.is_empty() {
        body["document_type"] = json!(document_type);
    }
    let call = Call::new(
        Method::PUT,
        format!("/v1/clips/{id}/classification"),
        Some(&token),
    )
    .json(body);
    match fetch::<Value>(&*console.api, call, &extensions).await {
        Ok(_) => {}
        Err(CallError::SignedOut) => return visitor.sign_in(),
        Err(CallError::Refused { status, .. })
            if status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST =>
        {
            return see_other(&format!("/clips/{id}?notice=refused"));
        }
        Err(e) => return visitor.problem(e),
    }
    if form.next.is_none() {
        return see_other(&format!("/clips/{id}?notice=saved"));
    }
    let waiting: ApiClipPage = match fetch(
        &*console.api,
        Call::get("/v1/clips?classified=false&limit=200", &token),
        &extensions,
    )
    .await
    {
        Ok(page) => page,
        Err(e) => return visitor.problem(e),
    };
    // The next in order of recording (art. 17: "按先后顺序"), after this one.
    let mut waiting: Vec<&ApiClip> = waiting.items.iter().filter(|c| c.id != id).collect();
    waiting.sort_by_key(|c| c.recorded_at);
    match waiting.first() {
        Some(next) => see_other(&format!("/clips/{}?notice=saved", next.id)),
        None => see_other("/?notice=all_done"),
    }
}

/// The viewing copy, poster or subtitles of a clip, relayed from the API as the person (with
/// Range, so the player can seek), so the browser needs no token of its own.
pub async fn relay_media(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let Some(token) = visitor.token.as_deref() else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let path = uri.path();
    let valid = path
        .strip_prefix("/clips/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(id, what)| {
            is_clip_id(id) && matches!(what, "view" | "poster" | "subtitles")
        });
    if !valid {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut call = Call::get(format!("/v1{path}"), token);
    for name in [header::RANGE, header::IF_RANGE, header::IF_NONE_MATCH] {
        if let Some(value) = headers.get(&name) {
            call.headers.insert(name, value.clone());
        }
    }
    let request = match call.request(&extensions) {
        Ok(request) => request,
        Err(_) => return StatusCode::NOT_FOUND.into_response(),
    };
    let response = console.api.send(request).await;
    let (parts, body) = response.into_parts();
    let mut relayed = Response::new(Body::new(body));
    *relayed.status_mut() = parts.status;
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
        header::ETAG,
        header::LAST_MODIFIED,
        // A document comes as an attachment in a sandbox (the API says so).
        header::CONTENT_DISPOSITION,
        header::CONTENT_SECURITY_POLICY,
    ] {
        if let Some(value) = parts.headers.get(&name) {
            relayed.headers_mut().insert(name, value.clone());
        }
    }
    relayed.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    relayed.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    relayed
}

/// The clip's findings as a WebVTT metadata track: one cue per finding at its place, which
/// the page's script draws as marks on the timeline.
pub async fn findings_track(
    State(console): Shared,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    Path(id): Path<String>,
) -> Response {
    let visitor = Visitor::of(&headers, &uri);
    let Some(token) = visitor.token.as_deref() else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if !is_clip_id(&id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let detail: ApiClipDetail = match fetch(
        &*console.api,
        Call::get(format!("/v1/clips/{id}"), token),
        &extensions,
    )
    .await
    {
        Ok(detail) => detail,
        Err(e) => return e.status().into_response(),
    };
    let t = visitor.lang.messages();
    let mut vtt = String::from("WEBVTT\n\n");
    for finding in &detail.findings {
        let Some(start) = finding.position_seconds else {
            continue;
        };
        let end = start + finding.size_seconds.unwrap_or(0.0).max(0.5);
        let row = FindingRow::new(finding, t);
        let payload =
            json!({"kind": row.kind, "severity": finding.severity, "detail": finding.detail});
        vtt.push_str(&format!(
            "{} --> {}\n{}\n\n",
            vtt_time(start),
            vtt_time(end),
            payload
        ));
    }
    (
        [
            (header::CONTENT_TYPE, "text/vtt; charset=utf-8"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        vtt,
    )
        .into_response()
}

fn vtt_time(seconds: f64) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cue_times_are_webvtt_times() {
        assert_eq!(vtt_time(0.0), "00:00:00.000");
        assert_eq!(vtt_time(61.25), "00:01:01.250");
        assert_eq!(vtt_time(3725.5), "01:02:05.500");
    }

    #[test]
    fn only_clip_ids_reach_the_api() {
        assert!(is_clip_id("0190f5a2-7b3c-7000-8000-00000000abcd"));
        for bad in ["../v1/audit", "0190f5a2-7b3c-7000-8000-00000000abc/", ""] {
            assert!(!is_clip_id(bad), "{bad}");
        }
    }
}

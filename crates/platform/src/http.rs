//! HTTP pieces every role shares: the error body, bearer-token authentication scoped to a
//! bureau (deny by default: every API route sits behind it), request metrics, and the
//! operational endpoints `/metrics`, `/healthz` and `/readyz`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use custodian_core::roles::{Action, Role};
use custodian_core::token::{looks_like_token, token_hash};
use custodian_core::BureauId;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

mod serve;
pub use serve::{
    serve_tls, serve_with, ClientCertificate, Connection, LimitedListener, PeerAddress,
    ServerStream, WatchedStream,
};

use crate::blob::{BlobError, BlobStore};
use crate::bus::{Bus, BusError};
use crate::catalogue::{Catalogue, CatalogueError, ClipRepo, Ping};

/// An error as the API reports it: a status, a stable machine-readable code, and a message
/// for people. 503s carry `Retry-After`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u64 = 5;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency-unavailable",
            message,
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

/// The body of every error answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `digest-mismatch`.
    pub code: String,
    /// For people.
    pub message: String,
}

/// Adds the bearer-token scheme every API route requires, and the answers every route behind
/// `protect` may give whatever its handler does: 401 without a valid token; 400 when its path,
/// query or body does not parse; for a JSON body, 415 without `Content-Type:
/// application/json` and 422 when the JSON does not fit the body's type. All are `ErrorBody`
/// (`json_rejections` makes the extractors' own refusals one).
pub struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for (name, schema) in [
            ("ErrorBody", <ErrorBody as utoipa::PartialSchema>::schema()),
            (
                "ErrorDetail",
                <ErrorDetail as utoipa::PartialSchema>::schema(),
            ),
        ] {
            components.schemas.entry(name.into()).or_insert(schema);
        }
        for item in openapi.paths.paths.values_mut() {
            let path_parameters = item.parameters.as_ref().is_some_and(|p| !p.is_empty());
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
            ]
            .into_iter()
            .flatten()
            {
                document_common_errors(operation, path_parameters);
            }
        }
    }
}

fn document_common_errors(operation: &mut utoipa::openapi::path::Operation, path_parameters: bool) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let parsed = path_parameters
        || operation.parameters.as_ref().is_some_and(|p| !p.is_empty())
        || operation.request_body.is_some();
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.contains_key("application/json"));
    let answers = [
        (
            secured,
            "401",
            "no valid bearer token, or one bound to a client certificate the connection lacks",
        ),
        (
            parsed,
            "400",
            "the path, query or body does not parse (e.g. an id that is not a UUID)",
        ),
        (json_body, "415", "the body is not sent as application/json"),
        (json_body, "422", "the JSON does not fit the body's schema"),
    ];
    for (applies, status, description) in answers {
        if !applies {
            continue;
        }
        operation
            .responses
            .responses
            .entry(status.into())
            .or_insert_with(|| error_response(description));
    }
}

fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// Axum's extractors refuse a request they cannot parse (a bad path segment, query or JSON
/// body, a missing content type) with a plain-text body. Every error this API gives is an
/// `ErrorBody`, so those answers are rewritten as one, with the same status and message.
/// `protect` applies it; routes outside `protect` add it with `json_errors`.
pub fn json_errors(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(json_rejections))
}

async fn json_rejections(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !status.is_client_error() || !plain {
        return response;
    }
    let code = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid-body",
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        _ => "invalid-request",
    };
    // A rejection's text is a line or two; more is cut, not buffered.
    let text = axum::body::to_bytes(response.into_body(), 16 * 1024)
        .await
        .unwrap_or_default();
    ApiError::new(status, code, String::from_utf8_lossy(&text).into_owned()).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A failure of the server's own says what failed and whether to retry; its detail (a
        // database's or a store's own words, hosts, paths) goes to the log, never to the client.
        let message = if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
            if self.status == StatusCode::SERVICE_UNAVAILABLE {
                format!(
                    "a service this request needs is unavailable ({}); retry after the Retry-After delay",
                    self.code
                )
            } else {
                format!(
                    "the request failed inside the server ({}); its log holds the detail",
                    self.code
                )
            }
        } else {
            self.message
        };
        let body = Json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message,
            },
        });
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<CatalogueError> for ApiError {
    fn from(err: CatalogueError) -> Self {
        if err.is_transient() {
            Self::unavailable(err.to_string())
        } else {
            Self::internal(err.to_string())
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(err: BlobError) -> Self {
        if err.is_transient() {
            Self::unavailable(err.to_string())
        } else {
            Self::internal(err.to_string())
        }
    }
}

/// What a `Range` header asks of an object of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No range, or one this server does not serve as a part (several ranges, another
    /// unit, bad syntax): the whole object, as RFC 9110 lets a server answer.
    Whole,
    /// Bytes `start` to `end`, both included.
    Part { start: u64, end: u64 },
    /// A range that starts past the end.
    Unsatisfiable,
}

/// Resolves a `Range: bytes=…` header (a single range: `a-b`, `a-`, or the last `n` bytes
/// `-n`) against an object of `size` bytes.
pub fn byte_range(header: Option<&str>, size: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let number = |text: &str| text.trim().parse::<u64>().ok();
    let (start, end) = match (first.trim().is_empty(), last.trim().is_empty()) {
        // The last n bytes.
        (true, false) => match number(last) {
            Some(0) => return ByteRange::Unsatisfiable,
            Some(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            None => return ByteRange::Whole,
        },
        (false, true) => match number(first) {
            Some(start) => (start, size.saturating_sub(1)),
            None => return ByteRange::Whole,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => (start, end.min(size.saturating_sub(1))),
            _ => return ByteRange::Whole,
        },
        (true, true) => return ByteRange::Whole,
    };
    if size == 0 || start >= size {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Part { start, end }
}

/// Who is calling: set by `authenticate` for every API request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub bureau: BureauId,
    pub role: Role,
    pub token_id: uuid::Uuid,
    pub label: String,
    /// The person (or machine) behind the token, the same in every session of theirs; see
    /// `TokenOwner::person`.
    pub person: String,
    /// The roles this deployment names for secret footage.
    pub secret_roles: custodian_core::roles::SecretRoles,
    /// The officer the credential speaks for and their team, if any (art. 17).
    pub identity: custodian_core::roles::OfficerIdentity,
}

impl Caller {
    /// Refuses with 403 unless the caller's role may do `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.role.may(action) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{} may not {}", self.role.with_article(), action.describe()),
            ))
        }
    }

    /// The confidentiality levels the caller's role may see.
    pub fn may_see(&self) -> Vec<custodian_core::roles::Confidentiality> {
        custodian_core::roles::Confidentiality::visible_to(self.role, self.secret_roles.roles())
    }

    /// How the caller is named in histories and audit trails: the token's label, role, the
    /// officer it speaks for if any, and its id.
    pub fn name(&self) -> String {
        actor_name(&self.label, self.role, &self.identity, self.token_id)
    }
}

/// A clip of the caller's bureau that the caller may see, or 404: another bureau's clip, and
/// one too confidential for the caller's role (art. 24), are answered exactly as one that
/// does not exist.
pub async fn clip_in_bureau(
    catalogue: &dyn ClipRepo,
    caller: &Caller,
    id: custodian_core::ClipId,
) -> Result<crate::catalogue::ClipRecord, ApiError> {
    let visible = caller.may_see();
    let clip = catalogue.clip(&caller.bureau, id).await?;
    clip.filter(|clip| visible.contains(&clip.confidentiality))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no-such-clip",
                format!("no clip {id} in bureau {}", caller.bureau),
            )
        })
}

/// How a credential is named in histories and audit trails.
fn actor_name(
    label: &str,
    role: Role,
    identity: &custodian_core::roles::OfficerIdentity,
    token_id: uuid::Uuid,
) -> String {
    match &identity.officer {
        Some(officer) => format!("{label} ({role} {officer}, token {token_id})"),
        None => format!("{label} ({role}, token {token_id})"),
    }
}

/// Middleware: a request without a valid bearer token stops here with 401; otherwise the
/// caller's bureau is attached for the handler, which must scope everything to it.
async fn authenticate(
    State(guard): State<GuardState>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = presented else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "an Authorization: Bearer token is required",
        )
        .into_response();
    };
    // API tokens for machines, session tokens for people; anything else is refused before
    // it reaches the database.
    let owner = if looks_like_token(token) {
        guard
            .catalogue
            .token_owner(&token_hash(token), guard.clock.now())
            .await
    } else if custodian_core::users::looks_like_session(token) {
        guard
            .catalogue
            .session_owner(&token_hash(token), guard.clock.now())
            .await
    } else {
        Ok(None)
    };
    match owner {
        Ok(Some(owner)) => {
            if let Err(refused) = certificate_binding(&request, &owner) {
                tracing::warn!(
                    token = %owner.token_id,
                    bureau = %owner.bureau,
                    code = refused.code,
                    "a certificate-bound token was presented without its certificate"
                );
                let presented = request
                    .extensions()
                    .get::<ClientCertificate>()
                    .map(|c| format!("; client certificate x5t#S256 {}", c.x5t_s256))
                    .unwrap_or_else(|| "; no client certificate".into());
                let attempt = attempt_of(&request, &owner, &refused, guard.clock.now(), presented);
                return refuse_audited(&guard, &owner, attempt, refused).await;
            }
            let named = request
                .headers()
                .get(BUREAU_HEADER)
                .map(|value| value.to_str().map(str::to_owned));
            let bureau = match acting_bureau(&guard, named, &owner).await {
                Ok(bureau) => bureau,
                Err(refused) => {
                    let named = named_bureau(&request);
                    let attempt = attempt_of(
                        &request,
                        &owner,
                        &refused,
                        guard.clock.now(),
                        format!("; Custodian-Bureau {named:?}"),
                    );
                    return refuse_audited(&guard, &owner, attempt, refused).await;
                }
            };
            let label = if bureau == owner.bureau {
                owner.label
            } else {
                format!("{} of {}", owner.label, owner.bureau)
            };
            request.extensions_mut().insert(Caller {
                bureau,
                role: owner.role,
                token_id: owner.token_id,
                person: owner.person,
                label,
                secret_roles: guard.secret_roles.clone(),
                identity: owner.identity,
            });
            next.run(request).await
        }
        Ok(None) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad-token",
            "the token is not valid",
        )
        .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// A token bound to a client certificate (RFC 8705) is accepted only over a connection whose
/// verified client certificate has the bound thumbprint: one copied off its station, or
/// presented through a proxy that ends TLS, is refused with 401. Unbound credentials pass.
fn certificate_binding(
    request: &Request,
    owner: &crate::catalogue::TokenOwner,
) -> Result<(), ApiError> {
    let Some(bound) = &owner.client_certificate else {
        return Ok(());
    };
    match request.extensions().get::<ClientCertificate>() {
        Some(presented) if presented.x5t_s256 == *bound => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "certificate-mismatch",
            "the token is bound to another client certificate than this connection's",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "certificate-required",
            "the token is bound to a client certificate: present it over TLS",
        )),
    }
}

/// Answers a request refused after its credential was recognised (for the bureau it named, or
/// for a certificate binding it did not meet), after recording the attempt in the caller's
/// own bureau's trail: a probe of other bureaus, or a token used off its station, is an
/// access too (art. 25).
async fn refuse_audited(
    guard: &GuardState,
    owner: &crate::catalogue::TokenOwner,
    entry: custodian_core::audit::NewAuditEntry,
    refused: ApiError,
) -> Response {
    if let Err(e) = guard
        .catalogue
        .append_audit(owner.bureau.as_str(), entry)
        .await
    {
        return ApiError::unavailable(format!(
            "the attempt could not be recorded in the audit trail, so it is refused: {e}"
        ))
        .into_response();
    }
    refused.into_response()
}

/// The bureau a request names in `Custodian-Bureau`, kept short for the trail.
fn named_bureau(request: &Request) -> String {
    request
        .headers()
        .get(BUREAU_HEADER)
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(80)
                .collect()
        })
        .unwrap_or_default()
}

/// The audit entry of a request refused after its credential was recognised, with `context`
/// after the answer.
fn attempt_of(
    request: &Request,
    owner: &crate::catalogue::TokenOwner,
    refused: &ApiError,
    at: chrono::DateTime<chrono::Utc>,
    context: String,
) -> custodian_core::audit::NewAuditEntry {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    custodian_core::audit::NewAuditEntry {
        at,
        actor: actor_name(&owner.label, owner.role, &owner.identity, owner.token_id),
        action: format!("{} {template}", request.method()),
        target: target_of(&template, request.uri().path()),
        detail: format!(
            "status {} {}{context}",
            refused.status.as_u16(),
            refused.code
        ),
    }
}

/// The header a region admin names the bureau it reads with.
pub const BUREAU_HEADER: &str = "custodian-bureau";

/// The bureau a request acts in: the credential's own, or for a role that spans bureaus (a
/// region admin) the one named in `Custodian-Bureau`, which must exist. Any other role naming
/// a bureau not its own is refused (403), so nothing crosses bureaus by accident.
async fn acting_bureau(
    guard: &GuardState,
    named: Option<Result<String, axum::http::header::ToStrError>>,
    owner: &crate::catalogue::TokenOwner,
) -> Result<BureauId, ApiError> {
    let Some(named) = named else {
        return Ok(owner.bureau.clone());
    };
    let named = named
        .ok()
        .and_then(|text| BureauId::parse(text.trim()).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-bureau",
                "Custodian-Bureau must name a bureau id",
            )
        })?;
    if named == owner.bureau {
        return Ok(named);
    }
    if !owner.role.spans_bureaus() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong-bureau",
            format!("a {} acts in its own bureau only", owner.role),
        ));
    }
    if !guard.catalogue.bureau_exists(&named).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no-such-bureau",
            format!("no bureau {named}"),
        ));
    }
    Ok(named)
}

/// Applies the guard every API route stands behind: bearer authentication (deny by default),
/// then one audit entry per request in the caller's bureau's chain.
pub fn protect(router: Router, ports: &crate::Ports) -> Router {
    let guard = GuardState {
        catalogue: ports.catalogue.clone(),
        clock: ports.clock.clone(),
        secret_roles: ports.secret_roles.clone(),
    };
    router
        .layer(axum::middleware::from_fn(json_rejections))
        .layer(axum::middleware::from_fn_with_state(guard.clone(), audit))
        .layer(axum::middleware::from_fn_with_state(guard, authenticate))
}

#[derive(Clone)]
struct GuardState {
    catalogue: Arc<dyn Catalogue>,
    clock: Arc<dyn crate::clock::Clock>,
    secret_roles: custodian_core::roles::SecretRoles,
}

/// The value in `path` where `template` has a `{parameter}`: the record acted on.
fn target_of(template: &str, path: &str) -> Option<String> {
    template
        .split('/')
        .zip(path.split('/'))
        .find(|(t, _)| t.starts_with('{'))
        .map(|(_, value)| value.to_owned())
}

/// Records who did what to which record, and how it ended (the status). A read whose entry
/// cannot be written is not answered (fail closed: no unaudited look at footage); a change
/// already made is answered, and the failure is logged loudly, since its own history tables
/// hold it too.
async fn audit(State(state): State<GuardState>, request: Request, next: Next) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "no caller")
            .into_response();
    };
    let method = request.method().clone();
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let target = target_of(&template, request.uri().path());
    let query = request.uri().query().map(str::to_owned);
    let response = next.run(request).await;
    let mut detail = format!("status {}", response.status().as_u16());
    if let Some(query) = query {
        detail.push_str(&format!("; query {query}"));
    }
    let entry = custodian_core::audit::NewAuditEntry {
        at: state.clock.now(),
        actor: caller.name(),
        action: format!("{method} {template}"),
        target,
        detail,
    };
    match state
        .catalogue
        .append_audit(caller.bureau.as_str(), entry)
        .await
    {
        Ok(_) => response,
        Err(e) if method == axum::http::Method::GET => ApiError::unavailable(format!(
            "the access could not be recorded in the audit trail, so it is refused: {e}"
        ))
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, bureau = %caller.bureau, "a change was made but its audit entry could not be written");
            response
        }
    }
}

/// Request counts and latencies by route template (never by id) and status.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "custodian_http_requests_total",
                "HTTP requests answered, by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "custodian_http_request_duration_seconds",
                "Time to answer an HTTP request",
            )
            .buckets(vec![0.001, 0.005, 0.02, 0.1, 0.5, 2.0, 10.0, 60.0, 600.0]),
            &["route", "method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self { requests, duration })
    }
}

pub async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    // Every log line of the request carries its route and, where the route names one, the
    // clip or case it is about (a span field, never a metric label).
    let span = tracing::info_span!(
        "request",
        %method,
        %route,
        target = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    if let Some(target) = target_of(&route, request.uri().path()) {
        span.record("target", tracing::field::display(&target));
    }
    let started = Instant::now();
    let response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    span.record("status", response.status().as_u16());
    metrics
        .duration
        .with_label_values(&[&route, &method])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .with_label_values(&[&route, &method, response.status().as_str()])
        .inc();
    response
}

/// What `/readyz` asks before it says yes.
#[derive(Clone, Default)]
pub struct Dependencies {
    pub blob: Option<Arc<dyn BlobStore>>,
    pub bus: Option<Arc<dyn Bus>>,
    pub catalogue: Option<Arc<dyn Ping>>,
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

async fn within<E: std::fmt::Display>(
    check: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    }
}

impl Dependencies {
    /// Each dependency's state; all must be `ok` for the role to be ready.
    pub async fn check(&self) -> Vec<(&'static str, Result<(), String>)> {
        let mut results = Vec::new();
        if let Some(blob) = &self.blob {
            results.push(("blob_store", within(blob.check()).await));
        }
        if let Some(bus) = &self.bus {
            results.push(("bus", within::<BusError>(bus.check()).await));
        }
        if let Some(catalogue) = &self.catalogue {
            results.push(("catalogue", within(catalogue.ping()).await));
        }
        results
    }
}

#[derive(Clone)]
struct OpsState {
    registry: Registry,
    dependencies: Dependencies,
    shutdown: CancellationToken,
}

/// `/metrics`, `/healthz` (the process answers) and `/readyz` (every dependency answers and
/// the process is not shutting down).
pub fn ops_router(
    registry: Registry,
    dependencies: Dependencies,
    shutdown: CancellationToken,
) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(OpsState {
            registry,
            dependencies,
            shutdown,
        })
}

async fn metrics(State(ops): State<OpsState>) -> Response {
    let mut buffer = Vec::new();
    match TextEncoder::new().encode(&ops.registry.gather(), &mut buffer) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], buffer).into_response(),
        Err(e) => ApiError::internal(format!("encoding metrics: {e}")).into_response(),
    }
}

async fn readyz(State(ops): State<OpsState>) -> Response {
    let results = ops.dependencies.check().await;
    let mut ready = !ops.shutdown.is_cancelled();
    let mut body = serde_json::Map::new();
    body.insert("shutting_down".into(), json!(ops.shutdown.is_cancelled()));
    for (name, result) in results {
        ready &= result.is_ok();
        body.insert(
            name.into(),
            json!(result.err().unwrap_or_else(|| "ok".into())),
        );
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Serves `router` on `listener` with the default [`crate::config::HttpLimits`] until
/// `shutdown` is cancelled, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, &Default::default()).await
}

#[cfg(test)]
mod tests {
    use super::{byte_range, ByteRange};

    #[test]
    fn ranges_resolve_against_the_size() {
        let part = |start, end| ByteRange::Part { start, end };
        assert_eq!(byte_range(None, 100), ByteRange::Whole);
        assert_eq!(byte_range(Some("bytes=0-9"), 100), part(0, 9));
        assert_eq!(byte_range(Some("bytes=90-"), 100), part(90, 99));
        assert_eq!(byte_range(Some("bytes=90-200"), 100), part(90, 99));
        assert_eq!(byte_range(Some("bytes=-10"), 100), part(90, 99));
        assert_eq!(byte_range(Some("bytes=-500"), 100), part(0, 99));
        assert_eq!(
            byte_range(Some("bytes=100-"), 100),
            ByteRange::Unsatisfiable
        );
        assert_eq!(byte_range(Some("bytes=-0"), 100), ByteRange::Unsatisfiable);
        assert_eq!(byte_range(Some("bytes=0-"), 0), ByteRange::Unsatisfiable);
        for ignored in [
            "bytes=5-2",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=x-y",
            "bytes=-",
        ] {
            assert_eq!(
                byte_range(Some(ignored), 100),
                ByteRange::Whole,
                "{ignored}"
            );
        }
    }
}

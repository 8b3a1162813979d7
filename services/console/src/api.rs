//! The console's one port: the HTTP API it makes every request to, as the signed-in person.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use axum::Router;
use custodian_platform::http::Connection;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

/// Where the console's requests go.
#[async_trait::async_trait]
pub trait Api: Send + Sync {
    async fn send(&self, request: Request<Body>) -> Response<Body>;
}

/// The API of this very process (the standalone server): requests go through the same router,
/// middleware included (authentication, bureau scoping, audit), without a socket.
pub struct InProcessApi {
    router: Router,
}

impl InProcessApi {
    pub fn new(router: Router) -> Self {
        Self { router }
    }
}

#[async_trait::async_trait]
impl Api for InProcessApi {
    async fn send(&self, request: Request<Body>) -> Response<Body> {
        match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// Why a call to the API did not give what the page needs.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The session is missing, ended or expired: sign in again.
    #[error("not signed in")]
    SignedOut,
    /// The API refused or failed; its code and message are shown to the person.
    #[error("{status}: {code}: {message}")]
    Refused {
        status: StatusCode,
        code: String,
        message: String,
    },
    #[error("the API answered something the console cannot read: {0}")]
    Unreadable(String),
    #[error("{0:?} is no address of the API")]
    BadAddress(String),
}

impl CallError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::SignedOut => StatusCode::UNAUTHORIZED,
            Self::Refused { status, .. } => *status,
            Self::Unreadable(_) => StatusCode::BAD_GATEWAY,
            Self::BadAddress(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// One request to the API on behalf of the person whose session `token` is, from the browser
/// connection of `incoming` (so the API sees where the person is, e.g. for login throttling).
pub struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub token: Option<&'a str>,
    pub json: Option<serde_json::Value>,
    /// A body that is not JSON, with its content type (a plan as CSV).
    pub raw: Option<(String, &'static str)>,
    pub headers: HeaderMap,
}

impl<'a> Call<'a> {
    pub fn get(path: impl Into<String>, token: &'a str) -> Self {
        Self::new(Method::GET, path, Some(token))
    }

    pub fn new(method: Method, path: impl Into<String>, token: Option<&'a str>) -> Self {
        Self {
            method,
            path: path.into(),
            token,
            json: None,
            raw: None,
            headers: HeaderMap::new(),
        }
    }

    pub fn text(mut self, body: String, content_type: &'static str) -> Self {
        self.raw = Some((body, content_type));
        self
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.json = Some(body);
        self
    }

    pub fn request(self, incoming: &axum::http::Extensions) -> Result<Request<Body>, CallError> {
        let mut request = Request::builder()
            .method(self.method)
            .uri(&self.path)
            .body(match (&self.json, &self.raw) {
                (Some(json), _) => Body::from(json.to_string()),
                (None, Some((text, _))) => Body::from(text.clone()),
                (None, None) => Body::empty(),
            })
            .map_err(|_| CallError::BadAddress(self.path.clone()))?;
        let headers = request.headers_mut();
        headers.extend(self.headers);
        if let Some(token) = self.token {
            if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
                headers.insert(header::AUTHORIZATION, value);
            }
        }
        if self.json.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        } else if let Some((_, content_type)) = self.raw {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if let Some(connection) = incoming.get::<ConnectInfo<Connection>>() {
            request.extensions_mut().insert(connection.clone());
        }
        Ok(request)
    }
}

/// Sends `call` and reads the JSON answer, or says why there is none.
pub async fn fetch<T: DeserializeOwned>(
    api: &dyn Api,
    call: Call<'_>,
    incoming: &axum::http::Extensions,
) -> Result<T, CallError> {
    let response = api.send(call.request(incoming)?).await;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .map_err(|e| CallError::Unreadable(e.to_string()))?;
    if status == StatusCode::UNAUTHORIZED {
        return Err(CallError::SignedOut);
    }
    if !status.is_success() {
        let error: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let text = |field: &str| {
            error["error"][field]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        return Err(CallError::Refused {
            status,
            code: text("code"),
            message: text("message"),
        });
    }
    let body = if bytes.is_empty() {
        &b"null"[..]
    } else {
        &bytes[..]
    };
    serde_json::from_slice(body).map_err(|e| CallError::Unreadable(e.to_string()))
}

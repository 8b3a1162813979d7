//! The standalone server end to end over HTTP: uploads, scoping, and every kind of bad input
//! the ingest role must refuse without leaving anything behind.

mod common;

#[path = "standalone/backup.rs"]
mod backup;
#[path = "standalone/rebuild.rs"]
mod rebuild;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use custodian_catalog::CatalogConfig;
use custodian_core::Sha256Digest;
use custodian_ingest::{Ingest, IngestConfig};
use custodian_platform::blob::{BlobStore, LocalBlobStore, S3BlobStore};
use custodian_platform::bus::InProcessBus;
use custodian_platform::catalogue::{self, Catalogue, PostgresCatalogue};
use custodian_platform::clock::SystemClock;
use custodian_platform::Ports;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn an_upload_is_stored_verified_catalogued_and_scoped_to_its_bureau() {
    let app = spawn_standalone().await;
    let body = sample(300_000);
    let digest = Sha256Digest::of(&body);
    let response = app
        .put_upload(&app.token, body.clone())
        .header("Content-Digest", digest.to_content_digest())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["sha256"], digest.to_hex());
    assert_eq!(receipt["size_bytes"], 300_000);
    assert_eq!(receipt["bureau"], "b1");
    let clip_id = receipt["clip_id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/clips/{clip_id}"));

    let record = app.wait_for_state(clip_id, "catalogued").await;
    assert_eq!(record["device"], "DSJ-0001");
    assert_eq!(record["recorded_at"], "2026-02-14T01:30:00Z");
    assert_eq!(record["sha256"], digest.to_hex());
    let history: Vec<&str> = record["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["stored", "catalogued"]);

    // The original on disk is byte for byte what was sent, under a dated key.
    let files = app.stored_files();
    assert_eq!(files.len(), 1);
    assert!(
        files[0].ends_with(format!("originals/b1/2026/02/14/{clip_id}.mp4")),
        "{files:?}"
    );
    assert_eq!(std::fs::read(&files[0]).unwrap(), body);

    // Another bureau sees nothing of it.
    let other = token_for(&app.app, "b2").await;
    assert_eq!(
        app.get(&other, &format!("/v1/clips/{clip_id}"))
            .await
            .status(),
        404
    );
    let page: Value = app.get_json(&other, "/v1/clips").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    assert_eq!(app.clip_ids().await, vec![clip_id.to_owned()]);
    app.app.stop().await;
}

#[tokio::test]
async fn an_upload_without_a_digest_is_hashed_and_still_verified() {
    let app = spawn_standalone().await;
    let body = sample(10_000);
    let response = app
        .put_upload(&app.token, body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["sha256"], Sha256Digest::of(&body).to_hex());
}

#[tokio::test]
async fn every_api_route_needs_a_valid_token() {
    let app = spawn_standalone().await;
    let unknown = custodian_core::token::token_from_random([1; 32]);
    let routes = [
        ("PUT", "/v1/uploads"),
        ("GET", "/v1/clips"),
        ("GET", "/v1/clips/01a21cdf-d5f0-72f8-b84f-a6b8d573f60d"),
    ];
    for (method, path) in routes {
        for token in [None, Some("garbage"), Some(unknown.as_str())] {
            let mut request = app
                .http
                .request(method.parse().unwrap(), format!("{}{path}", app.base))
                .query(&upload_query())
                .body(sample(10));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {path} with {token:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
        }
    }
    assert!(app.clip_ids().await.is_empty());
    assert!(app.stored_files().is_empty());
    // The operational endpoints are open (they carry no footage).
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            app.http
                .get(format!("{}{path}", app.base))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{path}"
        );
    }
}

#[tokio::test]
async fn uploading_into_another_bureau_is_forbidden() {
    let app = spawn_standalone().await;
    let response = app
        .http
        .put(format!("{}/v1/uploads", app.base))
        .bearer_auth(&app.token)
        .query(&upload_query())
        .query(&[("bureau", "b2")])
        .body(sample(1000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "wrong-bureau");
    assert!(app.stored_files().is_empty());
    assert_eq!(app.pending_uploads().await, 0);
}

#[tokio::test]
async fn a_digest_mismatch_is_refused_and_leaves_nothing() {
    let app = spawn_standalone().await;
    let response = app
        .put_upload(&app.token, sample(50_000))
        .header(
            "Content-Digest",
            Sha256Digest::of(b"not this").to_content_digest(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "digest-mismatch");
    assert!(app.clip_ids().await.is_empty(), "a clip was recorded");
    assert!(
        app.stored_files().is_empty(),
        "an object was left: {:?}",
        app.stored_files()
    );
    assert_eq!(app.pending_uploads().await, 0);

    let response = app
        .put_upload(&app.token, sample(10))
        .header("Content-Digest", "md5=:abc:")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("sha-256"));
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_and_leaves_nothing() {
    let ingest = IngestConfig {
        max_upload_bytes: 100_000,
        ..Default::default()
    };
    let app = spawn_standalone_with(ingest, CatalogConfig::default()).await;
    // Declared too large: refused before any byte is stored.
    let response = app
        .put_upload(&app.token, sample(100_001))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // Not declared (chunked): refused when the limit is passed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..30).map(|_| Ok(sample(10_000))).collect();
    let response = app
        .http
        .put(format!("{}/v1/uploads", app.base))
        .bearer_auth(&app.token)
        .query(&upload_query())
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(app.clip_ids().await.is_empty());
    assert!(app.stored_files().is_empty());
    assert_eq!(app.pending_uploads().await, 0);
    // Exactly at the limit is fine.
    app.upload(sample(100_000)).await;
}

#[tokio::test]
async fn an_empty_upload_is_refused_and_leaves_nothing() {
    let app = spawn_standalone().await;
    // Declared empty, and empty without a declared length (chunked).
    let declared = app.put_upload(&app.token, Vec::new()).send().await.unwrap();
    let chunked = app
        .http
        .put(format!("{}/v1/uploads", app.base))
        .bearer_auth(&app.token)
        .query(&upload_query())
        .body(reqwest::Body::wrap_stream(futures::stream::iter(Vec::<
            Result<Vec<u8>, std::io::Error>,
        >::new(
        ))))
        .send()
        .await
        .unwrap();
    for response in [declared, chunked] {
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "empty", "{body}");
    }
    assert!(app.clip_ids().await.is_empty());
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    assert_eq!(app.pending_uploads().await, 0);
}

#[tokio::test]
async fn a_truncated_upload_leaves_nothing() {
    let app = spawn_standalone().await;
    let query = "device=DSJ-1&officer=1&recorded_at=2026-02-14T09:30:00%2B08:00&file_name=a.mp4";
    let mut stream = tokio::net::TcpStream::connect(app.app.addr).await.unwrap();
    let head = format!(
        "PUT /v1/uploads?{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 1000000\r\n\r\n",
        app.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&sample(200_000)).await.unwrap();
    stream.shutdown().await.unwrap();
    drop(stream);
    // The server notices the connection closing mid-body, discards the upload, then counts
    // the refusal.
    custodian_platform::testing::eventually(WAIT, "truncated upload counted", || async {
        let metrics = app
            .http
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        metrics
            .contains("custodian_uploads_total{outcome=\"body-broken\"} 1")
            .then_some(())
    })
    .await;
    assert_eq!(app.pending_uploads().await, 0);
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    assert!(app.clip_ids().await.is_empty());
}

#[tokio::test]
async fn bad_metadata_gets_a_400_naming_the_field() {
    let app = spawn_standalone().await;
    let cases = [
        (
            vec![
                ("officer", "1"),
                ("recorded_at", "2026-02-14T09:30:00Z"),
                ("file_name", "a.mp4"),
            ],
            "device",
        ),
        (
            vec![
                ("device", "D1"),
                ("officer", "1"),
                ("recorded_at", "14/02/2026"),
                ("file_name", "a.mp4"),
            ],
            "RFC 3339",
        ),
        (
            vec![
                ("device", "D_1"),
                ("officer", "1"),
                ("recorded_at", "2026-02-14T09:30:00Z"),
                ("file_name", "a.mp4"),
            ],
            "device id",
        ),
        (
            vec![
                ("device", "D1"),
                ("officer", "1"),
                ("recorded_at", "2026-02-14T09:30:00Z"),
                ("file_name", "../a.mp4"),
            ],
            "file_name",
        ),
    ];
    for (query, expected) in cases {
        let response = app
            .http
            .put(format!("{}/v1/uploads", app.base))
            .bearer_auth(&app.token)
            .query(&query)
            .body(sample(10))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "invalid-metadata");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{error} lacks {expected}"
        );
    }
    let response = app.get(&app.token, "/v1/clips?state=lost").await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("known states"));
    assert_eq!(
        app.get(&app.token, "/v1/clips/not-a-uuid").await.status(),
        400
    );
    assert_eq!(app.get(&app.token, "/v1/clips?limit=0").await.status(), 400);
    assert!(app.stored_files().is_empty());
}

#[tokio::test]
async fn listing_pages_by_cursor_and_filters() {
    let app = spawn_standalone().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            app.upload(sample(1000 + n)).await["clip_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/clips?limit=2&cursor={c}"),
            None => "/v1/clips?limit=2".to_owned(),
        };
        let page: Value = app.get_json(&app.token, &path).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "pages are newest first, each clip once");
    let none: Value = app.get_json(&app.token, "/v1/clips?device=OTHER").await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let window: Value = app
        .get_json(
            &app.token,
            "/v1/clips?recorded_from=2026-02-14T01:30:00Z&recorded_to=2026-02-14T01:30:01Z",
        )
        .await;
    assert_eq!(window["items"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_lost_announcement_only_delays_cataloguing() {
    let catalog = CatalogConfig {
        reconcile_every: Duration::from_millis(100),
        stuck_after: Duration::from_secs(1),
        ..Default::default()
    };
    let app = spawn_standalone_with(IngestConfig::default(), catalog).await;
    // Record a clip the way ingest does, but never announce it: as if the process died
    // between the commit and the publish.
    let catalogue = app.app.ports.catalogue.clone();
    let bureau = custodian_core::BureauId::parse("b1").unwrap();
    let id = custodian_core::ClipId::from_parts(1_771_000_000_000, [3; 10]);
    let meta = custodian_core::upload::RawUploadMetadata {
        device: Some("DSJ-1".into()),
        officer: Some("1".into()),
        recorded_at: Some("2026-02-14T09:30:00+08:00".into()),
        file_name: Some("x.mp4".into()),
        ..Default::default()
    }
    .validate(&bureau, chrono::Utc::now())
    .unwrap();
    let now = chrono::Utc::now();
    let pending = custodian_platform::catalogue::PendingUpload {
        clip: id,
        bureau: bureau.clone(),
        object_key: "k".into(),
        started_at: now,
    };
    catalogue.begin_upload(&pending).await.unwrap();
    let new = custodian_platform::catalogue::NewClip {
        id,
        meta,
        object_key: "k".into(),
        size_bytes: 1,
        sha256: Sha256Digest::of(b"x"),
        received_at: now,
        uploaded_by: "token test".into(),
    };
    catalogue.record_clip(&new).await.unwrap();
    app.wait_for_state(&id.to_string(), "catalogued").await;
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("custodian_reconciler_republished_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let app = spawn_standalone().await;
    app.upload(sample(5000)).await;
    let ready: Value = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["catalogue"], "ok");
    assert_eq!(ready["blob_store"], "ok");
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "custodian_build_info{version=",
        "custodian_uploads_total{outcome=\"stored\"} 1",
        "custodian_upload_bytes_total 5000",
        "custodian_http_requests_total{method=\"PUT\",route=\"/v1/uploads\",status=\"201\"} 1",
    ] {
        assert!(metrics.contains(expected), "missing {expected}");
    }
}

/// Serves the ingest role alone on the given ports, as a distributed ingest process would.
async fn serve_ingest(ports: Ports) -> (String, tokio_util::sync::CancellationToken) {
    let ingest = Ingest::new(ports, IngestConfig::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(custodian_platform::http::serve(
        listener,
        ingest.router(),
        shutdown.clone(),
    ));
    (base, shutdown)
}

fn ports(blob: Arc<dyn BlobStore>, catalogue: Arc<dyn Catalogue>) -> Ports {
    Ports {
        blob,
        bus: Arc::new(InProcessBus::new()),
        catalogue,
        clock: Arc::new(SystemClock),
        registry: prometheus::Registry::new(),
        secret_roles: Default::default(),
    }
}

async fn put(base: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .put(format!("{base}/v1/uploads"))
        .bearer_auth(token)
        .query(&upload_query())
        .body(sample(1000))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn storage_down_gives_503_with_retry_after_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = catalogue::connect(&format!("sqlite:{}", dir.path().join("c.db").display()), 2)
        .await
        .unwrap();
    let mut settings = custodian_platform::testing::s3_settings("unreachable");
    settings.endpoint = Some("http://127.0.0.1:9".into());
    let (base, _shutdown) = serve_ingest(ports(
        Arc::new(S3BlobStore::new(&settings)),
        catalogue.clone(),
    ))
    .await;
    let bureau = custodian_core::BureauId::parse("b1").unwrap();
    let token = catalogue_token(&*catalogue, "b1", custodian_core::roles::Role::Officer).await;
    let response = put(&base, &token).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "storage-unavailable");
    let clips = catalogue
        .list_clips(&bureau, &Default::default(), 10)
        .await
        .unwrap();
    assert!(clips.is_empty());
}

#[tokio::test]
async fn database_down_gives_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let postgres =
        PostgresCatalogue::connect(&custodian_platform::testing::fresh_postgres_url().await, 2)
            .await
            .unwrap();
    let catalogue: Arc<dyn Catalogue> = Arc::new(postgres.clone());
    let blob = Arc::new(LocalBlobStore::open(dir.path()).await.unwrap());
    let (base, _shutdown) = serve_ingest(ports(blob, catalogue.clone())).await;
    let token = catalogue_token(&*catalogue, "b1", custodian_core::roles::Role::Officer).await;
    assert_eq!(put(&base, &token).await.status(), 201);
    postgres.pool().close().await;
    let response = put(&base, &token).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    // The database's own words stay in the server's log.
    let error: Value = response.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("pool") && !message.contains("sqlx") && !message.contains("127.0.0.1"),
        "the 503 tells the client about the database: {message}"
    );
}

/// A standalone instance (without media workers) serving within `limits`.
async fn spawn_limited(limits: custodian_platform::config::HttpLimits) -> TestApp {
    spawn_standalone_adjusted(Arc::new(SystemClock), |args| {
        args.catalog.media_steps = vec![None];
        args.server.limits = limits;
    })
    .await
}

/// Reads what the server sends until it closes the connection; panics if it has not within
/// `within`.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> String {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let closed = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&received).into_owned();
    assert!(
        closed.is_ok(),
        "the connection was still open after {within:?}; received {text:?}"
    );
    text
}

/// Reads one answer to `GET /healthz` (its body is `ok`) from a kept-alive connection.
async fn read_healthz(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&received).ends_with("\r\n\r\nok") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed after {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Issue #15: half-sent headers kept connections open for ever. A header must be complete
/// within the header timeout (trickling does not extend it), a kept-alive connection may idle
/// only so long, and a body may not fall silent; but an upload that keeps sending is never
/// cut, however long it takes in all.
#[tokio::test]
async fn slow_or_silent_clients_are_cut_off_but_a_steady_upload_is_not() {
    let second = Duration::from_secs(1);
    let app = spawn_limited(custodian_platform::config::HttpLimits {
        header_timeout: second,
        body_timeout: second,
        idle_timeout: second,
        max_connections: 64,
    })
    .await;
    let addr = app.app.addr;

    // Half a header: cut off, unanswered, once the header timeout has passed.
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut half, WAIT).await;
    assert!(answer.is_empty(), "a half header was answered: {answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "cut off before its time"
    );

    // A header trickled a byte at a time does not win more time: the server closes the
    // connection long before the 60 bytes (one every 100 ms) are through.
    let mut trickle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = trickle.split();
    let header = format!(
        "GET /healthz HTTP/1.1\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(60)
    );
    let sending = async {
        for byte in header.as_bytes() {
            if writer.write_all(&[*byte]).await.is_err() {
                // Closed under the writer: the reader below sees it too.
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let closed = async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 1024];
        let mut received = Vec::new();
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return received,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::select! {
        _ = sending => panic!("the whole trickled header went through"),
        received = closed => assert!(received.is_empty(), "a trickled header was answered"),
    }

    // Idle: one answer, then silence; the server closes the connection.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(HEALTHZ).await.unwrap();
    assert!(read_healthz(&mut idle).await.starts_with("HTTP/1.1 200"));
    assert_eq!(read_until_closed(&mut idle, WAIT).await, "");

    // A body that falls silent half way: refused, and nothing is kept.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let query: Vec<String> = upload_query()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('+', "%2B").replace(':', "%3A")))
        .collect();
    silent
        .write_all(
            format!(
                "PUT /v1/uploads?{} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
                 Content-Length: 4000\r\n\r\n",
                query.join("&"),
                app.token
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    silent.write_all(&sample(1000)).await.unwrap();
    let answer = read_until_closed(&mut silent, WAIT).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("body-broken"), "{answer}");
    assert_eq!(app.pending_uploads().await, 0);
    assert!(app.stored_files().is_empty());

    // An upload that keeps sending, in all three times as long as every timeout, is stored.
    use futures::StreamExt;
    let body = sample(4000);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(400).map(|c| Ok(c.to_vec())).collect();
    let paced = futures::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        chunk
    });
    let started = std::time::Instant::now();
    let response = app
        .put_upload(&app.token, Vec::new())
        .header("Content-Length", body.len())
        .body(reqwest::Body::wrap_stream(paced))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    assert!(started.elapsed() >= 3 * second);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["sha256"], Sha256Digest::of(&body).to_hex());
}

/// Issue #15: connections were unlimited. Beyond the cap a connection waits, unanswered,
/// until one of those served closes.
#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_place() {
    let app = spawn_limited(custodian_platform::config::HttpLimits {
        max_connections: 2,
        ..Default::default()
    })
    .await;
    let addr = app.app.addr;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(HEALTHZ).await.unwrap();
        read_healthz(&mut stream).await;
        held.push(stream);
    }
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third.write_all(HEALTHZ).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), read_healthz(&mut third))
            .await
            .is_err(),
        "a connection beyond the cap was served"
    );
    drop(held.pop());
    let answer = tokio::time::timeout(WAIT, read_healthz(&mut third))
        .await
        .expect("served once a place was free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// With --ops-listen, the metrics (which name the bureaus) and the probes are served only on
/// that address, without a token; the API address no longer answers them.
#[tokio::test]
async fn metrics_and_probes_move_to_the_ops_address() {
    let app = spawn_standalone_adjusted(Arc::new(SystemClock), |args| {
        args.catalog.media_steps = vec![None];
        args.server.ops_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    app.upload(sample(1000)).await;
    let ops = format!("http://{}", app.app.ops_addr.expect("an ops address"));
    let metrics = metrics_text(&app.http, &ops).await;
    assert!(metrics.contains("custodian_uploads_total"), "{metrics}");
    for probe in ["/healthz", "/readyz"] {
        let response = app.http.get(format!("{ops}{probe}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{probe}");
    }
    for path in ["/metrics", "/healthz", "/readyz"] {
        let response = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), 200, "{path} still on the API address");
        let text = response.text().await.unwrap();
        assert!(!text.contains("custodian_"), "{path}: {text}");
    }
    // The API itself is where it was.
    assert_eq!(app.get(&app.token, "/v1/clips").await.status(), 200);
}

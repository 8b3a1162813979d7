//! Resumable uploads (tus 1.0) over HTTP: the protocol's answers to every bad request, a
//! resume after the server restarts, and, on S3 and PostgreSQL, chunks that land on two
//! replicas in turn with the tail kept in the catalogue, and the janitor expiring an
//! abandoned upload.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use custodian::cli::{ServerArgs, StandaloneArgs};
use custodian_core::tus::encode_metadata;
use custodian_core::Sha256Digest;
use custodian_ingest::{Ingest, IngestConfig};
use custodian_platform::blob::BlobStore;
use custodian_platform::bus::InProcessBus;
use custodian_platform::catalogue::{Catalogue, PostgresCatalogue};
use custodian_platform::clock::{Clock, ManualClock, SystemClock};
use custodian_platform::testing::{object_keys, open_multipart_keys};
use custodian_platform::Ports;
use reqwest::Client;

fn metadata(sha256: Option<Sha256Digest>) -> String {
    let hex = sha256.map(|d| d.to_hex());
    let mut pairs = vec![
        ("device", "DSJ-0001"),
        ("officer", "031234"),
        ("recorded_at", "2026-02-14T09:30:00+08:00"),
        ("filename", "DSJ-0001_031234_20260214_093000.mp4"),
        ("filetype", "video/mp4"),
    ];
    if let Some(hex) = hex.as_deref() {
        pairs.push(("sha256", hex));
    }
    encode_metadata(pairs)
}

/// A minimal tus client: enough to send each request exactly as a test needs it.
struct Tus {
    http: Client,
    base: String,
    token: String,
}

impl Tus {
    fn new(base: &str, token: &str) -> Self {
        Self {
            http: Client::new(),
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    async fn create(&self, length: u64, metadata: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/tus", self.base))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", length.to_string())
            .header("Upload-Metadata", metadata)
            .send()
            .await
            .unwrap()
    }

    /// Creates an upload and answers its URL.
    async fn start(&self, length: u64, metadata: &str) -> String {
        let response = self.create(length, metadata).await;
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        assert!(response.headers().contains_key("upload-expires"));
        let location = response.headers()["location"].to_str().unwrap();
        format!("{}{location}", self.base)
    }

    async fn patch(
        &self,
        url: &str,
        offset: u64,
        body: &[u8],
        checksum: Option<Sha256Digest>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .patch(url)
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string())
            .body(body.to_vec());
        if let Some(checksum) = checksum {
            request = request.header(
                "Upload-Checksum",
                format!("sha256 {}", checksum.to_base64()),
            );
        }
        request.send().await.unwrap()
    }

    async fn head(&self, url: &str) -> reqwest::Response {
        self.http
            .head(url)
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .unwrap()
    }

    async fn offset(&self, url: &str) -> u64 {
        let response = self.head(url).await;
        assert_eq!(response.status(), 200);
        header(&response, "upload-offset").parse().unwrap()
    }
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_resumable_upload_in_chunks_becomes_a_clip_like_a_plain_upload() {
    let app = spawn_standalone().await;
    let tus = Tus::new(&app.base, &app.token);
    // OPTIONS needs no token (tus clients and browsers ask before they authenticate); it
    // tells the protocol and nothing of any upload. Everything else stays behind the token.
    let options = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/tus", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 204);
    let anonymous = Tus::new(&app.base, "not-a-token");
    assert_eq!(anonymous.create(10, &metadata(None)).await.status(), 401);
    assert_eq!(header(&options, "tus-version"), "1.0.0");
    assert!(header(&options, "tus-extension").contains("checksum"));
    assert_eq!(header(&options, "tus-checksum-algorithm"), "sha256");
    assert_eq!(header(&options, "tus-max-size"), (64u64 << 30).to_string());

    let body = sample(3_000_000);
    let digest = Sha256Digest::of(&body);
    let url = tus.start(body.len() as u64, &metadata(Some(digest))).await;
    assert_eq!(tus.offset(&url).await, 0);
    let mut offset = 0;
    for piece in [
        &body[..1_000_000],
        &body[1_000_000..1_000_001],
        &body[1_000_001..],
    ] {
        let response = tus
            .patch(&url, offset, piece, Some(Sha256Digest::of(piece)))
            .await;
        assert_eq!(response.status(), 204, "{:?}", response.text().await);
        offset += piece.len() as u64;
        assert_eq!(header(&response, "upload-offset"), offset.to_string());
        if offset == body.len() as u64 {
            assert_eq!(header(&response, "custodian-sha256"), digest.to_hex());
        }
    }
    // A client that lost the last answer learns the receipt from HEAD.
    let head = tus.head(&url).await;
    assert_eq!(header(&head, "upload-offset"), body.len().to_string());
    let clip_id = header(&head, "custodian-clip-id");
    let record = app.wait_for_state(&clip_id, "catalogued").await;
    assert_eq!(record["sha256"], digest.to_hex());
    assert_eq!(record["size_bytes"], body.len());
    let files = app.stored_files();
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read(&files[0]).unwrap(), body);
    assert_eq!(app.pending_uploads().await, 0);
    app.app.stop().await;
}

#[tokio::test]
async fn each_bad_request_gets_its_tus_answer_and_keeps_nothing() {
    let config = IngestConfig {
        max_upload_bytes: 1_000_000,
        ..IngestConfig::default()
    };
    let app = spawn_standalone_with(config, Default::default()).await;
    let tus = Tus::new(&app.base, &app.token);
    let body = sample(600_000);
    let url = tus.start(body.len() as u64, &metadata(None)).await;

    // 460: a chunk whose checksum does not match is not kept.
    let wrong = tus
        .patch(&url, 0, &body[..100_000], Some(Sha256Digest::of(b"other")))
        .await;
    assert_eq!(wrong.status(), 460);
    assert_eq!(tus.offset(&url).await, 0);

    // 409: the wrong offset.
    let ok = tus.patch(&url, 0, &body[..100_000], None).await;
    assert_eq!(ok.status(), 204);
    let stale = tus.patch(&url, 0, &body[..100_000], None).await;
    assert_eq!(stale.status(), 409);
    assert_eq!(tus.offset(&url).await, 100_000);

    // 413: more than the limit; 400: a body past the declared length.
    assert_eq!(tus.create(1_000_001, &metadata(None)).await.status(), 413);
    let past = tus.patch(&url, 100_000, &sample(600_000), None).await;
    assert_eq!(past.status(), 400);
    assert_eq!(tus.offset(&url).await, 100_000);

    // 415, 412, 400: not a tus PATCH, another protocol version, bad metadata.
    let plain = app
        .http
        .patch(&url)
        .bearer_auth(&app.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "100000")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415);
    let old = app
        .http
        .post(format!("{}/v1/tus", app.base))
        .bearer_auth(&app.token)
        .header("Tus-Resumable", "0.2.2")
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 412);
    let missing = encode_metadata([("device", "DSJ-0001")]);
    let refused = tus.create(10, &missing).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("officer"));

    // 404: another bureau's upload, whatever the method.
    let other = Tus::new(&app.base, &token_for(&app.app, "b2").await);
    assert_eq!(other.head(&url).await.status(), 404);
    assert_eq!(other.patch(&url, 100_000, b"x", None).await.status(), 404);
    let delete = other
        .http
        .delete(&url)
        .bearer_auth(&other.token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404);
    assert_eq!(tus.offset(&url).await, 100_000);

    // 422: the whole file is not what the client declared; nothing is kept.
    let liar = tus
        .start(body.len() as u64, &metadata(Some(Sha256Digest::of(b"x"))))
        .await;
    let mismatch = tus.patch(&liar, 0, &body, None).await;
    assert_eq!(mismatch.status(), 422);
    assert_eq!(tus.head(&liar).await.status(), 404);
    // The same when the whole file's digest comes with the last chunk (Custodian-Sha256, as
    // the agent sends it, having hashed the file while sending it); a malformed one is 400.
    let late_liar = tus.start(body.len() as u64, &metadata(None)).await;
    let with_claim = |claim: String| {
        app.http
            .patch(&late_liar)
            .bearer_auth(&app.token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", "0")
            .header("Custodian-Sha256", claim)
            .body(body.clone())
            .send()
    };
    assert_eq!(with_claim("not hex".into()).await.unwrap().status(), 400);
    assert_eq!(tus.offset(&late_liar).await, 0);
    let other = Sha256Digest::of(b"x").to_hex();
    assert_eq!(with_claim(other).await.unwrap().status(), 422);
    assert_eq!(tus.head(&late_liar).await.status(), 404);

    // Termination drops the upload and its bytes.
    let delete = app
        .http
        .delete(&url)
        .bearer_auth(&app.token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    assert_eq!(tus.head(&url).await.status(), 404);
    assert_eq!(app.pending_uploads().await, 0);
    assert!(app.stored_files().is_empty());
    let parts = std::fs::read_dir(app.data.path().join("blobs/.parts")).unwrap();
    assert_eq!(parts.count(), 0, "parts of dropped uploads left behind");
    app.app.stop().await;
}

/// One token cannot hold more open uploads, or reserve more bytes, than its quota: the next
/// creation answers 429 and keeps nothing, another token is not affected, and finishing or
/// terminating an upload frees its share.
#[tokio::test]
async fn a_token_cannot_open_more_uploads_or_bytes_than_its_quota() {
    let ingest = IngestConfig {
        max_upload_bytes: 1 << 20,
        max_open_upload_bytes: (2 << 20) + 100,
        max_open_uploads: 3,
        ..Default::default()
    };
    let app = spawn_standalone_with(ingest, Default::default()).await;
    let station = Tus::new(&app.base, &app.token);
    let first = station.start(1 << 20, &metadata(None)).await;
    station.start(1 << 20, &metadata(None)).await;
    // A third MiB would pass the bytes limit.
    let refused = station.create(1 << 20, &metadata(None)).await;
    assert_eq!(refused.status(), 429);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "upload-quota", "{error}");
    // Small ones fit the bytes, but not the count.
    station.start(10, &metadata(None)).await;
    assert_eq!(station.create(10, &metadata(None)).await.status(), 429);
    assert_eq!(
        app.pending_uploads().await,
        3,
        "the refused ones kept nothing"
    );
    // Another station of the bureau has its own quota.
    let other = Tus::new(&app.base, &token_for(&app.app, "b1").await);
    other.start(1 << 20, &metadata(None)).await;
    // Terminating an upload gives its share back.
    let terminated = station
        .http
        .delete(&first)
        .bearer_auth(&station.token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(terminated.status(), 204);
    station.start(10, &metadata(None)).await;
}

fn standalone_args(data: &std::path::Path) -> StandaloneArgs {
    StandaloneArgs {
        data: data.to_path_buf(),
        server: ServerArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            shutdown_grace: Duration::from_secs(5),
            ops_listen: None,
            limits: Default::default(),
            tls: Default::default(),
        },
        ingest: IngestConfig::default(),
        // The bytes are not video: catalogued without the media workers.
        catalog: custodian_catalog::CatalogConfig {
            media_steps: vec![None],
            ..Default::default()
        },
        retention: Default::default(),
        custody: Default::default(),
        transcoder: Default::default(),
        media: Default::default(),
        access: Default::default(),
        console: true,
    }
}

#[tokio::test]
async fn an_upload_resumes_after_the_server_restarts() {
    let data = tempfile::tempdir().unwrap();
    let args = standalone_args(data.path());
    let app = custodian::app::start_standalone(&args).await.unwrap();
    let token = token_for(&app, "b1").await;
    // The local store cuts 8 MiB parts: a chunk that leaves a tail, then one that completes
    // the part, whose answer comes while the part is still being written (write-behind). A
    // server stopped right then settles it first: nothing acknowledged is sent twice.
    let part = 8 << 20;
    let body = sample(part + 2_500_000);
    let digest = Sha256Digest::of(&body);
    let tus = Tus::new(&format!("http://{}", app.addr), &token);
    let url = tus.start(body.len() as u64, &metadata(Some(digest))).await;
    let path = url.split_once("/v1/").unwrap().1.to_owned();
    assert_eq!(
        tus.patch(&url, 0, &body[..1_234_567], None).await.status(),
        204
    );
    assert_eq!(
        tus.patch(&url, 1_234_567, &body[1_234_567..part], None)
            .await
            .status(),
        204
    );
    app.stop().await;

    let app = custodian::app::start_standalone(&args).await.unwrap();
    let tus = Tus::new(&format!("http://{}", app.addr), &token);
    let url = format!("{}/v1/{path}", tus.base);
    assert_eq!(tus.offset(&url).await, part as u64);
    let last = tus.patch(&url, part as u64, &body[part..], None).await;
    assert_eq!(last.status(), 204);
    assert_eq!(header(&last, "custodian-sha256"), digest.to_hex());
    app.stop().await;
}

fn ports_on(
    blob: Arc<dyn BlobStore>,
    catalogue: Arc<dyn Catalogue>,
    clock: Arc<dyn Clock>,
) -> Ports {
    Ports {
        blob,
        bus: Arc::new(InProcessBus::new()),
        catalogue,
        clock,
        registry: prometheus::Registry::new(),
        secret_roles: Default::default(),
    }
}

async fn serve(ingest: &Arc<Ingest>) -> (String, tokio_util::sync::CancellationToken) {
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

/// Two ingest replicas on one S3 bucket and one PostgreSQL catalogue, each serving on
/// 127.0.0.1, and a tus client for each with an officer's token of bureau b1.
struct Replicas {
    store: Arc<custodian_platform::blob::S3BlobStore>,
    catalogue: Arc<dyn Catalogue>,
    bureau: custodian_core::BureauId,
    a: Arc<Ingest>,
    token: String,
    on_a: Tus,
    on_b: Tus,
    _stop: [tokio_util::sync::CancellationToken; 2],
}

async fn two_replicas(clock: Arc<dyn Clock>) -> Replicas {
    let (store, _settings) = custodian_platform::testing::fresh_s3_store().await;
    let store = Arc::new(store);
    let url = custodian_platform::testing::fresh_postgres_url().await;
    let catalogue: Arc<dyn Catalogue> =
        Arc::new(PostgresCatalogue::connect(&url, 4).await.unwrap());
    let replica = || {
        Ingest::new(
            ports_on(store.clone(), catalogue.clone(), clock.clone()),
            IngestConfig::default(),
        )
        .unwrap()
    };
    let (a, b) = (replica(), replica());
    let (base_a, stop_a) = serve(&a).await;
    let (base_b, stop_b) = serve(&b).await;
    let bureau = custodian_core::BureauId::parse("b1").unwrap();
    let token = catalogue_token(&*catalogue, "b1", custodian_core::roles::Role::Officer).await;
    Replicas {
        store,
        catalogue,
        bureau,
        a,
        on_a: Tus::new(&base_a, &token),
        on_b: Tus::new(&base_b, &token),
        token,
        _stop: [stop_a, stop_b],
    }
}

/// No multipart upload is left open in the bucket (every one completed or aborted).
async fn assert_no_multipart_left(store: &custodian_platform::blob::S3BlobStore) {
    let open = open_multipart_keys(store).await.unwrap();
    assert!(open.is_empty(), "multipart uploads left: {open:?}");
}

#[tokio::test]
async fn on_s3_chunks_land_on_two_replicas_and_abandoned_uploads_expire() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let Replicas {
        store,
        catalogue,
        bureau,
        a,
        token,
        on_a,
        on_b,
        _stop,
    } = two_replicas(clock.clone()).await;
    let (base_a, base_b) = (on_a.base.clone(), on_b.base.clone());

    // 5 MiB parts: 3 MiB (all tail), 4 MiB (a part and 2 MiB of tail), then the rest on
    // the other replica, alternating.
    let body = sample(13 << 20);
    let digest = Sha256Digest::of(&body);
    let url_a = on_a.start(body.len() as u64, &metadata(Some(digest))).await;
    let url_b = url_a.replace(&base_a, &base_b);
    let cuts = [0, 3 << 20, 7 << 20, 8 << 20, 13 << 20];
    for (i, window) in cuts.windows(2).enumerate() {
        let (client, url) = if i % 2 == 0 {
            (&on_a, &url_a)
        } else {
            (&on_b, &url_b)
        };
        let (from, to) = (window[0], window[1]);
        assert_eq!(client.offset(url).await, from as u64);
        let response = client.patch(url, from as u64, &body[from..to], None).await;
        assert_eq!(response.status(), 204, "{:?}", response.text().await);
    }
    let head = on_a.head(&url_a).await;
    assert_eq!(header(&head, "custodian-sha256"), digest.to_hex());
    let clip_id: custodian_core::ClipId = header(&head, "custodian-clip-id").parse().unwrap();
    let record = catalogue.clip(&bureau, clip_id).await.unwrap().unwrap();
    let stored = stored_bytes(&*store, &record.object_key).await;
    assert_eq!(Sha256Digest::of(&stored), digest);

    // 10,000 parts of 5 MiB is the most one S3 object can take: a larger upload is refused
    // at creation, not after hours of sending.
    assert_eq!(
        on_a.create(10_000 * (5 << 20) + 1, &metadata(None))
            .await
            .status(),
        413
    );
    let options = on_a
        .http
        .request(reqwest::Method::OPTIONS, format!("{base_a}/v1/tus"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&options, "tus-max-size"),
        (10_000u64 * (5 << 20)).to_string()
    );

    // An upload left half-way expires: HEAD answers 410, the janitor aborts its parts.
    let abandoned = on_a.start(body.len() as u64, &metadata(None)).await;
    assert_eq!(
        on_a.patch(&abandoned, 0, &body[..6 << 20], None)
            .await
            .status(),
        204
    );
    clock.advance(chrono::Duration::hours(25));
    assert_eq!(on_a.head(&abandoned).await.status(), 410);
    assert_eq!(a.reclaim_abandoned().await.unwrap(), 1);
    assert_eq!(on_a.head(&abandoned).await.status(), 404);
    assert_no_multipart_left(&store).await;
}

/// A PATCH that ends on a part boundary is answered while its parts are still on their way to
/// S3 (write-behind). The next chunk may go to another replica at once: that replica waits
/// until the first has stored and saved what it acknowledged, then takes the chunk. Chunks
/// carry checksums, and a bad one on the way is refused without losing what was acknowledged.
#[tokio::test]
async fn chunks_acknowledged_before_they_are_stored_move_between_replicas_intact() {
    let Replicas {
        store,
        catalogue,
        bureau,
        on_a,
        on_b,
        _stop,
        ..
    } = two_replicas(Arc::new(SystemClock)).await;
    let (base_a, base_b) = (on_a.base.clone(), on_b.base.clone());

    // Parts of 5 MiB (the store's size in tests): three chunks of two parts each, then the last
    // part; every chunk but the last ends on a part boundary, so none waits for its parts.
    let part = 5 << 20;
    let body = sample(7 * part);
    let digest = Sha256Digest::of(&body);
    let url_a = on_a.start(body.len() as u64, &metadata(Some(digest))).await;
    let url_b = url_a.replace(&base_a, &base_b);
    let chunk = |from: usize, to: usize| (&body[from..to], Some(Sha256Digest::of(&body[from..to])));

    let (bytes, sum) = chunk(0, 2 * part);
    let first = on_a.patch(&url_a, 0, bytes, sum).await;
    assert_eq!(first.status(), 204, "{:?}", first.text().await);
    assert_eq!(header(&first, "upload-offset"), (2 * part).to_string());

    // At once to the other replica, no HEAD between: it must not answer 409 for bytes the
    // first replica acknowledged.
    let (bytes, sum) = chunk(2 * part, 4 * part);
    let second = on_b.patch(&url_b, (2 * part) as u64, bytes, sum).await;
    assert_eq!(second.status(), 204, "{:?}", second.text().await);

    // A chunk damaged on the way (its checksum is of other bytes) is refused with 460 and
    // nothing acknowledged before it is lost.
    let damaged = on_b
        .patch(
            &url_b,
            (4 * part) as u64,
            &body[4 * part..6 * part],
            Some(Sha256Digest::of(b"other bytes")),
        )
        .await;
    assert_eq!(damaged.status(), 460, "{:?}", damaged.text().await);
    assert_eq!(on_b.offset(&url_b).await, (4 * part) as u64);
    // The same for a chunk that is exactly one part, whose digest is its part's.
    let damaged = on_b
        .patch(
            &url_b,
            (4 * part) as u64,
            &body[4 * part..5 * part],
            Some(Sha256Digest::of(&body[5 * part..6 * part])),
        )
        .await;
    assert_eq!(damaged.status(), 460, "{:?}", damaged.text().await);
    assert_eq!(on_b.offset(&url_b).await, (4 * part) as u64);

    // Back on the first replica, whose session is stale by now, in chunks of one part.
    for at in [4 * part, 5 * part] {
        let (bytes, sum) = chunk(at, at + part);
        let third = on_a.patch(&url_a, at as u64, bytes, sum).await;
        assert_eq!(third.status(), 204, "{:?}", third.text().await);
    }
    let (bytes, sum) = chunk(6 * part, 7 * part);
    let last = on_b.patch(&url_b, (6 * part) as u64, bytes, sum).await;
    assert_eq!(last.status(), 204, "{:?}", last.text().await);
    assert_eq!(header(&last, "custodian-sha256"), digest.to_hex());

    let clip_id: custodian_core::ClipId = header(&last, "custodian-clip-id").parse().unwrap();
    let record = catalogue.clip(&bureau, clip_id).await.unwrap().unwrap();
    let stored = stored_bytes(&*store, &record.object_key).await;
    assert_eq!(stored.len(), body.len());
    assert_eq!(Sha256Digest::of(&stored), digest);
}

/// An ingest process killed right after acknowledging chunks whose parts were still on their
/// way: HEAD on its replacement answers what was made durable (whole parts, never more than
/// was acknowledged), the client sends the rest from there, and the stored file is intact
/// with no multipart upload left behind.
#[tokio::test]
async fn an_ingest_killed_with_acknowledged_parts_in_flight_resumes_from_what_is_durable() {
    use common::distributed::{create_token, deployment, Process};
    let deployment = deployment().await;
    let env = &deployment.env;
    let token = create_token(env, "b1").await;
    let http = Client::new();
    let doomed = Process::spawn(&["serve", "ingest"], env);
    let base = doomed.ready(&http).await;
    let tus = Tus::new(&base, &token);

    let part = 5 << 20;
    let body = sample(6 * part);
    let digest = Sha256Digest::of(&body);
    let url = tus.start(body.len() as u64, &metadata(Some(digest))).await;
    let path = url.split_once("/v1/").unwrap().1.to_owned();
    let acknowledged = 4 * part;
    let response = tus
        .patch(
            &url,
            0,
            &body[..acknowledged],
            Some(Sha256Digest::of(&body[..acknowledged])),
        )
        .await;
    assert_eq!(response.status(), 204, "{:?}", response.text().await);
    let mut doomed = doomed;
    doomed.child.kill().await.unwrap();

    let replacement = Process::spawn(&["serve", "ingest"], env);
    let tus = Tus::new(&replacement.ready(&http).await, &token);
    let url = format!("{}/v1/{path}", tus.base);
    let durable = tus.offset(&url).await as usize;
    assert!(durable <= acknowledged, "durable {durable} > acknowledged");
    assert_eq!(durable % part, 0, "a part was saved half-way");
    let rest = &body[durable..];
    let last = tus
        .patch(&url, durable as u64, rest, Some(Sha256Digest::of(rest)))
        .await;
    assert_eq!(last.status(), 204, "{:?}", last.text().await);
    assert_eq!(header(&last, "custodian-sha256"), digest.to_hex());

    let store = &deployment.store;
    let keys = object_keys(store).await.unwrap();
    assert_eq!(keys.len(), 1, "objects: {keys:?}");
    let stored = stored_bytes(store, &keys[0]).await;
    assert_eq!(Sha256Digest::of(&stored), digest);
    assert_no_multipart_left(store).await;
}

/// Art. 16: a resumable upload names the officer's return to the office and a special
/// circumstance in its Upload-Metadata, as the plain upload does in its query.
#[tokio::test]
async fn a_resumable_upload_names_the_return_to_the_office() {
    let app = spawn_standalone().await;
    let tus = Tus::new(&app.base, &app.token);
    let body = sample(5_000);
    let with_return = encode_metadata([
        ("device", "DSJ-0001"),
        ("officer", "031234"),
        ("recorded_at", "2026-02-14T09:30:00+08:00"),
        ("filename", "DSJ-0001_031234_20260214_093000.mp4"),
        ("returned_at", "2026-02-14T17:45:00+08:00"),
        ("late_reason", "暴雨封路，次日返回"),
    ]);
    let url = tus.start(body.len() as u64, &with_return).await;
    let response = tus
        .patch(&url, 0, &body, Some(Sha256Digest::of(&body)))
        .await;
    assert_eq!(response.status(), 204, "{:?}", response.text().await);
    let clip_id = header(&tus.head(&url).await, "custodian-clip-id");
    let record = app.wait_for_state(&clip_id, "catalogued").await;
    assert_eq!(record["returned_at"], "2026-02-14T09:45:00Z");
    assert_eq!(record["late_reason"], "暴雨封路，次日返回");
    assert_eq!(record["upload_deadlines_from"], "return");
    // A return before the recording is refused when the upload is created.
    let before = encode_metadata([
        ("device", "DSJ-0001"),
        ("officer", "031234"),
        ("recorded_at", "2026-02-14T09:30:00+08:00"),
        ("filename", "a.mp4"),
        ("returned_at", "2026-02-14T08:00:00+08:00"),
    ]);
    let refused = tus.create(10, &before).await;
    assert_eq!(refused.status(), 400);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("before the recording started"));
    app.app.stop().await;
}

//! TLS end to end, with certificates the test makes (a CA and a server certificate for
//! 127.0.0.1): the server speaks only TLS when given a certificate, a client trusting the CA
//! reads and uploads, the upload agent sends over https with --ca-file and refuses a server
//! it cannot verify, and a certificate file that is no certificate stops start-up naming it.
//! A station's token bound to its client certificate (RFC 8705) works only over a connection
//! presenting that certificate. The load generator uploads over TLS too; the bus speaks TLS to
//! a nats-server and the catalogue to a PostgreSQL, each started by the test and taking
//! nothing but TLS.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use custodian_platform::clock::SystemClock;
use custodian_platform::config::TlsArgs;

const BIN: &str = env!("CARGO_BIN_EXE_custodian");

struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn make() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Custodian test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        Self { dir, ca, ca_key }
    }

    /// A client certificate signed by the CA, as `NAME.pem` and `NAME.key`; answers its DER.
    fn client(&self, name: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        std::fs::write(self.path(&format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(self.path(&format!("{name}.key")), key.serialize_pem()).unwrap();
        cert.der().to_vec()
    }

    /// A client trusting the CA that presents the client certificate `NAME`.
    fn client_presenting(&self, name: &str) -> reqwest::Client {
        let mut pem = std::fs::read(self.path(&format!("{name}.pem"))).unwrap();
        pem.extend(std::fs::read(self.path(&format!("{name}.key"))).unwrap());
        let ca =
            reqwest::Certificate::from_pem(&std::fs::read(self.path("ca.pem")).unwrap()).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(ca)
            .identity(reqwest::Identity::from_pem(&pem).unwrap())
            .build()
            .unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server_args(&self) -> TlsArgs {
        TlsArgs {
            tls_cert: Some(self.path("server.pem")),
            tls_key: Some(self.path("server.key")),
            tls_client_ca: None,
        }
    }
}

fn https_client(ca: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_server_speaks_tls_and_the_agent_uploads_over_it() {
    let pki = Pki::make();
    let tls = pki.server_args();
    let app = spawn_standalone_adjusted(Arc::new(SystemClock), |args| {
        args.catalog.media_steps = vec![None];
        args.server.tls = tls;
    })
    .await;
    let https = format!("https://{}", app.app.addr);
    let client = https_client(&pki.path("ca.pem"));

    let health = client.get(format!("{https}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body = sample(50_000);
    let stored = client
        .put(format!("{https}/v1/uploads"))
        .bearer_auth(&app.token)
        .query(&upload_query())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201, "{:?}", stored.text().await);
    // Plain HTTP to the same port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", app.app.addr))
        .send()
        .await;
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "plain HTTP was answered"
    );
    // A client that does not trust the CA refuses the server.
    let untrusting = reqwest::Client::new()
        .get(format!("{https}/healthz"))
        .send()
        .await;
    assert!(untrusting.is_err(), "an unverifiable server was trusted");

    // The upload agent: over https with the bureau's CA, and not without it.
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("DSJ-0001_031234_20260214_093000.mp4");
    std::fs::write(&file, sample(3_000_000)).unwrap();
    let agent = |ca: Option<&Path>, state: &str| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_custodian"));
        command
            .args([
                "upload",
                "--server",
                &https,
                "--token",
                &app.token,
                "--retries",
                "1",
            ])
            .arg("--state")
            .arg(work.path().join(state))
            .arg(&file);
        if let Some(ca) = ca {
            command.arg("--ca-file").arg(ca);
        }
        command.output()
    };
    let refused = agent(None, "refused.json").await.unwrap();
    assert!(!refused.status.success(), "the agent trusted an unknown CA");
    let said = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(
        said.contains("certificate") || said.contains("issuer"),
        "{said}"
    );
    let sent = agent(Some(&pki.path("ca.pem")), "sent.json").await.unwrap();
    assert!(
        sent.status.success(),
        "{}{}",
        String::from_utf8_lossy(&sent.stdout),
        String::from_utf8_lossy(&sent.stderr)
    );
    let clips: serde_json::Value = client
        .get(format!("{https}/v1/clips"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sizes: Vec<u64> = clips["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size_bytes"].as_u64().unwrap())
        .collect();
    assert!(sizes.contains(&3_000_000), "{clips}");
}

#[tokio::test]
async fn a_certificate_file_that_is_no_certificate_stops_start_up_naming_it() {
    let pki = Pki::make();
    let mut tls = pki.server_args();
    std::fs::write(pki.path("broken.pem"), "not a certificate\n").unwrap();
    tls.tls_cert = Some(pki.path("broken.pem"));
    let err = tls.server_config().unwrap_err();
    assert_eq!(err.setting, "tls-cert", "{err}");
    let mut tls = pki.server_args();
    tls.tls_key = Some(pki.path("ca.pem"));
    let err = tls.server_config().unwrap_err();
    assert_eq!(err.setting, "tls-key", "{err}");
}

/// The custodian binary with `args`: whether it succeeded, its output and its messages.
async fn run(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let output = tokio::process::Command::new(BIN)
        .args(args)
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// RFC 8705 certificate-bound tokens: a station's token bound to its client certificate is
/// refused (401, and an entry in the bureau's trail) over a connection presenting another
/// certificate of the same CA or none, so a token copied off the station is of no use without
/// the station's key; unbound tokens work as before, and the agent uploads with the station's
/// certificate.
#[tokio::test]
async fn a_token_bound_to_a_client_certificate_works_only_over_a_connection_presenting_it() {
    let pki = Pki::make();
    let station_der = pki.client("station");
    pki.client("other-station");
    let mut tls = pki.server_args();
    tls.tls_client_ca = Some(pki.path("ca.pem"));
    let app = spawn_standalone_adjusted(Arc::new(SystemClock), |args| {
        args.catalog.media_steps = vec![None];
        args.server.tls = tls;
    })
    .await;
    let https = format!("https://{}", app.app.addr);
    let data = app.data.path().as_os_str();

    let (ok, bound, said) = run(&[
        "admin".as_ref(),
        "token".as_ref(),
        "create".as_ref(),
        "--bureau".as_ref(),
        "b1".as_ref(),
        "--label".as_ref(),
        "station 7".as_ref(),
        "--bind-client-cert".as_ref(),
        pki.path("station.pem").as_os_str(),
        "--data".as_ref(),
        data,
    ])
    .await;
    assert!(ok, "{said}");
    let thumbprint = custodian_core::token::certificate_thumbprint(&station_der);
    let (ok, listed, said) = run(&[
        "admin".as_ref(),
        "token".as_ref(),
        "list".as_ref(),
        "--bureau".as_ref(),
        "b1".as_ref(),
        "--data".as_ref(),
        data,
    ])
    .await;
    assert!(ok, "{said}");
    let listed: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let station_token = listed
        .iter()
        .find(|t| t["label"] == "station 7")
        .unwrap_or_else(|| panic!("{listed:?}"));
    assert_eq!(station_token["client_cert_x5t_s256"], thumbprint.as_str());
    let station_token_id = station_token["id"].as_str().unwrap().to_owned();

    let station = pki.client_presenting("station");
    let other = pki.client_presenting("other-station");
    let anonymous = https_client(&pki.path("ca.pem"));
    let clips = |client: &reqwest::Client, token: &str| {
        client
            .get(format!("{https}/v1/clips"))
            .bearer_auth(token)
            .send()
    };
    let refusal = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        (
            status,
            body["error"]["code"].as_str().unwrap_or("").to_owned(),
        )
    };

    // With its certificate the bound token works, for reading and uploading.
    assert_eq!(clips(&station, &bound).await.unwrap().status(), 200);
    let stored = station
        .put(format!("{https}/v1/uploads"))
        .bearer_auth(&bound)
        .query(&upload_query())
        .body(sample(10_000))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201, "{:?}", stored.text().await);
    // Another certificate of the same CA, or none, and it is refused.
    assert_eq!(
        refusal(clips(&other, &bound).await.unwrap()).await,
        (401, "certificate-mismatch".to_owned())
    );
    assert_eq!(
        refusal(clips(&anonymous, &bound).await.unwrap()).await,
        (401, "certificate-required".to_owned())
    );
    // An unbound token works as before, with or without a client certificate.
    assert_eq!(clips(&anonymous, &app.token).await.unwrap().status(), 200);
    assert_eq!(clips(&other, &app.token).await.unwrap().status(), 200);

    // Each refusal is in the bureau's trail, naming the token.
    let auditor = token_with_role(&app.app, "b1", custodian_core::roles::Role::Auditor).await;
    let trail: serde_json::Value = anonymous
        .get(format!("{https}/v1/audit?limit=1000"))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refusals: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"].as_str().unwrap().contains(&station_token_id))
        .filter_map(|e| e["detail"].as_str())
        .filter(|d| d.starts_with("status 401"))
        .collect();
    assert_eq!(refusals.len(), 2, "{trail}");
    assert!(
        refusals.iter().any(|d| d.contains("certificate-mismatch")),
        "{refusals:?}"
    );
    assert!(
        refusals.iter().any(|d| d.contains("certificate-required")),
        "{refusals:?}"
    );

    // The upload agent presents the station's certificate with --client-cert.
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("DSJ-0001_031234_20260214_093000.mp4");
    std::fs::write(&file, sample(100_000)).unwrap();
    let agent = |certificate: Option<&str>, state: &str| {
        let mut command = tokio::process::Command::new(BIN);
        command
            .args([
                "upload",
                "--server",
                &https,
                "--token",
                &bound,
                "--retries",
                "1",
            ])
            .arg("--ca-file")
            .arg(pki.path("ca.pem"))
            .arg("--state")
            .arg(work.path().join(state))
            .arg(&file);
        if let Some(name) = certificate {
            command
                .arg("--client-cert")
                .arg(pki.path(&format!("{name}.pem")))
                .arg("--client-key")
                .arg(pki.path(&format!("{name}.key")));
        }
        command.output()
    };
    let refused = agent(None, "refused.json").await.unwrap();
    assert!(
        !refused.status.success(),
        "the bound token worked without its certificate"
    );
    let sent = agent(Some("station"), "sent.json").await.unwrap();
    assert!(
        sent.status.success(),
        "{}{}",
        String::from_utf8_lossy(&sent.stdout),
        String::from_utf8_lossy(&sent.stderr)
    );

    // Unbound again (say the station's certificate is to be renewed), it works anywhere.
    let (ok, _, said) = run(&[
        "admin".as_ref(),
        "token".as_ref(),
        "bind".as_ref(),
        "--bureau".as_ref(),
        "b1".as_ref(),
        "--id".as_ref(),
        station_token_id.as_ref(),
        "--unbind".as_ref(),
        "--data".as_ref(),
        data,
    ])
    .await;
    assert!(ok, "{said}");
    assert_eq!(clips(&anonymous, &bound).await.unwrap().status(), 200);
}

/// The load generator runs against a TLS server, trusting the bureau's CA with --ca-file as
/// the agent does, and presents a station certificate with --client-cert.
#[tokio::test]
async fn the_load_generator_uploads_over_tls_with_its_ca_file() {
    use clap::Parser as _;
    use custodian_loadtest::{clips::Clip, config, run};
    let pki = Pki::make();
    pki.client("station");
    let mut tls = pki.server_args();
    tls.tls_client_ca = Some(pki.path("ca.pem"));
    let app = spawn_standalone_adjusted(Arc::new(SystemClock), |args| {
        args.catalog.media_steps = vec![None];
        args.server.tls = tls;
    })
    .await;
    let https = format!("https://{}", app.app.addr);
    let out = tempfile::tempdir().unwrap();
    let path = |name: &str| pki.path(name).display().to_string();
    let args = config::Args::parse_from([
        "custodian-loadtest".to_owned(),
        format!("--ingest={https}"),
        format!("--catalog={https}"),
        format!("--token=b1={}", app.token),
        "--devices-per-bureau=1".into(),
        "--rate=4".into(),
        "--duration=1s".into(),
        "--settle-timeout=30s".into(),
        "--plain".into(),
        format!("--ca-file={}", path("ca.pem")),
        format!("--client-cert={}", path("station.pem")),
        format!("--client-key={}", path("station.key")),
        format!("--out={}", out.path().display()),
    ]);
    config::validate(&args).unwrap();
    let tokens = config::tokens(&args).unwrap();
    let body = sample(20_000);
    let clip = Clip {
        content_digest: custodian_core::Sha256Digest::of(&body).to_content_digest(),
        body: body.into(),
    };
    let report = run::run(&args, tokens, vec![clip]).await.unwrap();
    let counts = &report.counts;
    assert!(counts.uploaded >= 1, "{:?}", report.upload_errors);
    assert_eq!(counts.upload_errors, 0, "{:?}", report.upload_errors);
    assert_eq!(
        counts.catalogued, counts.uploaded,
        "{:?}",
        report.poll_errors
    );
}

/// A NATS server of the test's own, with JetStream in a temporary directory, that speaks only
/// TLS with the given certificate and requires clients to present one signed by the CA.
struct TlsNats {
    url: String,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl TlsNats {
    async fn start(pki: &Pki) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "listen: \"127.0.0.1:-1\"\n\
             jetstream {{ store_dir: {store:?} }}\n\
             tls {{\n  cert_file: {cert:?}\n  key_file: {key:?}\n  ca_file: {ca:?}\n  verify: true\n  timeout: 5\n}}\n",
            store = dir.path().join("js").display().to_string(),
            cert = pki.path("server.pem").display().to_string(),
            key = pki.path("server.key").display().to_string(),
            ca = pki.path("ca.pem").display().to_string(),
        );
        std::fs::write(dir.path().join("nats.conf"), config).unwrap();
        // Port -1: the server picks a free one and writes it to its ports file, so there is
        // no race for a port between choosing it and binding it.
        let child = tokio::process::Command::new("/usr/sbin/nats-server")
            .arg("-c")
            .arg(dir.path().join("nats.conf"))
            .arg("--ports_file_dir")
            .arg(dir.path())
            .arg("-l")
            .arg(dir.path().join("nats.log"))
            .kill_on_drop(true)
            .spawn()
            .expect("/usr/sbin/nats-server starts");
        let ports_file = dir
            .path()
            .join(format!("nats-server_{}.ports", child.id().unwrap()));
        let deadline = tokio::time::Instant::now() + WAIT;
        let url = loop {
            let ports: Option<serde_json::Value> = std::fs::read_to_string(&ports_file)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok());
            // The client port, whatever scheme the file gives it: the test asks for tls://.
            let port = ports
                .as_ref()
                .and_then(|p| p["nats"][0].as_str())
                .and_then(|url| url.rsplit(':').next())
                .map(str::to_owned);
            if let Some(port) = port {
                break format!("tls://127.0.0.1:{port}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server wrote no ports file: {}",
                std::fs::read_to_string(dir.path().join("nats.log")).unwrap_or_default()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        Self {
            url,
            _child: child,
            _dir: dir,
        }
    }
}

/// NATS settings as the flags give them.
fn nats_args(url: &str) -> custodian_platform::config::NatsArgs {
    custodian_platform::config::NatsArgs {
        nats_url: url.to_owned(),
        nats_stream: format!("TLS_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        subject_prefix: format!("tls{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        nats_max_age: std::time::Duration::from_secs(600),
        nats_creds: None,
        nats_ca_file: None,
        nats_client_cert: None,
        nats_client_key: None,
        nats_require_tls: false,
    }
}

/// The bus over TLS against a real nats-server that verifies clients: with --nats-ca-file and
/// a client certificate it connects, publishes and consumes; it refuses a server whose
/// certificate the given CA did not sign, the server refuses it without a client certificate,
/// and --nats-require-tls refuses the plaintext NATS on 127.0.0.1:4222.
#[tokio::test]
async fn the_bus_speaks_tls_to_a_nats_server_that_verifies_it() {
    use custodian_core::events::Topic;
    use custodian_platform::bus::{Bus, ConsumerSpec, NatsBus};
    let pki = Pki::make();
    pki.client("custodian");
    let nats = TlsNats::start(&pki).await;

    let mut args = nats_args(&nats.url);
    args.nats_ca_file = Some(pki.path("ca.pem"));
    args.nats_client_cert = Some(pki.path("custodian.pem"));
    args.nats_client_key = Some(pki.path("custodian.key"));
    let settings = args.validate().unwrap();
    assert!(settings.security.require_tls);
    let bus = NatsBus::connect(&settings).await.unwrap();
    bus.check().await.unwrap();
    let spec = ConsumerSpec {
        name: "tls-test".into(),
        topic: Topic::ClipStored,
        ack_wait: std::time::Duration::from_secs(30),
        max_deliver: 1,
    };
    let mut subscription = bus.subscribe(&spec).await.unwrap();
    bus.publish(Topic::ClipStored, "over-tls-1", "over TLS".into())
        .await
        .unwrap();
    let delivery = tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("a delivery in time")
        .unwrap();
    assert_eq!(&delivery.payload[..], b"over TLS");
    delivery.acker.ack().await.unwrap();

    // A CA that did not sign the server's certificate: refused.
    let stranger = Pki::make();
    let mut untrusting = args.clone();
    untrusting.nats_ca_file = Some(stranger.path("ca.pem"));
    let refused = NatsBus::connect(&untrusting.validate().unwrap()).await;
    let said = refused
        .err()
        .expect("a server signed by another CA was trusted")
        .to_string();
    assert!(said.contains("invalid peer certificate"), "{said}");
    // No client certificate: the server refuses the client.
    let mut anonymous = args.clone();
    anonymous.nats_client_cert = None;
    anonymous.nats_client_key = None;
    let refused = NatsBus::connect(&anonymous.validate().unwrap()).await;
    assert!(
        refused.is_err(),
        "the server let in a client without a certificate"
    );
    // --nats-require-tls against the plaintext NATS every test uses.
    let mut plain = nats_args("nats://127.0.0.1:4222");
    plain.nats_require_tls = true;
    let refused = NatsBus::connect(&plain.validate().unwrap()).await;
    let said = refused
        .err()
        .expect("a plaintext server was accepted")
        .to_string();
    assert!(said.to_lowercase().contains("tls"), "{said}");
}

/// The catalogue over TLS to a PostgreSQL server of the test's own that takes TLS only
/// (`hostssl`): it connects with sslmode=verify-full and the CA file and migrates, the
/// connection is encrypted, and a plaintext connection, or one trusting another CA, is refused.
#[tokio::test]
async fn the_catalogue_speaks_tls_to_a_postgres_that_takes_nothing_else() {
    use common::postgres::{PostgresOptions, PrivatePostgres};
    use custodian_platform::catalogue::{AccessRepo, PostgresCatalogue, Schema};
    let pki = Pki::make();
    let postgres = tokio::task::spawn_blocking({
        let tls = Some((pki.path("server.pem"), pki.path("server.key")));
        move || {
            PrivatePostgres::start(&PostgresOptions {
                tls,
                ..Default::default()
            })
        }
    })
    .await
    .unwrap();
    let verified = postgres.url(
        "postgres",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            pki.path("ca.pem").display()
        ),
    );
    let catalogue = PostgresCatalogue::connect_with(&verified, 2, Schema::Migrate)
        .await
        .unwrap();
    let b1 = custodian_core::BureauId::parse("b1").unwrap();
    catalogue
        .ensure_bureau(&b1, "测试大队", chrono::Utc::now())
        .await
        .unwrap();
    assert!(catalogue.bureau_exists(&b1).await.unwrap());
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(catalogue.pool())
            .await
            .unwrap();
    assert!(encrypted, "the catalogue's connection is not TLS");

    // Plaintext: the server has no rule for it.
    let plain = postgres.url("postgres", "sslmode=disable");
    let refused = PostgresCatalogue::connect_with(&plain, 1, Schema::Expect).await;
    let said = refused
        .err()
        .expect("a plaintext connection was let in")
        .to_string();
    assert!(
        said.contains("no encryption") || said.contains("pg_hba"),
        "{said}"
    );
    // A CA that did not sign the server's certificate.
    let stranger = Pki::make();
    let untrusting = postgres.url(
        "postgres",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            stranger.path("ca.pem").display()
        ),
    );
    let refused = PostgresCatalogue::connect_with(&untrusting, 1, Schema::Expect).await;
    let said = refused
        .err()
        .expect("a server signed by another CA was trusted")
        .to_string();
    assert!(said.contains("invalid peer certificate"), "{said}");
    drop(catalogue);
    tokio::task::spawn_blocking(move || drop(postgres))
        .await
        .unwrap();
}

//! TLS end to end, with certificates the test makes (a CA and a server certificate for
//! 127.0.0.1): the server speaks only TLS when given a certificate, a client trusting the CA
//! reads and uploads, the upload agent sends over https with --ca-file and refuses a server
//! it cannot verify, and a certificate file that is no certificate stops start-up naming it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use custodian_platform::clock::SystemClock;
use custodian_platform::config::TlsArgs;

struct Pki {
    dir: tempfile::TempDir,
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
        Self { dir }
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

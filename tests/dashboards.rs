//! The Grafana dashboards against a real run: every role as its own process on NATS, Garage
//! and PostgreSQL, real clips through the media workers, Debian's `prometheus` scraping each
//! role's /metrics every second, then every panel query of every dashboard in
//! deploy/grafana/dashboards evaluated through Prometheus's HTTP API. A query that errors,
//! returns nothing, or returns NaN fails the test, named with its dashboard and panel.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::distributed::{create_token, deployment, Process};
use common::WAIT;
use custodian_core::Sha256Digest;
use custodian_platform::testing::{eventually, fresh_s3_store};
use serde_json::Value;
use tokio::process::{Child, Command};

const ROLES: [&str; 6] = [
    "ingest",
    "catalog",
    "retention",
    "custody",
    "transcoder",
    "fingerprinter",
];

/// How long the media workers and Prometheus get to produce what the panels show.
const MEDIA_WAIT: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One panel query, with where it came from.
struct PanelQuery {
    place: String,
    expr: String,
}

/// Every query of every dashboard, with Grafana's variables replaced by what a user sees by
/// default: `$__rate_interval` a few scrape intervals wide, `$bureau` every bureau. A
/// template variable's `label_values(metric, label)` becomes `count by (label) (metric)`.
fn dashboard_queries(dir: &Path) -> Vec<PanelQuery> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "dashboards in {}", dir.display());
    let mut queries = Vec::new();
    for file in files {
        let board: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let defined: Vec<String> = board["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect();
        for variable in board["templating"]["list"].as_array().unwrap() {
            assert_eq!(variable["datasource"]["uid"], "prometheus", "{name}");
            let query = variable["query"]["query"].as_str().unwrap();
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{name}: variable query {query}"));
            let (metric, label) = inner.rsplit_once(',').unwrap();
            queries.push(PanelQuery {
                place: format!("{name}: variable {}", variable["name"]),
                expr: format!("count by ({}) ({})", label.trim(), metric.trim()),
            });
        }
        let mut panels: Vec<&Value> = board["panels"].as_array().unwrap().iter().collect();
        // Rows may hold panels of their own.
        let mut i = 0;
        while i < panels.len() {
            if let Some(nested) = panels[i]["panels"].as_array() {
                panels.extend(nested.iter());
            }
            i += 1;
        }
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or("untitled");
            if panel["type"] == "row" {
                continue;
            }
            assert_eq!(panel["datasource"]["uid"], "prometheus", "{name}: {title}");
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}: {title} has no query");
            for target in targets {
                let expr = target["expr"].as_str().unwrap();
                let substituted = expr
                    .replace("$__rate_interval", "5m")
                    .replace("$bureau", ".*");
                // A variable nobody defined would reach Prometheus as a `$name` it rejects;
                // say which one instead.
                if let Some(at) = substituted.find('$') {
                    let used: String = substituted[at + 1..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        defined.contains(&used),
                        "{name}: {title}: variable ${used} is not defined"
                    );
                }
                queries.push(PanelQuery {
                    place: format!("{name}: {title} [{}]", target["refId"]),
                    expr: substituted,
                });
            }
        }
    }
    queries
}

/// What a query returned: Ok(samples) or the error Prometheus gave.
async fn evaluate(
    http: &reqwest::Client,
    prometheus: &str,
    expr: &str,
) -> Result<Vec<f64>, String> {
    let response = http
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    let value = |v: &Value| -> f64 { v[1].as_str().unwrap().parse().unwrap() };
    let data = &body["data"];
    Ok(match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sample| value(&sample["value"]))
            .collect(),
        Some("scalar") => vec![value(&data["result"])],
        other => return Err(format!("unexpected result type {other:?}")),
    })
}

/// What is wrong with a query's answer, if anything. A quantile of a series without
/// observations in the window is NaN (Grafana draws a gap): one such series among others is a
/// route or consumer idle at the moment; only NaN everywhere is a panel showing nothing.
fn problem(answer: &Result<Vec<f64>, String>) -> Option<String> {
    match answer {
        Err(e) => Some(format!("error: {e}")),
        Ok(values) if values.is_empty() => Some("no data".into()),
        Ok(values) if values.iter().all(|v| v.is_nan()) => Some(format!("only NaN: {values:?}")),
        Ok(_) => None,
    }
}

/// Waits until Prometheus has scraped a value of `expr` of at least `want`. Events are spread
/// over scrapes this way: Prometheus sees no increase in a series whose first sample already
/// counts every event, so a burst before one scrape would leave rates at zero.
async fn scraped(http: &reqwest::Client, prometheus: &str, expr: &str, want: f64) {
    eventually(
        WAIT,
        &format!("prometheus sees {expr} >= {want}"),
        || async {
            let values = evaluate(http, prometheus, expr).await.ok()?;
            values.iter().any(|v| *v >= want).then_some(())
        },
    )
    .await
}

/// After the n-th clip went through: Prometheus has it in ingest's and both workers' counts.
async fn scraped_clips(http: &reqwest::Client, prometheus: &str, n: f64) {
    for expr in [
        "sum(custodian_uploads_total)",
        r#"sum(custodian_jobs_total{consumer="transcoder"})"#,
        r#"sum(custodian_jobs_total{consumer="fingerprinter"})"#,
    ] {
        scraped(http, prometheus, expr, n).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's prometheus on 127.0.0.1, scraping `targets` (job, host:port) every second, with
/// the project's alert rules loaded (a rule Prometheus cannot load stops it starting).
async fn start_prometheus(dir: &Path, targets: &[(String, String)]) -> (Child, String) {
    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n");
    config.push_str(&format!(
        "  - {}\nscrape_configs:\n",
        repo().join("deploy/prometheus/alerts.yml").display()
    ));
    for (job, target) in targets {
        config.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ));
    }
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={address}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus (Debian's prometheus package; scripts/setup-system.sh installs it)");
    let base = format!("http://{address}");
    let http = reqwest::Client::new();
    eventually(WAIT, "prometheus ready", || async {
        let response = http.get(format!("{base}/-/ready")).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    (child, base)
}

fn make_clip(path: &Path, source: &str) -> Vec<u8> {
    common::video::lavfi_clip(
        path,
        &format!("{source}=size=320x240:rate=25:duration=2"),
        &[],
    )
}

/// Uploads `body` as recorded by DSJ-0001 at `recorded_at` (09:30:xx on 14 Feb 2026, China
/// Standard Time: long before today, so each upload is late, art. 16); returns the clip id.
async fn upload(
    http: &reqwest::Client,
    ingest: &str,
    token: &str,
    body: Vec<u8>,
    second: u32,
) -> String {
    let recorded_at = format!("2026-02-14T09:30:{second:02}+08:00");
    let file_name = format!("DSJ-0001_031234_20260214_0930{second:02}.mp4");
    let digest = Sha256Digest::of(&body);
    let response = http
        .put(format!("{ingest}/v1/uploads"))
        .bearer_auth(token)
        .header("Content-Digest", digest.to_content_digest())
        .query(&[
            ("device", "DSJ-0001"),
            ("officer", "031234"),
            ("recorded_at", recorded_at.as_str()),
            ("file_name", file_name.as_str()),
        ])
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let receipt: Value = response.json().await.unwrap();
    receipt["clip_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_dashboard_query_has_data_from_a_real_run() {
    let queries = dashboard_queries(&repo().join("deploy/grafana/dashboards"));

    let mut deployment = deployment().await;
    let (_archive_store, archive) = fresh_s3_store().await;
    let work = tempfile::tempdir().unwrap();
    let key_file = work.path().join("audit-signing.key");
    custodian_custody::read_or_create_key(&key_file).unwrap();
    deployment.env.retain(|(k, _)| k != "CUSTODIAN_MEDIA_STEPS");
    for (name, value) in [
        ("CUSTODIAN_ARCHIVE_BUCKET", archive.bucket.clone()),
        ("CUSTODIAN_AUDIT_KEY_FILE", key_file.display().to_string()),
        // Short periods so that one short run exercises every schedule.
        ("CUSTODIAN_RECONCILE_EVERY", "1s".into()),
        ("CUSTODIAN_RETENTION_EVERY", "1s".into()),
        ("CUSTODIAN_SCRUB_PERIOD", "2s".into()),
        ("CUSTODIAN_CHECKPOINT_EVERY", "1s".into()),
    ] {
        deployment.env.push((name.to_owned(), value));
    }
    let token = create_token(&deployment.env, "b1").await;
    let http = reqwest::Client::new();

    let processes: Vec<Process> = ROLES
        .iter()
        .map(|role| Process::spawn(&["serve", role], &deployment.env))
        .collect();
    let mut bases = Vec::new();
    for (role, process) in ROLES.iter().zip(&processes) {
        let base = process.ready(&http).await;
        bases.push((format!("custodian-{role}"), base));
    }
    let targets: Vec<(String, String)> = bases
        .iter()
        .map(|(job, base)| (job.clone(), base.trim_start_matches("http://").to_owned()))
        .collect();
    let (mut prometheus, prometheus_base) = start_prometheus(work.path(), &targets).await;
    let ingest = &bases[0].1;
    let catalog = &bases[1].1;
    // Every role scraped before anything happens, so the first samples are the zeros.
    eventually(WAIT, "every role scraped and up", || async {
        let up = evaluate(&http, &prometheus_base, "up == 1").await.ok()?;
        (up.len() == ROLES.len()).then_some(())
    })
    .await;

    // Two real clips of one camera, ten seconds apart by its clock (a device gap finding), and
    // one that is not video at all (a media failure; the original is kept).
    let first = upload(
        &http,
        ingest,
        &token,
        make_clip(&work.path().join("a.mp4"), "testsrc2"),
        0,
    )
    .await;
    let record = common::distributed::wait_for_state(
        &http,
        catalog,
        &token,
        &first,
        "catalogued",
        MEDIA_WAIT,
    )
    .await;
    assert_eq!(record["media"]["fingerprint_seconds"], 2, "{record}");
    scraped_clips(&http, &prometheus_base, 1.0).await;
    let second = upload(
        &http,
        ingest,
        &token,
        make_clip(&work.path().join("b.mp4"), "testsrc"),
        12,
    )
    .await;
    let record = common::distributed::wait_for_state(
        &http,
        catalog,
        &token,
        &second,
        "catalogued",
        MEDIA_WAIT,
    )
    .await;
    assert!(
        record["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["kind"] == "device_gap")),
        "{record}"
    );
    scraped_clips(&http, &prometheus_base, 2.0).await;
    let broken = upload(
        &http,
        ingest,
        &token,
        b"not a video at all".repeat(1000),
        30,
    )
    .await;
    common::distributed::wait_for_state(&http, catalog, &token, &broken, "failed", MEDIA_WAIT)
        .await;
    scraped_clips(&http, &prometheus_base, 3.0).await;

    // Every query answered within a deadline: the retention pass, the scrub and the overdue
    // count run on their own schedules.
    let deadline = tokio::time::Instant::now() + MEDIA_WAIT;
    let failures = loop {
        let mut failures = Vec::new();
        for query in &queries {
            let answer = evaluate(&http, &prometheus_base, &query.expr).await;
            if let Some(problem) = problem(&answer) {
                failures.push(format!(
                    "{}\n    {}\n    {problem}",
                    query.place, query.expr
                ));
            }
        }
        if failures.is_empty() || tokio::time::Instant::now() > deadline {
            break failures;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        failures.is_empty(),
        "{} of {} dashboard queries failed:\n{}",
        failures.len(),
        queries.len(),
        failures.join("\n")
    );

    // What the panels show is what happened, not just something.
    let value = |expr: &'static str| {
        let http = http.clone();
        let base = prometheus_base.clone();
        async move { evaluate(&http, &base, expr).await.unwrap() }
    };
    assert_eq!(
        value(r#"sum(custodian_uploads_total{outcome="stored"})"#).await,
        vec![3.0]
    );
    assert_eq!(
        value(r#"sum(custodian_continuity_findings_total{kind="device_gap"})"#).await,
        vec![1.0]
    );
    assert_eq!(
        value(r#"sum(custodian_media_failures_total{role="transcoder"})"#).await,
        vec![1.0]
    );
    assert_eq!(value(r#"sum(custodian_transcodes_total)"#).await, vec![2.0]);
    // Every queue drained: each consumer's lag reads 0 once its work is done.
    eventually(WAIT, "every queue's lag back to 0", || async {
        let lags = evaluate(
            &http,
            &prometheus_base,
            "max by (consumer) (custodian_queue_pending_messages)",
        )
        .await
        .ok()?;
        (lags.len() >= 3 && lags.iter().all(|lag| *lag == 0.0)).then_some(())
    })
    .await;

    // The alerts loaded into a real Prometheus too.
    let rules: Value = http
        .get(format!("{prometheus_base}/api/v1/rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let loaded = rules["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .len();
    assert!(loaded >= 16, "{loaded} alert rules loaded");

    prometheus.kill().await.unwrap();
    for process in processes {
        assert!(process.terminate().await.success());
    }
}

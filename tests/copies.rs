//! Copy requests (art. 23) over HTTP on a moving clock: asked for by an officer, decided by a
//! leader who did not ask, downloaded by the party through a link that expires; every
//! download and every refused attempt in the bureau's audit trail.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use common::*;
use custodian_core::roles::Role;
use custodian_platform::clock::ManualClock;
use serde_json::{json, Value};

#[tokio::test]
async fn a_copy_needs_a_leaders_approval_and_its_link_expires() {
    let clock = Arc::new(ManualClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
    ));
    let catalog = custodian_catalog::CatalogConfig {
        reconcile_every: Duration::from_secs(3600),
        ..Default::default()
    };
    let app = spawn_standalone_at(Default::default(), catalog, clock.clone()).await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let auditor = token_with_role(&app.app, "b1", Role::Auditor).await;
    let clip = app
        .upload_recorded("2026-03-01T10:00:00+08:00", &[], &clock)
        .await;

    // The officer asks; an auditor may not.
    let ask = json!({"clip_id": clip, "party": "当事人 张三的代理律师", "purpose": "行政复议"});
    assert_eq!(
        app.send("POST", &auditor, "/v1/copy-requests", ask.clone())
            .await
            .0,
        403
    );
    let (status, request) = app
        .send("POST", &app.token, "/v1/copy-requests", ask.clone())
        .await;
    assert_eq!(status, 201, "{request}");
    assert_eq!(request["state"], "pending");
    let id = request["id"].as_str().unwrap().to_owned();

    // Only a leader decides, only of this bureau, and not the one who asked.
    let decision = json!({"reason": "符合规定，同意提供", "valid_hours": 2});
    assert_eq!(
        app.send(
            "POST",
            &app.token,
            &format!("/v1/copy-requests/{id}/approve"),
            decision.clone()
        )
        .await
        .0,
        403
    );
    let other_leader = token_with_role(&app.app, "b2", Role::Leader).await;
    assert_eq!(
        app.send(
            "POST",
            &other_leader,
            &format!("/v1/copy-requests/{id}/approve"),
            decision.clone()
        )
        .await
        .0,
        404
    );
    let (_, own) = app
        .send("POST", &leader, "/v1/copy-requests", ask.clone())
        .await;
    let (status, error) = app
        .send(
            "POST",
            &leader,
            &format!("/v1/copy-requests/{}/approve", own["id"].as_str().unwrap()),
            decision.clone(),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("own-request"))
    );

    let (status, decided) = app
        .send(
            "POST",
            &leader,
            &format!("/v1/copy-requests/{id}/approve"),
            decision.clone(),
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["request"]["state"], "approved");
    let link = decided["download_url"].as_str().unwrap().to_owned();
    assert_eq!(
        app.send(
            "POST",
            &leader,
            &format!("/v1/copy-requests/{id}/refuse"),
            decision.clone()
        )
        .await
        .0,
        409,
        "decided twice"
    );

    // The party downloads with the link alone.
    let response = app
        .http
        .get(format!("{}{link}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["custodian-copy-request"], id.as_str());
    assert_eq!(response.bytes().await.unwrap().to_vec(), sample(4000));
    let wrong = format!("/v1/copies/copy_{}", "0".repeat(64));
    assert_eq!(
        app.http
            .get(format!("{}{wrong}", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Two hours later the link is gone, and the attempt is recorded.
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        app.http
            .get(format!("{}{link}", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        410
    );
    let trail: Value = app.get_json(&auditor, "/v1/audit?limit=1000").await;
    let downloads: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "copy.download")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(downloads.len(), 2, "{downloads:?}");
    assert!(
        downloads[0].starts_with("served") && downloads[1].starts_with("refused"),
        "{downloads:?}"
    );
    let (_, after) = app
        .send(
            "GET",
            &app.token,
            &format!("/v1/copy-requests/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(after["downloads"], 1);

    // A refused request gives no link at all.
    let (_, second) = app.send("POST", &app.token, "/v1/copy-requests", ask).await;
    let (status, refused) = app
        .send(
            "POST",
            &leader,
            &format!(
                "/v1/copy-requests/{}/refuse",
                second["id"].as_str().unwrap()
            ),
            json!({"reason": "涉及他人隐私"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            refused["request"]["state"].as_str(),
            refused["download_url"].is_null()
        ),
        (Some("refused"), true)
    );
    assert_eq!(refused["request"]["reason"], "涉及他人隐私");
}

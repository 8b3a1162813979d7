//! People log in with a password and get a session that ends: the account is made by the
//! admin command (password on standard input, stored as argon2id), every login is in the
//! bureau's audit trail, failed ones too, and no password reaches a log.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use custodian_core::roles::Role;
use custodian_platform::clock::ManualClock;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_custodian");
const PASSWORD: &str = "长江中路-correct-horse";

#[tokio::test]
async fn a_person_logs_in_works_and_the_session_ends() {
    let clock = Arc::new(ManualClock::new(cst(2026, 3, 2, 9)));
    let catalog = custodian_catalog::CatalogConfig {
        reconcile_every: Duration::from_secs(3600),
        ..Default::default()
    };
    let app = spawn_standalone_at(Default::default(), catalog, clock.clone()).await;
    let clip = app
        .upload_recorded("2026-03-01T10:00:00+08:00", &[], &clock)
        .await;

    // The account: password on standard input, never on the command line.
    let mut create = tokio::process::Command::new(BIN)
        .args([
            "admin",
            "user",
            "create",
            "--bureau",
            "b1",
            "--username",
            "zhang.san",
            "--role",
            "archivist",
            "--data",
        ])
        .arg(app.data.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .await
        .unwrap();
    let output = create.wait_with_output().await.unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{printed}");
    assert!(!printed.contains(PASSWORD));
    let short = tokio::process::Command::new(BIN)
        .args([
            "admin",
            "user",
            "create",
            "--bureau",
            "b1",
            "--username",
            "li.si",
            "--role",
            "officer",
            "--data",
        ])
        .arg(app.data.path())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!short.status.success(), "an empty password was accepted");

    // Wrong password and unknown user fail alike.
    let login = |user: &str, password: &str| json!({"bureau": "b1", "username": user, "password": password});
    let (status, wrong) = app
        .send(
            "POST",
            "unused",
            "/v1/sessions",
            login("zhang.san", "not-the-password"),
        )
        .await;
    let (_, unknown) = app
        .send("POST", "unused", "/v1/sessions", login("nobody", PASSWORD))
        .await;
    assert_eq!(status, 401);
    assert_eq!(wrong, unknown, "a failure says whether the user exists");

    let (status, session) = app
        .send(
            "POST",
            "unused",
            "/v1/sessions",
            login("zhang.san", PASSWORD),
        )
        .await;
    assert_eq!(status, 201, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("sess_"));

    // The session acts with the user's role, and its actions carry the user's name.
    let body = json!({"category": "行政检查", "description": "检查"});
    let (status, classified) = app
        .send(
            "PUT",
            &token,
            &format!("/v1/clips/{clip}/classification"),
            body,
        )
        .await;
    assert_eq!(status, 200, "{classified}");
    assert!(classified["classified_by"]
        .as_str()
        .unwrap()
        .contains("user zhang.san"));
    assert_eq!(
        app.send("POST", &token, "/v1/exports", json!({"clip_ids": [clip]}))
            .await
            .0,
        403,
        "an archivist exported"
    );

    // Logins, failed ones too, are in the trail; the password nowhere.
    let auditor = token_with_role(&app.app, "b1", Role::Auditor).await;
    let trail: Value = app.get_json(&auditor, "/v1/audit?limit=1000").await;
    let logins: Vec<(&str, &str)> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "login")
        .map(|e| (e["actor"].as_str().unwrap(), e["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(
        logins,
        vec![
            ("user zhang.san", "failed"),
            ("user nobody", "failed"),
            ("user zhang.san", "succeeded")
        ]
    );
    assert!(!trail.to_string().contains(PASSWORD));
    // A login into a bureau that does not exist leaves no chain behind.
    app.send(
        "POST",
        "unused",
        "/v1/sessions",
        json!({"bureau": "b9", "username": "x", "password": PASSWORD}),
    )
    .await;
    assert!(app
        .app
        .ports
        .catalogue
        .audit_entries("b9", 0, 10)
        .await
        .unwrap()
        .is_empty());

    // Eight hours later the session is over.
    clock.advance(chrono::Duration::hours(8));
    assert_eq!(
        app.get(&token, &format!("/v1/clips/{clip}")).await.status(),
        401
    );
    // A new one can be ended by logging out.
    let (_, session) = app
        .send(
            "POST",
            "unused",
            "/v1/sessions",
            login("zhang.san", PASSWORD),
        )
        .await;
    let token = session["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&token, &format!("/v1/clips/{clip}")).await.status(),
        200
    );
    assert_eq!(
        app.send("POST", &token, "/v1/sessions/end", json!({}))
            .await
            .0,
        204
    );
    assert_eq!(
        app.get(&token, &format!("/v1/clips/{clip}")).await.status(),
        401
    );
}

/// Art. 23's two-person rule holds between people, not sessions: a leader who asks for a copy
/// cannot approve it from a second session, while another leader can.
#[tokio::test]
async fn a_leader_cannot_approve_their_own_copy_request_from_another_session() {
    let clock = Arc::new(ManualClock::new(cst(2026, 3, 2, 9)));
    let catalog = custodian_catalog::CatalogConfig {
        reconcile_every: Duration::from_secs(3600),
        ..Default::default()
    };
    let app = spawn_standalone_at(Default::default(), catalog, clock.clone()).await;
    let clip = app
        .upload_recorded("2026-03-01T10:00:00+08:00", &[], &clock)
        .await;
    let bureau = custodian_core::BureauId::parse("b1").unwrap();
    let hash = custodian_core::users::hash_password(PASSWORD, [7; 16]).unwrap();
    app.app
        .ports
        .catalogue
        .create_user(&bureau, "wang.wu", Role::Leader, &hash, cst(2026, 3, 2, 9))
        .await
        .unwrap();
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let (status, session) = app
            .send(
                "POST",
                "unused",
                "/v1/sessions",
                json!({"bureau": "b1", "username": "wang.wu", "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 201, "{session}");
        sessions.push(session["token"].as_str().unwrap().to_owned());
    }
    let (status, request) = app
        .send(
            "POST",
            &sessions[0],
            "/v1/copy-requests",
            json!({"clip_id": clip, "party": "当事人", "purpose": "申辩"}),
        )
        .await;
    assert_eq!(status, 201, "{request}");
    let approve = format!(
        "/v1/copy-requests/{}/approve",
        request["id"].as_str().unwrap()
    );
    let decision = json!({"reason": "同意"});
    for session in &sessions {
        let (status, refused) = app.send("POST", session, &approve, decision.clone()).await;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (403, Some("own-request")),
            "{refused}"
        );
    }
    // Another leader passes the two-person rule (this instance has no transcoder to make the
    // party's copy, so the approval stops there, with the request still pending).
    let other = token_with_role(&app.app, "b1", Role::Leader).await;
    let (status, answer) = app.send("POST", &other, &approve, decision).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("copies-unavailable")),
        "{answer}"
    );
}

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
        .create_user(
            &bureau,
            "wang.wu",
            Role::Leader,
            &Default::default(),
            &hash,
            cst(2026, 3, 2, 9),
        )
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

/// Runs the binary with `args` and `--data DIR`, `stdin` on its standard input; answers
/// whether it succeeded, what it printed on standard output, and on standard error.
async fn admin(data: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    command
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .await
        .unwrap();
    let output = command.wait_with_output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Art. 17: officers classify their own clips and their team's. The admin commands give an
/// officer's account and token the officer's code and team (a team of the bureau, nothing
/// else), and the person's session, like the token, classifies accordingly.
#[tokio::test]
async fn an_officers_account_and_token_speak_for_the_officer_and_their_team() {
    let clock = Arc::new(ManualClock::new(cst(2026, 3, 2, 9)));
    let catalog = custodian_catalog::CatalogConfig {
        reconcile_every: Duration::from_secs(3600),
        ..Default::default()
    };
    let app = spawn_standalone_at(Default::default(), catalog, clock.clone()).await;
    let data = app.data.path();
    let (ok, _, said) = admin(
        data,
        &[
            "admin",
            "team",
            "create",
            "--bureau",
            "b1",
            "--name",
            "一中队",
        ],
        "",
    )
    .await;
    assert!(ok, "{said}");
    assert!(
        said.contains("team 一中队 of bureau b1 registered"),
        "{said}"
    );
    let archivist = token_with_role(&app.app, "b1", Role::Archivist).await;
    let (status, _) = app
        .send(
            "PUT",
            &archivist,
            "/v1/devices/DSJ-0001",
            json!({"team": "一中队"}),
        )
        .await;
    assert_eq!(status, 200);

    // What the commands refuse, and why.
    for (args, problem) in [
        (
            vec!["--role", "archivist", "--officer-id", "031234"],
            "for officers' credentials",
        ),
        (
            vec!["--role", "officer", "--team", "二中队"],
            "not a team of bureau b1",
        ),
        (
            vec!["--role", "officer", "--officer-id", "03_1234"],
            "--officer-id",
        ),
    ] {
        let mut command = vec!["admin", "token", "create", "--bureau", "b1"];
        command.extend(args.iter().copied());
        let (ok, printed, said) = admin(data, &command, "").await;
        assert!(!ok && printed.is_empty(), "{args:?} accepted: {printed}");
        assert!(said.contains(problem), "{args:?}: {said}");
    }
    let (ok, _, said) = admin(
        data,
        &[
            "admin",
            "team",
            "create",
            "--bureau",
            "b9",
            "--name",
            "一中队",
        ],
        "",
    )
    .await;
    assert!(!ok && said.contains("does not exist"), "{said}");

    // Zhang has a token; Li a person's account. Both of the first team.
    let (ok, zhang, said) = admin(
        data,
        &[
            "admin",
            "token",
            "create",
            "--bureau",
            "b1",
            "--role",
            "officer",
            "--label",
            "zhang",
            "--officer-id",
            "031234",
            "--team",
            "一中队",
        ],
        "",
    )
    .await;
    assert!(ok, "{said}");
    let (ok, _, said) = admin(
        data,
        &[
            "admin",
            "user",
            "create",
            "--bureau",
            "b1",
            "--username",
            "li.si",
            "--role",
            "officer",
            "--officer-id",
            "035678",
            "--team",
            "一中队",
        ],
        &format!("{PASSWORD}\n"),
    )
    .await;
    assert!(ok, "{said}");
    let (status, session) = app
        .send(
            "POST",
            "unused",
            "/v1/sessions",
            json!({"bureau": "b1", "username": "li.si", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 201, "{session}");
    let li = session["token"].as_str().unwrap().to_owned();

    let upload = |device: &'static str, officer: &'static str| {
        let app = &app;
        let clock = &clock;
        async move {
            let response = app
                .http
                .put(format!("{}/v1/uploads", app.base))
                .bearer_auth(&app.token)
                .query(&[
                    ("device", device),
                    ("officer", officer),
                    ("recorded_at", "2026-03-02T08:00:00+08:00"),
                    ("file_name", "a.mp4"),
                ])
                .body(sample(3000))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            let id = response.json::<Value>().await.unwrap()["clip_id"]
                .as_str()
                .unwrap()
                .to_owned();
            app.wait_for_state(&id, "catalogued").await;
            clock.advance(chrono::Duration::seconds(1));
            id
        }
    };
    let zhangs = upload("DSJ-0001", "031234").await;
    let lis_elsewhere = upload("DSJ-0404", "035678").await;
    let strangers = upload("DSJ-0404", "039999").await;
    let classify = |token: &str, id: &str| {
        let (app, token, path) = (
            &app,
            token.to_owned(),
            format!("/v1/clips/{id}/classification"),
        );
        async move {
            let body = json!({"category": "行政检查", "description": "检查"});
            app.send("PUT", &token, &path, body).await
        }
    };
    // Zhang classifies his own clip; Li, his teammate, too; Li his own on an unregistered
    // camera, which Zhang may not; the stranger's clip is neither's.
    let (status, clip) = classify(&zhang, &zhangs).await;
    assert_eq!(status, 200, "{clip}");
    assert!(
        clip["classified_by"]
            .as_str()
            .unwrap()
            .contains("zhang (officer 031234, token"),
        "{clip}"
    );
    let (status, clip) = classify(&li, &zhangs).await;
    assert_eq!(status, 200, "{clip}");
    assert!(
        clip["classifications"][1]["by"]
            .as_str()
            .unwrap()
            .contains("user li.si (officer 035678, token"),
        "{clip}"
    );
    assert_eq!(classify(&li, &lis_elsewhere).await.0, 200);
    assert_eq!(classify(&zhang, &lis_elsewhere).await.0, 403);
    for token in [&zhang, &li] {
        assert_eq!(classify(token, &strangers).await.0, 403);
    }
}

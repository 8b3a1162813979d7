//! Every role × bureau × action over the HTTP API: an action is done only by a role that may
//! do it, in its own bureau; another bureau's records are answered as missing; nothing is
//! reachable without a token. Deny by default is checked cell by cell.

mod common;

use common::*;
use custodian_core::roles::{Action, Role};
use serde_json::{json, Value};

struct Cell {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    action: Action,
    /// Whether it names a record of the clip's bureau (so another bureau gets 404).
    names_record: bool,
}

fn cells(clip: &str, role: Role) -> Vec<Cell> {
    let cell = |name, method, path: String, body, action, names_record| Cell {
        name,
        method,
        path,
        body,
        action,
        names_record,
    };
    vec![
        cell(
            "read clip",
            "GET",
            format!("/v1/clips/{clip}"),
            None,
            Action::Read,
            true,
        ),
        cell(
            "list clips",
            "GET",
            "/v1/clips".into(),
            None,
            Action::Read,
            false,
        ),
        cell(
            "retention of clip",
            "GET",
            format!("/v1/clips/{clip}/retention"),
            None,
            Action::Read,
            true,
        ),
        cell(
            "classify",
            "PUT",
            format!("/v1/clips/{clip}/classification"),
            Some(json!({"category": "其他", "description": "d"})),
            Action::Classify,
            true,
        ),
        cell(
            "create case",
            "POST",
            "/v1/cases".into(),
            Some(json!({"reference": format!("R-{role}"), "title": "t"})),
            Action::ManageCases,
            false,
        ),
        cell(
            "register device",
            "PUT",
            "/v1/devices/DSJ-9".into(),
            Some(json!({"team": "一中队"})),
            Action::ManageDevices,
            false,
        ),
        cell(
            "set retention",
            "PUT",
            format!("/v1/clips/{clip}/retention"),
            Some(json!({"legal_hold": false})),
            Action::ManageRetention,
            true,
        ),
        cell(
            "read audit",
            "GET",
            "/v1/audit".into(),
            None,
            Action::ReadAudit,
            false,
        ),
        cell(
            "export",
            "POST",
            "/v1/exports".into(),
            Some(json!({"clip_ids": [clip]})),
            Action::Export,
            true,
        ),
    ]
}

#[tokio::test]
async fn every_role_bureau_and_action() {
    let app = spawn_standalone().await;
    let clip = app.upload(sample(2000)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_state(&clip, "catalogued").await;
    let mut checked = 0;
    for bureau in ["b1", "b2"] {
        for role in Role::ALL {
            let token = token_with_role(&app.app, bureau, role).await;
            for cell in cells(&clip, role) {
                let mut request = app
                    .http
                    .request(
                        cell.method.parse().unwrap(),
                        format!("{}{}", app.base, cell.path),
                    )
                    .bearer_auth(&token);
                if let Some(body) = &cell.body {
                    request = request.json(body);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap();
                let expected: &[u16] =
                    match (role.may(cell.action), bureau == "b1", cell.names_record) {
                        (false, _, _) => &[403],
                        (true, false, true) => &[404],
                        (true, _, _) => &[200, 201],
                    };
                assert!(
                    expected.contains(&status),
                    "{role} of {bureau}: {} answered {status}, expected {expected:?}: {}",
                    cell.name,
                    String::from_utf8_lossy(&body)
                );
                // What another bureau may list or read holds nothing of b1. (Its own audit trail
                // names the id, from its own refused attempts: an id it sent itself.)
                if bureau == "b2" && status == 200 && cell.name != "read audit" {
                    assert!(
                        !String::from_utf8_lossy(&body).contains(&clip),
                        "{role} of b2 saw b1's clip through {}",
                        cell.name
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * 5 * 9);

    // Without a token, or with a revoked-looking one, nothing at all.
    for cell in cells(&clip, Role::Admin) {
        for token in [
            None,
            Some("cust_0000000000000000000000000000000000000000000000000000000000000000"),
        ] {
            let mut request = app.http.request(
                cell.method.parse().unwrap(),
                format!("{}{}", app.base, cell.path),
            );
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &cell.body {
                request = request.json(body);
            }
            assert_eq!(
                request.send().await.unwrap().status(),
                401,
                "{} with {token:?}",
                cell.name
            );
        }
    }
}

#[tokio::test]
async fn confidential_clips_are_hidden_from_roles_that_may_not_see_them() {
    let app = spawn_standalone().await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let secret = app.upload(sample(1000)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let internal = app.upload(sample(1001)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [&secret, &internal] {
        app.wait_for_state(id, "catalogued").await;
    }
    assert_eq!(
        app.send(
            "PUT",
            &app.token,
            &format!("/v1/clips/{secret}/confidentiality"),
            json!({"level": "secret"})
        )
        .await
        .0,
        403
    );
    let (status, clip) = app
        .send(
            "PUT",
            &leader,
            &format!("/v1/clips/{secret}/confidentiality"),
            json!({"level": "secret"}),
        )
        .await;
    assert_eq!(
        (status, clip["confidentiality"].as_str()),
        (200, Some("secret"))
    );
    assert_eq!(
        app.send(
            "PUT",
            &leader,
            &format!("/v1/clips/{internal}/confidentiality"),
            json!({"level": "internal"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.send(
            "PUT",
            &leader,
            &format!("/v1/clips/{internal}/confidentiality"),
            json!({"level": "top"})
        )
        .await
        .0,
        422
    );

    for role in Role::ALL {
        let token = token_with_role(&app.app, "b1", role).await;
        let sees_secret = matches!(role, Role::Leader | Role::Auditor | Role::Admin);
        let sees_internal = role != Role::Officer;
        for (id, sees) in [(&secret, sees_secret), (&internal, sees_internal)] {
            let status = app
                .get(&token, &format!("/v1/clips/{id}"))
                .await
                .status()
                .as_u16();
            assert_eq!(status, if sees { 200 } else { 404 }, "{role} reading {id}");
            let listed = app
                .get(&token, "/v1/clips")
                .await
                .text()
                .await
                .unwrap()
                .contains(id.as_str());
            assert_eq!(listed, sees, "{role} listing {id}");
        }
        // A copy of what one may not see cannot be asked for either.
        if role == Role::Officer {
            let ask = json!({"clip_id": secret, "party": "p", "purpose": "q"});
            assert_eq!(
                app.send("POST", &token, "/v1/copy-requests", ask).await.0,
                404
            );
        }
    }
}

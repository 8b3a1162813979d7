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

/// The cells, on `clip` and on `spare`, a b1 token no test uses.
fn cells(clip: &str, spare: &str, role: Role) -> Vec<Cell> {
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
            "create task",
            "POST",
            "/v1/tasks".into(),
            Some(
                json!({"external_id": format!("T-{role}"), "enterprise": "甲公司", "kind": "行政检查",
                "starts_at": "2026-10-12T09:00:00+08:00", "ends_at": "2026-10-12T10:00:00+08:00",
                "officers": ["031234"]}),
            ),
            Action::ManageTasks,
            false,
        ),
        cell(
            "list tasks",
            "GET",
            "/v1/tasks".into(),
            None,
            Action::Read,
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
            "register team",
            "PUT",
            "/v1/teams/一中队".into(),
            None,
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
        cell(
            "list tokens",
            "GET",
            "/v1/admin/tokens".into(),
            None,
            Action::ReadCredentials,
            false,
        ),
        cell(
            "date a token",
            "PUT",
            format!("/v1/admin/tokens/{spare}/expiry"),
            Some(json!({"expires_at": "2099-01-01T00:00:00Z"})),
            Action::ManageCredentials,
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
    let spare = token_with_role(&app.app, "b1", Role::Officer).await;
    let spare = app
        .app
        .ports
        .catalogue
        .token_owner(
            &custodian_core::token::token_hash(&spare),
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap()
        .token_id
        .to_string();
    let mut checked = 0;
    for bureau in ["b1", "b2"] {
        for role in Role::ALL {
            let token = token_with_role(&app.app, bureau, role).await;
            // A region admin names the bureau it reads (`Custodian-Bureau`): b1's records,
            // from whichever bureau its token belongs to.
            let acts_in = if role.spans_bureaus() { "b1" } else { bureau };
            for cell in cells(&clip, &spare, role) {
                let mut request = app
                    .http
                    .request(
                        cell.method.parse().unwrap(),
                        format!("{}{}", app.base, cell.path),
                    )
                    .bearer_auth(&token);
                if role.spans_bureaus() {
                    request = request.header("Custodian-Bureau", acts_in);
                }
                if let Some(body) = &cell.body {
                    request = request.json(body);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap();
                let expected: &[u16] =
                    match (role.may(cell.action), acts_in == "b1", cell.names_record) {
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
                if acts_in == "b2" && status == 200 && cell.name != "read audit" {
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
    assert_eq!(checked, 2 * 6 * 14);

    // Naming another bureau is for region admins only; the rest are refused, whatever the
    // action.
    for role in Role::ALL.into_iter().filter(|r| !r.spans_bureaus()) {
        let token = token_with_role(&app.app, "b2", role).await;
        for cell in cells(&clip, &spare, role) {
            let mut request = app
                .http
                .request(
                    cell.method.parse().unwrap(),
                    format!("{}{}", app.base, cell.path),
                )
                .bearer_auth(&token)
                .header("Custodian-Bureau", "b1");
            if let Some(body) = &cell.body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                403,
                "{role} of b2 naming b1: {}",
                cell.name
            );
        }
    }
    // Each of those attempts is in b2's own trail, none in b1's.
    let b2_auditor = token_with_role(&app.app, "b2", Role::Auditor).await;
    let b2_trail = app.get_json(&b2_auditor, "/v1/audit?limit=1000").await;
    let attempts = b2_trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["detail"]
                .as_str()
                .unwrap()
                .contains("wrong-bureau; Custodian-Bureau \"b1\"")
        })
        .count();
    let expected: usize = Role::ALL
        .into_iter()
        .filter(|r| !r.spans_bureaus())
        .map(|role| cells(&clip, &spare, role).len())
        .sum();
    assert_eq!(attempts, expected, "{b2_trail}");

    // Without a token, or with a revoked-looking one, nothing at all.
    for cell in cells(&clip, &spare, Role::Admin) {
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
    // While both are ordinary: a case holding both, and a copy request for each.
    let archivist = token_with_role(&app.app, "b1", Role::Archivist).await;
    let (status, case) = app
        .send(
            "POST",
            &archivist,
            "/v1/cases",
            json!({"reference": "应急罚〔2026〕7号", "title": "某仓库案"}),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    let case = case["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .send(
            "POST",
            &archivist,
            &format!("/v1/cases/{case}/clips"),
            json!({"clip_ids": [secret, internal]}),
        )
        .await;
    assert_eq!(status, 200);
    let mut requests = Vec::new();
    for id in [&secret, &internal] {
        let ask = json!({"clip_id": id, "party": "某某律师", "purpose": "诉讼"});
        let (status, request) = app.send("POST", &app.token, "/v1/copy-requests", ask).await;
        assert_eq!(status, 201, "{request}");
        requests.push(request["id"].as_str().unwrap().to_owned());
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
            // Nor is it named by its case, its copy request or its finished upload.
            let in_case = app.get_json(&token, &format!("/v1/cases/{case}")).await["clips"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == id.as_str());
            assert_eq!(in_case, sees, "{role}: case listing {id}");
            let request = &requests[usize::from(id == &internal)];
            let status = app
                .get(&token, &format!("/v1/copy-requests/{request}"))
                .await
                .status()
                .as_u16();
            assert_eq!(
                status,
                if sees { 200 } else { 404 },
                "{role}: copy request of {id}"
            );
            let status = app
                .http
                .head(format!("{}/v1/tus/{id}", app.base))
                .bearer_auth(&token)
                .header("Tus-Resumable", "1.0.0")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let expected = match (role.may(Action::Upload), sees) {
                (false, _) => 403,
                (true, true) => 200,
                (true, false) => 404,
            };
            assert_eq!(status, expected, "{role}: tus HEAD of {id}");
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

#[tokio::test]
async fn a_region_admin_reads_every_bureau_changes_nothing_and_leaves_a_trace_there() {
    let app = spawn_standalone().await;
    let clip = app.upload(sample(3000)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_state(&clip, "catalogued").await;
    let region = token_with_role(&app.app, "region", Role::RegionAdmin).await;
    let in_b1 = |method: &str, path: &str| {
        app.http
            .request(method.parse().unwrap(), format!("{}{path}", app.base))
            .bearer_auth(&region)
            .header("Custodian-Bureau", "b1")
    };
    // Without naming a bureau it acts in its own, where b1's clip is not.
    assert_eq!(
        app.get(&region, &format!("/v1/clips/{clip}"))
            .await
            .status(),
        404
    );
    // Records, audit trail and reports of b1.
    for path in [
        format!("/v1/clips/{clip}"),
        "/v1/clips".to_owned(),
        format!("/v1/clips/{clip}/retention"),
        "/v1/retention/plan".to_owned(),
        "/v1/audit".to_owned(),
        "/v1/devices".to_owned(),
        "/v1/teams".to_owned(),
        "/v1/cases".to_owned(),
    ] {
        let response = in_b1("GET", &path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let listed = in_b1("GET", "/v1/clips")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains(&clip), "{listed}");
    // It oversees the records, not the pictures: no footage of b1 plays for it.
    for derived in ["view", "poster", "subtitles"] {
        let response = in_b1("GET", &format!("/v1/clips/{clip}/{derived}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{derived}");
    }
    // Nothing it may change.
    for (method, path, body) in [
        (
            "PUT",
            format!("/v1/clips/{clip}/classification"),
            json!({"category": "其他", "description": "d"}),
        ),
        (
            "PUT",
            format!("/v1/clips/{clip}/confidentiality"),
            json!({"level": "secret"}),
        ),
        (
            "POST",
            "/v1/exports".to_owned(),
            json!({"clip_ids": [clip]}),
        ),
        (
            "POST",
            "/v1/copy-requests".to_owned(),
            json!({"clip_id": clip, "party": "p", "purpose": "q"}),
        ),
        (
            "PUT",
            "/v1/devices/DSJ-9".to_owned(),
            json!({"team": "一中队"}),
        ),
        ("PUT", "/v1/teams/一中队".to_owned(), json!({})),
        (
            "POST",
            "/v1/cases".to_owned(),
            json!({"reference": "R", "title": "t"}),
        ),
    ] {
        let status = in_b1(method, &path)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 403, "{method} {path}");
    }
    let upload = app
        .put_upload(&region, sample(10))
        .header("Custodian-Bureau", "b1")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(upload, 403, "a region admin uploads nothing");
    // A bureau that does not exist, or a malformed name.
    for (named, expected) in [("nowhere", 404), ("../b1", 400)] {
        let status = app
            .http
            .get(format!("{}/v1/clips", app.base))
            .bearer_auth(&region)
            .header("Custodian-Bureau", named)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, expected, "Custodian-Bureau: {named}");
    }

    // Every look is in b1's own trail, naming the region admin and where it comes from.
    let auditor = token_with_role(&app.app, "b1", Role::Auditor).await;
    let trail = app.get_json(&auditor, "/v1/audit?limit=1000").await;
    let reads: Vec<&Value> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["actor"].as_str().unwrap().contains("region-admin")
                && e["target"] == clip.as_str()
                && e["action"] == "GET /v1/clips/{id}"
        })
        .collect();
    assert_eq!(reads.len(), 1, "{trail}");
    assert!(
        reads[0]["actor"].as_str().unwrap().contains("of region"),
        "{}",
        reads[0]
    );
    assert!(reads[0]["detail"].as_str().unwrap().contains("status 200"));
    let refused = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["actor"].as_str().unwrap().contains("region-admin")
                && e["detail"].as_str().unwrap().contains("status 403")
        })
        .count();
    assert!(
        refused >= 5,
        "refused writes are in b1's trail too: {trail}"
    );

    // Probes of bureaus that do not exist, or with malformed names, are accesses too: they
    // are in the region admin's own bureau's trail, with what it named and the answer.
    let region_auditor = token_with_role(&app.app, "region", Role::Auditor).await;
    let own = app.get_json(&region_auditor, "/v1/audit?limit=1000").await;
    for (named, status) in [("nowhere", 404), ("../b1", 400)] {
        let probes = own["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                let detail = e["detail"].as_str().unwrap();
                e["actor"].as_str().unwrap().contains("region-admin")
                    && e["action"] == "GET /v1/clips"
                    && detail.starts_with(&format!("status {status} "))
                    && detail.contains(&format!("Custodian-Bureau \"{named}\""))
            })
            .count();
        assert_eq!(probes, 1, "probe of {named:?}: {own}");
    }
}

#[tokio::test]
async fn the_roles_that_see_secret_clips_are_configured() {
    let app = spawn_standalone_with_access(
        Default::default(),
        custodian_catalog::CatalogConfig {
            media_steps: vec![None],
            ..Default::default()
        },
        Default::default(),
        std::sync::Arc::new(custodian_platform::clock::SystemClock),
        Default::default(),
        custodian_platform::config::AccessArgs {
            secret_roles: vec!["admin".into(), "region-admin".into()],
        },
    )
    .await;
    let secret = app.upload(sample(1500)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_state(&secret, "catalogued").await;
    // A leader, no longer named for secret footage, cannot make a clip secret; an admin can.
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let admin = token_with_role(&app.app, "b1", Role::Admin).await;
    let level = json!({"level": "secret"});
    let path = format!("/v1/clips/{secret}/confidentiality");
    assert_eq!(app.send("PUT", &leader, &path, level.clone()).await.0, 403);
    assert_eq!(app.send("PUT", &admin, &path, level).await.0, 200);
    let region = token_with_role(&app.app, "region", Role::RegionAdmin).await;
    for role in Role::ALL {
        let sees = matches!(role, Role::Admin | Role::RegionAdmin);
        let token = if role == Role::RegionAdmin {
            region.clone()
        } else {
            token_with_role(&app.app, "b1", role).await
        };
        let read = |path: String| {
            app.http
                .get(format!("{}{path}", app.base))
                .bearer_auth(&token)
                .header("Custodian-Bureau", "b1")
        };
        let status = read(format!("/v1/clips/{secret}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, if sees { 200 } else { 404 }, "{role}");
        let listed = read("/v1/clips".into())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains(&secret);
        assert_eq!(listed, sees, "{role} listing");
    }
    app.app.stop().await;

    // A bad value stops start-up with a message naming it.
    for bad in [vec!["leader", "chief"], vec!["officer"], vec![]] {
        let data = tempfile::tempdir().unwrap();
        let args = custodian::cli::StandaloneArgs {
            data: data.path().to_path_buf(),
            server: custodian::cli::ServerArgs {
                listen: "127.0.0.1:0".parse().unwrap(),
                shutdown_grace: std::time::Duration::from_secs(5),
                ops_listen: None,
                limits: Default::default(),
                tls: Default::default(),
            },
            ingest: Default::default(),
            catalog: Default::default(),
            retention: Default::default(),
            custody: Default::default(),
            transcoder: Default::default(),
            media: Default::default(),
            access: custodian_platform::config::AccessArgs {
                secret_roles: bad.iter().map(|r| r.to_string()).collect(),
            },
            console: true,
        };
        let Err(error) = custodian::app::start_standalone(&args).await else {
            panic!("secret roles {bad:?} accepted");
        };
        let message = format!("{error:#}");
        assert!(message.contains("secret-roles"), "{message}");
        assert!(message.contains(&bad.join(",")), "{message}");
    }
}

//! The catalogue as archive staff use it, over HTTP on the standalone server: classification
//! and naming, deadlines across the Spring Festival 2026 on a moving clock, cases, the device
//! registry and search, each refusal with a clear 4xx.

mod common;

#[path = "catalogue/rectification.rs"]
mod rectification;
#[path = "catalogue/tasks.rs"]
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use custodian_catalog::CatalogConfig;
use custodian_core::roles::Role;
use custodian_ingest::IngestConfig;
use custodian_platform::clock::ManualClock;
use serde_json::{json, Value};

struct Staff {
    app: TestApp,
    archivist: String,
    clock: Arc<ManualClock>,
}

/// Moves the server's clock forward to `at`.
fn move_to(clock: &ManualClock, at: DateTime<Utc>) {
    use custodian_platform::clock::Clock;
    clock.advance(at - clock.now());
}

async fn staff_at(start: DateTime<Utc>) -> Staff {
    let clock = Arc::new(ManualClock::new(start));
    let catalog = CatalogConfig {
        reconcile_every: Duration::from_millis(50),
        ..Default::default()
    };
    let app = spawn_standalone_at(IngestConfig::default(), catalog, clock.clone()).await;
    let archivist = token_with_role(&app.app, "b1", Role::Archivist).await;
    Staff {
        app,
        archivist,
        clock,
    }
}

impl Staff {
    async fn upload_recorded(&self, recorded_at: &str, extra: &[(&str, &str)]) -> String {
        self.app
            .upload_recorded(recorded_at, extra, &self.clock)
            .await
    }

    async fn clip(&self, id: &str) -> Value {
        self.app
            .get_json(&self.archivist, &format!("/v1/clips/{id}"))
            .await
    }

    async fn search(&self, query: &str) -> Vec<String> {
        let page: Value = self
            .app
            .get_json(&self.archivist, &format!("/v1/clips?{query}"))
            .await;
        page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{query}: {page}"))
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn deadline<'a>(clip: &'a Value, kind: &str) -> &'a Value {
    clip["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {clip}"))
}

#[tokio::test]
async fn deadlines_follow_the_calendar_across_the_spring_festival() {
    // Friday 2026-02-13, 10:00 in China; the clip was recorded the evening before.
    let staff = staff_at(cst(2026, 2, 13, 10)).await;
    let id = staff
        .upload_recorded("2026-02-12T20:00:00+08:00", &[])
        .await;
    let clip = staff.clip(&id).await;
    assert_eq!(clip["canonical_name"], "DSJ-0001_031234_20260212_200000");
    // Uploaded 14 hours after recording: both upload deadlines met.
    assert_eq!(deadline(&clip, "upload_24_hours")["state"], "met");
    assert_eq!(deadline(&clip, "upload_3_working_days")["state"], "met");
    // Classification: 2 working days after Friday 13 are Saturday 14 (调休) and Tuesday 24.
    let classification = deadline(&clip, "classification");
    assert_eq!(classification["state"], "open");
    assert_eq!(classification["due"], "2026-02-24T16:00:00Z");

    // The last minute of the 24th is still in time; the 25th is not.
    staff.clock.advance(
        chrono::Duration::days(11) + chrono::Duration::hours(13) + chrono::Duration::minutes(59),
    );
    assert_eq!(
        deadline(&staff.clip(&id).await, "classification")["state"],
        "open"
    );
    assert!(staff.search("overdue=classification").await.is_empty());
    staff.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(
        deadline(&staff.clip(&id).await, "classification")["state"],
        "overdue"
    );
    assert_eq!(
        staff.search("overdue=classification").await,
        vec![id.clone()]
    );
    let metrics = custodian_platform::testing::eventually(WAIT, "overdue gauge", || async {
        let text = staff
            .app
            .http
            .get(format!("{}/metrics", staff.app.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("custodian_deadlines_overdue{bureau=\"b1\",kind=\"classification\"} 1")
            .then_some(text)
    })
    .await;
    assert!(
        !metrics.contains("kind=\"upload_24_hours\"} 1"),
        "{metrics}"
    );

    // Classified late: the deadline stays overdue, with when it was done.
    let (status, _) = staff
        .app
        .send(
            "PUT",
            &staff.archivist,
            &format!("/v1/clips/{id}/classification"),
            json!({"category": "行政检查", "description": "检查"}),
        )
        .await;
    assert_eq!(status, 200);
    let classification = deadline(&staff.clip(&id).await, "classification").clone();
    assert_eq!(classification["state"], "overdue");
    assert!(classification["completed_at"].is_string());
}

#[tokio::test]
async fn a_late_upload_is_flagged_and_counted() {
    // Uploaded Wednesday 2026-02-25; recorded Thursday 2026-02-12 evening. Its 3 working days
    // ran out at the end of Tuesday 24 February.
    let staff = staff_at(cst(2026, 2, 25, 9)).await;
    let id = staff
        .upload_recorded("2026-02-12T20:00:00+08:00", &[])
        .await;
    let clip = staff.clip(&id).await;
    assert_eq!(deadline(&clip, "upload_24_hours")["state"], "overdue");
    assert_eq!(deadline(&clip, "upload_3_working_days")["state"], "overdue");
    custodian_platform::testing::eventually(WAIT, "late upload gauge", || async {
        let text = staff
            .app
            .http
            .get(format!("{}/metrics", staff.app.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("custodian_deadlines_overdue{bureau=\"b1\",kind=\"upload_3_working_days\"} 1")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn classification_names_the_clip_needs_a_role_and_keeps_its_history() {
    let staff = staff_at(cst(2026, 3, 2, 9)).await;
    let id = staff
        .upload_recorded("2026-03-02T08:15:30+08:00", &[])
        .await;
    let path = format!("/v1/clips/{id}/classification");
    let body = json!({"category": "行政处罚", "description": "对某加油站作出行政处罚决定", "place": "黄岛区长江中路 1 号", "important": true});

    // An officer's token may read but not classify; another bureau cannot even see the clip.
    let (status, error) = staff
        .app
        .send("PUT", &staff.app.token, &path, body.clone())
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let other = token_with_role(&staff.app.app, "b2", Role::Archivist).await;
    assert_eq!(
        staff.app.send("PUT", &other, &path, body.clone()).await.0,
        404
    );

    let (status, clip) = staff.app.send("PUT", &staff.archivist, &path, body).await;
    assert_eq!(status, 200, "{clip}");
    assert_eq!(
        clip["canonical_name"],
        "DSJ-0001_031234_20260302_081530_IMP"
    );
    assert_eq!(
        (clip["category"].as_str(), clip["important"].as_bool()),
        (Some("行政处罚"), Some(true))
    );
    assert_eq!(deadline(&clip, "classification")["state"], "met");

    let (status, clip) = staff
        .app
        .send(
            "PUT",
            &staff.archivist,
            &path,
            json!({"category": "行政检查", "description": "更正"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(clip["canonical_name"], "DSJ-0001_031234_20260302_081530");
    let history = clip["classifications"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["category"], "行政处罚");
    assert!(history[1]["by"].as_str().unwrap().contains("archivist"));

    // Bad input: a clear 4xx naming the problem.
    let (status, error) = staff
        .app
        .send(
            "PUT",
            &staff.archivist,
            &path,
            json!({"category": "交通违法", "description": "x"}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown category \"交通违法\""),
        "{error}"
    );
    let (status, _) = staff
        .app
        .send(
            "PUT",
            &staff.archivist,
            &path,
            json!({"category": "其他", "description": " "}),
        )
        .await;
    assert_eq!(status, 422);
    let categories: Value = staff.app.get_json(&staff.archivist, "/v1/categories").await;
    assert_eq!(categories.as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn cases_close_and_file_by_their_rules() {
    let staff = staff_at(cst(2026, 9, 16, 9)).await;
    let (status, case) = staff
        .app
        .send(
            "POST",
            &staff.archivist,
            "/v1/cases",
            json!({"reference": "应急罚〔2026〕12号", "title": "某加油站案"}),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    let case_id = case["id"].as_str().unwrap().to_owned();
    let (status, _) = staff
        .app
        .send(
            "POST",
            &staff.archivist,
            "/v1/cases",
            json!({"reference": "应急罚〔2026〕12号", "title": "again"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        staff
            .app
            .send(
                "POST",
                &staff.app.token,
                "/v1/cases",
                json!({"reference": "x", "title": "y"})
            )
            .await
            .0,
        403
    );

    // A clip uploaded naming the case is linked to it; another is linked by hand.
    let named = staff
        .upload_recorded(
            "2026-09-16T08:00:00+08:00",
            &[("case", "应急罚〔2026〕12号")],
        )
        .await;
    let by_hand = staff
        .upload_recorded("2026-09-16T08:30:00+08:00", &[])
        .await;
    let (status, case) = staff
        .app
        .send(
            "POST",
            &staff.archivist,
            &format!("/v1/cases/{case_id}/clips"),
            json!({"clip_ids": [by_hand]}),
        )
        .await;
    assert_eq!(status, 200);
    let mut linked: Vec<&str> = case["clips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    linked.sort();
    let mut expected = vec![named.as_str(), by_hand.as_str()];
    expected.sort();
    assert_eq!(linked, expected);
    assert_eq!(staff.search(&format!("case_id={case_id}")).await.len(), 2);

    // Another bureau's case and clip are not there for this bureau.
    let other = token_with_role(&staff.app.app, "b2", Role::Archivist).await;
    assert_eq!(
        staff
            .app
            .send(
                "POST",
                &other,
                &format!("/v1/cases/{case_id}/close"),
                json!({})
            )
            .await
            .0,
        404
    );
    let (_, other_case) = staff
        .app
        .send(
            "POST",
            &other,
            "/v1/cases",
            json!({"reference": "b2-1", "title": "t"}),
        )
        .await;
    let (status, error) = staff
        .app
        .send(
            "POST",
            &other,
            &format!("/v1/cases/{}/clips", other_case["id"].as_str().unwrap()),
            json!({"clip_ids": [named]}),
        )
        .await;
    assert_eq!(status, 404, "{error}");

    // Filing needs a closed case whose clips are all classified.
    assert_eq!(
        staff
            .app
            .send(
                "POST",
                &staff.archivist,
                &format!("/v1/cases/{case_id}/file"),
                json!({})
            )
            .await
            .0,
        409
    );
    let (status, closed) = staff
        .app
        .send(
            "POST",
            &staff.archivist,
            &format!("/v1/cases/{case_id}/close"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(closed["state"], "closed");
    // 30 working days from Wednesday 16 September 2026 end on Tuesday 3 November.
    assert_eq!(closed["filing_deadline"]["due"], "2026-11-03T16:00:00Z");
    assert_eq!(closed["filing_deadline"]["state"], "open");
    let (status, error) = staff
        .app
        .send(
            "POST",
            &staff.archivist,
            &format!("/v1/cases/{case_id}/close"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409);
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("only an open case"));
    let (status, error) = staff
        .app
        .send(
            "POST",
            &staff.archivist,
            &format!("/v1/cases/{case_id}/file"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 clip(s)"),
        "{error}"
    );
    for id in [&named, &by_hand] {
        let body = json!({"category": "行政处罚", "description": "处罚决定送达"});
        assert_eq!(
            staff
                .app
                .send(
                    "PUT",
                    &staff.archivist,
                    &format!("/v1/clips/{id}/classification"),
                    body
                )
                .await
                .0,
            200
        );
    }
    let (status, filed) = staff
        .app
        .send(
            "POST",
            &staff.archivist,
            &format!("/v1/cases/{case_id}/file"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            filed["state"].as_str(),
            filed["filing_deadline"]["state"].as_str()
        ),
        (Some("filed"), Some("met"))
    );
    assert_eq!(
        staff
            .app
            .send(
                "POST",
                &staff.archivist,
                &format!("/v1/cases/{case_id}/clips"),
                json!({"clip_ids": [named]})
            )
            .await
            .0,
        409
    );
    assert_eq!(
        staff
            .app
            .get(&staff.archivist, "/v1/cases/not-a-uuid")
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn the_device_registry_reports_teams_short_of_cameras() {
    let staff = staff_at(cst(2026, 3, 2, 9)).await;
    for (device, team) in [
        ("DSJ-1", "一中队"),
        ("DSJ-2", "一中队"),
        ("DSJ-3", "二中队"),
    ] {
        let (status, _) = staff
            .app
            .send(
                "PUT",
                &staff.archivist,
                &format!("/v1/devices/{device}"),
                json!({"team": team, "officer": "031234"}),
            )
            .await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        staff
            .app
            .send(
                "PUT",
                &staff.app.token,
                "/v1/devices/DSJ-4",
                json!({"team": "二中队"})
            )
            .await
            .0,
        403
    );
    assert_eq!(
        staff
            .app
            .send(
                "PUT",
                &staff.archivist,
                "/v1/devices/DSJ_4",
                json!({"team": "二中队"})
            )
            .await
            .0,
        400
    );
    let report: Value = staff.app.get_json(&staff.archivist, "/v1/devices").await;
    assert_eq!(report["devices"].as_array().unwrap().len(), 3);
    assert_eq!(
        report["teams_short_of_cameras"],
        json!([{"team": "二中队", "cameras": 1}])
    );
    // Moving DSJ-2 to the second team leaves the first short instead.
    staff
        .app
        .send(
            "PUT",
            &staff.archivist,
            "/v1/devices/DSJ-2",
            json!({"team": "二中队"}),
        )
        .await;
    let report: Value = staff.app.get_json(&staff.archivist, "/v1/devices").await;
    assert_eq!(
        report["teams_short_of_cameras"],
        json!([{"team": "一中队", "cameras": 1}])
    );
}

#[tokio::test]
async fn search_by_place_category_text_and_flags() {
    let staff = staff_at(cst(2026, 3, 2, 9)).await;
    let qingdao = staff
        .upload_recorded(
            "2026-03-02T08:00:00+08:00",
            &[
                ("lat", "36.07"),
                ("lon", "120.38"),
                ("place", "市南区香港中路"),
            ],
        )
        .await;
    let jinan = staff
        .upload_recorded(
            "2026-03-02T08:10:00+08:00",
            &[
                ("lat", "36.65"),
                ("lon", "117.12"),
                ("place", "历下区泉城路"),
            ],
        )
        .await;
    let nowhere = staff
        .upload_recorded("2026-03-02T08:20:00+08:00", &[])
        .await;
    let body = json!({"category": "现场勘验", "description": "油罐区 现场勘验 50%_进度", "important": true});
    staff
        .app
        .send(
            "PUT",
            &staff.archivist,
            &format!("/v1/clips/{jinan}/classification"),
            body,
        )
        .await;

    assert_eq!(
        staff.search("bbox=35.5,119.5,36.5,121").await,
        vec![qingdao.clone()]
    );
    assert_eq!(staff.search("category=现场勘验").await, vec![jinan.clone()]);
    assert_eq!(staff.search("q=油罐").await, vec![jinan.clone()]);
    assert_eq!(staff.search("q=香港中路").await, vec![qingdao.clone()]);
    // LIKE's wildcards in the text are taken literally.
    assert_eq!(staff.search("q=50%25_").await, vec![jinan.clone()]);
    assert!(staff.search("q=5_%25").await.is_empty());
    assert_eq!(staff.search("important=true").await, vec![jinan.clone()]);
    assert_eq!(
        staff.search("classified=false").await,
        vec![nowhere.clone(), qingdao.clone()]
    );
    assert_eq!(
        staff
            .search("recorded_from=2026-03-02T00:05:00Z&device=DSJ-0001")
            .await,
        vec![nowhere, jinan]
    );

    for (query, problem) in [
        ("bbox=1,2,3", "bbox"),
        ("bbox=40,0,30,10", "bbox"),
        ("category=不存在", "unknown category"),
        ("overdue=upload", "overdue"),
        ("recorded_from=yesterday", "RFC 3339"),
    ] {
        let response = staff
            .app
            .get(&staff.archivist, &format!("/v1/clips?{query}"))
            .await;
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.text().await.unwrap().contains(problem), "{query}");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let staff = staff_at(cst(2026, 3, 2, 9)).await;
    let doc: Value = staff
        .app
        .http
        .get(format!("{}/openapi.json", staff.app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let expected = [
        ("/v1/uploads", "put"),
        ("/v1/tus", "post"),
        ("/v1/tus/{id}", "head"),
        ("/v1/tus/{id}", "patch"),
        ("/v1/tus/{id}", "delete"),
        ("/v1/clips", "get"),
        ("/v1/clips/{id}", "get"),
        ("/v1/clips/{id}/classification", "put"),
        ("/v1/clips/{id}/confidentiality", "put"),
        ("/v1/clips/{id}/view", "get"),
        ("/v1/clips/{id}/subtitles", "get"),
        ("/v1/clips/{id}/poster", "get"),
        ("/v1/clips/{id}/similar", "get"),
        ("/v1/clips/{id}/track", "put"),
        ("/v1/categories", "get"),
        ("/v1/record-types", "get"),
        ("/v1/cases", "post"),
        ("/v1/cases", "get"),
        ("/v1/cases/{id}", "get"),
        ("/v1/cases/{id}/clips", "post"),
        ("/v1/cases/{id}/close", "post"),
        ("/v1/cases/{id}/file", "post"),
        ("/v1/devices", "get"),
        ("/v1/devices/{device}", "put"),
        ("/v1/teams", "get"),
        ("/v1/teams/{team}", "put"),
        ("/v1/tasks", "post"),
        ("/v1/tasks", "get"),
        ("/v1/tasks/import", "post"),
        ("/v1/tasks/{id}", "get"),
        ("/v1/tasks/{id}/clips", "post"),
        ("/v1/tasks/{id}/moments/{moment}", "put"),
        ("/v1/tasks/{id}/not-filmed", "put"),
        ("/v1/supervision/findings", "get"),
        ("/v1/clips/{id}/retention", "get"),
        ("/v1/clips/{id}/restore", "post"),
        ("/v1/cases/{id}/retention", "put"),
        ("/v1/retention/plan", "get"),
        ("/v1/audit", "get"),
        ("/v1/audit/checkpoints", "get"),
        ("/v1/audit/public-key", "get"),
        ("/v1/exports", "post"),
        ("/v1/copy-requests", "post"),
        ("/v1/copy-requests", "get"),
        ("/v1/copy-requests/{id}", "get"),
        ("/v1/copy-requests/{id}/approve", "post"),
        ("/v1/copy-requests/{id}/refuse", "post"),
        ("/v1/copy-requests/{id}/redaction", "put"),
        ("/v1/rectifications", "post"),
        ("/v1/rectifications", "get"),
        ("/v1/rectifications/{id}", "get"),
        ("/v1/rectifications/{id}/answer", "post"),
        ("/v1/rectifications/{id}/accept", "post"),
        ("/v1/rectifications/{id}/reopen", "post"),
        ("/v1/sessions/end", "post"),
        ("/v1/me", "get"),
        ("/v1/admin/tokens", "get"),
        ("/v1/admin/tokens/{id}/revoke", "post"),
        ("/v1/admin/tokens/{id}/expiry", "put"),
        ("/v1/admin/tokens/{id}/rotate", "post"),
        ("/v1/admin/users", "get"),
        ("/v1/admin/users/{username}/disable", "post"),
        ("/v1/admin/users/{username}/enable", "post"),
    ];
    for (path, method) in expected {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        assert_eq!(
            operation["security"][0]["bearer"],
            json!([]),
            "{method} {path} without bearer security"
        );
        assert!(
            operation["responses"]["401"].is_object(),
            "{method} {path} without its 401"
        );
        // Every route the document names answers (401 without a token, not 404 or 405).
        let concrete = path
            .replace("{id}", "01a21cdf-d5f0-72f8-b84f-a6b8d573f60d")
            .replace("{device}", "DSJ-1")
            .replace("{team}", "一中队")
            .replace("{username}", "zhang.san")
            .replace("{moment}", "1");
        let status = staff
            .app
            .http
            .request(
                method.to_uppercase().parse().unwrap(),
                format!("{}{concrete}", staff.app.base),
            )
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401, "{method} {path}");
    }
    // Logging in is the one route without a token: it is how a person gets one.
    let login = &doc["paths"]["/v1/sessions"]["post"];
    assert!(login.is_object() && login["security"].is_null(), "{login}");
    assert!(
        login["responses"]["429"]["headers"]["Retry-After"].is_object(),
        "throttling is documented with its Retry-After: {login}"
    );
    // So is a party's copy download: the link is the credential.
    let copy = &doc["paths"]["/v1/copies/{token}"]["get"];
    assert!(copy.is_object() && copy["security"].is_null(), "{copy}");
    assert!(
        copy["responses"]["409"].is_object(),
        "not-ready is documented"
    );
    // And tus's OPTIONS: it tells the protocol, nothing of any upload.
    let discovery = &doc["paths"]["/v1/tus"]["options"];
    assert!(
        discovery.is_object() && discovery["security"].is_null(),
        "{discovery}"
    );
    let paths: std::collections::BTreeSet<&str> = expected.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        doc["paths"].as_object().unwrap().len(),
        paths.len() + 2,
        "a route is described that the test does not know"
    );
    for schema in [
        "ClipRecord",
        "Receipt",
        "Deadline",
        "CaseRecord",
        "ErrorBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// Moves the clock to `to` (forward only: ids and histories follow the clock).
fn set_clock(clock: &ManualClock, to: DateTime<Utc>) {
    use custodian_platform::clock::Clock;
    assert!(to >= clock.now(), "the clock goes forward only");
    clock.advance(to - clock.now());
}

impl Staff {
    /// Uploads a clip `officer` recorded on `device`, as the collection station does, and
    /// waits until it is catalogued.
    async fn upload_by(&self, device: &str, officer: &str, recorded_at: &str) -> String {
        let response = self
            .app
            .http
            .put(format!("{}/v1/uploads", self.app.base))
            .bearer_auth(&self.app.token)
            .query(&[
                ("device", device),
                ("officer", officer),
                ("recorded_at", recorded_at),
                ("file_name", "a.mp4"),
            ])
            .body(sample(4000))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let receipt: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{receipt}");
        let id = receipt["clip_id"].as_str().unwrap().to_owned();
        self.app.wait_for_state(&id, "catalogued").await;
        self.clock.advance(chrono::Duration::seconds(1));
        id
    }

    /// An officer's token of `bureau` speaking for `officer` of `team`.
    async fn officer_token(&self, bureau: &str, officer: &str, team: Option<&str>) -> String {
        let identity = custodian_core::roles::OfficerIdentity {
            officer: Some(custodian_core::LocalId::parse("officer id", officer).unwrap()),
            team: team.map(str::to_owned),
        };
        custodian::admin::create_token_for(
            &*self.app.app.ports.catalogue,
            &custodian_core::BureauId::parse(bureau).unwrap(),
            "测试大队",
            &format!("officer {officer}"),
            Role::Officer,
            &identity,
        )
        .await
        .unwrap()
        .0
    }

    async fn put(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.app.send("PUT", token, path, body).await
    }
}

#[tokio::test]
async fn officers_classify_and_describe_their_own_and_their_teams_clips() {
    let staff = staff_at(cst(2026, 3, 2, 9)).await;
    for team in ["一中队", "二中队"] {
        assert_eq!(
            staff
                .put(&staff.archivist, &format!("/v1/teams/{team}"), json!({}))
                .await
                .0,
            200
        );
    }
    let (status, _) = staff
        .put(
            &staff.archivist,
            "/v1/devices/DSJ-0001",
            json!({"team": "一中队"}),
        )
        .await;
    assert_eq!(status, 200);
    // Zhang's own clip and a teammate's on the team's camera; a clip of an unregistered
    // camera by the teammate, and one by Zhang.
    let own = staff
        .upload_by("DSJ-0001", "031234", "2026-03-02T08:00:00+08:00")
        .await;
    let teammates = staff
        .upload_by("DSJ-0001", "035678", "2026-03-02T08:10:00+08:00")
        .await;
    let unregistered = staff
        .upload_by("DSJ-0009", "035678", "2026-03-02T08:20:00+08:00")
        .await;
    let own_unregistered = staff
        .upload_by("DSJ-0009", "031234", "2026-03-02T08:30:00+08:00")
        .await;
    let zhang = staff.officer_token("b1", "031234", Some("一中队")).await;
    let other_team = staff.officer_token("b1", "039999", Some("二中队")).await;
    let body =
        json!({"category": "行政检查", "description": "对某加油站进行现场检查", "place": "加油站"});
    let classify = |token: String, id: String| {
        let staff = &staff;
        let body = body.clone();
        async move {
            staff
                .put(&token, &format!("/v1/clips/{id}/classification"), body)
                .await
        }
    };

    for (id, expected) in [
        (&own, 200),
        (&teammates, 200),
        (&unregistered, 403),
        (&own_unregistered, 200),
    ] {
        let (status, answer) = classify(zhang.clone(), id.clone()).await;
        assert_eq!(status, expected, "zhang classifying {id}: {answer}");
    }
    for id in [&own, &teammates, &own_unregistered] {
        let (status, answer) = classify(other_team.clone(), id.clone()).await;
        assert_eq!(
            status, 403,
            "another team's officer classifying {id}: {answer}"
        );
    }
    // The collection station's token speaks for no officer: it classifies nothing.
    let (status, answer) = classify(staff.app.token.clone(), own.clone()).await;
    assert_eq!(status, 403, "{answer}");
    // An officer of another bureau with the same code does not even see the clip.
    let outsider = staff.officer_token("b2", "031234", None).await;
    assert_eq!(classify(outsider, own.clone()).await.0, 404);
    // Archive staff classify every clip of the bureau, as before.
    assert_eq!(
        classify(staff.archivist.clone(), unregistered.clone())
            .await
            .0,
        200
    );

    // The history says which officer did it.
    let clip = staff.clip(&own).await;
    let by = clip["classifications"][0]["by"].as_str().unwrap();
    assert!(by.contains("officer 031234"), "{by}");
    assert_eq!(clip["classified_by"].as_str(), Some(by));
    assert_eq!(clip["description"], "对某加油站进行现场检查");
    assert_eq!(clip["team"], "一中队");
}

#[tokio::test]
async fn registered_teams_without_cameras_and_unregistered_cameras_are_reported() {
    let staff = staff_at(cst(2026, 3, 2, 9)).await;
    let (status, team) = staff
        .put(&staff.archivist, "/v1/teams/ 三中队 ", json!({}))
        .await;
    assert_eq!(status, 200, "{team}");
    assert_eq!(team["name"], "三中队");
    // Registering it again keeps the first registration.
    staff.clock.advance(chrono::Duration::hours(1));
    let (_, again) = staff
        .put(&staff.archivist, "/v1/teams/三中队", json!({}))
        .await;
    assert_eq!(again["registered_at"], team["registered_at"]);
    assert_eq!(
        staff
            .put(&staff.app.token, "/v1/teams/四中队", json!({}))
            .await
            .0,
        403
    );
    for bad in ["%20", "a%01b"] {
        assert_eq!(
            staff
                .put(&staff.archivist, &format!("/v1/teams/{bad}"), json!({}))
                .await
                .0,
            400,
            "{bad}"
        );
    }
    staff
        .put(
            &staff.archivist,
            "/v1/devices/DSJ-0001",
            json!({"team": "一中队"}),
        )
        .await;
    let report: Value = staff.app.get_json(&staff.archivist, "/v1/devices").await;
    assert_eq!(
        report["teams_short_of_cameras"],
        json!([{"team": "一中队", "cameras": 1}, {"team": "三中队", "cameras": 0}])
    );
    let teams: Value = staff.app.get_json(&staff.archivist, "/v1/teams").await;
    assert_eq!(teams.as_array().unwrap().len(), 1);
    assert_eq!(teams[0]["name"], "三中队");
    let other = token_with_role(&staff.app.app, "b2", Role::Archivist).await;
    let theirs: Value = staff.app.get_json(&other, "/v1/devices").await;
    assert_eq!(theirs["teams_short_of_cameras"], json!([]));

    // An upload from a camera the registry does not know is kept, flagged and counted.
    let registered = staff
        .upload_by("DSJ-0001", "031234", "2026-03-02T08:00:00+08:00")
        .await;
    let unknown = staff
        .upload_by("DSJ-0404", "031234", "2026-03-02T08:10:00+08:00")
        .await;
    let clip = staff.clip(&registered).await;
    assert_eq!(
        (clip["device_registered"].as_bool(), clip["team"].as_str()),
        (Some(true), Some("一中队"))
    );
    let clip = staff.clip(&unknown).await;
    assert_eq!(
        (clip["device_registered"].as_bool(), &clip["team"]),
        (Some(false), &Value::Null)
    );
    assert_eq!(
        staff.search("device_registered=false").await,
        vec![unknown.clone()]
    );
    assert_eq!(
        staff.search("device_registered=true").await,
        vec![registered]
    );
    let metrics = metrics_text(&staff.app.http, &staff.app.base).await;
    assert!(
        metrics.contains("custodian_uploads_unregistered_device_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_case_closes_on_the_date_entered_and_overdue_cases_are_listed() {
    // Opened on Tuesday 1 September 2026; closed on paper on Thursday 10 September, entered
    // on Wednesday 16 September.
    let staff = staff_at(cst(2026, 9, 1, 9)).await;
    let mut cases = Vec::new();
    for reference in [
        "应急罚〔2026〕1号",
        "应急罚〔2026〕2号",
        "应急罚〔2026〕3号",
    ] {
        let (status, case) = staff
            .app
            .send(
                "POST",
                &staff.archivist,
                "/v1/cases",
                json!({"reference": reference, "title": "某加油站案"}),
            )
            .await;
        assert_eq!(status, 201);
        cases.push(case["id"].as_str().unwrap().to_owned());
        staff.clock.advance(chrono::Duration::seconds(1));
    }
    set_clock(&staff.clock, cst(2026, 9, 16, 10));
    let close = |id: &str, body: Value| {
        let path = format!("/v1/cases/{id}/close");
        let staff = &staff;
        async move { staff.app.send("POST", &staff.archivist, &path, body).await }
    };
    for (closed_on, status, code) in [
        ("2026-09-17", 422, "invalid-closure-date"),
        ("2026-08-31", 422, "invalid-closure-date"),
        ("2026-9-10x", 400, "invalid-request"),
    ] {
        let (got, error) = close(&cases[0], json!({ "closed_on": closed_on })).await;
        assert_eq!(
            (got, error["error"]["code"].as_str()),
            (status, Some(code)),
            "{closed_on}: {error}"
        );
    }
    let (status, closed) = close(&cases[0], json!({"closed_on": "2026-09-10"})).await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["closed_on"], "2026-09-10");
    assert_eq!(closed["closed_at"], "2026-09-16T02:00:00Z");
    // Thirty working days from 10 September (the make-up Sunday 20 September counts; the
    // Mid-Autumn and National Day holidays do not) end on Wednesday 28 October.
    assert_eq!(closed["filing_deadline"]["due"], "2026-10-28T16:00:00Z");
    // Without a date the case closes today.
    let (_, today) = close(&cases[1], json!({})).await;
    assert_eq!(today["closed_on"], "2026-09-16");
    assert_eq!(today["filing_deadline"]["due"], "2026-11-03T16:00:00Z");

    // The date entered is in the audit trail, with who entered it.
    let auditor = token_with_role(&staff.app.app, "b1", Role::Auditor).await;
    let trail = staff.app.get_json(&auditor, "/v1/audit?limit=1000").await;
    let entry = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "case.closed" && e["target"] == cases[0].as_str())
        .unwrap_or_else(|| panic!("{trail}"));
    assert!(
        entry["detail"]
            .as_str()
            .unwrap()
            .contains("closure date 2026-09-10 entered on 2026-09-16"),
        "{entry}"
    );
    assert!(entry["actor"].as_str().unwrap().contains("archivist"));

    // The list: by state, overdue filing, newest first, paged.
    let listed = |query: &str| {
        let staff = &staff;
        let path = format!("/v1/cases?{query}");
        async move {
            let page = staff.app.get_json(&staff.archivist, &path).await;
            page["items"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: {page}"))
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed("").await,
        vec![cases[2].clone(), cases[1].clone(), cases[0].clone()]
    );
    assert_eq!(listed("state=open").await, vec![cases[2].clone()]);
    assert_eq!(
        listed("state=closed").await,
        vec![cases[1].clone(), cases[0].clone()]
    );
    assert!(listed("overdue=filing").await.is_empty());
    // The last minute of 28 October is in time; 29 October, the first case is overdue.
    set_clock(&staff.clock, cst(2026, 10, 28, 23));
    assert!(listed("overdue=filing").await.is_empty());
    set_clock(&staff.clock, cst(2026, 10, 29, 0));
    assert_eq!(listed("overdue=filing").await, vec![cases[0].clone()]);
    let page = staff
        .app
        .get_json(&staff.archivist, "/v1/cases?limit=2")
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["filing_deadline"], Value::Null);
    assert_eq!(page["items"][2], Value::Null);
    let cursor = page["next_cursor"].as_str().unwrap();
    assert_eq!(
        listed(&format!("limit=2&cursor={cursor}")).await,
        vec![cases[0].clone()]
    );
    let other = token_with_role(&staff.app.app, "b2", Role::Archivist).await;
    let theirs = staff.app.get_json(&other, "/v1/cases").await;
    assert_eq!(theirs["items"], json!([]));
    for (query, problem) in [
        ("state=shut", "known states"),
        ("overdue=upload", "overdue"),
        ("limit=0", "limit"),
        ("cursor=x", "UUID"),
    ] {
        let response = staff
            .app
            .get(&staff.archivist, &format!("/v1/cases?{query}"))
            .await;
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.text().await.unwrap().contains(problem), "{query}");
    }

    // A closure date more than twelve months back is refused: it would restart a clock that
    // ran out long ago.
    set_clock(&staff.clock, cst(2027, 9, 20, 10));
    let (status, error) = close(&cases[2], json!({"closed_on": "2026-09-19"})).await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("12 months back"),
        "{error}"
    );
}

/// Art. 16 counts the upload deadlines from the officer's return to the office, recorded with
/// the upload; a special circumstance given with it excuses missing the 24 hours within the 3
/// working days; a clip without a return counts from the recording, and says so.
#[tokio::test]
async fn upload_deadlines_count_from_the_return_to_the_office() {
    // Wednesday 4 March 2026, 10:00; every clip was recorded on Monday at 09:00.
    let staff = staff_at(cst(2026, 3, 4, 10)).await;
    let recorded = "2026-03-02T09:00:00+08:00";
    // Back on Tuesday evening: 24 hours run to Wednesday evening.
    let back_tuesday = staff
        .upload_recorded(recorded, &[("returned_at", "2026-03-03T17:00:00+08:00")])
        .await;
    // Back on Monday evening: 24 hours ran out on Tuesday evening; the 3 working days (Tuesday,
    // Wednesday, Thursday) run to the end of Thursday.
    let excused = staff
        .upload_recorded(
            recorded,
            &[
                ("returned_at", "2026-03-02T18:00:00+08:00"),
                ("late_reason", "连夜处置危化品泄漏"),
            ],
        )
        .await;
    let late = staff
        .upload_recorded(recorded, &[("returned_at", "2026-03-02T18:00:00+08:00")])
        .await;
    let no_return = staff.upload_recorded(recorded, &[]).await;

    let states = |clip: &Value| {
        (
            deadline(clip, "upload_24_hours")["state"].clone(),
            deadline(clip, "upload_3_working_days")["state"].clone(),
            clip["upload_deadlines_from"].clone(),
        )
    };
    let clip = staff.clip(&back_tuesday).await;
    assert_eq!(
        deadline(&clip, "upload_24_hours")["due"],
        "2026-03-04T09:00:00Z"
    );
    assert_eq!(clip["returned_at"], "2026-03-03T09:00:00Z");
    assert_eq!(states(&clip), (json!("met"), json!("met"), json!("return")));
    let clip = staff.clip(&excused).await;
    assert_eq!(
        deadline(&clip, "upload_3_working_days")["due"],
        "2026-03-05T16:00:00Z"
    );
    assert_eq!(clip["late_reason"], "连夜处置危化品泄漏");
    assert_eq!(
        states(&clip),
        (json!("excused"), json!("met"), json!("return"))
    );
    assert_eq!(
        states(&staff.clip(&late).await),
        (json!("overdue"), json!("met"), json!("return"))
    );
    assert_eq!(
        states(&staff.clip(&no_return).await),
        (json!("overdue"), json!("met"), json!("recording_end"))
    );
    // The late-upload gauge counts the two without a circumstance, not the excused one.
    custodian_platform::testing::eventually(WAIT, "late upload gauge", || async {
        let text = metrics_text(&staff.app.http, &staff.app.base).await;
        text.contains("custodian_deadlines_overdue{bureau=\"b1\",kind=\"upload_24_hours\"} 2")
            .then_some(())
    })
    .await;

    // A return that is not a time, before the recording, or in the future is refused.
    for (returned_at, problem) in [
        ("tuesday", "RFC 3339"),
        ("2026-03-02T08:00:00+08:00", "before the recording started"),
        ("2026-03-04T12:00:00+08:00", "in the future"),
    ] {
        let response = staff
            .app
            .http
            .put(format!("{}/v1/uploads", staff.app.base))
            .bearer_auth(&staff.app.token)
            .query(&[
                ("device", "DSJ-0001"),
                ("officer", "031234"),
                ("recorded_at", recorded),
                ("file_name", "a.mp4"),
                ("returned_at", returned_at),
            ])
            .body(sample(100))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{returned_at}");
        let text = response.text().await.unwrap();
        assert!(text.contains(problem), "{returned_at}: {text}");
    }
}

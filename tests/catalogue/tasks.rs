//! Supervision of enforcement tasks (art. 6, 7, 8, 25) over HTTP: a plan imported as tasks,
//! recordings found for each by officer and time (late uploads included) or linked by hand,
//! the art. 7 moments marked by the task's own officers, art. 8 reasons, and what a
//! supervisor is shown once a task's window has ended.

use serde_json::{json, Value};

use super::*;

const PLAN: &str = "\u{feff}任务编号,被检查单位,执法类型,开始时间,结束时间,执法人员,地点\n\
    2026-JC-101,华东化工有限公司,行政检查,2026-10-12 09:00,2026-10-12 11:00,031234、031235,浦东新区化工路1号\n\
    2026-CF-102,东方仓储有限公司,行政处罚,2026-10-12 14:00,2026-10-12 16:00,031236,\n\
    2026-JC-103,南港油库,行政检查,2026-10-12 09:00,2026-10-12 10:00,031237,\n\
    2026-FC-104,华东化工有限公司,复查,2026-10-20 09:00,2026-10-20 11:00,031234,\n";

impl Staff {
    async fn import(&self, token: &str, content_type: &str, body: &str) -> (u16, Value) {
        let response = self
            .app
            .http
            .post(format!("{}/v1/tasks/import", self.app.base))
            .bearer_auth(token)
            .header("Content-Type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The task of plan number `number`, as the list shows it.
    async fn task(&self, number: &str) -> Value {
        let page = self
            .app
            .get_json(&self.archivist, "/v1/tasks?limit=200")
            .await;
        page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"))
            .iter()
            .find(|t| t["external_id"] == number)
            .unwrap_or_else(|| panic!("no task {number}: {page}"))
            .clone()
    }
}

fn recordings(task: &Value) -> Vec<(String, String)> {
    task["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["clip_id"].as_str().unwrap().to_owned(),
                r["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_plans_tasks_find_their_recordings_and_supervision_finds_what_is_missing() {
    let staff = staff_at(cst(2026, 10, 12, 8)).await;
    let officer = staff.officer_token("b1", "031234", None).await;
    let stranger = staff.officer_token("b1", "039998", None).await;

    // The plan, imported whole by supervision staff, once however often it is sent.
    assert_eq!(staff.import(&officer, "text/csv", PLAN).await.0, 403);
    let (status, report) = staff.import(&staff.archivist, "text/csv", PLAN).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report, json!({"tasks": 4, "added": 4, "already_held": 0}));
    let (_, again) = staff
        .import(&staff.archivist, "text/csv; charset=utf-8", PLAN)
        .await;
    assert_eq!(again, json!({"tasks": 4, "added": 0, "already_held": 4}));
    // A plan with a bad row is refused whole, every bad row named.
    let bad = "external_id,enterprise,kind,starts_at,ends_at,officers\n\
               2026-X-1,甲公司,行政检查,2026-10-13 09:00,2026-10-13 10:00,031234\n\
               2026-X-2,乙公司,踏勘,2026-10-13 09:00,2026-10-13 10:00,031234\n\
               2026-X-3,丙公司,行政检查,2026-10-13 11:00,2026-10-13 10:00,031234\n";
    let (status, refusal) = staff.import(&staff.archivist, "text/csv", bad).await;
    assert_eq!(status, 400, "{refusal}");
    let rows: Vec<u64> = refusal["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, vec![3, 4], "{refusal}");
    let page = staff.app.get_json(&staff.archivist, "/v1/tasks").await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        4,
        "nothing of a refused plan is kept"
    );
    // One at a time, as JSON; the same number again is a conflict.
    let one = json!({"external_id": "2026-QZ-105", "enterprise": "西郊危化品仓库", "kind": "行政强制",
        "starts_at": "2026-10-21T09:00:00+08:00", "ends_at": "2026-10-21T12:00:00+08:00",
        "officers": ["031235"]});
    assert_eq!(
        staff
            .app
            .send("POST", &staff.archivist, "/v1/tasks", one.clone())
            .await
            .0,
        201
    );
    assert_eq!(
        staff
            .app
            .send("POST", &staff.archivist, "/v1/tasks", one)
            .await
            .0,
        409
    );

    // The day's recordings.
    move_to(&staff.clock, cst(2026, 10, 12, 14));
    let landmark = staff
        .upload_by("DSJ-0001", "031234", "2026-10-12T09:05:00+08:00")
        .await;
    let inspection = staff
        .upload_by("DSJ-0002", "031235", "2026-10-12T10:30:00+08:00")
        .await;
    let afterwards = staff
        .upload_by("DSJ-0001", "031234", "2026-10-12T13:00:00+08:00")
        .await;
    let borrowed = staff
        .upload_by("DSJ-0009", "039999", "2026-10-12T09:30:00+08:00")
        .await;

    let task = staff.task("2026-JC-101").await;
    assert_eq!(
        recordings(&task),
        vec![
            (landmark.clone(), "officer_and_time".to_owned()),
            (inspection.clone(), "officer_and_time".to_owned()),
        ],
        "{task}"
    );
    assert_eq!(task["coverage"]["required"], json!([1, 2, 3, 4, 5, 8]));
    // Its window is over and nothing is marked yet; a task still to come is not judged.
    assert_eq!(
        task["findings"][0]["moments"],
        json!([1, 2, 3, 4, 5, 8]),
        "{task}"
    );
    assert_eq!(staff.task("2026-FC-104").await["findings"], json!([]));
    let id = task["id"].as_str().unwrap().to_owned();

    // A camera borrowed from another officer: linked by hand, by one of the task's officers.
    let link = json!({"clip_ids": [borrowed]});
    let path = format!("/v1/tasks/{id}/clips");
    assert_eq!(
        staff
            .app
            .send("POST", &stranger, &path, link.clone())
            .await
            .0,
        403
    );
    let (status, linked) = staff.app.send("POST", &officer, &path, link).await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(
        recordings(&linked),
        vec![
            (landmark.clone(), "officer_and_time".to_owned()),
            (borrowed.clone(), "by_hand".to_owned()),
            (inspection.clone(), "officer_and_time".to_owned()),
        ]
    );

    // The officers mark the art. 7 moments their recordings show.
    let mark = |moment: u8, body: Value| {
        let path = format!("/v1/tasks/{id}/moments/{moment}");
        let officer = officer.clone();
        let app = &staff.app;
        async move { app.send("PUT", &officer, &path, body).await }
    };
    for (moment, clips) in [
        (1, vec![&landmark]),
        (2, vec![&landmark, &borrowed]),
        (3, vec![&inspection]),
    ] {
        let (status, body) = mark(moment, json!({"clip_ids": clips})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, marked) = mark(
        4,
        json!({"not_filmed": "secrets_without_consent", "note": "企业技术秘密区域"}),
    )
    .await;
    assert_eq!(status, 200, "{marked}");
    // Refusals: a clip of another errand, nothing said, both said, a moment art. 7 lacks,
    // "other" without a note.
    for (moment, body, problem) in [
        (
            5,
            json!({"clip_ids": [afterwards]}),
            "not a recording of this task",
        ),
        (5, json!({}), "clip_ids"),
        (
            5,
            json!({"clip_ids": [landmark], "not_filmed": "explosive_zone"}),
            "not both",
        ),
        (17, json!({"clip_ids": [landmark]}), "1 to 16"),
        (5, json!({"not_filmed": "other"}), "note"),
    ] {
        let (status, refusal) = mark(moment, body).await;
        assert_eq!(status, 400, "{refusal}");
        assert!(
            refusal["error"]["message"]
                .as_str()
                .unwrap()
                .contains(problem),
            "{refusal}"
        );
    }
    assert_eq!(marked["coverage"]["covered"], json!([1, 2, 3]));
    assert_eq!(marked["coverage"]["excused"], json!([4]));
    assert_eq!(marked["coverage"]["missing"], json!([5, 8]));

    // Art. 8(1): the oil depot's explosive zone, and no explosion-proof camera.
    let depot = staff.task("2026-JC-103").await;
    let (status, excused) = staff
        .app
        .send(
            "PUT",
            &staff.archivist,
            &format!("/v1/tasks/{}/not-filmed", depot["id"].as_str().unwrap()),
            json!({"reason": "explosive_zone", "note": "油罐区无防爆记录仪"}),
        )
        .await;
    assert_eq!(status, 200, "{excused}");

    // After the day: what supervision finds.
    move_to(&staff.clock, cst(2026, 10, 12, 17));
    let period = "from=2026-10-01T00:00:00%2B08:00&to=2026-11-01T00:00:00%2B08:00";
    let findings = |report: &Value| -> Vec<(String, String, String)> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["external_id"].as_str().unwrap().to_owned(),
                    f["kind"].as_str().unwrap().to_owned(),
                    f["article"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let report = staff
        .app
        .get_json(
            &staff.archivist,
            &format!("/v1/supervision/findings?{period}"),
        )
        .await;
    // Tasks 104 and 105 are still to come; 101 lacks two moments; nobody filmed 102; 103
    // was not filmed for a reason art. 8 accepts.
    assert_eq!(report["tasks"], 5, "{report}");
    assert_eq!(report["recorded"], 1, "{report}");
    assert_eq!(
        findings(&report),
        vec![
            ("2026-JC-101".into(), "moments_missing".into(), "7".into()),
            ("2026-JC-103".into(), "not_filmed".into(), "8(1)".into()),
            ("2026-CF-102".into(), "no_recording".into(), "25(1)".into()),
        ],
        "{report}"
    );
    assert_eq!(report["findings"][0]["moments"], json!([5, 8]));
    assert_eq!(
        report["counts"],
        json!({"moments_missing": 1, "no_recording": 1, "not_filmed": 1})
    );

    // The penalty was filmed after all: the upload, late, belongs to the task as soon as it
    // is catalogued, and the finding becomes the moments nobody marked.
    staff
        .upload_by("DSJ-0003", "031236", "2026-10-12T14:20:00+08:00")
        .await;
    let report = staff
        .app
        .get_json(
            &staff.archivist,
            &format!("/v1/supervision/findings?{period}"),
        )
        .await;
    assert_eq!(report["recorded"], 2, "{report}");
    let penalty = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["external_id"] == "2026-CF-102")
        .unwrap();
    assert_eq!(penalty["kind"], "moments_missing", "{report}");
    assert_eq!(penalty["moments"], json!([1, 5, 6, 8]));

    // A week on: nobody has classified the day's recordings (art. 17), and another of the
    // penalty's, recorded that afternoon, arrives only now (art. 16).
    move_to(&staff.clock, cst(2026, 10, 19, 12));
    let late = staff
        .upload_by("DSJ-0003", "031236", "2026-10-12T15:00:00+08:00")
        .await;
    let report = staff
        .app
        .get_json(
            &staff.archivist,
            &format!("/v1/supervision/findings?{period}"),
        )
        .await;
    let clips_of = |number: &str, kind: &str| -> Vec<String> {
        let mut clips: Vec<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["external_id"] == number && f["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} for {number}: {report}"))["clips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        clips.sort();
        clips
    };
    let mut day = vec![landmark.clone(), borrowed.clone(), inspection.clone()];
    day.sort();
    assert_eq!(clips_of("2026-JC-101", "classification_overdue"), day);
    assert_eq!(clips_of("2026-CF-102", "late_upload"), vec![late.clone()]);
    // The late one is not yet due for classification; the first one is overdue.
    assert!(!clips_of("2026-CF-102", "classification_overdue").contains(&late));
    assert_eq!(report["counts"]["late_upload"], 1, "{report}");

    // Another bureau sees none of it.
    let other = token_with_role(&staff.app.app, "b2", Role::Archivist).await;
    let (status, _) = staff
        .app
        .send("GET", &other, &format!("/v1/tasks/{id}"), Value::Null)
        .await;
    assert_eq!(status, 404);
    let theirs = staff
        .app
        .get_json(&other, &format!("/v1/supervision/findings?{period}"))
        .await;
    assert_eq!(theirs["tasks"], 0, "{theirs}");
}

#[tokio::test]
async fn the_command_line_imports_a_plan_as_the_api_does() {
    let staff = staff_at(cst(2026, 10, 12, 8)).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan-2026.json");
    std::fs::write(
        &plan,
        json!([{"external_id": "2026-JC-201", "enterprise": "北郊加油站", "kind": "行政检查",
            "starts_at": "2026-10-14T09:00:00+08:00", "ends_at": "2026-10-14T10:00:00+08:00",
            "officers": ["031234"], "place": "北郊路8号"}])
        .to_string(),
    )
    .unwrap();
    let args = |plan: &std::path::Path| custodian::cli::TasksImportArgs {
        bureau: "b1".into(),
        plan: plan.to_owned(),
        record_rules: None,
        catalogue: custodian::cli::CatalogueLocation {
            data: Some(staff.app.data.path().to_owned()),
            database_url: None,
        },
    };
    assert_eq!(
        custodian::admin::tasks_import(&args(&plan)).await.unwrap(),
        (1, 1)
    );
    assert_eq!(
        custodian::admin::tasks_import(&args(&plan)).await.unwrap(),
        (1, 0)
    );
    assert_eq!(staff.task("2026-JC-201").await["place"], "北郊路8号");

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "任务编号,被检查单位,执法类型,开始时间,结束时间,执法人员\n\
         2026-JC-202,北郊加油站,行政检查,2026-10-15 09:00,2026-10-15 10:00,\n",
    )
    .unwrap();
    let refused = custodian::admin::tasks_import(&args(&bad))
        .await
        .unwrap_err();
    let message = format!("{refused:#}");
    assert!(
        message.contains("row 2") && message.contains("officer"),
        "{message}"
    );
}

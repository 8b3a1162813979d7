//! Rectification within a time limit (责令限期整改, art. 25) over HTTP on a manual clock: a
//! leader orders a finding mended by an officer within 2 working days (counted across a
//! weekend); the order falls overdue (in the list, and as a gauge); the officer answers late;
//! the leader reopens it with a new limit; the officer answers in time; the leader accepts.
//! Nobody else may order, answer or decide, a decided order does not move again, and every
//! step is in the order's exchange and the bureau's audit trail.

use serde_json::{json, Value};

use super::*;

#[tokio::test]
async fn a_finding_is_ordered_rectified_answered_late_reopened_and_closed() {
    // Thursday 2026-10-15, 10:00 in China.
    let staff = staff_at(cst(2026, 10, 15, 10)).await;
    let leader = token_with_role(&staff.app.app, "b1", Role::Leader).await;
    let officer = staff.officer_token("b1", "031234", None).await;
    let colleague = staff.officer_token("b1", "031235", None).await;
    let other_leader = token_with_role(&staff.app.app, "b2", Role::Leader).await;
    let send = |token: &str, path: &str, body: Value| {
        let (app, token, path) = (&staff.app, token.to_owned(), path.to_owned());
        async move { app.send("POST", &token, &path, body).await }
    };
    let order = json!({
        "finding_kind": "no_recording", "article": "25(1)", "subject": "031234",
        "reference": "2026-JC-103", "detail": "南港油库检查无执法记录，补充说明并整改",
        "responsible": "031234", "within_working_days": 2
    });

    // Only a leader orders, with a sane limit.
    for token in [&officer, &staff.archivist] {
        assert_eq!(
            send(token, "/v1/rectifications", order.clone()).await.0,
            403
        );
    }
    let mut bad = order.clone();
    bad["within_working_days"] = json!(0);
    assert_eq!(send(&leader, "/v1/rectifications", bad).await.0, 400);
    let mut bad = order.clone();
    bad["detail"] = json!("  ");
    assert_eq!(send(&leader, "/v1/rectifications", bad).await.0, 400);

    let (status, ordered) = send(&leader, "/v1/rectifications", order.clone()).await;
    assert_eq!(status, 201, "{ordered}");
    let id = ordered["id"].as_str().unwrap().to_owned();
    assert_eq!(ordered["state"], "ordered");
    // Two working days after Thursday: Friday and Monday, to the end of Monday in China (midnight).
    assert_eq!(ordered["due_at"], "2026-10-19T16:00:00Z", "{ordered}");
    assert_eq!(ordered["overdue"], false);
    assert_eq!(ordered["steps"][0]["step"], "order");
    // Another bureau's leader does not see it.
    assert_eq!(
        staff
            .app
            .get(&other_leader, &format!("/v1/rectifications/{id}"))
            .await
            .status(),
        404
    );

    // Tuesday: overdue, in the list and the gauge.
    move_to(&staff.clock, cst(2026, 10, 20, 9));
    let overdue = staff
        .app
        .get_json(&leader, "/v1/rectifications?overdue=true")
        .await;
    assert_eq!(overdue["items"][0]["id"], id.as_str(), "{overdue}");
    assert_eq!(overdue["items"][0]["overdue"], true);
    custodian_platform::testing::eventually(WAIT, "the overdue gauge", || async {
        let metrics = metrics_text(&staff.app.http, &staff.app.base).await;
        metrics
            .contains(r#"custodian_deadlines_overdue{bureau="b1",kind="rectification"} 1"#)
            .then_some(())
    })
    .await;

    // Only the officer it names answers; the leader cannot decide before the answer.
    let answer = json!({"text": "已补录情况说明，组织中队学习执法记录规定"});
    let path = |step: &str| format!("/v1/rectifications/{id}/{step}");
    assert_eq!(
        send(&colleague, &path("answer"), answer.clone()).await.0,
        403
    );
    assert_eq!(send(&leader, &path("answer"), answer.clone()).await.0, 403);
    let (status, early) = send(&leader, &path("accept"), json!({"text": "同意"})).await;
    assert_eq!(
        (status, early["error"]["code"].as_str()),
        (409, Some("rectification-state"))
    );
    let (status, answered) = send(&officer, &path("answer"), answer.clone()).await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(
        (
            answered["state"].as_str(),
            answered["answered_late"].as_bool()
        ),
        (Some("answered"), Some(true))
    );
    assert_eq!(
        send(&officer, &path("answer"), answer.clone()).await.0,
        409,
        "answered twice"
    );

    // Reopened with a new limit (a reopening needs one); the officer answers in time.
    assert_eq!(
        send(&leader, &path("reopen"), json!({"text": "说明不充分"}))
            .await
            .0,
        400
    );
    assert_eq!(
        send(
            &officer,
            &path("reopen"),
            json!({"text": "x", "within_working_days": 3})
        )
        .await
        .0,
        403
    );
    let (status, reopened) = send(
        &leader,
        &path("reopen"),
        json!({"text": "说明不充分，补充现场照片", "within_working_days": 3}),
    )
    .await;
    assert_eq!(status, 200, "{reopened}");
    assert_eq!(reopened["state"], "ordered");
    // Three working days after Tuesday 20th: Wednesday to Friday.
    assert_eq!(reopened["due_at"], "2026-10-23T16:00:00Z");
    assert_eq!(reopened["overdue"], false);
    move_to(&staff.clock, cst(2026, 10, 22, 16));
    let (status, _) = send(&officer, &path("answer"), json!({"text": "已补充现场照片"})).await;
    assert_eq!(status, 200);
    let (status, accepted) = send(
        &leader,
        &path("accept"),
        json!({"text": "整改到位，同意销号"}),
    )
    .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["state"], "accepted");
    assert!(accepted["closed_at"].is_string());
    // Late once, it stays on the record as late.
    assert_eq!(accepted["answered_late"], true);
    assert_eq!(
        send(
            &leader,
            &path("reopen"),
            json!({"text": "x", "within_working_days": 1})
        )
        .await
        .0,
        409
    );

    // The whole exchange, in order, with who and when; and in the trail.
    let steps: Vec<(String, String)> = accepted["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        ["order", "answer", "reopen", "answer", "accept"]
    );
    let trail = staff
        .app
        .app
        .ports
        .catalogue
        .audit_entries("b1", 0, 10_000)
        .await
        .unwrap();
    let entered: Vec<&str> = trail
        .iter()
        .filter(|e| {
            e.target.as_deref() == Some(id.as_str()) && e.action.starts_with("rectification.")
        })
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        entered,
        [
            "rectification.order",
            "rectification.answer",
            "rectification.reopen",
            "rectification.answer",
            "rectification.accept"
        ]
    );
    assert!(trail
        .iter()
        .any(|e| e.action == "rectification.answer" && e.detail.contains("late")));
    // Closed: no longer overdue anywhere.
    let listed = staff
        .app
        .get_json(&leader, "/v1/rectifications?state=accepted")
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        staff
            .app
            .get_json(&leader, "/v1/rectifications?overdue=true")
            .await["items"],
        json!([])
    );
    assert_eq!(
        staff
            .app
            .get(&leader, "/v1/rectifications?state=done")
            .await
            .status(),
        400
    );
}

//! Copy requests (art. 23) over HTTP on a moving clock: asked for by an officer, decided by a
//! leader who did not ask, downloaded by the party through a link that expires; every
//! download and every refused attempt in the bureau's audit trail. What the party downloads
//! is a copy made from the original with the request burned into every frame (real FFmpeg),
//! never the original; a deployment without a transcoder refuses approvals.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use common::video::{grey_clip, grey_frames, mean_abs_diff};
use common::*;
use custodian_core::roles::Role;
use custodian_core::Sha256Digest;
use custodian_platform::clock::{Clock, ManualClock};
use serde_json::{json, Value};

/// Each copy is transcoded on two shared cores, with other tests running.
const MEDIA_WAIT: Duration = Duration::from_secs(120);

impl TestApp {
    /// Uploads `body` as an officer of b1 and waits until the clip is catalogued.
    async fn upload_video(&self, body: Vec<u8>) -> String {
        let digest = Sha256Digest::of(&body);
        let response = self
            .put_upload(&self.token, body)
            .header("Content-Digest", digest.to_content_digest())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let receipt: Value = response.json().await.unwrap();
        let id = receipt["clip_id"].as_str().unwrap().to_owned();
        custodian_platform::testing::eventually(MEDIA_WAIT, "clip catalogued", || async {
            let record: Value = self
                .get(&self.token, &format!("/v1/clips/{id}"))
                .await
                .json()
                .await
                .ok()?;
            (record["state"] == "catalogued").then_some(())
        })
        .await;
        id
    }

    /// The party's GET of a download link, with no credential but the link.
    async fn fetch_link(&self, link: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{link}", self.base))
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn an_approved_copy_is_watermarked_from_the_original_and_its_link_expires() {
    let clock = Arc::new(ManualClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
    ));
    let app = spawn_standalone_with_media_at(clock.clone()).await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let auditor = token_with_role(&app.app, "b1", Role::Auditor).await;
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("grey.mp4");
    grey_clip(&source, &[]);
    let original = std::fs::read(&source).unwrap();
    let clip = app.upload_video(original.clone()).await;
    clock.advance(chrono::Duration::seconds(1));

    // The officer asks; an auditor may not. The party's name is untrusted text: filter-graph
    // and drawtext syntax in it is drawn as it is, never interpreted.
    let ask = json!({
        "clip_id": clip,
        "party": "当事人 张三的代理律师 %{pts} ';[x]drawtext=text=pwn:\\",
        "purpose": "行政复议"
    });
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

    // The party downloads with the link alone: "not ready" (409, Retry-After) while the
    // watermarked copy is made, then the copy.
    let not_ready = std::cell::Cell::new(0usize);
    let response = custodian_platform::testing::eventually(MEDIA_WAIT, "the copy made", || {
        let app = &app;
        let link = &link;
        let not_ready = &not_ready;
        async move {
            let response = app.fetch_link(link).await;
            if response.status() == 409 {
                assert!(response.headers().contains_key("retry-after"));
                let error: Value = response.json().await.unwrap();
                assert_eq!(error["error"]["code"], "copy-not-ready", "{error}");
                not_ready.set(not_ready.get() + 1);
                return None;
            }
            Some(response)
        }
    })
    .await;
    let waited = not_ready.get();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["custodian-copy-request"], id.as_str());
    assert_eq!(response.headers()["content-type"], "video/mp4");
    let declared = response.headers()["custodian-sha256"]
        .to_str()
        .unwrap()
        .to_owned();
    let copy = response.bytes().await.unwrap().to_vec();
    assert_eq!(Sha256Digest::of(&copy).to_hex(), declared);
    assert_ne!(copy, original, "the party never gets the original");
    let (_, recorded) = app
        .send(
            "GET",
            &app.token,
            &format!("/v1/copy-requests/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(recorded["copy_sha256"], declared.as_str());

    // Every frame carries the watermark across its middle; the viewing copy does not.
    let copy_path = work.path().join("copy.mp4");
    std::fs::write(&copy_path, &copy).unwrap();
    let view_path = work.path().join("view.mp4");
    let view = app.get(&app.token, &format!("/v1/clips/{clip}/view")).await;
    assert_eq!(view.status(), 200);
    std::fs::write(&view_path, view.bytes().await.unwrap()).unwrap();
    let middle = "240:60:200:150";
    let source_frames = grey_frames(&source, middle, 75);
    let copy_frames = grey_frames(&copy_path, middle, 75);
    let view_frames = grey_frames(&view_path, middle, 75);
    assert_eq!(copy_frames.len(), 75, "every frame of the copy");
    for (n, frame) in copy_frames.iter().enumerate() {
        assert!(
            mean_abs_diff(frame, &source_frames[n]) > 5.0,
            "frame {n} of the copy has no watermark"
        );
    }
    assert!(
        mean_abs_diff(&view_frames[0], &source_frames[0]) < 2.0,
        "the viewing copy is not watermarked"
    );
    // ... and the running clock of the viewing copy, top left.
    let clock_band = "320:32:0:0";
    let clocks = grey_frames(&copy_path, clock_band, 26);
    assert!(mean_abs_diff(&clocks[0], &grey_frames(&source, clock_band, 1)[0]) > 5.0);
    assert!(
        mean_abs_diff(&clocks[0], &clocks[25]) > 0.5,
        "the clock runs"
    );
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
    assert_eq!(downloads.len(), 2 + waited, "{downloads:?}");
    assert!(
        downloads[..waited]
            .iter()
            .all(|d| d.starts_with("not ready"))
            && downloads[waited].starts_with("served the watermarked copy sha256")
            && downloads[waited + 1].starts_with("refused"),
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

    // Neither the refused request nor the expired one left the original changed.
    let stored = app
        .stored_files()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("originals/"))
        .unwrap();
    assert_eq!(std::fs::read(&stored).unwrap(), original);
    // The copy lives beside the clip's other derived files.
    assert!(app
        .stored_files()
        .iter()
        .any(|p| p.ends_with(format!("copies/{id}.mp4"))));
    app.app.stop().await;
}

/// A standalone server without media workers (and no reconciler round during the test), a
/// clip, and a copy request for a party: the app, its clock, the clip's id and the request's.
async fn a_copy_requested_without_media_workers() -> (TestApp, Arc<ManualClock>, String, uuid::Uuid)
{
    let clock = Arc::new(ManualClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
    ));
    let catalog = custodian_catalog::CatalogConfig {
        reconcile_every: Duration::from_secs(3600),
        ..Default::default()
    };
    let app = spawn_standalone_at(Default::default(), catalog, clock.clone()).await;
    let clip = app
        .upload_recorded("2026-03-01T10:00:00+08:00", &[], &clock)
        .await;
    let (_, request) = app
        .send(
            "POST",
            &app.token,
            "/v1/copy-requests",
            json!({"clip_id": clip, "party": "律师", "purpose": "诉讼"}),
        )
        .await;
    let id = request["id"].as_str().unwrap().parse().unwrap();
    (app, clock, clip, id)
}

#[tokio::test]
async fn without_a_transcoder_a_copy_is_never_approved() {
    let (app, _clock, _clip, id) = a_copy_requested_without_media_workers().await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let (status, error) = app
        .send(
            "POST",
            &leader,
            &format!("/v1/copy-requests/{id}/approve"),
            json!({"reason": "同意"}),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("copies-unavailable")),
        "{error}"
    );
    let (_, after) = app
        .send(
            "GET",
            &app.token,
            &format!("/v1/copy-requests/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(after["state"], "pending");
    // Refusing still works.
    let (status, _) = app
        .send(
            "POST",
            &leader,
            &format!("/v1/copy-requests/{id}/refuse"),
            json!({"reason": "不予提供"}),
        )
        .await;
    assert_eq!(status, 200);
    app.app.stop().await;
}

#[tokio::test]
async fn an_approved_copy_not_made_in_time_is_announced_again_once_per_round() {
    use custodian_custody::{Custody, CustodyConfig, PartyCopies};
    use custodian_platform::bus::ConsumerSpec;
    use custodian_proto::Message;

    // No transcoder runs here, so nothing takes the announcements: they wait on the bus.
    let (app, clock, clip, id) = a_copy_requested_without_media_workers().await;
    let ports = custodian_platform::Ports {
        registry: prometheus::Registry::new(),
        ..app.app.ports.clone()
    };
    let key = custodian_custody::read_key(&app.data.path().join("audit-signing.key")).unwrap();
    let custody =
        Custody::with_party_copies(ports, key, &CustodyConfig::default(), PartyCopies::Made)
            .unwrap();
    let now = clock.now();
    assert!(app
        .app
        .ports
        .catalogue
        .decide_copy_request(
            id,
            true,
            "leader",
            now,
            "同意",
            Some(("0".repeat(64).as_str(), now + chrono::Duration::hours(72))),
            None
        )
        .await
        .unwrap());

    assert_eq!(
        custody.announce_stuck_copies().await.unwrap(),
        0,
        "not stuck yet"
    );
    clock.advance(chrono::Duration::minutes(11));
    assert_eq!(custody.announce_stuck_copies().await.unwrap(), 1);
    assert_eq!(
        custody.announce_stuck_copies().await.unwrap(),
        0,
        "once per round"
    );
    clock.advance(chrono::Duration::minutes(10));
    assert_eq!(custody.announce_stuck_copies().await.unwrap(), 1);

    let mut subscription = app
        .app
        .ports
        .bus
        .subscribe(&ConsumerSpec {
            name: "test-copies".into(),
            topic: custodian_core::events::Topic::CopyApproved,
            ack_wait: Duration::from_secs(30),
            max_deliver: 1,
        })
        .await
        .unwrap();
    for _ in 0..2 {
        let delivery = tokio::time::timeout(WAIT, subscription.next())
            .await
            .unwrap()
            .unwrap();
        let event = custodian_proto::v1::CopyApproved::decode(delivery.payload).unwrap();
        assert_eq!(event.request_id, id.to_string());
        assert_eq!(event.clip_id, clip);
        assert_eq!(event.bureau_id, "b1");
        delivery.acker.ack().await.unwrap();
    }

    // Once the copy is recorded, nothing is announced any more.
    app.app
        .ports
        .catalogue
        .record_copy_made(id, &"1".repeat(64), 10, None, clock.now())
        .await
        .unwrap();
    clock.advance(chrono::Duration::minutes(10));
    assert_eq!(custody.announce_stuck_copies().await.unwrap(), 0);
    app.app.stop().await;
}

/// Art. 23 excepts what must legally be kept confidential: no copy of an internal or secret
/// clip is asked for or approved, including one made confidential after the request.
#[tokio::test]
async fn confidential_footage_is_never_copied_for_a_party() {
    let (app, _clock, clip, id) = a_copy_requested_without_media_workers().await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    for level in ["internal", "secret"] {
        let (status, set) = app
            .send(
                "PUT",
                &leader,
                &format!("/v1/clips/{clip}/confidentiality"),
                json!({"level": level}),
            )
            .await;
        assert_eq!(status, 200, "{set}");
        let (status, error) = app
            .send(
                "POST",
                &leader,
                "/v1/copy-requests",
                json!({"clip_id": clip, "party": "律师", "purpose": "诉讼"}),
            )
            .await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (409, Some("confidential")),
            "{level}: {error}"
        );
        // The request made while the clip was ordinary is not approved now.
        let other_leader = token_with_role(&app.app, "b1", Role::Leader).await;
        let (status, error) = app
            .send(
                "POST",
                &other_leader,
                &format!("/v1/copy-requests/{id}/approve"),
                json!({"reason": "同意"}),
            )
            .await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (409, Some("confidential")),
            "{level}: {error}"
        );
    }
    let (_, after) = app
        .send(
            "GET",
            &leader,
            &format!("/v1/copy-requests/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(after["state"], "pending");
    app.app.stop().await;
}

/// `GET /v1/copy-requests`: a leader finds what waits for approval, newest first and by
/// state, page by page; another bureau sees none of them, and a clip the caller may not see
/// hides its requests (party and purpose included).
#[tokio::test]
async fn copy_requests_are_listed_by_state_newest_first_and_only_where_visible() {
    let (app, clock, first_clip, first) = a_copy_requested_without_media_workers().await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let mut requests = vec![first.to_string()];
    let mut clips = vec![first_clip];
    for hour in ["11", "12"] {
        clock.advance(chrono::Duration::minutes(1));
        let clip = app
            .upload_recorded(&format!("2026-03-01T{hour}:00:00+08:00"), &[], &clock)
            .await;
        let (status, request) = app
            .send(
                "POST",
                &app.token,
                "/v1/copy-requests",
                json!({"clip_id": clip, "party": format!("当事人{hour}"), "purpose": "复议"}),
            )
            .await;
        assert_eq!(status, 201, "{request}");
        requests.push(request["id"].as_str().unwrap().to_owned());
        clips.push(clip);
    }
    let (status, _) = app
        .send(
            "POST",
            &leader,
            &format!("/v1/copy-requests/{}/refuse", requests[1]),
            json!({"reason": "与本案无关"}),
        )
        .await;
    assert_eq!(status, 200);

    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let pending = app
        .get_json(&leader, "/v1/copy-requests?state=pending")
        .await;
    assert_eq!(
        ids(&pending),
        vec![requests[2].clone(), requests[0].clone()]
    );
    let refused = app
        .get_json(&leader, "/v1/copy-requests?state=refused")
        .await;
    assert_eq!(ids(&refused), vec![requests[1].clone()]);
    assert_eq!(refused["items"][0]["reason"], "与本案无关");

    // Page by page, each request once.
    let mut seen = Vec::new();
    let mut path = "/v1/copy-requests?limit=1".to_owned();
    loop {
        let page = app.get_json(&leader, &path).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/copy-requests?limit=1&cursor={cursor}"),
            None => break,
        }
        assert!(seen.len() <= 3, "paging does not end: {seen:?}");
    }
    let mut newest_first = requests.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    // Another bureau sees none; a bad state is refused.
    let other = token_for(&app.app, "b2").await;
    assert!(ids(&app.get_json(&other, "/v1/copy-requests").await).is_empty());
    let (status, error) = app
        .send(
            "GET",
            &leader,
            "/v1/copy-requests?state=granted",
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("invalid-request"))
    );

    // A clip made secret hides its request from the officer, not from the leader.
    let (status, _) = app
        .send(
            "PUT",
            &leader,
            &format!("/v1/clips/{}/confidentiality", clips[2]),
            json!({"level": "secret"}),
        )
        .await;
    assert_eq!(status, 200);
    let officers = app.get_json(&app.token, "/v1/copy-requests").await;
    assert_eq!(
        ids(&officers),
        vec![requests[1].clone(), requests[0].clone()]
    );
    assert!(!officers.to_string().contains("当事人12"), "{officers}");
    let leaders = app.get_json(&leader, "/v1/copy-requests").await;
    assert_eq!(ids(&leaders).len(), 3);
    app.app.stop().await;
}

/// The sound of `path` as mono 16-bit samples at 48 kHz.
fn samples(path: &std::path::Path) -> Vec<i16> {
    let output = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-vn", "-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Root mean square of the samples from `from` to `to` seconds, as a fraction of full scale.
fn rms(samples: &[i16], from: f64, to: f64) -> f64 {
    let window = &samples[(from * 48_000.0) as usize..(to * 48_000.0) as usize];
    (window.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / window.len() as f64).sqrt()
        / f64::from(i16::MAX)
}

/// Art. 24: a party's copy hides what its redaction plan says, where and when it says, and
/// nothing else. A plan that does not fit the clip is refused and leaves nothing; the leader
/// approves naming the plan's hash, and a plan changed since, or never reviewed, is not
/// approved; the plan is kept on the request and entered in the trail.
#[tokio::test]
async fn a_party_copy_hides_what_its_redaction_plan_says_and_nothing_else() {
    let app = spawn_standalone_with_media().await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("scene.mp4");
    // Texture everywhere (a blurred region differs from what it hid) and a steady tone.
    common::video::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25:duration=4",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=4",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        source.to_str().unwrap(),
    ]);
    let clip = app.upload_video(std::fs::read(&source).unwrap()).await;
    let (status, request) = app
        .send(
            "POST",
            &app.token,
            "/v1/copy-requests",
            json!({"clip_id": clip, "party": "某公司代理律师", "purpose": "行政复议"}),
        )
        .await;
    assert_eq!(status, 201, "{request}");
    let id = request["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/copy-requests/{id}/redaction");

    // Plans that do not fit the clip: refused with what is wrong, nothing kept.
    let one = |x: f64, y: f64, start: f64, end: f64| {
        json!({"shape": "rectangle", "method": "box", "start": start, "end": end,
               "width": 0.25, "height": 0.25, "keyframes": [{"at": start, "x": x, "y": y}]})
    };
    for (plan, why) in [
        (
            json!({"regions": [one(0.9, 0.0, 0.0, 1.0)]}),
            "outside the frame",
        ),
        (
            json!({"regions": [one(0.0, 0.0, 1.0, 10.0)]}),
            "past the end",
        ),
        (
            json!({"sound_spans": [{"start": 3.0, "end": 2.0, "sound": "mute"}]}),
            "backwards",
        ),
        (
            json!({"regions": vec![one(0.0, 0.0, 0.0, 1.0); 10_000]}),
            "10,000 regions",
        ),
    ] {
        let (status, error) = app.send("PUT", &app.token, &path, plan).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (400, Some("invalid-redaction")),
            "{why}: {error}"
        );
    }
    let (_, unchanged) = app
        .send(
            "GET",
            &app.token,
            &format!("/v1/copy-requests/{id}"),
            Value::Null,
        )
        .await;
    assert!(
        unchanged["redaction"].is_null() && unchanged["redaction_sha256"].is_null(),
        "{unchanged}"
    );

    // A face-sized region top right from 1 s to 3 s, and the sound muted from 1 s to 2 s.
    let plan = json!({
        "regions": [{"shape": "rectangle", "method": "blur", "start": 1.0, "end": 3.0,
                     "width": 0.25, "height": 0.25, "keyframes": [{"at": 1.0, "x": 0.7, "y": 0.05}]}],
        "sound_spans": [{"start": 1.0, "end": 2.0, "sound": "mute"}]
    });
    let (status, planned) = app.send("PUT", &app.token, &path, plan.clone()).await;
    assert_eq!(status, 200, "{planned}");
    let sha = planned["redaction_sha256"].as_str().unwrap().to_owned();
    assert_eq!(planned["redaction"]["regions"][0]["method"], "blur");
    let entries = app
        .app
        .ports
        .catalogue
        .audit_entries("b1", 0, 10_000)
        .await
        .unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.action == "copy.redaction" && e.detail.contains(&sha)),
        "the plan is in the trail"
    );

    // The leader approves the plan reviewed, by its hash, and no other.
    let approve = format!("/v1/copy-requests/{id}/approve");
    for named in [None, Some("0".repeat(64))] {
        let (status, error) = app
            .send(
                "POST",
                &leader,
                &approve,
                json!({"reason": "同意", "redaction_sha256": named}),
            )
            .await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (409, Some("redaction-not-reviewed")),
            "{error}"
        );
    }
    let (status, decided) = app
        .send(
            "POST",
            &leader,
            &approve,
            json!({"reason": "同意", "redaction_sha256": sha}),
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    // Decided: the plan is fixed.
    assert_eq!(app.send("PUT", &app.token, &path, plan).await.0, 409);
    let link = decided["download_url"].as_str().unwrap().to_owned();
    let response = custodian_platform::testing::eventually(MEDIA_WAIT, "the copy made", || async {
        let response = app.fetch_link(&link).await;
        (response.status() == 200).then_some(response)
    })
    .await;
    let copy_path = work.path().join("copy.mp4");
    std::fs::write(&copy_path, response.bytes().await.unwrap()).unwrap();
    let view_path = work.path().join("view.mp4");
    let view = app.get(&app.token, &format!("/v1/clips/{clip}/view")).await;
    std::fs::write(&view_path, view.bytes().await.unwrap()).unwrap();

    // The region (448..608 x 18..108 of 640x360) against the viewing copy, frame by frame:
    // hidden from 1 s to 3 s (frames 25 to 75), untouched before and after; and beside it,
    // between the clock and the region, untouched throughout.
    let region = grey_frames(&copy_path, "160:90:448:18", 100);
    let region_view = grey_frames(&view_path, "160:90:448:18", 100);
    let beside = grey_frames(&copy_path, "100:90:340:18", 100);
    let beside_view = grey_frames(&view_path, "100:90:340:18", 100);
    assert_eq!(region.len(), 100);
    for n in 0..100 {
        let hidden = mean_abs_diff(&region[n], &region_view[n]);
        match n {
            // Measured: about 7 inside the span; outside it the encoder's noise, 0.5 to 1.6.
            26..=74 => assert!(
                hidden > 4.0,
                "frame {n}: the region is not hidden ({hidden})"
            ),
            0..=23 | 77..=99 => assert!(
                hidden < 3.0,
                "frame {n}: hidden outside its span ({hidden})"
            ),
            _ => {}
        }
        let around = mean_abs_diff(&beside[n], &beside_view[n]);
        assert!(
            around < 3.0,
            "frame {n}: the picture beside the region changed ({around})"
        );
    }
    // Silent where muted, the tone as it was elsewhere.
    let sound = samples(&copy_path);
    let sound_view = samples(&view_path);
    assert!(
        rms(&sound, 1.1, 1.9) < 0.001,
        "muted span: {}",
        rms(&sound, 1.1, 1.9)
    );
    for (from, to) in [(0.2, 0.9), (2.2, 3.5)] {
        let (copy, view) = (rms(&sound, from, to), rms(&sound_view, from, to));
        assert!(
            view > 0.05 && (copy / view - 1.0).abs() < 0.1,
            "{from}-{to} s: {copy} against {view}"
        );
    }
    let (_, recorded) = app
        .send(
            "GET",
            &app.token,
            &format!("/v1/copy-requests/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(recorded["redaction_sha256"], sha.as_str());
    assert!(recorded["copy_sha256"].is_string());
}

//! The web console, used as people use it: a real browser (headless chromium) against the
//! standalone server with real clips made by the ffmpeg command line, and the same pages
//! attacked over plain HTTP the way a hostile page or a curious officer would.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::path::Path;
use std::time::Duration;

use browser::{Browser, ARROW_DOWN, CONTROL, ENTER, RELEASE, TAB};
use common::video::{ffmpeg, test_clip};
use common::TestApp;
use custodian_core::roles::{OfficerIdentity, Role};
use custodian_core::{BureauId, LocalId, Sha256Digest};
use serde_json::Value;

const PASSWORD: &str = "console-test-password";
const WAIT: Duration = Duration::from_secs(120);

async fn add_person(app: &TestApp, bureau: &str, name: &str, role: Role, officer: Option<&str>) {
    let hash = custodian_core::users::hash_password(PASSWORD, [9; 16]).unwrap();
    let identity = OfficerIdentity {
        officer: officer.map(|o| LocalId::parse("officer", o).unwrap()),
        team: None,
    };
    app.app
        .ports
        .catalogue
        .create_user(
            &BureauId::parse(bureau).unwrap(),
            name,
            role,
            &identity,
            &hash,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
}

/// Uploads a file as the officer's station with its digest; answers the clip id.
async fn upload(app: &TestApp, token: &str, path: &Path, recorded_at: &str) -> String {
    let body = std::fs::read(path).unwrap();
    let response = app
        .http
        .put(format!("{}/v1/uploads", app.base))
        .bearer_auth(token)
        .header(
            "Content-Digest",
            Sha256Digest::of(&body).to_content_digest(),
        )
        .query(&[
            ("device", "DSJ-0001"),
            ("officer", "031234"),
            ("recorded_at", recorded_at),
            ("file_name", "DSJ-0001_031234.mp4"),
        ])
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let receipt: Value = response.json().await.unwrap();
    receipt["clip_id"].as_str().unwrap().to_owned()
}

async fn catalogued(app: &TestApp, token: &str, id: &str) -> Value {
    custodian_platform::testing::eventually(WAIT, &format!("clip {id} catalogued"), || async {
        let record: Value = app
            .get(token, &format!("/v1/clips/{id}"))
            .await
            .json()
            .await
            .ok()?;
        (record["state"] == "catalogued").then_some(record)
    })
    .await
}

/// Signs in through the form, typing like a person.
async fn sign_in(browser: &Browser, base: &str, bureau: &str, name: &str) {
    browser.goto(&format!("{base}/")).await;
    assert!(
        browser.url().await.contains("/login?next="),
        "not sent to sign in"
    );
    let field = browser.find("#bureau").await;
    browser.type_into(&field, bureau).await;
    let field = browser.find("#username").await;
    browser.type_into(&field, name).await;
    let field = browser.find("#password").await;
    browser
        .type_into(&field, &format!("{PASSWORD}{ENTER}"))
        .await;
    browser
        .wait_for(
            "the work page",
            WAIT,
            "return document.getElementById('waiting-count') !== null",
        )
        .await;
}

/// Signs in over plain HTTP as a browser does: the sign-in page first (its form token and
/// the login cookie that goes with it), then the form.
async fn post_sign_in(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
    next: Option<&str>,
) -> reqwest::Response {
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    let login_cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        login_cookie.starts_with("custodian_login="),
        "{login_cookie}"
    );
    let html = page.text().await.unwrap();
    let check = html
        .split("name=\"login_check\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let mut form = vec![
        ("bureau", "b1"),
        ("username", name),
        ("password", password),
        ("login_check", check.as_str()),
    ];
    if let Some(next) = next {
        form.push(("next", next));
    }
    http.post(format!("{base}/login"))
        .header("cookie", login_cookie)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Sign-in, today's work, three clips classified by keyboard alone, the viewing copy playing
/// with its subtitles, a finding clicked to seek the player, and the English switch.
#[tokio::test]
async fn an_officer_signs_in_classifies_by_keyboard_and_watches_in_a_real_browser() {
    let app = common::spawn_standalone_with_media().await;
    let base = app.base.clone();
    add_person(&app, "b1", "li.lei", Role::Officer, Some("031234")).await;

    // Three clips of the officer's camera, one with frames 2.0-3.0 s cut out (a finding).
    let work = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for (n, hour) in ["09", "10", "11"].iter().enumerate() {
        let path = work.path().join(format!("clip{n}.mp4"));
        if n == 0 {
            ffmpeg(&[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25:duration=6",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=6",
                "-vf",
                "select='not(between(t,2,3))'",
                "-fps_mode",
                "passthrough",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-shortest",
                path.to_str().unwrap(),
            ]);
        } else {
            test_clip(&path, "320x240", 25, 4, &["-preset", "veryfast"]);
        }
        let recorded = format!("2026-11-27T{hour}:00:00+08:00");
        ids.push(upload(&app, &app.token, &path, &recorded).await);
    }
    for id in &ids {
        catalogued(&app, &app.token, id).await;
    }

    let browser = Browser::start().await;
    sign_in(&browser, &base, "b1", "li.lei").await;
    let page = browser.text().await;
    assert!(
        page.contains("待办"),
        "the work page is in Chinese by default: {page}"
    );
    assert_eq!(
        browser
            .eval("return document.getElementById('waiting-count').textContent")
            .await,
        "3"
    );
    for id in &ids {
        browser.find(&format!("a[href='/clips/{id}']")).await;
    }
    browser.screenshot("work").await;

    // The first clip's page: the viewing copy plays with its subtitle track loaded, and the
    // finding on the timeline seeks the player to where the frames are missing.
    browser.goto(&format!("{base}/clips/{}", ids[0])).await;
    browser
        .wait_for(
            "the subtitle cues",
            WAIT,
            "const v = document.getElementById('player'); \
            return v && v.textTracks[0].cues && v.textTracks[0].cues.length > 0",
        )
        .await;
    browser
        .eval("const v = document.getElementById('player'); v.muted = true; v.play(); return true")
        .await;
    browser
        .wait_for(
            "the video to play",
            WAIT,
            "return document.getElementById('player').currentTime > 0.5",
        )
        .await;
    let marks = browser
        .wait_for(
            "the findings drawn on the timeline",
            WAIT,
            "return Number(document.getElementById('timeline').dataset.marks || 0) > 0 && \
             document.getElementById('timeline').dataset.marks",
        )
        .await;
    // One mark per finding that has a place in the clip, as the list below the player has.
    let located = browser
        .eval("return String(document.querySelectorAll('button.seek').length)")
        .await;
    assert_eq!(marks, located);
    assert!(
        browser.text().await.contains("时间戳中断"),
        "the gap is listed by name"
    );
    browser
        .eval("document.getElementById('player').pause(); return true")
        .await;
    browser.screenshot("clip").await;
    let seek = browser.find("button.seek[data-seconds^='2']").await;
    browser.click(&seek).await;
    let at = browser
        .wait_for(
            "the player at the finding",
            WAIT,
            "const t = document.getElementById('player').currentTime; \
             return Math.abs(t - 2.0) < 0.3 && t",
        )
        .await;
    assert!((at.as_f64().unwrap() - 2.0).abs() < 0.3, "seeked to {at}");

    // By keyboard alone: the category list has the focus, the arrow picks a category, Tab
    // reaches the description, Ctrl+Enter saves and opens the next unclassified clip.
    let categories: Vec<String> = app
        .get_json(&app.token, "/v1/categories")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    for (n, id) in ids.iter().enumerate() {
        browser.goto(&format!("{base}/clips/{id}")).await;
        let focused = browser.focused().await;
        assert_eq!(
            focused,
            browser.find("#category").await,
            "the form opens on the category"
        );
        browser.type_into(&focused, ARROW_DOWN).await;
        browser.type_into(&focused, TAB).await;
        let description = browser.focused().await;
        assert_eq!(description, browser.find("#description").await);
        browser
            .type_into(
                &description,
                &format!("厂区东门 检查记录 {n}{CONTROL}{ENTER}{RELEASE}"),
            )
            .await;
        browser
            .wait_for(
                "the save",
                WAIT,
                &format!(
                    "return !location.pathname.endsWith('{id}') || \
                 document.querySelector('.notice') !== null"
                ),
            )
            .await;
    }
    let after = browser.url().await;
    assert!(
        after.ends_with("/?notice=all_done"),
        "after the last clip: {after}"
    );
    for (n, id) in ids.iter().enumerate() {
        let record = app.get_json(&app.token, &format!("/v1/clips/{id}")).await;
        assert_eq!(
            record["description"],
            format!("厂区东门 检查记录 {n}"),
            "{record}"
        );
        assert_eq!(
            record["category"], categories[1],
            "the second category, by the arrow key"
        );
        assert!(
            record["classified_by"].as_str().unwrap().contains("li.lei"),
            "{record}"
        );
    }
    browser.screenshot("all-done").await;

    // Every page view was an API request of the officer's, in the bureau's audit trail.
    let auditor = common::token_with_role(&app.app, "b1", Role::Auditor).await;
    let trail = app.get_json(&auditor, "/v1/audit?limit=1000").await;
    let viewed = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == ids[0].as_str() && e["actor"].to_string().contains("li.lei"))
        .count();
    assert!(
        viewed >= 3,
        "the officer's looks at the clip are not in the trail: {trail}"
    );

    // The switch on every page turns the console to English and keeps it there.
    let switch = browser.find("a.lang").await;
    browser.click(&switch).await;
    browser
        .wait_for(
            "English",
            WAIT,
            "return document.documentElement.lang === 'en'",
        )
        .await;
    assert!(browser.text().await.contains("Today's work"));
    browser.goto(&format!("{base}/clips")).await;
    assert!(browser.text().await.contains("Search clips"));
    browser.screenshot("search-en").await;
    browser.quit().await;
}

/// What a hostile page, a guess or a curious officer gets: a form without its CSRF token is
/// refused and changes nothing, another bureau's clip looks exactly like a missing one, the
/// session cookie is out of scripts' and other sites' reach, and no page is cached.
#[tokio::test]
async fn the_console_refuses_forged_forms_and_hides_other_bureaus() {
    let app = common::spawn_standalone().await;
    add_person(&app, "b1", "li.lei", Role::Officer, Some("031234")).await;
    let other_bureau = common::token_for(&app.app, "b2").await;
    let mine = app.upload(common::sample(2000)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = {
        let response = app
            .put_upload(&other_bureau, common::sample(2000))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["clip_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = post_sign_in(&http, &app.base, "li.lei", PASSWORD, None).await;
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();

    // A wrong password says no more than that, and sets nothing.
    let refused = post_sign_in(&http, &app.base, "li.lei", "nope", None).await;
    assert_eq!(refused.status(), 401);
    assert!(
        refused
            .headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("custodian_session")),
        "a refused sign-in sets no session"
    );

    // Another site's page posting the sign-in form (login CSRF: signing the person in as
    // the attacker) has no login cookie of ours to send: refused before the password is
    // tried, no session set.
    let forged = http
        .post(format!("{}/login", app.base))
        .form(&[
            ("bureau", "b1"),
            ("username", "li.lei"),
            ("password", PASSWORD),
            ("login_check", "0123456789abcdef0123456789abcdef"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged
        .headers()
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("custodian_session")));

    // A classification posted without the CSRF token (as another site's page would) is
    // refused and the clip stays unclassified; with the page's token it is saved.
    let page = http
        .get(format!("{}/clips/{mine}", app.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    for header in ["content-security-policy", "x-frame-options"] {
        assert!(page.headers().contains_key(header), "{header}");
    }
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let form = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("category", "行政检查".to_owned()),
            ("description", "门口".to_owned()),
        ]
    };
    for forged in ["", "0123456789abcdef0123456789abcdef"] {
        let answer = http
            .post(format!("{}/clips/{mine}/classification", app.base))
            .header("cookie", &session)
            .form(&form(forged))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "csrf {forged:?}");
    }
    let record = app.get_json(&app.token, &format!("/v1/clips/{mine}")).await;
    assert!(
        record["classified_at"].is_null(),
        "a forged form classified: {record}"
    );
    let saved = http
        .post(format!("{}/clips/{mine}/classification", app.base))
        .header("cookie", &session)
        .form(&form(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let record = app.get_json(&app.token, &format!("/v1/clips/{mine}")).await;
    assert_eq!(record["description"], "门口");

    // Another bureau's clip, typed into the address, answers like one that does not exist,
    // and neither its page nor its media says anything of it.
    let missing = "01a2289e-370f-748a-8ef8-21bb540257a0";
    let mut answers = Vec::new();
    for id in [theirs.as_str(), missing] {
        let page = http
            .get(format!("{}/clips/{id}", app.base))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        let status = page.status();
        let body = page.text().await.unwrap().replace(id, "ID");
        let poster = http
            .get(format!("{}/clips/{id}/poster", app.base))
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .status();
        answers.push((status, body, poster));
    }
    assert_eq!(answers[0].0, 404);
    assert_eq!(
        answers[0], answers[1],
        "another bureau's clip differs from a missing one"
    );

    // Signed out, a page leads to the sign-in and back; the media are not served at all.
    let anonymous = http
        .get(format!("{}/clips/{mine}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        anonymous.headers()["location"],
        format!("/login?next=%2Fclips%2F{mine}")
    );
    let media = http
        .get(format!("{}/clips/{mine}/view", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(media.status(), 401);

    // Signing in never sends a person to another site.
    let away = post_sign_in(
        &http,
        &app.base,
        "li.lei",
        PASSWORD,
        Some("//evil.example/"),
    )
    .await;
    assert_eq!(away.headers()["location"], "/");

    // A leader sees the party's copy request waiting on today's work and refuses it there,
    // with the form's CSRF token; the officer's own work page offers no decision at all.
    add_person(&app, "b1", "wang.ling", Role::Leader, None).await;
    let (status, request) = app
        .send(
            "POST",
            &app.token,
            "/v1/copy-requests",
            serde_json::json!({"clip_id": mine, "party": "张三律师", "purpose": "行政复议"}),
        )
        .await;
    assert_eq!(status, 201, "{request}");
    let request = request["id"].as_str().unwrap().to_owned();
    let officer_page = http
        .get(format!("{}/", app.base))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !officer_page.contains("张三律师"),
        "an officer is offered the decision"
    );
    let leader = post_sign_in(&http, &app.base, "wang.ling", PASSWORD, None).await;
    let leader = leader.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let work = http
        .get(format!("{}/", app.base))
        .header("cookie", &leader)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        work.contains("张三律师") && work.contains(&request),
        "{work}"
    );
    let leader_csrf = work
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let refused = http
        .post(format!("{}/copy-requests/{request}/refuse", app.base))
        .header("cookie", &leader)
        .form(&[("csrf", leader_csrf.as_str()), ("reason", "与本案无关")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 303);
    assert_eq!(refused.headers()["location"], "/?notice=decided");
    let decided = app
        .get_json(&app.token, &format!("/v1/copy-requests/{request}"))
        .await;
    assert_eq!(
        (decided["state"].as_str(), decided["reason"].as_str()),
        (Some("refused"), Some("与本案无关"))
    );

    // An archivist opens a case, closes it on the date entered and files it, from the cases
    // page; the filing deadline shows while it is closed. A form without its token does nothing.
    add_person(&app, "b1", "zhao.min", Role::Archivist, None).await;
    let archivist = post_sign_in(&http, &app.base, "zhao.min", PASSWORD, None).await;
    let archivist = archivist.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let cases_page = |query: &'static str| {
        let (http, base, cookie) = (http.clone(), app.base.clone(), archivist.clone());
        async move {
            http.get(format!("{base}/cases{query}"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let page = cases_page("").await;
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let forged = http
        .post(format!("{}/cases", app.base))
        .header("cookie", &archivist)
        .form(&[("reference", "伪造"), ("title", "伪造")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let opened = http
        .post(format!("{}/cases", app.base))
        .header("cookie", &archivist)
        .form(&[
            ("csrf", token.as_str()),
            ("reference", "应急罚〔2026〕7号"),
            ("title", "某化工公司未按规定检查"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(opened.headers()["location"], "/cases?notice=case_saved");
    let page = cases_page("?state=open").await;
    assert!(!page.contains("伪造"), "the forged form opened a case");
    let case = page
        .split("id=\"case-")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no case listed: {page}"))
        .to_owned();
    let today = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string();
    let closed = http
        .post(format!("{}/cases/{case}/close", app.base))
        .header("cookie", &archivist)
        .form(&[("csrf", token.as_str()), ("closed_on", today.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(closed.headers()["location"], "/cases?notice=case_saved");
    let page = cases_page("?state=closed").await;
    assert!(page.contains(&case) && page.contains(&today), "{page}");
    assert!(
        page.contains("剩余"),
        "the filing deadline is shown: {page}"
    );
    let filed = http
        .post(format!("{}/cases/{case}/file", app.base))
        .header("cookie", &archivist)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(filed.headers()["location"], "/cases?notice=case_saved");
    let record = app.get_json(&app.token, &format!("/v1/cases/{case}")).await;
    assert_eq!(record["state"], "filed", "{record}");
    assert_eq!(record["closed_on"], today.as_str());

    // The cameras page: the registry, and the teams short of two cameras (art. 15), a team
    // with none at all among them.
    let archivist_token = common::token_with_role(&app.app, "b1", Role::Archivist).await;
    let (status, _) = app
        .send(
            "PUT",
            &archivist_token,
            "/v1/devices/DSJ-0007",
            serde_json::json!({"team": "一中队", "officer": "031234"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .send(
            "PUT",
            &archivist_token,
            "/v1/teams/二中队",
            serde_json::json!({}),
        )
        .await;
    assert!(status == 200 || status == 201, "team registered: {status}");
    let devices = http
        .get(format!("{}/devices", app.base))
        .header("cookie", &archivist)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        devices.contains("DSJ-0007") && devices.contains("031234"),
        "{devices}"
    );
    assert!(devices.contains("1 / 2</span> 一中队"), "{devices}");
    assert!(devices.contains("0 / 2</span> 二中队"), "{devices}");
}

/// Every kind of record on its page, as an archivist sees it: a recording plays with its
/// waveform, a photo shows upright, a document shows its first page and is offered for
/// download, and a scanned page is typed as a document from the classification form.
#[tokio::test]
async fn recordings_photos_and_documents_show_as_what_they_are_in_a_real_browser() {
    let app = common::spawn_standalone_with_media().await;
    let base = app.base.clone();
    add_person(&app, "b1", "wang.fang", Role::Archivist, None).await;
    let work = tempfile::tempdir().unwrap();
    let recording = work.path().join("memo.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=4",
        "-c:a",
        "aac",
        recording.to_str().unwrap(),
    ]);
    let photo = work.path().join("scan.jpg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=480x640",
        "-frames:v",
        "1",
        photo.to_str().unwrap(),
    ]);
    let document = work.path().join("notice.pdf");
    std::fs::write(
        &document,
        custodian_platform::testing::pdf::text_pdf(&[vec!["Inspection notice".to_owned()]]),
    )
    .unwrap();
    let mut ids = Vec::new();
    for path in [&recording, &photo, &document] {
        let id = upload(&app, &app.token, path, "2026-11-27T09:00:00+08:00").await;
        catalogued(&app, &app.token, &id).await;
        ids.push(id);
    }
    let browser = Browser::start().await;
    sign_in(&browser, &base, "b1", "wang.fang").await;

    // The recording: its kind said, its waveform drawn, its sound playing.
    browser.goto(&format!("{base}/clips/{}", ids[0])).await;
    assert_eq!(
        browser
            .eval("return document.getElementById('kind').textContent.trim()")
            .await,
        "录音"
    );
    browser
        .wait_for(
            "the waveform",
            WAIT,
            "const w = document.querySelector('img.waveform'); return w && w.complete && w.naturalWidth === 960",
        )
        .await;
    browser
        .eval("const a = document.getElementById('player'); a.muted = true; a.play(); return true")
        .await;
    browser
        .wait_for(
            "the recording to play",
            WAIT,
            "const a = document.getElementById('player'); return a.tagName === 'AUDIO' && a.currentTime > 0.5",
        )
        .await;
    browser.screenshot("recording").await;

    // The photo, upright (portrait as taken), then typed as a document (a scanned page).
    browser.goto(&format!("{base}/clips/{}", ids[1])).await;
    let size = browser
        .wait_for(
            "the photo",
            WAIT,
            "const p = document.getElementById('photo'); \
             return p && p.complete && p.naturalWidth > 0 && [p.naturalWidth, p.naturalHeight]",
        )
        .await;
    assert!(size[1].as_u64() > size[0].as_u64(), "portrait: {size}");
    browser.screenshot("photo").await;
    let select = browser.find("#document_type").await;
    browser.click(&select).await;
    browser
        .eval(
            "const s = document.getElementById('document_type'); s.value = '送达回证'; \
             document.getElementById('category').selectedIndex = 0; \
             document.getElementById('description').value = '送达回证扫描件'; return true",
        )
        .await;
    let save = browser.find("#save").await;
    browser.click(&save).await;
    browser
        .wait_for(
            "the saved notice",
            WAIT,
            "return document.querySelector('p.notice') !== null",
        )
        .await;
    let kind = browser
        .eval("return document.getElementById('kind').textContent.trim()")
        .await;
    assert_eq!(kind, "文书 · 送达回证");

    // The document: its first page shown, its pages counted, the original offered.
    browser.goto(&format!("{base}/clips/{}", ids[2])).await;
    browser
        .wait_for(
            "the first page",
            WAIT,
            "const p = document.getElementById('first-page'); return p && p.complete && p.naturalHeight > p.naturalWidth",
        )
        .await;
    let caption = browser
        .eval("return document.querySelector('figure.document figcaption').textContent")
        .await;
    assert!(caption.as_str().unwrap().contains("1 页"), "{caption}");
    browser.screenshot("document").await;
    let download = browser
        .eval(
            "return fetch(document.getElementById('download-document').href) \
             .then(r => [r.status, r.headers.get('content-type'), r.headers.get('content-disposition')])",
        )
        .await;
    assert_eq!(download[0], 200, "{download}");
    assert_eq!(download[1], "application/pdf", "{download}");
    assert!(
        download[2].as_str().unwrap().starts_with("attachment"),
        "{download}"
    );

    // A closed penalty case holding only the notice shows, on the cases page, the documents
    // it still lacks before it can be filed.
    let leader = common::token_with_role(&app.app, "b1", Role::Leader).await;
    let (status, case) = app
        .send(
            "POST",
            &leader,
            "/v1/cases",
            serde_json::json!({"reference": "应急罚〔2026〕21号", "title": "某仓库案", "case_type": "行政处罚"}),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    let case_id = case["id"].as_str().unwrap().to_owned();
    app.send(
        "POST",
        &leader,
        &format!("/v1/cases/{case_id}/clips"),
        serde_json::json!({"clip_ids": [ids[1]]}),
    )
    .await;
    let (status, closed) = app
        .send(
            "POST",
            &leader,
            &format!("/v1/cases/{case_id}/close"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    browser.goto(&format!("{base}/cases")).await;
    let missing = browser
        .wait_for(
            "the documents the case lacks",
            WAIT,
            &format!(
                "const row = document.getElementById('case-{case_id}'); \
                 const badge = row && row.querySelector('.missing'); return badge && badge.textContent"
            ),
        )
        .await;
    let missing = missing.as_str().unwrap();
    for lacking in ["立案审批表", "调查笔录/询问笔录", "处罚决定书"] {
        assert!(missing.contains(lacking), "{missing}");
    }
    assert!(
        !missing.contains("送达回证"),
        "the typed scan is the receipt: {missing}"
    );
    browser.screenshot("cases").await;

    // The search narrows to one kind.
    browser.goto(&format!("{base}/clips?kind=audio")).await;
    let results = browser
        .eval("return document.querySelectorAll('ul.results li').length")
        .await;
    assert_eq!(results, 1);
    browser.quit().await;
}

#[tokio::test]
async fn a_supervisor_imports_the_plan_and_reads_the_months_findings_in_a_real_browser() {
    // Without media workers: a clip is catalogued once stored, whatever its bytes.
    let app = common::spawn_standalone().await;
    let base = app.base.clone();
    add_person(&app, "b1", "zhou.jian", Role::Archivist, None).await;
    let work = tempfile::tempdir().unwrap();
    let clip = work.path().join("clip.mp4");
    std::fs::write(&clip, common::sample(8_000)).unwrap();
    // Officer 031234 filmed the chemical plant's inspection; nobody filmed the warehouse's.
    let id = upload(&app, &app.token, &clip, "2026-11-03T09:20:00+08:00").await;
    catalogued(&app, &app.token, &id).await;

    let browser = Browser::start().await;
    sign_in(&browser, &base, "b1", "zhou.jian").await;
    browser
        .goto(&format!("{base}/supervision?month=2026-11"))
        .await;
    assert!(browser.text().await.contains("本月没有执法任务"));

    // A plan with a bad row is refused whole, the bad row named and the plan kept to mend.
    let plan = "任务编号,被检查单位,执法类型,开始时间,结束时间,执法人员,地点\\n\
                2026-JC-301,华东化工有限公司,行政检查,2026-11-03 09:00,2026-11-03 11:00,031234,化工路1号\\n\
                2026-CF-302,东方仓储有限公司,行政处罚,2026-11-05 14:00,2026-11-05 13:00,031236,";
    let paste = |text: &str| {
        format!("document.getElementById('plan').value = '{text}'; document.getElementById('import').click(); return true")
    };
    browser.eval(&paste(plan)).await;
    let errors = browser
        .wait_for(
            "the plan's errors",
            WAIT,
            "const e = document.getElementById('plan-errors'); return e && e.textContent",
        )
        .await;
    assert!(errors.as_str().unwrap().contains("row 3"), "{errors}");
    let kept = browser
        .eval("return document.getElementById('plan').value")
        .await;
    assert!(kept.as_str().unwrap().contains("2026-CF-302"), "{kept}");

    // Mended and imported.
    browser
        .eval(&paste(
            &plan.replace("2026-11-05 13:00", "2026-11-05 16:00"),
        ))
        .await;
    browser
        .wait_for(
            "the plan imported",
            WAIT,
            "const n = document.querySelector('.notice'); return n && n.textContent.includes('计划已导入')",
        )
        .await;
    browser
        .goto(&format!("{base}/supervision?month=2026-11"))
        .await;
    let rows = browser
        .eval("return [...document.querySelectorAll('#tasks tbody tr')].map(r => r.textContent.replace(/\\s+/g, ' ').trim())")
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    assert!(rows[0].as_str().unwrap().contains("0 / 6"), "{rows}");
    let findings = browser
        .eval("return [...document.querySelectorAll('#findings tbody tr')].map(r => r.textContent.replace(/\\s+/g, ' ').trim())")
        .await;
    let findings: Vec<&str> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    // The chemical plant's clip, recorded on the 3rd, was uploaded weeks later (art. 16).
    assert_eq!(findings.len(), 3, "{findings:?}");
    assert!(
        findings[0].contains("2026-JC-301")
            && findings[0].contains("应记录环节缺失")
            && findings[0].contains("1、2、3、4、5、8"),
        "{findings:?}"
    );
    assert!(
        findings[1].contains("2026-JC-301")
            && findings[1].contains("逾期上传")
            && findings[1].contains("1 条记录")
            && findings[1].ends_with("16"),
        "{findings:?}"
    );
    assert!(
        findings[2].contains("2026-CF-302")
            && findings[2].contains("未进行音像记录")
            && findings[2].contains("25(1)"),
        "{findings:?}"
    );
    assert_eq!(
        browser
            .eval("return document.getElementById('tasks-recorded').textContent")
            .await,
        "1"
    );
    browser.screenshot("supervision").await;
    browser.quit().await;
}

//! A real browser for the console's tests: Debian's chromium, headless, driven through
//! chromedriver with the few WebDriver commands the tests need (W3C WebDriver over HTTP on
//! 127.0.0.1), so no browser-automation crate and no downloaded browser are needed.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

/// WebDriver's key codes (W3C WebDriver, "Keys").
pub const TAB: &str = "\u{E004}";
pub const ARROW_DOWN: &str = "\u{E015}";
pub const CONTROL: &str = "\u{E009}";
pub const ENTER: &str = "\u{E007}";
/// Releases the modifier keys pressed so far in one send.
pub const RELEASE: &str = "\u{E000}";

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: tokio::process::Child,
    http: reqwest::Client,
    session: String,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless chromium session.
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (apt chromium-driver; scripts/setup-system.sh installs it)");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        custodian_platform::testing::eventually(Duration::from_secs(20), "chromedriver", || {
            let http = http.clone();
            let url = format!("{base}/status");
            async move {
                let status: Value = http.get(url).send().await.ok()?.json().await.ok()?;
                status["value"]["ready"].as_bool().filter(|ready| *ready)
            }
        })
        .await;
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1280,1000",
                             "--autoplay-policy=no-user-gesture-required", "--lang=zh-CN",
                             "--no-first-run", "--disable-extensions"],
                    // A browser of a bureau's office: Chinese first.
                    "prefs": {"intl.accept_languages": "zh-CN,zh"}
                }
            }}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        Browser {
            driver,
            http,
            session: format!("{base}/session/{session}"),
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"]["error"].is_string() || answer.get("status").is_some_and(|s| s != 0) {
            panic!("WebDriver {path}: {answer}");
        }
        if answer["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {found}"))
            .to_owned()
    }

    /// The element that has the keyboard focus.
    pub async fn focused(&self) -> String {
        let found = self
            .command(reqwest::Method::GET, "/element/active", None)
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    /// Types `text` (with the key codes above) into an element, as a person would.
    pub async fn type_into(&self, element: &str, text: &str) {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn click(&self, element: &str) {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Runs a script in the page and answers what it returns.
    pub async fn eval(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Polls `script` until it answers something other than null or false, up to `within`.
    pub async fn wait_for(&self, what: &str, within: Duration, script: &str) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let value = self.eval(script).await;
            if !value.is_null() && value != Value::Bool(false) {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited {within:?} for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's text.
    pub async fn text(&self) -> String {
        self.eval("return document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A PNG of the window, kept as test output under `target/console-screens/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screens");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn quit(mut self) {
        let _ = self.http.delete(&self.session).send().await;
        let _ = self.driver.kill().await;
    }
}

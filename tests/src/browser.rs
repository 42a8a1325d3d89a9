//! A real browser for the web interface tests: Debian's headless Chromium
//! driven through chromedriver with the W3C WebDriver protocol (plain JSON
//! over HTTP, spoken here with awc).
//!
//! Without chromedriver the tests are skipped with a notice, unless
//! `CI=true` or `RAPPORT_TEST_REQUIRE_BROWSER=1`: then they fail
//! (`.ci/run` installs `chromium` and `chromium-driver`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a test waits for the page to show something.
pub const WAIT: Duration = Duration::from_secs(15);

/// chromedriver, running for the life of the value.
pub struct Driver {
    child: Child,
    base: String,
    http: awc::Client,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("RAPPORT_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

impl Driver {
    /// Starts chromedriver, or None (with a notice) when it is not installed.
    pub async fn start() -> Option<Driver> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists()
        {
            assert!(
                !required(),
                "browser tests need {CHROMEDRIVER} and {CHROMIUM}: apt-get install chromium chromium-driver"
            );
            crate::report_skip(&format!(
                "the browser: {CHROMEDRIVER} is not installed (apt-get install chromium chromium-driver)"
            ));
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: awc::Client::builder()
                .timeout(Duration::from_secs(60))
                .finish(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut res) = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
                && res.status().is_success()
                && res
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true)
            {
                return Some(driver);
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new browser window (its own profile: sessions do not share storage).
    pub async fn browser(&self) -> Browser {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
            }
        }}});
        let v = call(
            &self.http,
            "POST",
            format!("{}/session", self.base),
            Some(caps),
        )
        .await;
        let id = v["sessionId"].as_str().expect("a session id").to_owned();
        Browser {
            http: self.http.clone(),
            session: format!("{}/session/{id}", self.base),
        }
    }
}

async fn call(http: &awc::Client, method: &str, url: String, body: Option<Value>) -> Value {
    let req = match method {
        "POST" => http.post(url.clone()),
        "DELETE" => http.delete(url.clone()),
        _ => http.get(url.clone()),
    };
    let mut res = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    }
    .unwrap_or_else(|e| panic!("webdriver {method} {url}: {e}"));
    let v: Value = res
        .json()
        .limit(64 << 20)
        .await
        .expect("webdriver answers JSON");
    assert!(res.status().is_success(), "webdriver {method} {url}: {v}");
    v["value"].clone()
}

/// One browser window.
pub struct Browser {
    http: awc::Client,
    session: String,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.session)
    }
}

impl Browser {
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(&self.http, method, format!("{}{path}", self.session), body).await
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url}))).await;
    }

    async fn try_find(&self, css: &str) -> Option<String> {
        let req = self
            .http
            .post(format!("{}/element", self.session))
            .send_json(&json!({"using": "css selector", "value": css}));
        let mut res = req.await.ok()?;
        if !res.status().is_success() {
            return None;
        }
        let v: Value = res.json().await.ok()?;
        v["value"][ELEMENT].as_str().map(str::to_owned)
    }

    /// The element, waiting for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} appeared; {}",
                self.where_and_what().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs an element command, finding the element again when the page
    /// replaced it in between (live updates re-render parts of pages) or
    /// waiting while it is not yet shown.
    async fn on_element(&self, css: &str, action: &str, body: Value) {
        let deadline = Instant::now() + WAIT;
        loop {
            let e = self.find(css).await;
            let mut res = self
                .http
                .post(format!("{}/element/{e}/{action}", self.session))
                .send_json(&body)
                .await
                .expect("webdriver answers");
            if res.status().is_success() {
                return;
            }
            let v: Value = res.json().await.unwrap_or_default();
            // Replaced by a live update, or not shown yet (a form that
            // appears once the server answered): look again.
            let passing = v["value"]["error"] == "stale element reference"
                || v["value"]["error"] == "element not interactable";
            assert!(
                passing && Instant::now() < deadline,
                "{action} on {css}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        self.on_element(css, "click", json!({})).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "value", json!({"text": text})).await;
    }

    /// Sets a `<select>` by the value of one of its options.
    pub async fn choose(&self, select_css: &str, value: &str) {
        self.click(&format!("{select_css} option[value=\"{value}\"]"))
            .await;
    }

    pub async fn script(&self, js: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
        )
        .await
    }

    /// Runs an asynchronous script: it calls its last argument with the
    /// result.
    pub async fn script_async(&self, js: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": js, "args": []})),
        )
        .await
    }

    /// Switches into the frame element the script returns (e.g.
    /// `return document.querySelector('iframe')`).
    pub async fn enter_frame(&self, js: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let el = self.script(js).await;
            if el.get(ELEMENT).is_some() {
                self.cmd("POST", "/frame", Some(json!({"id": el}))).await;
                return;
            }
            assert!(Instant::now() < deadline, "no frame from {js}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Grants (or denies) the page a browser permission such as
    /// `notifications`, as a person answering the browser's prompt would.
    pub async fn set_permission(&self, name: &str, state: &str) {
        self.cmd(
            "POST",
            "/permissions",
            Some(json!({"descriptor": {"name": name}, "state": state})),
        )
        .await;
    }

    /// Back from a frame to the page around it.
    pub async fn leave_frame(&self) {
        self.cmd("POST", "/frame/parent", Some(json!({}))).await;
    }

    /// Resizes the window (e.g. 390×844 for a phone).
    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// The page's address and visible text, for a failure's message.
    async fn where_and_what(&self) -> String {
        let url = self.script("return location.href").await;
        format!("the page at {url} shows:\n{}", self.text().await)
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.script("return document.body.innerText")
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Waits until the visible text of `css` contains `want`.
    pub async fn wait_text(&self, css: &str, want: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            // The page may replace the element between finding and reading
            // it (a live update): read again on the next round.
            if let Some(e) = self.try_find(css).await
                && let Ok(mut res) = self
                    .http
                    .get(format!("{}/element/{e}/text", self.session))
                    .send()
                    .await
                && res.status().is_success()
                && let Ok(v) = res.json::<Value>().await
                && v["value"].as_str().is_some_and(|t| t.contains(want))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {want:?}; {}",
                self.where_and_what().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the script returns `want` (state the page reaches
    /// asynchronously, e.g. after a message between frames).
    pub async fn wait_script(&self, js: &str, want: Value, what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.script(js).await;
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the page answered {got} instead of {want}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the script returns `true`.
    pub async fn wait_true(&self, js: &str, what: &str) {
        self.wait_script(js, Value::Bool(true), what).await;
    }

    /// Saves a PNG of the window under `target/ui-screenshots/`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None).await;
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 PNG"))
            .expect("a PNG");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }

    pub async fn quit(self) {
        let _ = self.http.delete(self.session.clone()).send().await;
    }
}

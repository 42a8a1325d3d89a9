use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::Method;
use actix_web::http::header::HeaderMap;
use rapport_server::config::{self, Settings};

use crate::database::TestDatabase;

/// The real server, in this process, on a random port.
#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    /// The LMTP listener, when the test's settings set `mail.lmtp_bind`.
    pub lmtp_addr: Option<SocketAddr>,
    /// The server's own state, for calling use cases directly (e.g. the
    /// SLA check at a chosen instant).
    pub state: rapport_server::state::AppState,
    handle: ServerHandle,
}

/// A response read to the end.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the RFC 9457 shape every error shares and returns the body.
    pub fn assert_problem(&self, status: u16, code: &str) -> serde_json::Value {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "error responses are problem+json"
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], status, "{body}");
        assert_eq!(
            body["type"],
            format!("urn:rapport:problem:{code}"),
            "{body}"
        );
        assert!(
            body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{body}"
        );
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
        body
    }
}

/// The settings every test server starts from: bound to a free port, one
/// worker, a short pool timeout so failures surface fast.
pub fn test_settings(db: &TestDatabase) -> Settings {
    let mut settings = Settings {
        data_dir: db.data_dir().to_path_buf(),
        ..Settings::default()
    };
    settings.database.url = Some(db.url.clone());
    settings.database.pool_max_size = 4;
    settings.database.acquire_timeout_secs = 2;
    settings.server.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.server.workers = 1;
    settings.server.shutdown_timeout_secs = 1;
    settings.mail.poll_interval_ms = 100;
    settings
}

impl TestApp {
    pub async fn spawn(db: &TestDatabase) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    /// Starts the server with settings adjusted by `tweak`.
    pub async fn spawn_with(db: &TestDatabase, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = test_settings(db);
        tweak(&mut settings);
        let config = config::validate(settings).expect("test settings are valid");
        let running = rapport_server::server::start(config)
            .await
            .expect("server starts");
        let addr = running.addr;
        let lmtp_addr = running.lmtp_addr;
        let handle = running.handle.clone();
        let state = running.state.clone();
        actix_web::rt::spawn(running.into_server());
        TestApp {
            addr,
            base_url: format!("http://{addr}"),
            lmtp_addr,
            state,
            handle,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, None).await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        self.request(Method::POST, path, Some(body.to_string()))
            .await
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<String>) -> Response {
        self.send(method, path, body, None).await
    }

    /// GET with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> Response {
        self.send(Method::GET, path, None, Some(token)).await
    }

    /// POST JSON with a bearer token.
    pub async fn post_as(&self, token: &str, path: &str, body: &serde_json::Value) -> Response {
        self.send(Method::POST, path, Some(body.to_string()), Some(token))
            .await
    }

    /// Signs in and returns the token response body; panics unless 200.
    pub async fn login(&self, email: &str, password: &str) -> serde_json::Value {
        let res = self
            .post_json(
                "/api/v1/auth/login",
                &serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(
            res.status,
            200,
            "login failed: {}",
            String::from_utf8_lossy(&res.body)
        );
        res.json()
    }

    /// A bearer token for a new active staff member of `role`.
    pub async fn token_for(&self, db: &TestDatabase, role: &str) -> String {
        let (email, password) = crate::seed::staff(db, role);
        self.login(&email, &password).await["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Sends `body` with its own content type (multipart uploads).
    pub async fn send_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        bearer: Option<&str>,
    ) -> Response {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish();
        let mut req = client
            .post(format!("{}{path}", self.base_url))
            .insert_header(("content-type", content_type.to_owned()));
        if let Some(token) = bearer {
            req = req.insert_header(("authorization", format!("Bearer {token}")));
        }
        read_response(req.send_body(body).await).await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        bearer: Option<&str>,
    ) -> Response {
        self.send_with_headers(method, path, body, bearer, &[])
            .await
    }

    /// [`TestApp::send`] with extra request headers (a proxy's
    /// `X-Forwarded-For`, say).
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Response {
        send_to(&self.base_url, method, path, body, bearer, headers).await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// One request to the server at `base_url`, read to the end.
pub async fn send_to(
    base_url: &str,
    method: Method,
    path: &str,
    body: Option<String>,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
) -> Response {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut req = client.request(method, format!("{base_url}{path}"));
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    if let Some(token) = bearer {
        req = req.insert_header(("authorization", format!("Bearer {token}")));
    }
    let sent = match body {
        Some(body) => {
            req.insert_header(("content-type", "application/json"))
                .send_body(body)
                .await
        }
        None => req.send().await,
    };
    read_response(sent).await
}

/// The whole answer to a request sent to the server.
async fn read_response<S>(
    sent: Result<awc::ClientResponse<S>, awc::error::SendRequestError>,
) -> Response
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>>
        + Unpin,
{
    let mut res = sent.expect("request reaches the server");
    let body = res
        .body()
        .limit(64 * 1024 * 1024)
        .await
        .expect("body readable");
    Response {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: body.to_vec(),
    }
}

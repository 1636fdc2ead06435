//! Running the real `accrue` binary on an ephemeral port against a fresh database, and
//! talking to it over real HTTP.

use accrue::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The admin key every test server starts with.
pub const ADMIN_KEY: &str = "acc_e2e_admin_key_for_tests_only";

/// A secrets key (`ACCRUE_SECRETS_KEY`) for tests that store payout methods.
pub const SECRETS_KEY: &str = "5f0c1ee2a4f54d1f9d0cbbd1f3a7c0de8b6e2f4a1c3d5e7f9a0b2c4d6e8f0a1b";

/// The service binary: Cargo builds it before these tests run (see
/// `tests/src/bin/accrue-server.rs`; it is the `accrue` program).
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_accrue-server"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A running service process; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Start the service on `database_url` with extra environment variables.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .env("DATABASE_URL", database_url)
            .env("ACCRUE_LISTEN", format!("127.0.0.1:{port}"))
            .env("ACCRUE_ADMIN_KEY", ADMIN_KEY)
            .env("ACCRUE_LOG", "warn")
            .env("ACCRUE_APPROVE_EVERY_S", "3600")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start accrue serve");
        // No connection reuse: a request the server refuses early (an oversized body) may
        // leave its connection closed, and the next request must not land on it.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("HTTP client");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client,
        };
        let started = Instant::now();
        loop {
            if let Ok(r) = server
                .client
                .get(format!("{}/readyz", server.base))
                .send()
                .await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "the service did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// Send SIGTERM and wait (at most 30 s) for the process to exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "still running 30 s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A request with a key (or none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        self.call_with(method, path, key, body, &[]).await
    }

    /// A request with extra headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        self.try_call_with(method, path, key, body, headers)
            .await
            .expect("request")
    }

    /// A request with extra headers; an error when no answer came (the process died, or
    /// was killed, before or while answering).
    pub async fn try_call_with(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<Response, reqwest::Error> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Ok(Response::from(req.send().await?).await)
    }

    /// The process id, for a test that kills it (SIGKILL) from another task; valid until
    /// the `Server` is dropped, which reaps the process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A raw body with a content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        Response::from(req.send().await.expect("request")).await
    }

    /// A `GET` of raw bytes with `key` (a download), expecting 200.
    pub async fn raw_get(&self, path: &str, key: &str) -> Vec<u8> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.bytes().await.expect("body").to_vec()
    }

    /// A `GET` with the admin key, whatever its status (the caller checks it).
    pub async fn admin_get(&self, path: &str) -> Response {
        self.call(Method::GET, path, Some(ADMIN_KEY), None).await
    }

    /// As admin, expecting success; returns the JSON body.
    pub async fn admin(&self, method: Method, path: &str, body: Value) -> Value {
        let r = self
            .call(method.clone(), path, Some(ADMIN_KEY), Some(body))
            .await;
        assert!(
            r.status.is_success(),
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
        r.body
    }

    /// As admin, create program `id` (named `id`) in `currency`, bound to the built-in
    /// attribution plug-in `plugin` with its default configuration.
    pub async fn program(&self, id: &str, currency: &str, plugin: &str) -> Value {
        let body =
            json!({"id": id, "name": id, "currency": currency, "attribution": {"plugin": plugin}});
        self.admin(Method::POST, "/v1/programs", body).await
    }

    /// As admin, upload the component at `path` for `program` (any status: the caller
    /// checks it).
    pub async fn upload(&self, path: &str, name: &str, program: &str) -> Response {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        self.upload_bytes(bytes, name, program).await
    }

    /// As admin, upload component bytes for `program`.
    pub async fn upload_bytes(&self, bytes: Vec<u8>, name: &str, program: &str) -> Response {
        self.raw(
            Method::POST,
            &format!("/v1/plugins?name={name}&version=1.0.0&program_id={program}"),
            Some(ADMIN_KEY),
            "application/wasm",
            bytes,
        )
        .await
    }

    /// As admin, create partner `id` in `program`; `extra`'s fields (tier, payout currency,
    /// ...) are added to the request.
    pub async fn partner(&self, id: &str, program: &str, extra: Value) -> Value {
        let mut body = json!({"id": id, "program_id": program});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        self.admin(Method::POST, "/v1/partners", body).await
    }
}

/// A response, read whole.
pub struct Response {
    /// Status.
    pub status: StatusCode,
    /// Content type.
    pub content_type: String,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// JSON body (or `Value::String` of the text if not JSON).
    pub body: Value,
}

impl Response {
    async fn from(r: reqwest::Response) -> Self {
        let status = r.status();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            content_type,
            retry_after,
            body,
        }
    }

    /// Assert a problem document with this status and type.
    pub fn assert_problem(&self, status: u16, kind: &str, what: &str) {
        assert_eq!(self.status.as_u16(), status, "{what}: {}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{what}: {}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("urn:accrue:problem:{kind}"),
            "{what}: {}",
            self.body
        );
        assert_eq!(self.body["status"], status, "{what}");
    }
}

/// A fresh PostgreSQL database.
pub async fn postgres() -> TestDb {
    TestDb::postgres()
        .await
        .expect("PostgreSQL (set DATABASE_URL to a server you can create databases on)")
}

/// A conversion body.
pub fn conversion(program: &str, id: &str, amount: &str, touches: &[(&str, &str, &str)]) -> Value {
    serde_json::json!({
        "program_id": program,
        "id": id,
        "amount": amount,
        "currency": "USD",
        "occurred_at": "2026-03-10T12:00:00Z",
        "country": "US",
        "region": "US-CA",
        "touchpoints": touches.iter().map(|(partner, channel, at)| serde_json::json!({
            "partner_id": partner, "channel": channel, "occurred_at": at,
        })).collect::<Vec<_>>(),
    })
}

/// The commission amounts of a conversion result, as (partner, amount).
pub fn amounts(result: &Value) -> Vec<(String, String)> {
    result["commissions"]
        .as_array()
        .expect("commissions")
        .iter()
        .map(|c| {
            (
                c["partner_id"].as_str().unwrap_or_default().to_owned(),
                c["amount"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

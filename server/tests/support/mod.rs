//! `TestApp`: the real router on a loopback port against a fresh database,
//! SQLite by default or a fresh PostgreSQL schema when `TEST_POSTGRES_URL` is set.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use masterclass::config::Settings;

pub mod answers;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server for one test.
pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub db: app::db::Db,
    /// The running server's state (its caches, for tests that change data behind its back).
    pub state: app::state::AppState,
    pub settings: Settings,
    _dir: tempfile::TempDir,
}

/// The course the repository ships, imported by every TestApp.
pub fn repo_content() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../content")
}

pub const COURSE: &str = "performance-engineering-masterclass";
pub const FIRST: &str = "what-a-load-test-is-for";
pub const SECOND: &str = "thresholds-are-slos";

impl TestApp {
    /// A server on `backend` with the repository's content; `None` when the backend is not configured.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with_content(backend, &repo_content()).await
    }

    pub async fn spawn_with_content(backend: Backend, content: &Path) -> Option<TestApp> {
        let content = content.to_path_buf();
        Self::spawn_custom(backend, move |s| s.content_dir = content).await
    }

    /// A server whose settings `adjust` may change before it starts.
    pub async fn spawn_custom(
        backend: Backend,
        adjust: impl FnOnce(&mut Settings),
    ) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, session_schema) = fresh_database(backend, dir.path()).await?;
        let mut settings = settings_for(dir.path(), database_url, session_schema);
        adjust(&mut settings);
        let db = masterclass::startup::database(&settings)
            .await
            .expect("database");
        masterclass::startup::import_content(&db, &settings)
            .await
            .expect("import");
        masterclass::startup::create_admin(&db, "admin@example.com", "admin password 123")
            .await
            .expect("admin");
        let server = masterclass::startup::build(&settings, db.clone(), Default::default())
            .await
            .expect("build");
        let state = server.state.clone();
        let addr = serve_with(server, settings.http).await;
        Some(TestApp {
            base: format!("http://{addr}"),
            addr,
            db,
            state,
            settings,
            _dir: dir,
        })
    }

    /// A new person with their own cookie jar.
    pub fn person(&self) -> Person {
        Person::new(
            &self.base,
            std::sync::Arc::new(reqwest::cookie::Jar::default()),
        )
    }

    /// A person already registered and signed in.
    pub async fn learner(&self, email: &str) -> Person {
        let p = self.person();
        let r = p.register(email, "Learner", "learner password 1").await;
        assert!(
            r.status().is_success() || r.status() == StatusCode::FOUND,
            "register {email}: {}",
            r.status()
        );
        p
    }

    /// The administrator, signed in.
    pub async fn admin(&self) -> Person {
        let p = self.person();
        let r = p.login("admin@example.com", "admin password 123").await;
        assert!(
            r.status().is_success() || r.status() == StatusCode::FOUND,
            "admin login: {}",
            r.status()
        );
        p
    }
}

/// Serves a built server on a free loopback port (on the current runtime).
pub async fn serve(server: masterclass::startup::Server) -> SocketAddr {
    serve_with(server, Default::default()).await
}

/// Serves a built server on a free loopback port as `masterclass serve` does
/// (its accept loop, timeouts and connection cap), with these limits.
pub async fn serve_with(
    server: masterclass::startup::Server,
    limits: masterclass::serve::HttpLimits,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        masterclass::serve::serve(listener, server.router, limits, std::future::pending())
            .await
            .expect("serve");
    });
    addr
}

/// The first lab of the course, as the repository ships it.
pub fn first_lab() -> lab_grader::Lab {
    let dir = repo_content().join(COURSE).join("labs");
    let mut labs: Vec<_> = std::fs::read_dir(&dir)
        .expect("labs folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("lab.yaml").is_file())
        .collect();
    labs.sort();
    lab_grader::load_lab(&labs[0], "labs/first").expect("first lab loads")
}

/// The form that queues a run of the first lab with its solution.
pub fn solution_run_form() -> Vec<(String, String)> {
    let lab = first_lab();
    let mut form = vec![
        ("course".to_string(), COURSE.to_string()),
        ("lab".to_string(), lab.slug.clone()),
    ];
    for f in &lab.files {
        form.push((format!("files[{}]", f.name), f.solution.clone()));
    }
    form
}

/// A fresh database for one test: `(DATABASE_URL, session schema)`; an SQLite
/// file in `dir`, or a new schema on `TEST_POSTGRES_URL` (`None` when unset).
pub async fn fresh_database(backend: Backend, dir: &Path) -> Option<(String, String)> {
    match backend {
        Backend::Sqlite => Some((
            format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
            "tower_sessions".to_string(),
        )),
        Backend::Postgres => {
            let Ok(base) = std::env::var("TEST_POSTGRES_URL") else {
                eprintln!("SKIPPED on PostgreSQL: TEST_POSTGRES_URL is not set");
                return None;
            };
            let schema = format!("t_{}", hex_id());
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(&base)
                .await
                .expect("connect to TEST_POSTGRES_URL");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .expect("create schema");
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            Some((
                format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                schema,
            ))
        }
    }
}

/// The settings of a test server whose data lives in `dir`.
/// Grading children as the server starts them: the built `masterclass`
/// binary in its hidden sandbox mode (the test binary itself has no such mode).
pub fn sandbox() -> lab_grader::sandbox::Sandbox {
    lab_grader::sandbox::Sandbox::new(
        env!("CARGO_BIN_EXE_masterclass").into(),
        vec!["lab-sandbox".into()],
    )
}

pub fn settings_for(dir: &Path, database_url: String, session_schema: String) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        addr: "127.0.0.1:0".parse().expect("addr"),
        database_url,
        admin_email: None,
        admin_password: None,
        public_url: "http://127.0.0.1".into(),
        content_dir: repo_content(),
        site_dir: dir.join("no-site"),
        smtp: None,
        session_schema,
        lab_workers: 2,
        signups_per_hour: 20,
        lab_lease: app::labs::worker::DEFAULT_LEASE,
        lab_sandbox: sandbox(),
        trusted_proxies: Default::default(),
        http: Default::default(),
        metrics: Default::default(),
    }
}

fn hex_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One browser-less person talking to the server, one method per endpoint.
pub struct Person {
    pub client: Client,
    pub base: String,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl Person {
    /// A lab run as its page shows it (`labs/run-view`).
    pub async fn run_view(&self, run: i64) -> Value {
        let r = self
            .call("labs/run-view", &[("run", &run.to_string())])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        Person::json(r).await
    }

    /// Polls a lab run until it has left the queue and the workers (for at
    /// most five minutes), and returns its view.
    pub async fn finished_run(&self, run: i64) -> Value {
        for _ in 0..3000 {
            let v = self.run_view(run).await;
            let status = v["status"].as_str().unwrap_or_default();
            if status != "queued" && status != "running" {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("run {run} did not finish");
    }

    /// POSTs a server function the way `fetch` from the hydrated page does.
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}/api/{endpoint}", self.base))
            .header("Origin", &self.base)
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// POSTs a server function as a plain HTML form with JavaScript off.
    pub async fn form_post(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        referer: &str,
    ) -> Response {
        self.client
            .post(format!("{}/api/{endpoint}", self.base))
            .header("Origin", &self.base)
            .header("Referer", format!("{}{referer}", self.base))
            .header("Accept", "text/html")
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// GETs a page the way a browser navigates to it. A page that gets no
    /// answer within 60 s fails the test (see `servers_in_one_process.rs`).
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header("Accept", "text/html,*/*")
            .timeout(std::time::Duration::from_secs(60))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn json(r: Response) -> Value {
        let status = r.status();
        let text = r.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    }

    pub async fn register(&self, email: &str, name: &str, password: &str) -> Response {
        self.call(
            "auth/register",
            &[
                ("email", email),
                ("display_name", name),
                ("password", password),
            ],
        )
        .await
    }
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.call("auth/login", &[("email", email), ("password", password)])
            .await
    }
    pub async fn logout(&self) -> Response {
        self.call("auth/logout", &[]).await
    }
    pub async fn me(&self) -> Value {
        Self::json(self.call("auth/me", &[]).await).await
    }
    pub async fn change_password(&self, current: &str, new: &str) -> Response {
        self.call(
            "auth/change-password",
            &[("current_password", current), ("new_password", new)],
        )
        .await
    }
    pub async fn forgot_password(&self, email: &str) -> Response {
        self.call("auth/forgot-password", &[("email", email)]).await
    }
    pub async fn reset_password(&self, token: &str, new: &str) -> Response {
        self.call(
            "auth/reset-password",
            &[("token", token), ("new_password", new)],
        )
        .await
    }
    pub async fn courses(&self) -> Response {
        self.call("courses/list", &[]).await
    }
    pub async fn overview(&self, course: &str) -> Response {
        self.call("courses/overview", &[("course", course)]).await
    }
    pub async fn module(&self, course: &str, module: &str) -> Response {
        self.call("courses/module", &[("course", course), ("module", module)])
            .await
    }
    pub async fn complete(&self, course: &str, module: &str, complete: bool) -> Response {
        self.call(
            "courses/complete",
            &[
                ("course", course),
                ("module", module),
                ("complete", if complete { "true" } else { "false" }),
            ],
        )
        .await
    }

    /// Issues (or renames) the certificate of a passed attempt.
    pub async fn issue_certificate(&self, attempt: i64, name: &str) -> Response {
        self.call(
            "certs/issue",
            &[("attempt", &attempt.to_string()), ("name", name)],
        )
        .await
    }
    /// Verifies a credential on the server's public verification endpoint.
    pub async fn verify_credential(&self, jwt: &str) -> Value {
        Self::json(self.call("certs/verify", &[("jwt", jwt)]).await).await
    }
    /// Revokes a certificate (administrators).
    pub async fn revoke_certificate(&self, id: &str, reason: &str) -> Response {
        self.call("certs/admin/revoke", &[("id", id), ("reason", reason)])
            .await
    }
    /// GETs a path's body as text, asserting 200.
    pub async fn text(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.text().await.expect("body")
    }

    /// The session cookie's value, if any.
    pub fn session_cookie(&self) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url: reqwest::Url = self.base.parse().ok()?;
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|c| c.strip_prefix("masterclass_session=").map(str::to_string))
    }

    /// Another client presenting exactly this session cookie (a stolen or replayed one).
    pub fn with_cookie(&self, value: &str) -> Person {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let url: reqwest::Url = self.base.parse().expect("url");
        jar.add_cookie_str(&format!("masterclass_session={value}"), &url);
        Person::new(&self.base, jar)
    }

    /// A person whose client `adjust` configures further (a source address,
    /// default headers such as `X-Forwarded-For`).
    pub fn with_client(
        base: &str,
        adjust: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Person {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let client = adjust(
            Client::builder()
                .cookie_provider(jar.clone())
                .redirect(Policy::none())
                .timeout(std::time::Duration::from_secs(60)),
        )
        .build()
        .expect("client");
        Person {
            client,
            base: base.to_string(),
            jar,
        }
    }

    pub fn new(base: &str, jar: std::sync::Arc<reqwest::cookie::Jar>) -> Person {
        // A stuck server fails the test instead of hanging the suite.
        let client = Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("client");
        Person {
            client,
            base: base.to_string(),
            jar,
        }
    }
}

impl TestApp {
    /// A learner registered, signed in and eligible for the shipped course's exam.
    pub async fn exam_taker(&self, email: &str) -> Person {
        let p = self.learner(email).await;
        self.make_eligible(&p, COURSE).await;
        p
    }

    /// Does what `course`'s exam blueprint requires before an attempt (see [`make_eligible`]).
    pub async fn make_eligible(&self, p: &Person, course: &str) {
        make_eligible(&self.db, p, course).await;
    }
}

/// Does what `course`'s exam blueprint requires of `p` before an attempt: completes
/// each required module through the API (a module whose prerequisites are not done
/// yet is tried again after them), and records a pass of each required lab the way
/// the lab worker stores one. Grading every lab for every test that only needs an
/// exam taker would take minutes; `hostile_exam.rs` passes a lab through the real
/// queue.
pub async fn make_eligible(db: &app::db::Db, p: &Person, course: &str) {
    let cid = app::exam::store::course_id(db, course)
        .await
        .expect("course id")
        .expect("the course exists");
    let bp = app::exam::store::blueprint(db, cid)
        .await
        .expect("blueprint")
        .expect("the course has an exam");
    let mut todo = bp.eligibility.modules_completed.clone();
    for _ in 0..=todo.len() {
        let mut left = Vec::new();
        for m in todo {
            let r = p.complete(course, &m, true).await;
            if !r.status().is_success() {
                left.push(m);
            }
        }
        todo = left;
        if todo.is_empty() {
            break;
        }
    }
    assert!(
        todo.is_empty(),
        "modules that cannot be completed: {todo:?}"
    );
    let me = p.me().await;
    let uid = me["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("signed in: {me}"));
    let now = app::db::now_ms();
    for lab in &bp.eligibility.labs_passed {
        let lab_id: i64 = sqlx::query_scalar(
            "SELECT id FROM labs WHERE course_id = $1 AND (slug = $2 OR title = $2)",
        )
        .bind(cid)
        .bind(lab)
        .fetch_one(db)
        .await
        .unwrap_or_else(|e| panic!("lab {lab}: {e}"));
        let passed: Option<i64> =
            sqlx::query_scalar("SELECT run_id FROM lab_passes WHERE user_id = $1 AND lab_id = $2")
                .bind(uid)
                .bind(lab_id)
                .fetch_optional(db)
                .await
                .expect("lab pass");
        if passed.is_some() {
            continue;
        }
        let run: i64 = sqlx::query_scalar(
            "INSERT INTO lab_runs (user_id, lab_id, status, files_json, passed, score, max_score, queued_at, started_at, finished_at)
             VALUES ($1, $2, 'done', '{}', 1, 1, 1, $3, $3, $3) RETURNING id",
        )
        .bind(uid)
        .bind(lab_id)
        .bind(now)
        .fetch_one(db)
        .await
        .expect("lab run");
        sqlx::query(
            "INSERT INTO lab_passes (user_id, lab_id, run_id, passed_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(uid)
        .bind(lab_id)
        .bind(run)
        .bind(now)
        .execute(db)
        .await
        .expect("lab pass");
    }
    app::row_cache::PROGRESS.forget(db, uid);
}

/// A minimal SMTP server on loopback that accepts any number of messages and
/// hands each one's text (headers and body) to the receiver.
pub async fn smtp_sink() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                if write.write_all(b"220 sink ESMTP\r\n").await.is_err() {
                    return;
                }
                let mut message = String::new();
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = if in_data {
                        if line == "." {
                            in_data = false;
                            let _ = tx.send(std::mem::take(&mut message));
                            b"250 queued\r\n"
                        } else {
                            message.push_str(&line);
                            message.push('\n');
                            continue;
                        }
                    } else {
                        match line
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_ascii_uppercase()
                            .as_str()
                        {
                            "EHLO" | "HELO" => b"250 sink\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 ok\r\n",
                        }
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}

/// Settings that send mail to a [`smtp_sink`] on `port`.
pub fn smtp_to_sink(port: u16) -> app::state::SmtpConfig {
    app::state::SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        username: None,
        password: None,
        from: "Masterclass <no-reply@learn.example>".into(),
        tls: app::state::SmtpTls::None,
    }
}

/// Runs a scenario on SQLite and, when configured, on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::support::TestApp::spawn($crate::support::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                super::$scenario(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) =
                    $crate::support::TestApp::spawn($crate::support::Backend::Postgres).await
                {
                    super::$scenario(app).await;
                }
            }
        }
    };
}

//! `TestApp`: the real router on a loopback port against a fresh database,
//! SQLite by default or a fresh PostgreSQL schema when `TEST_POSTGRES_URL` is set.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use masterclass::config::Settings;

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
        let addr = serve(server).await;
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            server
                .router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
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

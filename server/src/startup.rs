//! Putting the server together: database, content, first admin, sessions, router.

use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::sync::{Arc, OnceLock};
use tower_sessions::{CachingSessionStore, Expiry, SessionManagerLayer, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use app::auth::ratelimit::{Limits, RateLimiter};
use app::db::{Backend, Db};
use app::state::{AppState, Config};

use crate::config::Settings;
use crate::session_cache::SessionCache;
use crate::{metrics, pages, site, static_files};

/// Session records kept in memory with SQLite (about 300 bytes each).
const SESSIONS_CACHED: usize = 50_000;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "masterclass_session";
/// How the session cookie starts in a `Cookie` header.
pub const SESSION_COOKIE_EQ: &str = "masterclass_session=";

/// Largest request body accepted (forms and server calls are small).
const BODY_LIMIT: usize = 1024 * 1024;

/// How long start-up waits for the database before giving up with a clear line.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Makes sure the data directory exists and this process may write in it.
pub fn check_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let shown = dir.display();
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("MASTERCLASS_DATA_DIR {shown} cannot be created: {e}"))?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| anyhow::anyhow!("MASTERCLASS_DATA_DIR {shown} is not writable: {e}"))
}

/// Opens the database and applies migrations.
pub async fn database(settings: &Settings) -> anyhow::Result<Db> {
    check_data_dir(&settings.data_dir)?;
    let shown = redact(&settings.database_url);
    // One plain connection first: a pool retries a refused connection until its
    // own timeout, while this reports the first error as it is.
    sqlx::any::install_default_drivers();
    let probe = tokio::time::timeout(
        CONNECT_TIMEOUT,
        <sqlx::AnyConnection as sqlx::Connection>::connect(&settings.database_url),
    )
    .await;
    match probe {
        Err(_) => anyhow::bail!(
            "cannot open database {shown}: no answer within {} s (check DATABASE_URL)",
            CONNECT_TIMEOUT.as_secs()
        ),
        Ok(Err(e)) => anyhow::bail!("cannot open database {shown}: {e} (check DATABASE_URL)"),
        Ok(Ok(c)) => {
            let _ = sqlx::Connection::close(c).await;
        }
    }
    let db = tokio::time::timeout(
        CONNECT_TIMEOUT,
        app::db::connect(&settings.database_url, 16),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "cannot open database {shown}: no answer within {} s (check DATABASE_URL)",
            CONNECT_TIMEOUT.as_secs()
        )
    })?
    .map_err(|e| anyhow::anyhow!("cannot open database {shown}: {e} (check DATABASE_URL)"))?;
    app::db::migrate(&db, &settings.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(db)
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &url[..s + 3 + c], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

/// Imports `content/`, logging each problem as `path:line: reason`.
pub async fn import_content(
    db: &Db,
    settings: &Settings,
) -> anyhow::Result<app::course::sync::Published> {
    let sync = app::course::sync::import_dir(db, &settings.content_dir).await?;
    for c in &sync.conflicts {
        tracing::warn!(file = %c, "changed in content/ and in the database since the last sync; nothing imported (run `masterclass content import` for the list)");
    }
    for k in &sync.kept {
        tracing::info!(file = %k, "the database's version is newer than content/; kept (run `masterclass content export` to write it back)");
    }
    let published = app::course::sync::publish(db, &settings.media_dir()).await?;
    let report = &published.report;
    for p in &report.problems {
        tracing::warn!(problem = %p, "content problem; that file is not published");
    }
    tracing::info!(imported = ?report.imported, unchanged = ?report.unchanged, modules = report.modules, labs = report.labs, "content imported");
    for p in &published.exam_problems {
        tracing::warn!(problem = %p, "exam content problem; that course's question bank is not imported");
    }
    Ok(published)
}

/// Makes sure an administrator exists. Returns generated credentials, which
/// the caller prints exactly once (they are never stored in clear).
pub async fn ensure_admin(
    db: &Db,
    settings: &Settings,
) -> anyhow::Result<Option<(String, String)>> {
    use app::auth::accounts;
    use app::auth::validate::Email;
    match (&settings.admin_email, &settings.admin_password) {
        (Some(email), password) => {
            let parsed =
                Email::parse(email).map_err(|e| anyhow::anyhow!("MASTERCLASS_ADMIN_EMAIL: {e}"))?;
            if accounts::promote(db, &parsed).await? {
                return Ok(None);
            }
            match password {
                Some(p) => create_admin(db, email, p).await.map(|_| None),
                None => {
                    let p = generate_password();
                    create_admin(db, email, &p).await?;
                    Ok(Some((parsed.as_str().to_string(), p)))
                }
            }
        }
        (None, _) if accounts::has_admin(db).await? => Ok(None),
        (None, _) => {
            let (email, p) = ("admin@masterclass.local", generate_password());
            create_admin(db, email, &p).await?;
            Ok(Some((email.to_string(), p)))
        }
    }
}

/// Creates an administrator account.
pub async fn create_admin(db: &Db, email: &str, password: &str) -> anyhow::Result<()> {
    use app::auth::validate::{DisplayName, Email, NewPassword};
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("admin email: {e}"))?;
    let password =
        NewPassword::parse(password).map_err(|e| anyhow::anyhow!("admin password: {e}"))?;
    let name = DisplayName::parse("Administrator").map_err(|e| anyhow::anyhow!("{e}"))?;
    app::auth::accounts::create_user(db, &email, &name, &password, true)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Five random words' worth of entropy, readable: 20 characters from a 32-letter alphabet (100 bits).
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789AB";
    let mut rng = rand::thread_rng();
    let chars: String = (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!(
        "{}-{}-{}-{}",
        &chars[0..5],
        &chars[5..10],
        &chars[10..15],
        &chars[15..20]
    )
}

/// Leptos's view of the compiled site.
pub fn leptos_options(settings: &Settings) -> LeptosOptions {
    let hash_file_exists = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|p| p.join("hash.txt").is_file()))
        .unwrap_or(false);
    LeptosOptions::builder()
        .output_name("masterclass")
        .site_root(settings.site_dir.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(settings.addr)
        .hash_files(hash_file_exists)
        .build()
}

/// The pages' router state. leptos_axum clones it into every page's context,
/// where nothing reads it: a shared handle costs one count, where
/// `LeptosOptions` itself cost a dozen.
#[derive(Clone)]
struct PageOptions(Arc<LeptosOptions>);

impl axum::extract::FromRef<PageOptions> for LeptosOptions {
    fn from_ref(state: &PageOptions) -> Self {
        LeptosOptions::clone(&state.0)
    }
}

/// Everything a running server is made of.
pub struct Server {
    pub router: Router,
    pub state: AppState,
    /// Where `/metrics` is served when it has a listen address of its own
    /// (`MASTERCLASS_METRICS_ADDR`; the port the system picked for port 0).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// Builds the full application on an open, migrated database.
pub async fn build(settings: &Settings, db: Db, limits: Limits) -> anyhow::Result<Server> {
    let state = AppState {
        db,
        config: Arc::new(Config {
            public_url: settings.public_url.clone(),
            media_dir: settings.media_dir(),
            smtp: settings.smtp.clone(),
        }),
        limiter: Arc::new(RateLimiter::new(limits)),
        published: Arc::default(),
        labs: Arc::new(app::labs::worker::LabQueue::new(
            settings.lab_lease,
            settings.lab_sandbox.clone(),
        )),
    };
    // Submits overdue exam attempts now (those that ran out while the server was down) and every 20 s.
    app::exam::attempts::spawn_sweeper(state.db.clone());
    // Lab runs: one worker per core is the global limit on runs at once.
    app::labs::worker::spawn(state.db.clone(), state.labs.clone(), settings.lab_workers).await;
    // The certificate signing key exists from the first start on.
    app::certs::keys::active(&state.db)
        .await
        .map_err(|e| anyhow::anyhow!("certificate signing key: {e}"))?;
    let metrics = metrics::Endpoint {
        metrics: metrics::Metrics::new(),
        token: settings.metrics.token.as_deref().map(Arc::from),
    };
    // A listen address of its own: bound now, so a taken port stops start-up
    // with a clear line rather than leaving the server without metrics.
    let metrics_addr = match settings.metrics.addr {
        None => None,
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                anyhow::anyhow!("MASTERCLASS_METRICS_ADDR: cannot listen on {addr}: {e}")
            })?;
            let bound = listener.local_addr().unwrap_or(addr);
            let router = Router::new().route(
                "/metrics",
                get(metrics::handler).with_state(metrics.clone()),
            );
            let limits = settings.http;
            tokio::spawn(async move {
                if let Err(e) =
                    crate::serve::serve(listener, router, limits, std::future::pending()).await
                {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
            tracing::info!(addr = %bound, "metrics served on their own address");
            Some(bound)
        }
    };
    let router = match Backend::from_url(&settings.database_url) {
        Some(Backend::Postgres) => {
            let pool = sqlx::PgPool::connect(&settings.database_url).await?;
            let schema = &settings.session_schema;
            let store = PostgresStore::new(pool)
                .with_schema_name(schema)
                .map_err(|e| anyhow::anyhow!("session schema: {e}"))?;
            store.migrate().await?;
            spawn_expiry(store.clone());
            router(settings, state.clone(), store, metrics)
        }
        _ => {
            // No ping before each use: the file cannot drop the connection (see app::db::connect).
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .test_before_acquire(false)
                .connect(&settings.database_url)
                .await?;
            let store = SqliteStore::new(pool);
            store.migrate().await?;
            spawn_expiry(store.clone());
            let cached = CachingSessionStore::new(SessionCache::new(SESSIONS_CACHED), store);
            router(settings, state.clone(), cached, metrics)
        }
    };
    Ok(Server {
        router,
        state,
        metrics_addr,
    })
}

fn spawn_expiry<S: tower_sessions::ExpiredDeletion + Clone>(store: S) {
    tokio::spawn(async move {
        if let Err(e) = store
            .continuously_delete_expired(tokio::time::Duration::from_secs(3600))
            .await
        {
            tracing::error!(error = %e, "expired-session cleanup stopped");
        }
    });
}

/// The app's routes, listed once per process. Listing them runs the app with
/// resource loading switched off process-wide (leptos' `SuppressResourceLoad` is
/// a global flag), and a page resource first polled meanwhile waits forever
/// (leptos-rs/leptos#4773). So a second server built in the same process (the
/// tests build many) must never list them while another one renders pages.
fn routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

fn router<S: SessionStore + Clone>(
    settings: &Settings,
    state: AppState,
    store: S,
    metrics: metrics::Endpoint,
) -> Router {
    let page_state = PageOptions(Arc::new(leptos_options(settings)));
    let routes = routes();
    let context = {
        let state = state.clone();
        move || {
            leptos::prelude::provide_context(state.clone());
            leptos::prelude::provide_context(app::auth::session::RequestUser::for_page());
        }
    };
    let shell = {
        let page_state = page_state.clone();
        move || app::shell(&page_state.0)
    };
    let not_found = leptos_axum::render_app_async_with_context(context.clone(), shell.clone());
    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        .with_secure(settings.secure_cookies())
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::days(14),
        ));
    let site = site::Site {
        metrics: metrics.metrics.clone(),
        // Checked at start-up; were it unreadable, only the request's own
        // address would count as this site.
        public_origin: Arc::new(
            crate::security::WebOrigin::of_url(&settings.public_url).unwrap_or_default(),
        ),
        hsts: settings.secure_cookies(),
        trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
    };

    let pages = Router::new()
        .leptos_routes_with_context(&page_state, routes, context, shell)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.db.clone(),
            pages::around,
        ))
        .with_state(page_state);
    // With an address of its own, /metrics is not on the public one at all.
    let main = if settings.metrics.addr.is_some() {
        Router::new()
    } else {
        Router::new().route("/metrics", get(metrics::handler).with_state(metrics))
    };
    main.route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz).with_state(state.db.clone()))
        .merge(app::certs::http::router(state.clone()))
        .merge(app::labs::events::router(state.clone()))
        .merge(static_files::routes(static_files::load(&settings.site_dir)))
        .nest_service("/media", static_files::media(&settings.media_dir()))
        .merge(pages)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        // Uploads have limits of their own, by kind.
        .merge(app::admin::media::router(state.clone()))
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(site, site::around))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Ready to take traffic: the database answers and holds every migration this
/// binary knows. A load balancer sends requests only to ready instances.
async fn readyz(
    axum::extract::State(db): axum::extract::State<Db>,
) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    let check = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        app::db::pending_migrations(&db),
    )
    .await;
    match check {
        Ok(Ok(pending)) if pending.is_empty() => (StatusCode::OK, "ready\n".into()),
        Ok(Ok(pending)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: migrations {pending:?} are not applied\n"),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the database does not answer\n".into(),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the database did not answer within 3 s\n".into(),
        ),
    }
}

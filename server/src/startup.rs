//! Putting the server together: database, content, first admin, sessions, router.

use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;
use tower_http::services::ServeDir;
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use app::auth::ratelimit::{Limits, RateLimiter};
use app::db::{Backend, Db};
use app::state::{AppState, Config};

use crate::config::Settings;
use crate::{metrics, security, static_files};

/// Largest request body accepted (forms and server calls are small).
const BODY_LIMIT: usize = 1024 * 1024;

/// Opens the database and applies migrations.
pub async fn database(settings: &Settings) -> anyhow::Result<Db> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create data directory {}: {e}",
            settings.data_dir.display()
        )
    })?;
    let db = app::db::connect(&settings.database_url, 16)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open database {}: {e}",
                redact(&settings.database_url)
            )
        })?;
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
) -> anyhow::Result<app::course::import::ImportReport> {
    let report =
        app::course::import::import_all(db, &settings.content_dir, &settings.media_dir()).await?;
    for p in &report.problems {
        tracing::warn!(problem = %p, "content problem; that file is not published");
    }
    tracing::info!(imported = ?report.imported, unchanged = ?report.unchanged, modules = report.modules, "content imported");
    for p in app::exam::store::import_content(db, &settings.content_dir).await? {
        tracing::warn!(problem = %p, "exam content problem; that course's question bank is not imported");
    }
    Ok(report)
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

/// Everything a running server is made of.
pub struct Server {
    pub router: Router,
    pub state: AppState,
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
    };
    // Submits overdue exam attempts now (those that ran out while the server was down) and every 20 s.
    app::exam::attempts::spawn_sweeper(state.db.clone());
    // The certificate signing key exists from the first start on.
    app::certs::keys::active(&state.db)
        .await
        .map_err(|e| anyhow::anyhow!("certificate signing key: {e}"))?;
    let router = match Backend::from_url(&settings.database_url) {
        Some(Backend::Postgres) => {
            let pool = sqlx::PgPool::connect(&settings.database_url).await?;
            let schema = &settings.session_schema;
            let store = PostgresStore::new(pool)
                .with_schema_name(schema)
                .map_err(|e| anyhow::anyhow!("session schema: {e}"))?;
            store.migrate().await?;
            spawn_expiry(store.clone());
            router(settings, state.clone(), store)
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
            router(settings, state.clone(), store)
        }
    };
    Ok(Server { router, state })
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

fn router<S: SessionStore + Clone>(settings: &Settings, state: AppState, store: S) -> Router {
    let options = leptos_options(settings);
    let routes = generate_route_list(app::App);
    let context = {
        let state = state.clone();
        move || {
            leptos::prelude::provide_context(state.clone());
            leptos::prelude::provide_context(app::auth::session::RequestUser::default());
            leptos::nonce::provide_nonce();
        }
    };
    let shell = {
        let options = options.clone();
        move || app::shell(options.clone())
    };
    let not_found = leptos_axum::render_app_async_with_context(context.clone(), shell.clone());
    let metrics = metrics::Metrics::new();
    let sessions = SessionManagerLayer::new(store)
        .with_name("masterclass_session")
        .with_http_only(true)
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        .with_secure(settings.secure_cookies())
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::days(14),
        ));
    let public_url: Arc<str> = settings.public_url.clone().into();

    let pages = Router::new()
        .leptos_routes_with_context(&options, routes, context, shell)
        .fallback(not_found)
        .with_state(options);
    Router::new()
        .route(
            "/metrics",
            get(metrics::handler).with_state(metrics.clone()),
        )
        .route("/healthz", get(|| async { "ok" }))
        .merge(app::certs::http::router(state.clone()))
        .merge(static_files::routes(static_files::load(&settings.site_dir)))
        .nest_service("/media", ServeDir::new(settings.media_dir()))
        .merge(pages)
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(
            public_url,
            security::csrf,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(axum::middleware::from_fn(security::headers))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

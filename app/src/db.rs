//! The database handle: one sqlx `Any` pool over SQLite or PostgreSQL.
//!
//! Queries are written once in the SQL both dialects share (`$1` placeholders,
//! `BIGINT` integers, `RETURNING`); booleans and times are stored as integers
//! (0/1 and Unix milliseconds) so they decode the same on both backends.

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

/// The shared pool.
pub type Db = AnyPool;

/// Which SQL dialect a URL speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Recognises the backend from a `DATABASE_URL`.
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// Opens the pool; SQLite gets WAL, a busy timeout and foreign keys.
pub async fn connect(url: &str, max_connections: u32) -> Result<Db, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let backend = Backend::from_url(url).ok_or_else(|| {
        sqlx::Error::Configuration(format!("unsupported database URL {url:?}").into())
    })?;
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        // A ping before each use guards against a dropped network connection; an
        // embedded SQLite file has none, and the ping doubled every query's cost.
        .test_before_acquire(backend == Backend::Postgres)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    conn.execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?;
    if backend == Backend::Sqlite {
        pool.execute("PRAGMA journal_mode = WAL;").await?;
    }
    Ok(pool)
}

/// Applies the migrations for the backend behind `url`.
pub async fn migrate(db: &Db, url: &str) -> Result<(), sqlx::migrate::MigrateError> {
    match Backend::from_url(url) {
        Some(Backend::Postgres) => sqlx::migrate!("../migrations/postgres").run(db).await,
        _ => sqlx::migrate!("../migrations/sqlite").run(db).await,
    }
}

/// The backend a pool talks to (queries that differ by dialect ask this).
pub fn backend(db: &Db) -> Backend {
    Backend::from_url(db.connect_options().database_url.as_str()).unwrap_or(Backend::Sqlite)
}

/// The migrations this binary knows that the database has not applied, by
/// version (empty: the schema is current). Readiness checks ask this.
pub async fn pending_migrations(db: &Db) -> Result<Vec<i64>, sqlx::Error> {
    let migrator = match backend(db) {
        Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
    };
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_all(db)
            .await?;
    Ok(migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect())
}

/// Milliseconds since the Unix epoch, from the server's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

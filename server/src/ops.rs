//! Operations on the embedded SQLite database: an online, consistent backup
//! and a restore that checks what it is given and replaces the database in
//! one rename. (PostgreSQL has its own tools; the README shows the procedure.)

use std::fs::File;
use std::path::{Path, PathBuf};

use app::db::Backend;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;

use crate::config::Settings;

/// What a backup or a restore produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The file written (the backup, or the restored database).
    pub path: PathBuf,
    pub bytes: u64,
    /// The newest migration the copied database holds.
    pub schema: i64,
    /// Restore only: where the database it replaced was kept.
    pub kept: Option<PathBuf>,
}

/// The file behind a `sqlite:` URL; PostgreSQL has no file to copy.
pub fn sqlite_file(settings: &Settings) -> anyhow::Result<PathBuf> {
    let url = &settings.database_url;
    if Backend::from_url(url) != Some(Backend::Sqlite) {
        anyhow::bail!(
            "backup and restore work on the embedded SQLite database; for PostgreSQL use pg_dump and pg_restore (README, \"Backups\")"
        );
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!(
            "DATABASE_URL names an in-memory database: there is nothing to back up or restore"
        );
    }
    Ok(PathBuf::from(path))
}

/// The lock `serve` holds (shared) on its data directory while it runs, and
/// `restore` takes (exclusive) so it never swaps the database under a server.
pub fn lock_file(data_dir: &Path) -> anyhow::Result<File> {
    let path = data_dir.join("masterclass.lock");
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))
}

/// Held by a running server: `restore` refuses while any exists.
pub fn hold_data_dir(data_dir: &Path) -> anyhow::Result<File> {
    let f = lock_file(data_dir)?;
    f.lock_shared()
        .map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", data_dir.display()))?;
    Ok(f)
}

async fn open(path: &Path, read_only: bool) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .create_if_missing(false);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))
}

/// Checks that `path` is a whole Masterclass database this binary can run,
/// and returns the newest migration it holds.
pub async fn check_database(path: &Path) -> anyhow::Result<i64> {
    let shown = path.display();
    let mut header = [0u8; 16];
    {
        use std::io::Read;
        let mut f = File::open(path).map_err(|e| anyhow::anyhow!("cannot read {shown}: {e}"))?;
        f.read_exact(&mut header)
            .map_err(|_| anyhow::anyhow!("{shown} is not an SQLite database (too short)"))?;
    }
    if &header != b"SQLite format 3\0" {
        anyhow::bail!("{shown} is not an SQLite database");
    }
    let pool = open(path, true).await?;
    let result = async {
        let (integrity,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await?;
        if integrity != "ok" {
            anyhow::bail!("{shown} is damaged: {integrity}");
        }
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&pool)
                .await?;
        for needed in ["_sqlx_migrations", "users", "courses"] {
            if !tables.iter().any(|t| t == needed) {
                anyhow::bail!("{shown} is not a Masterclass database (it has no {needed} table)");
            }
        }
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
                .fetch_all(&pool)
                .await?;
        let known: Vec<i64> = sqlx::migrate!("../migrations/sqlite")
            .iter()
            .map(|m| m.version)
            .collect();
        if let Some(v) = applied.iter().find(|v| !known.contains(v)) {
            anyhow::bail!(
                "{shown} was made by a newer Masterclass (migration {v:04} is unknown here); upgrade first"
            );
        }
        applied
            .iter()
            .max()
            .copied()
            .ok_or_else(|| anyhow::anyhow!("{shown} is not a Masterclass database (no migration applied)"))
    }
    .await;
    pool.close().await;
    result
}

/// A temporary name next to `target`, so the final rename stays on one file system.
fn sibling(target: &Path, what: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "masterclass.db".into());
    target.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

fn sync_dir(path: &Path) {
    // Makes the rename itself durable; not every platform can open a directory.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Copies the live database to `file` while the server may keep running:
/// `VACUUM INTO` reads one consistent snapshot. The copy is written under a
/// temporary name, checked, and only then renamed to `file`.
pub async fn backup(settings: &Settings, file: &Path, force: bool) -> anyhow::Result<Outcome> {
    let db_path = sqlite_file(settings)?;
    if !db_path.is_file() {
        anyhow::bail!(
            "there is no database at {}: nothing to back up",
            db_path.display()
        );
    }
    if file.exists() && !force {
        anyhow::bail!(
            "{} exists; choose another name or pass --force to replace it",
            file.display()
        );
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            anyhow::bail!("folder {} does not exist", dir.display());
        }
    }
    let tmp = sibling(file, "partial");
    let _ = std::fs::remove_file(&tmp);
    let written = async {
        let pool = open(&db_path, false).await?;
        let r = sqlx::query("VACUUM INTO ?")
            .bind(tmp.to_string_lossy().into_owned())
            .execute(&pool)
            .await;
        pool.close().await;
        r.map_err(|e| anyhow::anyhow!("cannot copy {}: {e}", db_path.display()))?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
        let schema = check_database(&tmp).await?;
        std::fs::rename(&tmp, file)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
        sync_dir(file);
        anyhow::Ok(schema)
    }
    .await;
    let schema = written.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(Outcome {
        path: file.to_path_buf(),
        bytes: std::fs::metadata(file).map(|m| m.len()).unwrap_or(0),
        schema,
        kept: None,
    })
}

/// Replaces the database with the backup `file`, after checking it. Refuses
/// while a server runs on the data directory; refuses to replace an existing
/// database without `force`, and even then keeps it under a dated name.
pub async fn restore(settings: &Settings, file: &Path, force: bool) -> anyhow::Result<Outcome> {
    let db_path = sqlite_file(settings)?;
    let schema = check_database(file).await?;
    crate::startup::check_data_dir(&settings.data_dir)?;
    if let Some(dir) = db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let lock = lock_file(&settings.data_dir)?;
    if lock.try_lock().is_err() {
        anyhow::bail!(
            "a Masterclass server is running on {}; stop it before restoring",
            settings.data_dir.display()
        );
    }
    let exists = db_path.is_file();
    if exists && !force {
        anyhow::bail!(
            "{} already holds a database; pass --force to replace it (it is kept under a dated name)",
            db_path.display()
        );
    }
    let tmp = sibling(&db_path, "restoring");
    let copied = std::fs::copy(file, &tmp)
        .and_then(|_| File::open(&tmp).and_then(|f| f.sync_all()))
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot copy {} next to {}: {e}",
                file.display(),
                db_path.display()
            )
        });
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let mut kept = None;
    if exists {
        // Fold the write-ahead log into the file first, so the kept copy is whole
        // and no stale log is left to be replayed into the restored database.
        let pool = open(&db_path, false).await?;
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await;
        pool.close().await;
        let stamp = app::db::now_ms() / 1000;
        let old = db_path.with_file_name(format!(
            "{}.before-restore-{stamp}",
            db_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        std::fs::rename(&db_path, &old)
            .map_err(|e| anyhow::anyhow!("cannot move {} aside: {e}", db_path.display()))?;
        kept = Some(old);
    }
    for suffix in ["-wal", "-shm"] {
        let mut p = db_path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    std::fs::rename(&tmp, &db_path)
        .map_err(|e| anyhow::anyhow!("cannot put the restored database in place: {e}"))?;
    sync_dir(&db_path);
    drop(lock);
    Ok(Outcome {
        bytes: std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0),
        path: db_path,
        schema,
        kept,
    })
}

//! In-process copies of the rows every signed-in page reads (the account row
//! and the learner's progress), for the embedded SQLite database only.
//!
//! One server holds a SQLite data directory (`ops::hold_data_dir`), so every
//! write to these rows passes through this process, and each write drops the
//! copies it changes (`forget`). PostgreSQL deployments run several instances,
//! where a write on one must count on all: they keep no copies. The command
//! line, another process, only ever grants (`admin create` promoting an
//! existing account); copies expire after `FRESH_FOR`, which bounds that.
//!
//! Copies are kept per database, so servers on different databases in one
//! process (the tests build many) never see each other's rows.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::db::{Backend, Db};

/// How long a copy is used before the database is asked again.
const FRESH_FOR: Duration = Duration::from_secs(60);
/// Copies kept per database; when full, it starts over.
const CAPACITY: usize = 50_000;

/// Copies of one kind of row, by database and id.
pub struct RowCache<V> {
    shelves: LazyLock<Mutex<HashMap<String, Shelf<V>>>>,
}

struct Shelf<V> {
    rows: HashMap<i64, (Instant, V)>,
    /// Moved by every write: a read that began before it keeps no copy.
    generation: u64,
}

impl<V> Default for Shelf<V> {
    fn default() -> Self {
        Shelf {
            rows: HashMap::new(),
            generation: 0,
        }
    }
}

/// Account rows by user id.
pub static USERS: RowCache<crate::auth::session::UserRow> = RowCache::new();
/// Completed modules and passed labs, by user id.
pub static PROGRESS: RowCache<std::sync::Arc<[crate::course::queries::ProgressRow]>> =
    RowCache::new();

impl<V: Clone> RowCache<V> {
    const fn new() -> Self {
        RowCache {
            shelves: LazyLock::new(|| Mutex::new(HashMap::new())),
        }
    }

    fn shelves(&self) -> std::sync::MutexGuard<'_, HashMap<String, Shelf<V>>> {
        self.shelves.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The row `id`: the copy while it is fresh, else `load`'s answer (kept
    /// unless a write happened while it was read).
    pub async fn get_or_load<E, F, Fut>(&self, db: &Db, id: i64, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let Some(key) = key(db) else {
            return load().await;
        };
        let generation = {
            let mut shelves = self.shelves();
            let shelf = shelves.entry(key.clone()).or_default();
            if let Some((at, v)) = shelf.rows.get(&id) {
                if at.elapsed() < FRESH_FOR {
                    return Ok(v.clone());
                }
            }
            shelf.generation
        };
        let v = load().await?;
        let mut shelves = self.shelves();
        let shelf = shelves.entry(key).or_default();
        if shelf.generation == generation {
            if shelf.rows.len() >= CAPACITY {
                shelf.rows.clear();
            }
            shelf.rows.insert(id, (Instant::now(), v.clone()));
        }
        Ok(v)
    }

    /// Drops the copy of row `id`; call it after the write is committed.
    pub fn forget(&self, db: &Db, id: i64) {
        self.after_write(db, |rows| {
            rows.remove(&id);
        });
    }

    /// Drops every copy from `db` (a write not addressed by id).
    pub fn forget_all(&self, db: &Db) {
        self.after_write(db, HashMap::clear);
    }

    fn after_write(&self, db: &Db, drop: impl FnOnce(&mut HashMap<i64, (Instant, V)>)) {
        if let Some(key) = key(db) {
            let mut shelves = self.shelves();
            let shelf = shelves.entry(key).or_default();
            shelf.generation += 1;
            drop(&mut shelf.rows);
        }
    }
}

/// Which shelf `db`'s rows go on; `None` where no copies are kept.
fn key(db: &Db) -> Option<String> {
    let options = db.connect_options();
    let url = options.database_url.as_str();
    (Backend::from_url(url) == Some(Backend::Sqlite)).then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn sqlite() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = crate::db::connect(&url, 2).await.expect("db");
        (dir, db)
    }

    static NUMBERS: RowCache<usize> = RowCache::new();

    #[tokio::test]
    async fn a_copy_is_used_until_a_write_forgets_it() {
        let (_dir, db) = sqlite().await;
        let loads = AtomicUsize::new(0);
        let load = || async { Ok::<_, ()>(loads.fetch_add(1, Ordering::SeqCst) + 1) };
        assert_eq!(NUMBERS.get_or_load(&db, 7, load).await, Ok(1));
        assert_eq!(NUMBERS.get_or_load(&db, 7, load).await, Ok(1));
        NUMBERS.forget(&db, 7);
        assert_eq!(NUMBERS.get_or_load(&db, 7, load).await, Ok(2));
        NUMBERS.forget_all(&db);
        assert_eq!(NUMBERS.get_or_load(&db, 7, load).await, Ok(3));
        // Another database has rows of its own.
        let (_other_dir, other) = sqlite().await;
        assert_eq!(NUMBERS.get_or_load(&other, 7, load).await, Ok(4));
        assert_eq!(NUMBERS.get_or_load(&db, 7, load).await, Ok(3));
    }

    #[tokio::test]
    async fn a_read_overtaken_by_a_write_keeps_no_copy() {
        let (_dir, db) = sqlite().await;
        // The read sees the old row; the write commits and forgets before the read ends.
        let stale = NUMBERS
            .get_or_load(&db, 1, || async {
                NUMBERS.forget(&db, 1);
                Ok::<_, ()>(10)
            })
            .await;
        assert_eq!(stale, Ok(10));
        let fresh = NUMBERS
            .get_or_load(&db, 1, || async { Ok::<_, ()>(11) })
            .await;
        assert_eq!(fresh, Ok(11), "the overtaken read was not kept");
    }

    #[tokio::test]
    async fn errors_are_not_kept() {
        let (_dir, db) = sqlite().await;
        assert_eq!(
            NUMBERS
                .get_or_load(&db, 2, || async { Err::<usize, _>("down") })
                .await,
            Err("down")
        );
        assert_eq!(
            NUMBERS
                .get_or_load(&db, 2, || async { Ok::<_, &str>(5) })
                .await,
            Ok(5)
        );
    }
}

//! Signed-in pages without a session query: an in-process copy of the session
//! records, in front of the SQLite session store.
//!
//! With the embedded SQLite database exactly one server holds the data directory
//! (`ops::hold_data_dir`), so every session write passes through this process and
//! the copy cannot go stale: a logout or a rotated id reaches the cache and the
//! database together. PostgreSQL deployments run several instances, where a
//! logout on one must count on all; they get no cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Result, SessionStore};

/// Records by session id, at most `capacity` of them: when full, the cache
/// starts over (the database still holds every session).
#[derive(Debug, Clone)]
pub struct SessionCache {
    records: Arc<Mutex<HashMap<Id, Record>>>,
    capacity: usize,
}

impl SessionCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            records: Arc::default(),
            capacity: capacity.max(1),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<Id, Record>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl SessionStore for SessionCache {
    /// The database has already chosen a unique id; the copy takes it as it is.
    async fn create(&self, record: &mut Record) -> Result<()> {
        self.save(record).await
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let mut records = self.records();
        if records.len() >= self.capacity && !records.contains_key(&record.id) {
            records.clear();
        }
        records.insert(record.id, record.clone());
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let mut records = self.records();
        match records.get(id) {
            Some(r) if r.expiry_date > OffsetDateTime::now_utc() => Ok(Some(r.clone())),
            Some(_) => {
                records.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.records().remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_sessions::cookie::time::Duration;

    fn record(expires_in: Duration) -> Record {
        Record {
            id: Id::default(),
            data: HashMap::from([("user".to_string(), serde_json::json!(7))]),
            expiry_date: OffsetDateTime::now_utc() + expires_in,
        }
    }

    #[tokio::test]
    async fn keeps_saves_forgets_deletes_and_expired_records() {
        let cache = SessionCache::new(10);
        let mut live = record(Duration::hours(1));
        cache.create(&mut live).await.expect("create");
        assert_eq!(
            cache.load(&live.id).await.expect("load"),
            Some(live.clone())
        );
        live.data.insert("epoch".into(), serde_json::json!(2));
        cache.save(&live).await.expect("save");
        assert_eq!(
            cache.load(&live.id).await.expect("load"),
            Some(live.clone())
        );
        cache.delete(&live.id).await.expect("delete");
        assert_eq!(cache.load(&live.id).await.expect("load"), None);

        let old = record(Duration::seconds(-1));
        cache.save(&old).await.expect("save");
        assert_eq!(cache.load(&old.id).await.expect("load"), None);
        assert!(cache.records().is_empty(), "an expired record is dropped");
    }

    #[tokio::test]
    async fn starts_over_when_full() {
        let cache = SessionCache::new(3);
        let records: Vec<Record> = (0..3).map(|_| record(Duration::hours(1))).collect();
        for r in &records {
            cache.save(r).await.expect("save");
        }
        // Saving a known record again never evicts.
        cache.save(&records[0]).await.expect("save");
        assert_eq!(cache.records().len(), 3);
        let fourth = record(Duration::hours(1));
        cache.save(&fourth).await.expect("save");
        assert_eq!(cache.records().len(), 1);
        assert!(cache.load(&fourth.id).await.expect("load").is_some());
        assert!(cache.load(&records[1].id).await.expect("load").is_none());
    }
}

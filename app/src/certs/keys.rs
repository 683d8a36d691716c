//! The platform's Ed25519 signing keys, kept in the database so every instance
//! behind a load balancer signs with the same key. Rotation adds a key and
//! retires the old one from signing; retired public keys stay published.

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::{now_ms, Db};
use crate::error::AppError;

/// A key id: the start of the SHA-256 of the public key (stable and unguessable enough).
fn kid_of(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    format!("mc-{}", hex::encode(&digest[..8]))
}

fn generate() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    SigningKey::from_bytes(&seed)
}

fn decode_secret(hex_secret: &str) -> Result<SigningKey, AppError> {
    let bytes = hex::decode(hex_secret).map_err(|_| AppError::Internal)?;
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| AppError::Internal)?;
    Ok(SigningKey::from_bytes(&seed))
}

async fn insert(db: &Db, key: &SigningKey, active: bool) -> Result<(String, u64), AppError> {
    let public = key.verifying_key();
    let kid = kid_of(&public);
    let n = sqlx::query(
        "INSERT INTO cert_keys (kid, secret_hex, public_hex, created_at, active) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING",
    )
    .bind(&kid)
    .bind(hex::encode(key.to_bytes()))
    .bind(hex::encode(public.as_bytes()))
    .bind(now_ms())
    .bind(i64::from(active))
    .execute(db)
    .await?
    .rows_affected();
    Ok((kid, n))
}

/// The key that signs new credentials, created on first use.
pub async fn active(db: &Db) -> Result<(String, SigningKey), AppError> {
    for _ in 0..2 {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT kid, secret_hex FROM cert_keys WHERE active = 1")
                .fetch_optional(db)
                .await?;
        if let Some((kid, secret)) = row {
            return Ok((kid, decode_secret(&secret)?));
        }
        // Another instance starting at the same moment may win; the unique index keeps one.
        let key = generate();
        let (kid, n) = insert(db, &key, true).await?;
        if n == 1 {
            tracing::info!(%kid, "certificate signing key created");
            return Ok((kid, key));
        }
    }
    Err(AppError::Internal)
}

/// Makes a new key the active one; the old ones keep verifying. Returns the new kid.
pub async fn rotate(db: &Db) -> Result<String, AppError> {
    let key = generate();
    let public = key.verifying_key();
    let kid = kid_of(&public);
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE cert_keys SET active = 0 WHERE active = 1")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO cert_keys (kid, secret_hex, public_hex, created_at, active) VALUES ($1, $2, $3, $4, 1)",
    )
    .bind(&kid)
    .bind(hex::encode(key.to_bytes()))
    .bind(hex::encode(public.as_bytes()))
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(%kid, "certificate signing key rotated");
    Ok(kid)
}

/// Every public key ever used, newest first, with whether it signs new credentials.
pub async fn public_keys(db: &Db) -> Result<Vec<(String, VerifyingKey, bool)>, AppError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kid, public_hex, active FROM cert_keys ORDER BY created_at DESC, kid",
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(kid, public, active)| {
            let bytes = hex::decode(&public).map_err(|_| AppError::Internal)?;
            let arr: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| AppError::Internal)?;
            let key = VerifyingKey::from_bytes(&arr).map_err(|_| AppError::Internal)?;
            Ok((kid, key, active != 0))
        })
        .collect()
}

/// The JWKS document of all published keys.
pub async fn jwks(db: &Db) -> Result<serde_json::Value, AppError> {
    let keys = public_keys(db).await?;
    Ok(serde_json::json!({
        "keys": keys.iter().map(|(kid, k, _)| super::jose::jwk(kid, k)).collect::<Vec<_>>()
    }))
}

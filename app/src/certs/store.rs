//! Certificates in the database: issuing (idempotent), viewing, listing, revoking,
//! and the revocation list.

use rand::RngCore;

use super::credential::{self, Subject};
use super::verify::{self, StatusSource};
use super::{keys, CertificateRow, CertificateView, ClaimInfo, MyCertificateList, VerifyReport};
use crate::auth::User;
use crate::db::{now_ms, Db};
use crate::error::AppError;

/// Ids are 128 random bits in lowercase hex; anything else is simply not found.
fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn new_id() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The name as it will be printed: trimmed, 1 to 100 characters, nothing hidden
/// (no control, format, zero-width or text-direction characters; see [`super::text`]).
fn parse_name(name: &str) -> Result<String, AppError> {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(AppError::Validation(
            "Enter the name to print on the certificate.".into(),
        ));
    }
    if name.chars().count() > 100 {
        return Err(AppError::Validation(
            "The name can be at most 100 characters long.".into(),
        ));
    }
    if let Some((c, kind)) = name
        .chars()
        .find_map(|c| super::text::hidden(c).map(|k| (c, k)))
    {
        return Err(AppError::Validation(format!(
            "The name contains {kind} (U+{:04X}), which would print invisibly or change how the name reads. Type the name without it.",
            c as u32
        )));
    }
    Ok(name)
}

/// A passed attempt of `user`: (course id, course title, course slug). Anyone else's is not found.
async fn passed_attempt(
    db: &Db,
    attempt: i64,
    user: &User,
) -> Result<(i64, String, String), AppError> {
    let row: Option<(i64, i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT user_id, course_id, status, passed FROM exam_attempts WHERE id = $1",
    )
    .bind(attempt)
    .fetch_optional(db)
    .await?;
    let Some((uid, cid, status, passed)) = row else {
        return Err(AppError::NotFound);
    };
    if uid != user.id {
        return Err(AppError::NotFound);
    }
    if status != "submitted" || passed != Some(1) {
        return Err(AppError::Conflict(
            "Only a passed exam attempt earns a certificate.".into(),
        ));
    }
    let (title, slug): (String, String) =
        sqlx::query_as("SELECT title, slug FROM courses WHERE id = $1")
            .bind(cid)
            .fetch_one(db)
            .await?;
    Ok((cid, title, slug))
}

/// The certificate already standing for this attempt or this learner's course.
async fn existing(
    db: &Db,
    attempt: i64,
    user_id: i64,
    course_id: i64,
) -> Result<Option<String>, AppError> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT c.id FROM certificates c LEFT JOIN exam_attempts a ON a.id = c.attempt_id
         WHERE c.attempt_id = $1
            OR (c.user_id = $2 AND c.course_id = $3 AND c.revoked_at IS NULL AND (a.status IS NULL OR a.status <> 'voided'))
         ORDER BY c.issued_at LIMIT 1",
    )
    .bind(attempt)
    .bind(user_id)
    .bind(course_id)
    .fetch_optional(db)
    .await?;
    Ok(id)
}

/// What the claim form shows.
pub async fn claim_info(db: &Db, attempt: i64, user: &User) -> Result<ClaimInfo, AppError> {
    let (cid, title, slug) = passed_attempt(db, attempt, user).await?;
    let certificate = existing(db, attempt, user.id, cid).await?;
    let default_name = match &certificate {
        Some(id) => {
            sqlx::query_scalar("SELECT recipient_name FROM certificates WHERE id = $1")
                .bind(id)
                .fetch_one(db)
                .await?
        }
        None => user.display_name.clone(),
    };
    Ok(ClaimInfo {
        attempt,
        course_title: title,
        course_slug: slug,
        default_name,
        certificate,
    })
}

/// Signs the credential of a certificate with the active key.
async fn sign(db: &Db, public_url: &str, s: &Subject<'_>) -> Result<(String, String), AppError> {
    let (kid, key) = keys::active(db).await?;
    let vc = credential::credential(public_url, s);
    Ok((kid.clone(), super::jose::sign(&key, &kid, "vc+jwt", &vc)))
}

/// Issues (or re-issues under a corrected name) the certificate of a passed attempt.
pub async fn issue(
    db: &Db,
    public_url: &str,
    attempt: i64,
    user: &User,
    name: &str,
) -> Result<String, AppError> {
    let name = parse_name(name)?;
    let (cid, title, slug) = passed_attempt(db, attempt, user).await?;
    for _ in 0..5 {
        if let Some(id) = existing(db, attempt, user.id, cid).await? {
            // The validity was fixed at issue: a name correction neither extends nor shortens it.
            let (old_name, issued_at, valid_until, index, course_title): (String, i64, Option<i64>, i64, String) = sqlx::query_as(
                "SELECT recipient_name, issued_at, valid_until, status_index, course_title FROM certificates WHERE id = $1",
            )
            .bind(&id)
            .fetch_one(db)
            .await?;
            if old_name != name {
                let subject = Subject {
                    id: &id,
                    recipient_name: &name,
                    course_title: &course_title,
                    course_slug: &slug,
                    issued_at,
                    valid_until,
                    status_index: index,
                };
                let (kid, jwt) = sign(db, public_url, &subject).await?;
                sqlx::query(
                    "UPDATE certificates SET recipient_name = $1, kid = $2, credential_jwt = $3, updated_at = $4 WHERE id = $5",
                )
                .bind(&name)
                .bind(&kid)
                .bind(&jwt)
                .bind(now_ms())
                .bind(&id)
                .execute(db)
                .await?;
            }
            return Ok(id);
        }
        let id = new_id();
        let index: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(status_index), -1) + 1 FROM certificates")
                .fetch_one(db)
                .await?;
        let now = now_ms();
        let valid_until = crate::exam::store::blueprint(db, cid)
            .await?
            .and_then(|b| b.certificate_valid_months)
            .map(|months| credential::valid_until(now, months));
        let subject = Subject {
            id: &id,
            recipient_name: &name,
            course_title: &title,
            course_slug: &slug,
            issued_at: now,
            valid_until,
            status_index: index,
        };
        let (kid, jwt) = sign(db, public_url, &subject).await?;
        let inserted = sqlx::query(
            "INSERT INTO certificates (id, status_index, attempt_id, user_id, course_id, recipient_name, course_title, issued_at, updated_at, kid, credential_jwt, valid_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(index)
        .bind(attempt)
        .bind(user.id)
        .bind(cid)
        .bind(&name)
        .bind(&title)
        .bind(now)
        .bind(&kid)
        .bind(&jwt)
        .bind(valid_until)
        .execute(db)
        .await?
        .rows_affected();
        if inserted == 1 {
            tracing::info!(certificate = %id, attempt, "certificate issued");
            return Ok(id);
        }
        // A concurrent issue took the attempt or the status index: look again.
    }
    Err(AppError::Conflict(
        "The certificate could not be issued just now; please try again.".into(),
    ))
}

/// A certificate as [`load`] reads it.
struct Row {
    id: String,
    recipient_name: String,
    course_title: String,
    course_slug: String,
    issued_at: i64,
    valid_until: Option<i64>,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
    kid: String,
    attempt_status: Option<String>,
    credential_jwt: String,
}

type RowTuple = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    String,
    Option<String>,
    String,
);

async fn load(db: &Db, id: &str) -> Result<Row, AppError> {
    if !valid_id(id) {
        return Err(AppError::NotFound);
    }
    let row: Option<RowTuple> = sqlx::query_as(
        "SELECT c.id, c.recipient_name, c.course_title, co.slug, c.issued_at, c.valid_until, c.revoked_at, c.revoked_reason, c.kid, a.status, c.credential_jwt
         FROM certificates c JOIN courses co ON co.id = c.course_id LEFT JOIN exam_attempts a ON a.id = c.attempt_id
         WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    let (
        id,
        recipient_name,
        course_title,
        course_slug,
        issued_at,
        valid_until,
        revoked_at,
        revoked_reason,
        kid,
        attempt_status,
        credential_jwt,
    ) = row.ok_or(AppError::NotFound)?;
    Ok(Row {
        id,
        recipient_name,
        course_title,
        course_slug,
        issued_at,
        valid_until,
        revoked_at,
        revoked_reason,
        kid,
        attempt_status,
        credential_jwt,
    })
}

/// Whether a certificate valid until `valid_until` has expired at `now`; the same
/// boundary as the verifier's (`validUntil <= now` is expired).
fn expired(valid_until: Option<i64>, now: i64) -> bool {
    valid_until.is_some_and(|t| t <= now)
}

/// Why a certificate no longer stands, if it does not.
fn revocation(
    revoked_at: Option<i64>,
    reason: Option<String>,
    attempt_status: Option<&str>,
) -> Option<String> {
    match (revoked_at, attempt_status) {
        (Some(_), _) => Some(reason.unwrap_or_default()),
        (None, Some("voided")) => {
            Some("The exam attempt it was issued for was voided by an administrator.".into())
        }
        _ => None,
    }
}

fn qr_path(url: &str) -> (i32, String) {
    let Ok(code) = qrcode::QrCode::new(url.as_bytes()) else {
        return (0, String::new());
    };
    let w = code.width();
    let mut path = String::new();
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            path.push_str(&format!("M{} {}h1v1h-1z", i % w + 4, i / w + 4));
        }
    }
    (i32::try_from(w + 8).unwrap_or(0), path)
}

/// The public view of one certificate.
pub async fn view(db: &Db, public_url: &str, id: &str) -> Result<CertificateView, AppError> {
    let r = load(db, id).await?;
    let revoked_reason = revocation(r.revoked_at, r.revoked_reason, r.attempt_status.as_deref());
    let page_url = credential::page_url(public_url, &r.id);
    let (qr_size, qr_path) = qr_path(&page_url);
    Ok(CertificateView {
        linkedin_url: credential::linkedin_url(public_url, &r.id, &r.course_title, r.issued_at),
        issued_date: credential::iso_utc(r.issued_at)[..10].to_string(),
        revoked: revoked_reason.is_some(),
        revoked_reason,
        valid_until_date: r
            .valid_until
            .map(|t| credential::iso_utc(t)[..10].to_string()),
        expired: expired(r.valid_until, now_ms()),
        id: r.id,
        recipient_name: r.recipient_name,
        course_title: r.course_title,
        course_slug: r.course_slug,
        issued_at: r.issued_at,
        page_url,
        kid: r.kid,
        qr_size,
        qr_path,
    })
}

/// The stored VC-JWT of a certificate.
pub async fn credential_jwt(db: &Db, id: &str) -> Result<String, AppError> {
    Ok(load(db, id).await?.credential_jwt)
}

/// The certificate as a PDF.
pub async fn pdf(db: &Db, public_url: &str, id: &str) -> Result<Vec<u8>, AppError> {
    let v = view(db, public_url, id).await?;
    Ok(super::pdf::render(&super::pdf::PdfCertificate {
        recipient_name: &v.recipient_name,
        course_title: &v.course_title,
        issued: &v.issued_date,
        id: &v.id,
        url: &v.page_url,
        revoked: v.revoked_reason.as_deref(),
        valid_until: v.valid_until_date.as_deref(),
        expired: v.expired,
    }))
}

/// The status list indices of revoked certificates (revoked, or their attempt voided).
pub async fn revoked_indices(db: &Db) -> Result<Vec<i64>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT c.status_index FROM certificates c LEFT JOIN exam_attempts a ON a.id = c.attempt_id
         WHERE c.revoked_at IS NOT NULL OR a.status = 'voided'",
    )
    .fetch_all(db)
    .await?)
}

/// The signed status list credential.
pub async fn status_list_jwt(db: &Db, public_url: &str) -> Result<String, AppError> {
    let revoked = revoked_indices(db).await?;
    let vc = credential::status_list_credential(public_url, &revoked, now_ms());
    let (kid, key) = keys::active(db).await?;
    Ok(super::jose::sign(&key, &kid, "vc+jwt", &vc))
}

/// id, name, course title, issued, valid until, revoked at, reason, attempt status, email.
type ListRow = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn rows(r: Vec<ListRow>) -> Vec<CertificateRow> {
    let now = now_ms();
    r.into_iter()
        .map(
            |(id, name, title, issued_at, valid_until, revoked_at, reason, status, email)| {
                let reason = revocation(revoked_at, reason, status.as_deref());
                CertificateRow {
                    id,
                    recipient_name: name,
                    course_title: title,
                    issued_at,
                    revoked: reason.is_some(),
                    revoked_reason: reason,
                    valid_until,
                    expired: expired(valid_until, now),
                    email,
                }
            },
        )
        .collect()
}

/// A learner's certificates and unclaimed passed attempts.
pub async fn mine(db: &Db, user_id: i64) -> Result<MyCertificateList, AppError> {
    let issued = rows(
        sqlx::query_as(
            "SELECT c.id, c.recipient_name, c.course_title, c.issued_at, c.valid_until, c.revoked_at, c.revoked_reason, a.status, CAST(NULL AS TEXT)
             FROM certificates c LEFT JOIN exam_attempts a ON a.id = c.attempt_id
             WHERE c.user_id = $1 ORDER BY c.issued_at DESC",
        )
        .bind(user_id)
        .fetch_all(db)
        .await?,
    );
    let claimable: Vec<(i64, String)> = sqlx::query_as(
        "SELECT MIN(a.id), co.title FROM exam_attempts a JOIN courses co ON co.id = a.course_id
         WHERE a.user_id = $1 AND a.status = 'submitted' AND a.passed = 1
           AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.user_id = a.user_id AND c.course_id = a.course_id AND c.revoked_at IS NULL)
         GROUP BY co.title ORDER BY co.title",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?;
    Ok(MyCertificateList { issued, claimable })
}

/// Every certificate, newest first.
pub async fn all(db: &Db) -> Result<Vec<CertificateRow>, AppError> {
    Ok(rows(
        sqlx::query_as(
            "SELECT c.id, c.recipient_name, c.course_title, c.issued_at, c.valid_until, c.revoked_at, c.revoked_reason, a.status, u.email
             FROM certificates c JOIN users u ON u.id = c.user_id LEFT JOIN exam_attempts a ON a.id = c.attempt_id
             ORDER BY c.issued_at DESC LIMIT 500",
        )
        .fetch_all(db)
        .await?,
    ))
}

/// Revokes a certificate; its bit in the status list is set from now on.
pub async fn revoke(db: &Db, id: &str, reason: &str, admin: i64) -> Result<(), AppError> {
    let id = id.trim();
    if !valid_id(id) {
        return Err(AppError::NotFound);
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::Validation(
            "Give a reason: the public page shows it.".into(),
        ));
    }
    if reason.chars().count() > 500 {
        return Err(AppError::Validation(
            "The reason can be at most 500 characters long.".into(),
        ));
    }
    let n = sqlx::query(
        "UPDATE certificates SET revoked_at = $1, revoked_reason = $2, revoked_by = $3 WHERE id = $4 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(reason)
    .bind(admin)
    .bind(id)
    .execute(db)
    .await?
    .rows_affected();
    if n == 0 {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM certificates WHERE id = $1")
                .bind(id)
                .fetch_optional(db)
                .await?;
        return Err(match exists {
            Some(_) => AppError::Conflict("This certificate is already revoked.".into()),
            None => AppError::NotFound,
        });
    }
    tracing::info!(certificate = %id, admin, "certificate revoked");
    Ok(())
}

/// Verifies a credential against this platform's keys and status list.
pub async fn verify_here(db: &Db, public_url: &str, jwt: &str) -> Result<VerifyReport, AppError> {
    let jwt = jwt.trim();
    if jwt.is_empty() {
        return Err(AppError::Validation(
            "Paste a credential (the contents of its .jwt file) or choose the file.".into(),
        ));
    }
    if jwt.len() > 64 * 1024 {
        return Err(AppError::Validation(
            "That is far too long to be a credential.".into(),
        ));
    }
    let ours = format!("{public_url}/issuer");
    if let Ok(jws) = super::jose::Jws::parse(jwt) {
        if let Some(issuer) = verify::issuer_id(&jws.payload).filter(|i| *i != ours) {
            let detail = format!(
                "issued by {issuer}, not by this platform ({ours}); check it against its own issuer's keys (masterclass cert verify does)"
            );
            return Ok(VerifyReport {
                reason: Some(detail.clone()),
                checks: vec![super::Check {
                    name: "Issuer".into(),
                    ok: false,
                    detail,
                }],
                issuer: Some(issuer),
                ..Default::default()
            });
        }
    }
    let keys: Vec<(String, ed25519_dalek::VerifyingKey)> = keys::public_keys(db)
        .await?
        .into_iter()
        .map(|(kid, k, _)| (kid, k))
        .collect();
    let bits = credential::bitstring(&revoked_indices(db).await?);
    Ok(verify::verify(jwt, &keys, StatusSource::Bits(bits)))
}

//! Checking a credential: the same steps for `masterclass cert verify` and the
//! public verification page. Each step says plainly why it fails.

use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use super::credential::{self, parse_iso};
use super::jose::Jws;
use super::{Check, VerifyReport};

/// Where the revocation status comes from.
pub enum StatusSource {
    /// The issuer's status list bitstring (already decoded).
    Bits(Vec<u8>),
    /// Not checked, with the reason (offline, say).
    Skipped(String),
    /// Could not be obtained.
    Failed(String),
}

/// What the status list credential points at, to fetch it.
pub fn status_list_url(payload: &Value) -> Option<String> {
    payload
        .get("credentialStatus")?
        .get("statusListCredential")?
        .as_str()
        .map(str::to_string)
}

/// The issuer's id, whether the issuer is a string or a profile.
pub fn issuer_id(payload: &Value) -> Option<String> {
    let issuer = payload.get("issuer")?;
    issuer
        .as_str()
        .or_else(|| issuer.get("id").and_then(Value::as_str))
        .map(str::to_string)
}

/// A platform's address from its address or its issuer id (`…/issuer`), without
/// a trailing slash: `https://learn.example/issuer/` → `https://learn.example`.
pub fn issuer_base(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    url.strip_suffix("/issuer")
        .unwrap_or(url)
        .trim_end_matches('/')
        .to_string()
}

/// The issuer id a platform at `base` signs into its credentials.
pub fn issuer_id_of(base: &str) -> String {
    format!("{}/issuer", issuer_base(base))
}

/// Where the issuer publishes its keys: the JWKS next to its profile.
pub fn jwks_url_for(issuer: &str) -> String {
    format!("{}/.well-known/jwks.json", issuer_base(issuer))
}

/// Where the issuer publishes its revocation list.
pub fn status_list_url_for(issuer: &str) -> String {
    format!("{}/status/revocation", issuer_base(issuer))
}

/// Decodes a status list credential, a VC-JWT whose signature must check
/// against the issuer's `keys`: an unsigned list could say anything.
pub fn status_bits(document: &str, keys: &[(String, VerifyingKey)]) -> Result<Vec<u8>, String> {
    let doc = document.trim();
    let vc: Value = {
        let jws = Jws::parse(doc).map_err(|e| format!("status list: {e}"))?;
        let key = jws
            .kid()
            .and_then(|kid| keys.iter().find(|(k, _)| k == kid))
            .ok_or("the status list is signed with a key the issuer does not publish")?;
        jws.verify(&key.1)
            .map_err(|e| format!("the status list's signature is bad: {e}"))?;
        jws.payload
    };
    let encoded = vc
        .pointer("/credentialSubject/encodedList")
        .and_then(Value::as_str)
        .ok_or("the status list has no encodedList")?;
    credential::decode_list(encoded)
}

/// Runs every check on `token` as a credential of `issuer` (an issuer id,
/// `…/issuer`), whose keys are `keys`: one naming any other issuer fails before
/// its signature is looked at, since the keys vouch for `issuer` alone.
pub fn verify_issued_by(
    token: &str,
    issuer: &str,
    keys: &[(String, VerifyingKey)],
    status: StatusSource,
) -> VerifyReport {
    let Ok(jws) = Jws::parse(token) else {
        // Not a credential at all: the format check says why.
        return verify(token, keys, status);
    };
    let refuse = |detail: String| VerifyReport {
        reason: Some(detail.clone()),
        checks: vec![
            Check {
                name: "Format".into(),
                ok: true,
                detail: "a compact JWS (VC-JWT)".into(),
            },
            Check {
                name: "Issuer".into(),
                ok: false,
                detail,
            },
        ],
        // What an unverified credential claims is not shown as a fact.
        ..Default::default()
    };
    match issuer_id(&jws.payload) {
        Some(claimed) if claimed == issuer => {
            let mut report = verify(token, keys, status);
            report.checks.insert(
                1.min(report.checks.len()),
                Check {
                    name: "Issuer".into(),
                    ok: true,
                    detail: format!("{issuer}, the issuer checked against"),
                },
            );
            report
        }
        Some(claimed) => {
            let detail =
                format!("issued by {claimed}, not by {issuer}, the issuer checked against");
            refuse(detail)
        }
        None => refuse("the credential names no issuer".into()),
    }
}

/// Runs every check on `token` against the issuer's `keys`, now by the server's clock.
pub fn verify(token: &str, keys: &[(String, VerifyingKey)], status: StatusSource) -> VerifyReport {
    verify_at(token, keys, status, crate::db::now_ms())
}

/// Runs every check on `token` against the issuer's `keys`, as of `now` (Unix ms): how a
/// credential fares once it has expired is asked without faking any clock.
pub fn verify_at(
    token: &str,
    keys: &[(String, VerifyingKey)],
    status: StatusSource,
    now: i64,
) -> VerifyReport {
    let mut report = VerifyReport::default();
    let fail = |mut r: VerifyReport, name: &str, detail: String| {
        r.checks.push(Check {
            name: name.into(),
            ok: false,
            detail: detail.clone(),
        });
        r.valid = false;
        r.reason = Some(detail);
        r
    };
    let jws = match Jws::parse(token) {
        Ok(j) => j,
        Err(e) => return fail(report, "Format", e),
    };
    let p = &jws.payload;
    report.checks.push(Check {
        name: "Format".into(),
        ok: true,
        detail: "a compact JWS (VC-JWT)".into(),
    });

    let Some(kid) = jws.kid() else {
        return fail(report, "Issuer key", "the header names no key (kid)".into());
    };
    let Some((_, key)) = keys.iter().find(|(k, _)| k == kid) else {
        return fail(
            report,
            "Issuer key",
            format!("signed with key {kid}, which the issuer does not publish"),
        );
    };
    report.checks.push(Check {
        name: "Issuer key".into(),
        ok: true,
        detail: format!("key {kid} is published by the issuer"),
    });
    if let Err(e) = jws.verify(key) {
        return fail(report, "Signature", e);
    }
    report.checks.push(Check {
        name: "Signature".into(),
        ok: true,
        detail: "Ed25519 signature matches".into(),
    });
    // Only now is what the credential says the issuer's word: a forged or altered
    // credential names nobody on the report.
    report.recipient_name = credential::recipient_of(p);
    report.achievement = p
        .pointer("/credentialSubject/achievement/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    report.issuer = issuer_id(p);
    report.credential_id = p.get("id").and_then(Value::as_str).map(str::to_string);

    let types: Vec<&str> = p
        .get("type")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !types.contains(&"VerifiableCredential") || !types.contains(&"OpenBadgeCredential") {
        return fail(
            report,
            "Type",
            "not an OpenBadgeCredential verifiable credential".into(),
        );
    }

    let from = p.get("validFrom").and_then(Value::as_str);
    match from.map(parse_iso) {
        None => {
            return fail(
                report,
                "Validity",
                "the credential has no validFrom date".into(),
            )
        }
        Some(None) => return fail(report, "Validity", "validFrom is not a valid date".into()),
        Some(Some(t)) if t > now => {
            return fail(
                report,
                "Validity",
                format!("not valid yet: valid from {}", from.unwrap_or_default()),
            )
        }
        Some(Some(_)) => {}
    }
    if let Some(until) = p.get("validUntil").and_then(Value::as_str) {
        match parse_iso(until) {
            None => return fail(report, "Validity", "validUntil is not a valid date".into()),
            Some(t) if t <= now => {
                report.expired = true;
                return fail(report, "Validity", format!("expired on {until}"));
            }
            Some(_) => {}
        }
    }
    // A JWT's `exp` binds too: JOSE libraries reject the token after it, so must we.
    if let Some(exp) = p.get("exp") {
        match exp.as_i64() {
            None => return fail(report, "Validity", "exp is not a number of seconds".into()),
            Some(s) if s.saturating_mul(1000) <= now => {
                report.expired = true;
                let on = credential::iso_utc(s.saturating_mul(1000));
                return fail(report, "Validity", format!("expired on {on}"));
            }
            Some(_) => {}
        }
    }
    report.checks.push(Check {
        name: "Validity".into(),
        ok: true,
        detail: format!(
            "valid from {}{}",
            from.unwrap_or_default(),
            p.get("validUntil")
                .and_then(Value::as_str)
                .map(|u| format!(" until {u}"))
                .unwrap_or_else(|| ", no expiry".into())
        ),
    });

    let index = p
        .pointer("/credentialStatus/statusListIndex")
        .and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_i64().map(|i| i.to_string()))
        })
        .and_then(|s| s.parse::<i64>().ok());
    match (status, index) {
        (StatusSource::Skipped(why), _) => report.checks.push(Check {
            name: "Status".into(),
            ok: true,
            detail: format!("not checked: {why}"),
        }),
        (StatusSource::Failed(why), _) => {
            return fail(
                report,
                "Status",
                format!("the revocation status could not be checked: {why}"),
            )
        }
        (StatusSource::Bits(_), None) => report.checks.push(Check {
            name: "Status".into(),
            ok: true,
            detail: "the credential has no revocation status entry".into(),
        }),
        (StatusSource::Bits(bits), Some(i)) => match credential::bit(&bits, i) {
            None => {
                return fail(
                    report,
                    "Status",
                    format!("status index {i} is outside the issuer's status list"),
                )
            }
            Some(true) => {
                report.revoked = true;
                return fail(report, "Status", "revoked by the issuer".into());
            }
            Some(false) => report.checks.push(Check {
                name: "Status".into(),
                ok: true,
                detail: "not revoked".into(),
            }),
        },
    }
    report.valid = true;
    report
}

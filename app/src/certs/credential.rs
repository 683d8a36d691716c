//! The Open Badges 3.0 `OpenBadgeCredential` (VC data model 2.0), the Bitstring
//! Status List that revokes it, and the small date helpers both need.

use std::io::{Read, Write};

use serde_json::{json, Value};

use crate::time::{civil, days_from_civil};

/// The status list's length in bits: 16 KiB, the minimum the spec asks for (herd privacy).
pub const STATUS_LIST_BITS: usize = 131_072;

/// The platform's name as issuer.
pub const ISSUER_NAME: &str = "Masterclass";

/// What a credential says, from a certificate row.
pub struct Subject<'a> {
    pub id: &'a str,
    pub recipient_name: &'a str,
    pub course_title: &'a str,
    pub course_slug: &'a str,
    pub issued_at: i64,
    /// When it stops being valid (Unix ms); `None`: never.
    pub valid_until: Option<i64>,
    pub status_index: i64,
}

/// The end of a certificate's validity: `months` calendar months after it was issued,
/// in whole seconds, because `validUntil` and the JWT's `exp` can say no more and the
/// stored value, the credential and the page must agree to the second.
pub fn valid_until(issued_at: i64, months: i64) -> i64 {
    crate::time::add_months(issued_at, months).div_euclid(1000) * 1000
}

/// Unix milliseconds as an XML Schema dateTime in UTC (`2025-06-01T09:00:00Z`).
pub fn iso_utc(ms: i64) -> String {
    let (y, m, d, rem) = civil(ms);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Parses an XML Schema dateTime with `Z` or an offset (fractions ignored) to Unix ms.
pub fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if s.get(4..5)? != "-" || s.get(7..8)? != "-" || !matches!(s.get(10..11)?, "T" | "t") {
        return None;
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.chars().take_while(char::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let oh: i64 = o.get(1..3)?.parse().ok()?;
            let om: i64 = o.get(4..6)?.parse().ok()?;
            let v = (oh * 60 + om) * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset) * 1000)
}

/// The issuer's profile (what `/issuer` serves and credentials embed).
pub fn issuer_profile(public_url: &str) -> Value {
    json!({
        "id": format!("{public_url}/issuer"),
        "type": ["Profile"],
        "name": ISSUER_NAME,
        "url": public_url,
        "description": format!("Issues the Performance Engineering Masterclass certificates. Signing keys: {public_url}/.well-known/jwks.json"),
    })
}

/// The issuer profile as a standalone JSON-LD document.
pub fn issuer_document(public_url: &str) -> Value {
    let mut p = issuer_profile(public_url);
    if let Some(o) = p.as_object_mut() {
        o.insert("@context".into(), json!(contexts()));
    }
    p
}

fn contexts() -> [&'static str; 2] {
    [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
}

/// The URL of a certificate's public page.
pub fn page_url(public_url: &str, id: &str) -> String {
    format!("{public_url}/certificates/{id}")
}

/// The `OpenBadgeCredential` for one certificate.
pub fn credential(public_url: &str, s: &Subject<'_>) -> Value {
    let page = page_url(public_url, s.id);
    let status = format!("{public_url}/status/revocation");
    let mut vc = json!({
        "@context": contexts(),
        "id": format!("{page}/credential"),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": format!("{} certificate", s.course_title),
        "issuer": issuer_profile(public_url),
        "validFrom": iso_utc(s.issued_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [{
                "type": "IdentityObject",
                "identityHash": s.recipient_name,
                "identityType": "name",
                "hashed": false,
            }],
            "achievement": {
                "id": format!("{public_url}/courses/{}#certification", s.course_slug),
                "type": ["Achievement"],
                "achievementType": "Certificate",
                "name": s.course_title,
                "description": format!("Passed the timed certification exam of the {} course.", s.course_title),
                "criteria": {
                    "id": format!("{public_url}/courses/{}/exam", s.course_slug),
                    "narrative": "Pass the course's timed, proctor-free certification exam at or above its pass mark, having met its eligibility rules.",
                },
                "creator": issuer_profile(public_url),
            },
        },
        "credentialStatus": {
            "id": format!("{status}#{}", s.status_index),
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": s.status_index.to_string(),
            "statusListCredential": status,
        },
        "credentialSchema": [{
            "id": "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json",
            "type": "1EdTechJsonSchemaValidator2019",
        }],
    });
    if let (Some(until), Some(o)) = (s.valid_until, vc.as_object_mut()) {
        o.insert("validUntil".into(), json!(iso_utc(until)));
        // VC-JWT verifiers (JOSE libraries) know `exp`, not `validUntil`: say it both ways.
        o.insert("exp".into(), json!(until.div_euclid(1000)));
    }
    vc
}

/// The recipient's name as a credential states it.
pub fn recipient_of(credential: &Value) -> Option<String> {
    let subject = credential.get("credentialSubject")?;
    subject
        .get("identifier")
        .and_then(Value::as_array)
        .and_then(|ids| {
            ids.iter().find(|i| {
                i.get("identityType").and_then(Value::as_str) == Some("name")
                    && i.get("hashed").and_then(Value::as_bool) != Some(true)
            })
        })
        .and_then(|i| i.get("identityHash"))
        .or_else(|| subject.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A bitstring with the given indices set (first index = leftmost bit), at least 16 KiB.
pub fn bitstring(revoked: &[i64]) -> Vec<u8> {
    let max = revoked.iter().copied().max().unwrap_or(0).max(0) as usize;
    let bits = STATUS_LIST_BITS.max((max / STATUS_LIST_BITS + 1) * STATUS_LIST_BITS);
    let mut bytes = vec![0u8; bits / 8];
    for &i in revoked {
        if let Ok(i) = usize::try_from(i) {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    bytes
}

/// Whether bit `index` is set.
pub fn bit(bytes: &[u8], index: i64) -> Option<bool> {
    let i = usize::try_from(index).ok()?;
    bytes.get(i / 8).map(|b| b & (0x80 >> (i % 8)) != 0)
}

/// GZIP, then multibase base64url (`u` prefix, no padding), as the spec's `encodedList`.
pub fn encode_list(bytes: &[u8]) -> String {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(bytes);
    let compressed = gz.finish().unwrap_or_default();
    format!("u{}", super::jose::b64(&compressed))
}

/// Reverses [`encode_list`]; the error says what is wrong.
pub fn decode_list(encoded: &str) -> Result<Vec<u8>, String> {
    let b = encoded
        .strip_prefix('u')
        .ok_or("the status list is not multibase base64url (no 'u' prefix)")?;
    let compressed = super::jose::unb64(b).ok_or("the status list is not valid base64url")?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(64 * 1024 * 1024)
        .read_to_end(&mut out)
        .map_err(|_| "the status list is not valid GZIP".to_string())?;
    Ok(out)
}

/// The `BitstringStatusListCredential` (unsigned; it is served as a VC-JWT).
pub fn status_list_credential(public_url: &str, revoked: &[i64], now: i64) -> Value {
    let id = format!("{public_url}/status/revocation");
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": id,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": format!("{public_url}/issuer"),
        "validFrom": iso_utc(now),
        "credentialSubject": {
            "id": format!("{id}#list"),
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode_list(&bitstring(revoked)),
        },
    })
}

/// The "Add to LinkedIn profile" link, pre-filled.
pub fn linkedin_url(public_url: &str, id: &str, course_title: &str, issued_at: i64) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let (y, m, _, _) = civil(issued_at);
    format!(
        "https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME&name={}&organizationName={}&issueYear={y}&issueMonth={m}&certUrl={}&certId={}",
        enc(&format!("{course_title} certificate")),
        enc(ISSUER_NAME),
        enc(&page_url(public_url, id)),
        enc(id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for ms in [0, 1_700_000_000_000, 951_782_400_000, 4_102_444_800_000] {
            assert_eq!(parse_iso(&iso_utc(ms)), Some(ms), "{}", iso_utc(ms));
        }
        assert_eq!(iso_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(
            parse_iso("2000-02-29T01:00:00.123+01:00"),
            Some(951_782_400_000)
        );
        assert_eq!(parse_iso("2000-02-29"), None);
    }

    #[test]
    fn an_expiring_credential_says_so_both_ways() {
        let issued = crate::time::days_from_civil(2025, 1, 31) * 86_400_000 + 45_296_789;
        let until = valid_until(issued, 1);
        assert_eq!(iso_utc(until), "2025-02-28T12:34:56Z");
        assert_eq!(until % 1000, 0);
        let mut s = Subject {
            id: "abc",
            recipient_name: "Ada",
            course_title: "Course",
            course_slug: "course",
            issued_at: issued,
            valid_until: Some(until),
            status_index: 0,
        };
        let vc = credential("https://x.test", &s);
        assert_eq!(vc["validFrom"], "2025-01-31T12:34:56Z");
        assert_eq!(vc["validUntil"], "2025-02-28T12:34:56Z");
        assert_eq!(vc["exp"], until / 1000);
        s.valid_until = None;
        let vc = credential("https://x.test", &s);
        assert!(vc.get("validUntil").is_none() && vc.get("exp").is_none());
    }

    #[test]
    fn status_list_round_trip() {
        let bits = bitstring(&[0, 9, 131_071]);
        assert_eq!(bits.len(), 16 * 1024);
        let back = decode_list(&encode_list(&bits)).expect("decode");
        assert_eq!(back, bits);
        assert_eq!(bit(&back, 0), Some(true));
        assert_eq!(bit(&back, 1), Some(false));
        assert_eq!(bit(&back, 9), Some(true));
        assert_eq!(back[1], 0x40);
        assert_eq!(bitstring(&[131_072]).len(), 32 * 1024);
    }

    #[test]
    fn linkedin_link_is_encoded() {
        let u = linkedin_url("https://x.test", "abc", "A & B", 1_700_000_000_000);
        assert!(u.contains("name=A%20%26%20B%20certificate"), "{u}");
        assert!(u.contains("issueYear=2023&issueMonth=11"), "{u}");
        assert!(
            u.contains("certUrl=https%3A%2F%2Fx%2Etest%2Fcertificates%2Fabc"),
            "{u}"
        );
    }
}

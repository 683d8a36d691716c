//! Certificates end to end, on SQLite and PostgreSQL: issuing from a passed attempt,
//! the public page, the signed Open Badges credential checked here with
//! ed25519-dalek against the published JWKS (not through the server's verifier),
//! tampering, revocation and the status list, key rotation, the PDF, and the CLI.

mod support;

use app::certs::verify::{verify_at, StatusSource};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use reqwest::StatusCode;
use serde_json::Value;
use std::io::Read;
use support::{Person, TestApp, COURSE};

/// A submitted attempt of `p`, marked passed in the database (grading has its own tests).
async fn passed_attempt(app: &TestApp, p: &Person) -> i64 {
    app.make_eligible(p, COURSE).await;
    let r = p.call("exam/start", &[("course", COURSE)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = Person::json(r).await.as_i64().expect("attempt id");
    let r = p.call("exam/submit", &[("attempt", &id.to_string())]).await;
    assert_eq!(r.status(), StatusCode::OK);
    sqlx::query("UPDATE exam_attempts SET passed = 1, score_bp = 10000 WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .expect("pass");
    id
}

async fn issue(p: &Person, attempt: i64, name: &str) -> String {
    let r = p.issue_certificate(attempt, name).await;
    assert_eq!(r.status(), StatusCode::OK);
    Person::json(r).await.as_str().expect("id").to_string()
}

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

/// Checks a compact JWS with ed25519-dalek against a JWKS document; returns the payload.
fn check_jws(token: &str, jwks: &Value) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS");
    let header: Value = serde_json::from_slice(&b64(parts[0])).expect("header");
    let payload: Value = serde_json::from_slice(&b64(parts[1])).map_err(|e| e.to_string())?;
    let kid = header["kid"].as_str().expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .ok_or("unknown kid")?;
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    let x: [u8; 32] = b64(jwk["x"].as_str().expect("x"))
        .try_into()
        .expect("32 bytes");
    let key = VerifyingKey::from_bytes(&x).expect("key");
    let sig: [u8; 64] = b64(parts[2]).try_into().expect("64 bytes");
    key.verify(
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &Signature::from_bytes(&sig),
    )
    .map_err(|e| e.to_string())?;
    Ok((header, payload))
}

async fn jwks(app: &TestApp) -> Value {
    let r = app.person().get("/.well-known/jwks.json").await;
    assert_eq!(r.status(), StatusCode::OK);
    Person::json(r).await
}

/// Whether the published status list has bit `index` set (checked against the JWKS too).
async fn status_bit(app: &TestApp, index: usize) -> bool {
    let token = app.person().text("/status/revocation").await;
    let (header, vc) = check_jws(&token, &jwks(app).await).expect("status list signature");
    assert_eq!(header["typ"], "vc+jwt");
    assert_eq!(vc["type"][1], "BitstringStatusListCredential");
    assert_eq!(vc["credentialSubject"]["statusPurpose"], "revocation");
    let encoded = vc["credentialSubject"]["encodedList"]
        .as_str()
        .expect("list");
    let gz = b64(encoded.strip_prefix('u').expect("multibase base64url"));
    let mut bits = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut bits)
        .expect("gzip");
    assert!(bits.len() >= 16 * 1024, "at least 16 KiB");
    bits[index / 8] & (0x80 >> (index % 8)) != 0
}

/// The PDF's cross-reference table points at each object.
fn check_pdf(pdf: &[u8]) {
    assert!(pdf.starts_with(b"%PDF-1.4"));
    assert!(pdf.ends_with(b"%%EOF\n"));
    let at = pdf
        .windows(10)
        .rposition(|w| w == b"startxref\n")
        .expect("startxref");
    let tail = std::str::from_utf8(&pdf[at + 10..]).expect("ascii");
    let start: usize = tail
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .expect("offset");
    let xref = std::str::from_utf8(&pdf[start..]).expect("ascii xref");
    let mut lines = xref.lines();
    assert_eq!(lines.next(), Some("xref"));
    let count: usize = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|n| n.parse().ok())
        .expect("count");
    lines.next();
    for n in 1..count {
        let line = lines.next().expect("entry");
        let off: usize = line[..10].parse().expect("offset");
        assert!(
            pdf[off..].starts_with(format!("{n} 0 obj").as_bytes()),
            "object {n} at {off}"
        );
    }
    let text = String::from_utf8_lossy(pdf);
    // The fonts travel inside the PDF (TrueType subsets), so it looks the same everywhere.
    assert!(text.contains("/Subtype /CIDFontType2") && text.contains("/FontFile2"));
    assert!(
        !text.contains("/BaseFont /Helvetica"),
        "no font left to the viewer"
    );
    let drawing = inflated_streams(pdf).join("\n");
    assert!(drawing.contains(" re"), "QR modules drawn as rectangles");
}

/// Every compressed stream of a PDF, inflated, as text.
fn inflated_streams(pdf: &[u8]) -> Vec<String> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = pdf[at..].windows(7).position(|w| w == b"stream\n") {
        let start = at + i + 7;
        let Some(len) = pdf[start..].windows(9).position(|w| w == b"endstream") else {
            break;
        };
        let mut text = String::new();
        if flate2::read::ZlibDecoder::new(&pdf[start..start + len])
            .read_to_string(&mut text)
            .is_ok()
        {
            out.push(text);
        }
        at = start + len;
    }
    out
}

async fn lifecycle(app: TestApp) {
    let alice = app.learner("alice@example.com").await;
    let attempt = passed_attempt(&app, &alice).await;

    // The claim form offers the display name; issuing is idempotent.
    let info = Person::json(
        alice
            .call("certs/claim-info", &[("attempt", &attempt.to_string())])
            .await,
    )
    .await;
    assert_eq!(info["default_name"], "Learner");
    assert_eq!(info["certificate"], Value::Null);
    // The exam page offers the claim for the passed attempt.
    let exam_page = format!("/courses/{COURSE}/exam");
    let ov = Person::json(alice.call("exam/overview", &[("course", COURSE)]).await).await;
    assert_eq!(ov["attempts"][0]["certificate"], Value::Null);
    let page = alice.text(&exam_page).await;
    assert!(
        page.contains(&format!("/exam/{attempt}/certificate")),
        "claim link"
    );
    assert!(!page.contains("You are certified"));
    let r = alice.issue_certificate(attempt, "  Ada   Lovelace ").await;
    assert_eq!(r.status(), StatusCode::OK);
    let loc = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap_or("").to_string());
    let id = Person::json(r).await.as_str().expect("id").to_string();
    assert_eq!(id.len(), 32, "128 random bits in hex");
    assert_eq!(loc, Some(format!("/certificates/{id}")));
    assert_eq!(
        issue(&alice, attempt, "Ada Lovelace").await,
        id,
        "idempotent"
    );
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 1);

    // From then on the exam page leads to the certificate.
    let ov = Person::json(alice.call("exam/overview", &[("course", COURSE)]).await).await;
    assert_eq!(ov["attempts"][0]["certificate"]["id"], id.as_str());
    assert_eq!(ov["attempts"][0]["certificate"]["revoked"], false);
    let page = alice.text(&exam_page).await;
    assert!(page.contains("You are certified"), "certified banner");
    assert!(
        page.contains(&format!("/certificates/{id}")),
        "certificate link"
    );

    // Nobody else can claim it; a failed attempt earns nothing; a blank name is refused.
    let mallory = app.learner("mallory@example.com").await;
    assert_eq!(
        mallory.issue_certificate(attempt, "Mallory").await.status(),
        StatusCode::NOT_FOUND
    );
    app.make_eligible(&mallory, COURSE).await;
    let r = mallory.call("exam/start", &[("course", COURSE)]).await;
    let failed = Person::json(r).await.as_i64().expect("attempt");
    mallory
        .call("exam/submit", &[("attempt", &failed.to_string())])
        .await;
    assert_eq!(
        mallory.issue_certificate(failed, "Mallory").await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        alice.issue_certificate(attempt, "   ").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // The public page, for anyone.
    let anon = app.person();
    let page = anon.text(&format!("/certificates/{id}")).await;
    assert!(page.contains("Ada Lovelace"), "name on the page");
    assert!(page.contains("Valid.") && !page.contains("Valid until"));
    assert!(page.contains("https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME"));
    assert!(page.contains(&format!("/certificates/{id}/certificate.pdf")));
    assert_eq!(
        anon.get("/certificates/0123456789abcdef0123456789abcdef")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // The credential verifies with the published key, independently of the server's verifier.
    let token = anon
        .text(&format!("/certificates/{id}/credential.jwt"))
        .await;
    let keys = jwks(&app).await;
    let (header, vc) = check_jws(&token, &keys).expect("signature verifies");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "vc+jwt");
    assert_eq!(vc["@context"][0], "https://www.w3.org/ns/credentials/v2");
    assert_eq!(
        vc["@context"][1],
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
    );
    assert_eq!(
        vc["type"],
        serde_json::json!(["VerifiableCredential", "OpenBadgeCredential"])
    );
    assert_eq!(
        vc["issuer"]["id"],
        format!("{}/issuer", app.settings.public_url)
    );
    assert_eq!(vc["issuer"]["type"][0], "Profile");
    assert!(vc["validFrom"].as_str().is_some_and(|d| d.ends_with('Z')));
    assert!(
        vc.get("validUntil").is_none() && vc.get("exp").is_none(),
        "the shipped course's certificates never expire"
    );
    assert!(vc["name"].is_string() && vc["id"].is_string());
    let subject = &vc["credentialSubject"];
    assert_eq!(subject["type"][0], "AchievementSubject");
    assert_eq!(subject["identifier"][0]["identityHash"], "Ada Lovelace");
    assert_eq!(subject["identifier"][0]["identityType"], "name");
    let achievement = &subject["achievement"];
    assert_eq!(achievement["type"][0], "Achievement");
    for f in ["id", "name", "description"] {
        assert!(achievement[f].is_string(), "achievement.{f}");
    }
    assert!(achievement["criteria"]["narrative"].is_string());
    let status = &vc["credentialStatus"];
    assert_eq!(status["type"], "BitstringStatusListEntry");
    assert_eq!(status["statusPurpose"], "revocation");
    let index: usize = status["statusListIndex"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("index");
    assert_eq!(
        status["statusListCredential"],
        format!("{}/status/revocation", app.settings.public_url)
    );
    let issuer = Person::json(anon.get("/issuer").await).await;
    assert_eq!(issuer["type"][0], "Profile");

    // The server's verifier agrees; a tampered credential fails with the reason.
    let ok = anon.verify_credential(&token).await;
    assert_eq!(ok["valid"], true, "{ok}");
    let parts: Vec<&str> = token.split('.').collect();
    let forged = String::from_utf8(b64(parts[1]))
        .expect("utf8")
        .replace("Ada Lovelace", "Eve Forger");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged),
        parts[2]
    );
    assert!(check_jws(&tampered, &keys).is_err());
    let bad = anon.verify_credential(&tampered).await;
    assert_eq!(bad["valid"], false);
    assert!(
        bad["reason"]
            .as_str()
            .is_some_and(|r| r.contains("signature does not match")),
        "{bad}"
    );
    // Nothing a failing credential claims is reported: not its name, course or id.
    for claim in ["recipient_name", "achievement", "issuer", "credential_id"] {
        assert!(bad[claim].is_null(), "{claim}: {bad}");
    }
    let garbage = anon.verify_credential("not a credential").await;
    assert!(
        garbage["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not a JWT")),
        "{garbage}"
    );

    // The verification page works without JavaScript: a GET form, and a file upload.
    let page = anon
        .text(&format!("/certificates/verify?jwt={token}"))
        .await;
    assert!(page.contains("Valid: this credential was issued by Masterclass"));
    let page = anon
        .text(&format!("/certificates/verify?jwt={tampered}"))
        .await;
    assert!(page.contains("Not valid: the signature does not match"));
    assert!(!page.contains("Eve Forger"), "the forged name is not shown");
    let body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.jwt\"\r\nContent-Type: application/octet-stream\r\n\r\n{token}\n\r\n--XyZ--\r\n"
    );
    let r = anon
        .client
        .post(format!("{}/certificates/verify/upload", app.base))
        .header("Origin", &app.base)
        .header("Content-Type", "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(to.starts_with("/certificates/verify?jwt="), "{to}");
    assert!(anon.text(&to).await.contains("Valid: this credential"));

    // A name correction re-signs and keeps the page.
    assert_eq!(issue(&alice, attempt, "Ada King").await, id);
    assert!(anon
        .text(&format!("/certificates/{id}"))
        .await
        .contains("Ada King"));
    let renamed = anon
        .text(&format!("/certificates/{id}/credential.jwt"))
        .await;
    let (_, vc2) = check_jws(&renamed, &keys).expect("renamed verifies");
    assert_eq!(
        vc2["credentialSubject"]["identifier"][0]["identityHash"],
        "Ada King"
    );
    assert_eq!(vc2["validFrom"], vc["validFrom"], "same issue date");

    // The PDF is well formed and names the learner.
    let r = anon
        .get(&format!("/certificates/{id}/certificate.pdf"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.expect("pdf");
    check_pdf(&pdf);
    assert!(String::from_utf8_lossy(&pdf).contains("(Ada King)"));

    // Revocation: administrators only; the page, the status list and the verifier say so.
    assert!(!status_bit(&app, index).await);
    assert_eq!(
        alice.revoke_certificate(&id, "mine").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        anon.revoke_certificate(&id, "x").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let admin = app.admin().await;
    assert_eq!(
        admin.revoke_certificate(&id, " ").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        admin
            .revoke_certificate(&id, "Exam misconduct")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        admin.revoke_certificate(&id, "again").await.status(),
        StatusCode::CONFLICT
    );
    let page = anon.text(&format!("/certificates/{id}")).await;
    assert!(page.contains("Revoked.") && page.contains("Exam misconduct"));
    assert!(status_bit(&app, index).await, "status list bit set");
    let ov = Person::json(alice.call("exam/overview", &[("course", COURSE)]).await).await;
    assert_eq!(ov["attempts"][0]["certificate"]["revoked"], true);
    let page = alice.text(&exam_page).await;
    assert!(!page.contains("You are certified") && page.contains("Revoked"));
    let revoked = anon.verify_credential(&renamed).await;
    assert_eq!(revoked["valid"], false);
    assert_eq!(revoked["revoked"], true);
    assert!(revoked["reason"]
        .as_str()
        .is_some_and(|r| r.contains("revoked")));
    let listed = Person::json(admin.call("certs/admin/list", &[]).await).await;
    assert_eq!(listed[0]["revoked"], true);
}
on_both_backends!(certificate_lifecycle, lifecycle);

async fn rotation(app: TestApp) {
    let bob = app.learner("bob@example.com").await;
    let a = passed_attempt(&app, &bob).await;
    let before = issue(&bob, a, "Bob").await;
    let old = bob
        .text(&format!("/certificates/{before}/credential.jwt"))
        .await;
    let old_kid = check_jws(&old, &jwks(&app).await).expect("verifies").0["kid"].clone();

    let new_kid = app::certs::keys::rotate(&app.db).await.expect("rotate");
    assert_ne!(Value::from(new_kid.clone()), old_kid);
    let keys = jwks(&app).await;
    assert_eq!(
        keys["keys"].as_array().map(Vec::len),
        Some(2),
        "old key still published"
    );

    let carol = app.learner("carol@example.com").await;
    let c = passed_attempt(&app, &carol).await;
    let after = issue(&carol, c, "Carol").await;
    let new = carol
        .text(&format!("/certificates/{after}/credential.jwt"))
        .await;
    assert_eq!(
        check_jws(&new, &keys).expect("new verifies").0["kid"],
        new_kid
    );
    check_jws(&old, &keys).expect("the old credential still verifies");
    assert_eq!(app.person().verify_credential(&old).await["valid"], true);

    // The command line, offline against a saved JWKS: valid exits 0, tampered exits 1.
    let dir = tempfile::tempdir().expect("dir");
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, keys.to_string()).expect("write");
    let good = dir.path().join("good.jwt");
    std::fs::write(&good, &old).expect("write");
    let bad = dir.path().join("bad.jwt");
    let mut parts: Vec<String> = old.split('.').map(str::to_string).collect();
    parts[2] = URL_SAFE_NO_PAD.encode([0u8; 64]);
    std::fs::write(&bad, parts.join(".")).expect("write");
    let run = |f: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_masterclass"))
            .args(["cert", "verify"])
            .arg(f)
            .arg("--jwks")
            .arg(&jwks_file)
            .arg("--offline")
            .output()
            .expect("run")
    };
    let out = run(&good);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("VALID") && stdout.contains("not checked: --offline"),
        "{stdout}"
    );
    let out = run(&bad);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("INVALID: the signature does not match"),
        "{stdout}"
    );
}
on_both_backends!(key_rotation, rotation);

/// The shipped course with its blueprint giving certificates `months` of validity,
/// imported the way an author's edited `blueprint.yaml` is.
async fn set_valid_months(app: &TestApp, months: i64) {
    let copy = tempfile::tempdir().expect("dir");
    let src = support::repo_content().join(COURSE).join("exam");
    let dst = copy.path().join(COURSE).join("exam");
    std::fs::create_dir_all(&dst).expect("mkdir");
    for e in std::fs::read_dir(&src).expect("exam dir") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), dst.join(e.file_name())).expect("copy");
    }
    let yaml = std::fs::read_to_string(dst.join("blueprint.yaml")).expect("yaml");
    assert!(
        !yaml.contains("certificate_valid_months"),
        "the shipped blueprint's certificates never expire"
    );
    std::fs::write(
        dst.join("blueprint.yaml"),
        format!("{yaml}\ncertificate_valid_months: {months}\n"),
    )
    .expect("write");
    let problems = app::exam::store::import_content(&app.db, copy.path())
        .await
        .expect("import");
    assert!(problems.is_empty(), "{problems:?}");
}

/// `YYYY-MM-DDTHH:MM:SSZ` one year on, counted by hand: same month and day, except
/// that 29 February becomes the 28th when the next year is not a leap year.
fn a_year_after(iso: &str) -> String {
    let y: i64 = iso[..4].parse().expect("year");
    let (month, day) = (&iso[5..7], &iso[8..10]);
    let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let day = if month == "02" && day == "29" && !leap(y + 1) {
        "28"
    } else {
        day
    };
    format!("{:04}-{month}-{day}{}", y + 1, &iso[10..])
}

async fn expiry(app: TestApp) {
    // Without `certificate_valid_months` nothing expires (the lifecycle test's credential
    // has no validUntil); with it, the administrators' form shows the period.
    set_valid_months(&app, 12).await;
    let admin = app.admin().await;
    let form = Person::json(
        admin
            .call("exam/admin/blueprint", &[("course", COURSE)])
            .await,
    )
    .await;
    assert_eq!(form["certificate_valid_months"], 12, "{form}");

    let ann = app.learner("ann@example.com").await;
    let attempt = passed_attempt(&app, &ann).await;
    let id = issue(&ann, attempt, "Ann Expiry").await;
    let anon = app.person();
    let token = anon
        .text(&format!("/certificates/{id}/credential.jwt"))
        .await;
    let keys_json = jwks(&app).await;
    let (_, vc) = check_jws(&token, &keys_json).expect("signature verifies");
    let from = vc["validFrom"].as_str().expect("validFrom");
    let until = vc["validUntil"].as_str().expect("validUntil");
    assert_eq!(until, a_year_after(from), "12 calendar months after issue");
    let until_ms = app::certs::credential::parse_iso(until).expect("a date");
    assert_eq!(
        vc["exp"].as_i64(),
        Some(until_ms / 1000),
        "exp says the same"
    );
    let stored: Option<i64> =
        sqlx::query_scalar("SELECT valid_until FROM certificates WHERE id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .expect("stored");
    assert_eq!(stored, Some(until_ms));

    // Valid now, by the server's verifier; judged after validUntil, expired.
    let now = anon.verify_credential(&token).await;
    assert_eq!(now["valid"], true, "{now}");
    assert!(
        now["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .any(|c| c["name"] == "Validity"
                && c["detail"]
                    .as_str()
                    .is_some_and(|d| d.ends_with(&format!("until {until}")))),
        "{now}"
    );
    let keys = app::certs::jose::keys_from_jwks(&keys_json).expect("keys");
    let at = |t: i64| verify_at(&token, &keys, StatusSource::Skipped("a test".into()), t);
    let before = at(until_ms - 1000);
    assert!(before.valid && !before.expired, "{before:?}");
    for t in [until_ms, until_ms + 86_400_000] {
        let after = at(t);
        assert!(!after.valid && after.expired, "{after:?}");
        assert_eq!(
            after.reason.as_deref(),
            Some(&*format!("expired on {until}"))
        );
    }

    // The public page and the PDF say until when.
    let date = &until[..10];
    let page = anon.text(&format!("/certificates/{id}")).await;
    assert!(
        page.contains("Valid until") && page.contains(date),
        "{page}"
    );
    assert!(page.contains("Valid."));
    let pdf = anon
        .get(&format!("/certificates/{id}/certificate.pdf"))
        .await
        .bytes()
        .await
        .expect("pdf");
    check_pdf(&pdf);
    assert!(String::from_utf8_lossy(&pdf).contains(&format!("(Valid until {date})")));

    // A year and a month later (the certificate's dates moved back rather than the clock
    // forward): a name correction keeps the period it was issued with, so the re-signed
    // credential is expired, and everything says so.
    let issued = app::time::add_months(app::db::now_ms(), -13);
    let lapsed = app::certs::credential::valid_until(issued, 12);
    sqlx::query("UPDATE certificates SET issued_at = $1, valid_until = $2 WHERE id = $3")
        .bind(issued)
        .bind(lapsed)
        .bind(&id)
        .execute(&app.db)
        .await
        .expect("backdate");
    assert_eq!(issue(&ann, attempt, "Ann Expired").await, id);
    let old = anon
        .text(&format!("/certificates/{id}/credential.jwt"))
        .await;
    let (_, vc) = check_jws(&old, &keys_json).expect("re-signed");
    let until = vc["validUntil"].as_str().expect("validUntil").to_string();
    assert_eq!(
        app::certs::credential::parse_iso(&until),
        Some(lapsed),
        "the stored period, not a new one"
    );
    let date = &until[..10];
    let page = anon.text(&format!("/certificates/{id}")).await;
    assert!(
        page.contains("Expired on") && page.contains("Expired.") && page.contains(date),
        "{page}"
    );
    assert!(!page.contains("Valid.") && !page.contains("Valid until"));
    let pdf = anon
        .get(&format!("/certificates/{id}/certificate.pdf"))
        .await
        .bytes()
        .await
        .expect("pdf");
    assert!(String::from_utf8_lossy(&pdf).contains(&format!("(Expired on {date})")));
    let report = anon.verify_credential(&old).await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["expired"], true);
    assert_eq!(report["revoked"], false);
    assert_eq!(report["reason"], format!("expired on {until}"));
    let page = anon.text(&format!("/certificates/verify?jwt={old}")).await;
    assert!(page.contains(&format!("Expired: genuine, but expired on {until}")));
    let mine = Person::json(ann.call("certs/mine", &[]).await).await;
    assert_eq!(mine["issued"][0]["expired"], true, "{mine}");

    // The command line, offline: exit 1, and why.
    let dir = tempfile::tempdir().expect("dir");
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, keys_json.to_string()).expect("write");
    let file = dir.path().join("expired.jwt");
    std::fs::write(&file, &old).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_masterclass"))
        .args(["cert", "verify"])
        .arg(&file)
        .arg("--jwks")
        .arg(&jwks_file)
        .arg("--offline")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("INVALID: expired on {until}")),
        "{stdout}"
    );
}
on_both_backends!(certificates_expire, expiry);

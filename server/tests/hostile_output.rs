//! What a learner (or anyone) types comes back as text, never as markup or
//! terminal control, through the real server on SQLite and PostgreSQL:
//!
//! - every page that shows learner text (names, lab files, run output, exam
//!   answers, certificate names), fetched as the learner and as an
//!   administrator, shows it escaped, also inside `<textarea>` and `<title>`;
//! - certificate names refuse hidden and direction-changing characters;
//! - `masterclass cert verify` trusts only the issuer it is told to (or its own
//!   platform), and prints nothing that drives a terminal;
//! - SVGs are served sandboxed, and the upload filter refuses the known bypasses;
//! - one user's live progress streams are capped.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use support::{first_lab, Backend, Person, TestApp, COURSE};

/// Markup a learner would like the page to run: it must arrive as text.
const HOSTILE: &str = "</textarea></title><script>alert(1)</script><meta http-equiv=refresh content=0;url=https://evil.example>";
/// The same, short enough for a name (display names: 80 characters at most).
const HOSTILE_NAME: &str = "</title></textarea><script>alert(1)</script><meta http-equiv=refresh>";
/// What the browser would have obeyed, had the text gone in as markup.
const RAW: &[&str] = &[
    "<script>alert(1)",
    "<meta http-equiv=refresh",
    "</textarea></title>",
    "</title></textarea>",
];
/// The same text, escaped: what must be there instead.
const ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

/// A little of the page around `needle`, for a failure message.
fn around(page: &str, needle: &str) -> String {
    let at = page.find(needle).unwrap_or(0);
    let mut start = at.saturating_sub(200);
    while !page.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + needle.len() + 200).min(page.len());
    while !page.is_char_boundary(end) {
        end += 1;
    }
    page[start..end].to_string()
}

/// `page` holds none of the hostile markup raw.
fn assert_inert(page: &str, what: &str) {
    for raw in RAW {
        assert!(
            !page.contains(raw),
            "{what}: {raw:?} reached the page as markup:\n…{}…",
            around(page, raw)
        );
    }
}

/// `page` shows the hostile text, escaped, and none of it raw.
fn assert_shown_as_text(page: &str, what: &str) {
    assert_inert(page, what);
    assert!(
        page.contains(ESCAPED),
        "{what}: the learner's text is not on the page (escaped)"
    );
}

/// The text of the page's `<title>`.
fn title_of(page: &str) -> &str {
    let start = page.find("<title>").expect("a <title>") + "<title>".len();
    let end = start + page[start..].find("</title>").expect("</title>");
    &page[start..end]
}

/// GETs `path` as `who` (200 expected) and checks it shows the hostile text escaped.
async fn shows(p: &Person, path: &str, who: &str) -> String {
    let page = p.text(path).await;
    assert_shown_as_text(&page, &format!("{path} as {who}"));
    page
}

/// GETs `path` as `who` (200 expected) and checks nothing hostile is raw on it.
async fn inert(p: &Person, path: &str, who: &str) -> String {
    let page = p.text(path).await;
    assert_inert(&page, &format!("{path} as {who}"));
    page
}

async fn call_owned(p: &Person, endpoint: &str, form: &[(String, String)]) -> reqwest::Response {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    p.call(endpoint, &form).await
}

fn lab_form(
    lab: &lab_grader::Lab,
    body: impl Fn(&lab_grader::LabFile) -> String,
) -> Vec<(String, String)> {
    let mut form = vec![
        ("course".to_string(), COURSE.to_string()),
        ("lab".to_string(), lab.slug.clone()),
    ];
    for f in &lab.files {
        form.push((format!("files[{}]", f.name), body(f)));
    }
    form
}

/// Learner text on every page that shows it, as the learner and as an administrator.
async fn learner_text_is_escaped(app: TestApp) {
    let lab = first_lab();
    let lea = app.person();
    let r = lea
        .register("lea@example.com", HOSTILE_NAME, "learner password 1")
        .await;
    assert!(r.status().is_success(), "register: {}", r.status());
    let admin = app.admin().await;
    let anon = app.person();

    // The display name: in the header of every page the learner sees, and in the admin's lists.
    shows(&lea, "/", "the learner").await;
    shows(&lea, "/account", "the learner").await;
    shows(&admin, "/admin/learners", "the admin").await;

    // Lab files: a draft, in the editor's textarea.
    let lab_page = format!("/courses/{COURSE}/labs/{}", lab.slug);
    let r = call_owned(&lea, "labs/save", &lab_form(&lab, |_| HOSTILE.to_string())).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let page = shows(&lea, &lab_page, "the learner").await;
    assert!(
        page.contains("&lt;/textarea&gt;&lt;/title&gt;&lt;script&gt;"),
        "the draft is in the editor, escaped"
    );

    // A run of those files: its page, with the files and whatever the engine made of them.
    let r = call_owned(&lea, "labs/run", &lab_form(&lab, |_| HOSTILE.to_string())).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let broken = Person::json(r).await.as_i64().expect("run id");
    let v = lea.finished_run(broken).await;
    assert_eq!(v["status"], "done", "{v}");
    let run_page = format!("{lab_page}/runs/{broken}");
    shows(&lea, &run_page, "the learner").await;
    shows(&admin, &run_page, "the admin").await;

    // A run whose script works and prints, and names a check, with the hostile text.
    let r = call_owned(
        &lea,
        "labs/run",
        &lab_form(&lab, |f| {
            if f.name == lab.files[0].name {
                f.solution.replace(
                    "export default function () {",
                    &format!(
                        "export default function () {{\n  console.log({HOSTILE:?});\n  check(1, {{ {HOSTILE:?}: () => true }});"
                    ),
                )
            } else {
                f.solution.clone()
            }
        }),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let printing = Person::json(r).await.as_i64().expect("run id");
    let v = lea.finished_run(printing).await;
    assert_eq!(v["status"], "done", "{v}");
    let report = v["report"].to_string();
    assert!(
        report.contains("alert(1)"),
        "the run kept the script's output and check names: {report}"
    );
    let run_page = format!("{lab_page}/runs/{printing}");
    shows(&lea, &run_page, "the learner").await;
    shows(&admin, &run_page, "the admin").await;
    inert(&admin, &format!("/admin/analytics/{COURSE}"), "the admin").await;

    // Exam answers typed as free text.
    app.make_eligible(&lea, COURSE).await;
    let r = lea.call("exam/start", &[("course", COURSE)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let attempt = Person::json(r).await.as_i64().expect("attempt id");
    let a = attempt.to_string();
    let first = Person::json(
        lea.call("exam/question", &[("attempt", &a), ("position", "1")])
            .await,
    )
    .await;
    let total = first["total"].as_i64().expect("total");
    let mut typed = Vec::new();
    for pos in 1..=total {
        let ps = pos.to_string();
        let q = Person::json(
            lea.call("exam/question", &[("attempt", &a), ("position", &ps)])
                .await,
        )
        .await;
        if !matches!(q["view"]["kind"].as_str(), Some("ShortAnswer" | "Numeric")) {
            continue;
        }
        let r = lea
            .call(
                "exam/save",
                &[("attempt", &a), ("position", &ps), ("answer[0]", HOSTILE)],
            )
            .await;
        if r.status() == StatusCode::OK {
            typed.push(pos);
        }
    }
    assert!(!typed.is_empty(), "no free-text question took the answer");
    shows(
        &lea,
        &format!("/exam/{attempt}/q/{}", typed[0]),
        "the learner",
    )
    .await;
    let r = lea.call("exam/submit", &[("attempt", &a)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    inert(&lea, &format!("/exam/{attempt}/result"), "the learner").await;
    inert(&admin, &format!("/exam/{attempt}/result"), "the admin").await;
    shows(
        &admin,
        &format!("/admin/exam/{COURSE}/attempts"),
        "the admin",
    )
    .await;
    // Item statistics (and the answers given) appear from five submitted attempts on.
    inert(
        &admin,
        &format!("/admin/exam/{COURSE}/statistics"),
        "the admin",
    )
    .await;

    // The certificate's name: in the public page's <title> too.
    sqlx::query("UPDATE exam_attempts SET passed = 1, score_bp = 10000 WHERE id = $1")
        .bind(attempt)
        .execute(&app.db)
        .await
        .expect("pass");
    shows(&lea, &format!("/exam/{attempt}/certificate"), "the learner").await;
    let r = lea.issue_certificate(attempt, HOSTILE_NAME).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let id = Person::json(r).await.as_str().expect("id").to_string();
    let page = shows(&anon, &format!("/certificates/{id}"), "anyone").await;
    let title = title_of(&page);
    assert!(
        title.starts_with(
            "Certificate: &lt;/title&gt;&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
        ),
        "the title holds the name as text: {title}"
    );
    shows(&lea, "/certificates", "the learner").await;
    shows(&admin, "/admin/certificates", "the admin").await;
    let jwt = anon
        .text(&format!("/certificates/{id}/credential.jwt"))
        .await;
    shows(&anon, &format!("/certificates/verify?jwt={jwt}"), "anyone").await;
    // Anyone can make a link to the verification page with text of their own.
    let page = shows(
        &anon,
        &format!("/certificates/verify?jwt={}", utf8_percent_encode(HOSTILE)),
        "anyone following a link",
    )
    .await;
    assert!(
        page.contains("&lt;/textarea&gt;&lt;/title&gt;&lt;script&gt;"),
        "the pasted text is in the textarea, escaped"
    );
}
on_both_backends!(learner_text_is_text, learner_text_is_escaped);

fn utf8_percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Names that would print differently from what they are are refused, saying why.
async fn certificate_names(app: TestApp) {
    let p = app.learner("ann@example.com").await;
    app.make_eligible(&p, COURSE).await;
    let r = p.call("exam/start", &[("course", COURSE)]).await;
    let attempt = Person::json(r).await.as_i64().expect("attempt id");
    p.call("exam/submit", &[("attempt", &attempt.to_string())])
        .await;
    sqlx::query("UPDATE exam_attempts SET passed = 1, score_bp = 10000 WHERE id = $1")
        .bind(attempt)
        .execute(&app.db)
        .await
        .expect("pass");
    for (name, why) in [
        ("Ann \u{202E}eeL", "text-direction"),
        ("Ann \u{2067}Lee\u{2069}", "text-direction"),
        ("Ann\u{200B} Lee", "zero-width"),
        ("Ann\u{2060}Lee", "zero-width"),
        ("Ann\u{FEFF}Lee", "zero-width"),
        ("Ann \u{1B}[31mLee", "control"),
        ("Ann \u{9B}31mLee", "control"),
        ("Ann\u{00AD}Lee", "invisible"),
        ("Ann \u{E0041}Lee", "invisible"),
    ] {
        let r = p.issue_certificate(attempt, name).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        let body = r.text().await.expect("body");
        assert!(
            body.contains(why) && body.contains("U+"),
            "{name:?}: {body}"
        );
    }
    // Nothing was issued meanwhile, and an ordinary name (any script) still is.
    let r = p.issue_certificate(attempt, "Ánn Lée-O'Brien 李").await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = Person::json(r).await.as_str().expect("id").to_string();
    let page = app.person().text(&format!("/certificates/{id}")).await;
    assert!(page.contains("Ánn Lée-O&#39;Brien 李") || page.contains("Ánn Lée-O'Brien 李"));
}
on_both_backends!(
    certificate_names_refuse_hidden_characters,
    certificate_names
);

// ---------------------------------------------------------------------------
// `masterclass cert verify`

/// A platform of the test's own on loopback: an Ed25519 key, its JWKS and its
/// signed status list, and credentials it signs however it likes.
struct Issuer {
    base: String,
    kid: String,
    key: ed25519_dalek::SigningKey,
}

impl Issuer {
    async fn start(seed: u8, revoked: Vec<i64>) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let kid = format!("key-{seed}");
        let jwks = serde_json::json!({
            "keys": [app::certs::jose::jwk(&kid, &key.verifying_key())]
        })
        .to_string();
        let list =
            app::certs::credential::status_list_credential(&base, &revoked, app::db::now_ms());
        let status = app::certs::jose::sign(&key, &kid, "vc+jwt", &list);
        let router = axum::Router::new()
            .route(
                "/.well-known/jwks.json",
                axum::routing::get(move || async move { jwks }),
            )
            .route(
                "/status/revocation",
                axum::routing::get(move || async move { status }),
            );
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        Issuer { base, kid, key }
    }

    /// A credential naming `issuer_base` as its issuer, signed with this key.
    fn credential(&self, issuer_base: &str, name: &str, index: i64) -> String {
        let subject = app::certs::credential::Subject {
            id: "0123456789abcdef0123456789abcdef",
            recipient_name: name,
            course_title: "Performance Engineering",
            course_slug: COURSE,
            issued_at: app::db::now_ms() - 60_000,
            valid_until: None,
            status_index: index,
        };
        let vc = app::certs::credential::credential(issuer_base, &subject);
        app::certs::jose::sign(&self.key, &self.kid, "vc+jwt", &vc)
    }
}

/// The output of `masterclass cert verify` with only the environment given.
struct Verified {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn cert_verify(jwt: &str, args: &[&str], env: &[(&str, &str)]) -> Verified {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("certificate.jwt");
    std::fs::write(&file, jwt).expect("write");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_masterclass"));
    cmd.args(["cert", "verify"]).arg(&file).args(args);
    for var in [
        "MASTERCLASS_PUBLIC_URL",
        "DATABASE_URL",
        "MASTERCLASS_DATA_DIR",
        "MASTERCLASS_ADDR",
    ] {
        cmd.env_remove(var);
    }
    // No platform here unless the test says so: an empty data folder.
    cmd.env("MASTERCLASS_DATA_DIR", dir.path().join("empty"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run masterclass");
    Verified {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Nothing in `s` a terminal would act on.
fn assert_terminal_safe(s: &str) {
    for (i, c) in s.char_indices() {
        let bad = (c.is_control() && c != '\n')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}');
        assert!(!bad, "U+{:04X} printed at {i}: {s:?}", c as u32);
    }
}

/// The reviewer's attack: a credential signed by the attacker's own key, naming
/// the attacker's own server as issuer, came back VALID. Now the issuer must be
/// the one named (or this platform), and the output is inert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_verify_trusts_only_the_issuer_it_is_told() {
    let genuine = Issuer::start(1, vec![7]).await;
    let attacker = Issuer::start(2, vec![]).await;
    let forged = attacker.credential(&attacker.base, "Mallory", 0);
    let own = |p: &Issuer| format!("{}/issuer", p.base);

    // No issuer named and no platform here: refused, saying how to name one.
    let v = cert_verify(&forged, &[], &[]);
    assert_eq!(v.code, Some(1), "{}{}", v.stdout, v.stderr);
    assert!(!v.stdout.contains("VALID"), "{}", v.stdout);
    assert!(
        v.stderr.contains("--issuer") && v.stderr.contains(&own(&attacker)),
        "{}",
        v.stderr
    );

    // Named, and another: refused before any of the attacker's keys are asked for.
    let v = cert_verify(&forged, &["--issuer", &genuine.base], &[]);
    assert_eq!(v.code, Some(1), "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout
            .contains(&format!("issuer      {}", own(&attacker))),
        "the issuer is printed: {}",
        v.stdout
    );
    assert!(
        v.stdout.contains(&format!(
            "INVALID: issued by {}, not by {}",
            own(&attacker),
            own(&genuine)
        )),
        "{}",
        v.stdout
    );
    // MASTERCLASS_PUBLIC_URL names the platform when run beside one.
    let v = cert_verify(&forged, &[], &[("MASTERCLASS_PUBLIC_URL", &genuine.base)]);
    assert_eq!(v.code, Some(1), "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("INVALID: issued by"), "{}", v.stdout);

    // The genuine issuer's own credentials: valid, and revoked ones are not.
    let good = genuine.credential(&genuine.base, "Ada", 3);
    for args in [
        vec!["--issuer", genuine.base.as_str()],
        vec!["--issuer", &own(&genuine)],
    ] {
        let v = cert_verify(&good, &args, &[]);
        assert_eq!(v.code, Some(0), "{}{}", v.stdout, v.stderr);
        assert!(v.stdout.contains(&format!("issuer      {}", own(&genuine))));
        assert!(v.stdout.contains("not revoked") && v.stdout.ends_with("VALID\n"));
    }
    let v = cert_verify(&good, &[], &[("MASTERCLASS_PUBLIC_URL", &genuine.base)]);
    assert_eq!(v.code, Some(0), "{}{}", v.stdout, v.stderr);
    let revoked = genuine.credential(&genuine.base, "Bob", 7);
    let v = cert_verify(&revoked, &["--issuer", &genuine.base], &[]);
    assert_eq!(v.code, Some(1));
    assert!(
        v.stdout.contains("INVALID: revoked by the issuer"),
        "{}",
        v.stdout
    );

    // Claiming the genuine issuer while signed with another key.
    let claimed = attacker.credential(&genuine.base, "Mallory", 0);
    let v = cert_verify(&claimed, &["--issuer", &genuine.base], &[]);
    assert_eq!(v.code, Some(1), "{}", v.stdout);
    assert!(
        v.stdout.contains(&format!(
            "signed with key {}, which the issuer does not publish",
            attacker.kid
        )),
        "{}",
        v.stdout
    );

    // Terminal control in what a credential says is printed as inert text.
    let ansi = "Eve\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}gnp.exe";
    let loud = attacker.credential(&attacker.base, ansi, 0);
    let v = cert_verify(&loud, &["--issuer", &attacker.base], &[]);
    assert_eq!(v.code, Some(0), "{}{}", v.stdout, v.stderr);
    assert_terminal_safe(&v.stdout);
    assert_terminal_safe(&v.stderr);
    assert!(
        v.stdout
            .contains("recipient   Eve\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{9b}31m\\u{202e}gnp.exe"),
        "{}",
        v.stdout
    );
    let loud_issuer = attacker.credential(&format!("{}/\u{1b}[32m", attacker.base), ansi, 0);
    for args in [vec!["--issuer", genuine.base.as_str()], vec![]] {
        let v = cert_verify(&loud_issuer, &args, &[]);
        assert_eq!(v.code, Some(1));
        assert_terminal_safe(&v.stdout);
        assert_terminal_safe(&v.stderr);
    }
}

/// Beside a platform (its database and public address in the environment), the
/// platform is the issuer and its keys and revocations come from the database.
async fn cert_verify_beside_the_platform(app: TestApp) {
    let p = app.learner("cy@example.com").await;
    app.make_eligible(&p, COURSE).await;
    let r = p.call("exam/start", &[("course", COURSE)]).await;
    let attempt = Person::json(r).await.as_i64().expect("attempt id");
    p.call("exam/submit", &[("attempt", &attempt.to_string())])
        .await;
    sqlx::query("UPDATE exam_attempts SET passed = 1, score_bp = 10000 WHERE id = $1")
        .bind(attempt)
        .execute(&app.db)
        .await
        .expect("pass");
    let r = p.issue_certificate(attempt, "Cy Young").await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = Person::json(r).await.as_str().expect("id").to_string();
    let jwt = p.text(&format!("/certificates/{id}/credential.jwt")).await;
    let data_dir = app.settings.data_dir.display().to_string();
    let env = [
        ("DATABASE_URL", app.settings.database_url.as_str()),
        ("MASTERCLASS_PUBLIC_URL", app.settings.public_url.as_str()),
        ("MASTERCLASS_DATA_DIR", data_dir.as_str()),
    ];
    let v = cert_verify(&jwt, &["--offline"], &env);
    assert_eq!(v.code, Some(0), "{}{}", v.stdout, v.stderr);
    assert!(v
        .stdout
        .contains(&format!("issuer      {}/issuer", app.settings.public_url)));
    assert!(
        v.stdout.contains("not revoked"),
        "the database's revocations: {}",
        v.stdout
    );

    let attacker = Issuer::start(3, vec![]).await;
    let forged = attacker.credential(&attacker.base, "Mallory", 0);
    let v = cert_verify(&forged, &[], &env);
    assert_eq!(v.code, Some(1), "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("INVALID: issued by"), "{}", v.stdout);
    // Claiming this platform, signed by someone else.
    let claimed = attacker.credential(&app.settings.public_url, "Mallory", 0);
    let v = cert_verify(&claimed, &[], &env);
    assert_eq!(v.code, Some(1), "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("which the issuer does not publish"),
        "{}",
        v.stdout
    );

    let admin = app.admin().await;
    assert_eq!(
        admin.revoke_certificate(&id, "test").await.status(),
        StatusCode::OK
    );
    let v = cert_verify(&jwt, &[], &env);
    assert_eq!(v.code, Some(1), "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("INVALID: revoked by the issuer"),
        "{}",
        v.stdout
    );
}
on_both_backends!(
    cert_verify_uses_the_platform_beside_it,
    cert_verify_beside_the_platform
);

// ---------------------------------------------------------------------------
// SVG

fn multipart(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----masterclass-hostile-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: image/svg+xml\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(p: &Person, name: &str, bytes: &[u8]) -> reqwest::Response {
    let (content_type, body) = multipart(name, bytes);
    p.client
        .post(format!("{}/admin/media/{COURSE}", p.base))
        .header("Origin", &p.base)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("request")
}

/// The five payloads that passed the first filter.
const SVG_BYPASSES: &[(&str, &str)] = &[
    (
        "namespaced script",
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:s="http://www.w3.org/2000/svg"><s:script>alert(document.domain)</s:script></svg>"#,
    ),
    (
        "DTD entity",
        r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY js "&#106;avascript:alert(1)">]><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="&js;"><text y="20">click</text></a></svg>"#,
    ),
    (
        "entity-encoded javascript:",
        r#"<svg xmlns="http://www.w3.org/2000/svg"><a href="&#x6A;&#x61;vascript&#58;alert(1)"><text y="20">click</text></a></svg>"#,
    ),
    (
        "foreignObject with XHTML",
        r#"<svg xmlns="http://www.w3.org/2000/svg"><foreignObject width="100" height="100"><body xmlns="http://www.w3.org/1999/xhtml"><iframe src="https://evil.example"></iframe></body></foreignObject></svg>"#,
    ),
    (
        "SMIL animation setting href",
        r#"<svg xmlns="http://www.w3.org/2000/svg"><a><set attributeName="href" to="https://evil.example/phish"/><animate attributeName="href" values="https://evil.example"/><text y="20">click</text></a></svg>"#,
    ),
];

/// Every SVG is served in a sandbox, and the upload filter refuses the bypasses.
async fn svgs(app: TestApp) {
    let admin = app.admin().await;
    for (what, svg) in SVG_BYPASSES {
        let r = upload(&admin, "bypass.svg", svg.as_bytes()).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        let why = r.text().await.expect("body");
        assert!(why.contains("an SVG may not"), "{what}: {why}");
    }
    // Nothing of them was stored or served.
    let r = app
        .person()
        .get(&format!("/media/{COURSE}/bypass.svg"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let sandboxed = |r: &reqwest::Response, what: &str| {
        let csp = r
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            csp.split(';').next().map(str::trim) == Some("sandbox")
                && csp.contains("default-src 'none'"),
            "{what}: Content-Security-Policy {csp:?}"
        );
        assert_eq!(
            r.headers()
                .get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{what}"
        );
    };

    // An SVG that passes the filter is served as an image, sandboxed.
    let plain = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#336"/></svg>"##;
    let r = upload(&admin, "plain.svg", plain.as_bytes()).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let r = app
        .person()
        .get(&format!("/media/{COURSE}/plain.svg"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/svg+xml")
    );
    sandboxed(&r, "an uploaded SVG");

    // Whatever reaches the media folder (course media, a filter that missed
    // something) is sandboxed too: the header is the defence, not the filter.
    for (i, (what, svg)) in SVG_BYPASSES.iter().enumerate() {
        let dir = app.settings.media_dir().join(COURSE);
        std::fs::create_dir_all(&dir).expect("media dir");
        std::fs::write(dir.join(format!("placed-{i}.svg")), svg).expect("write");
        let r = app
            .person()
            .get(&format!("/media/{COURSE}/placed-{i}.svg"))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{what}");
        sandboxed(&r, what);
    }
    // And a course file downloaded by an administrator.
    let r = admin
        .get(&format!("/admin/files/{COURSE}/media/plain.svg"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.starts_with("sandbox"), "{csp}");
}
on_both_backends!(svgs_are_sandboxed_and_filtered, svgs);

// ---------------------------------------------------------------------------
// Progress streams

async fn open_stream(p: &Person, run: i64) -> reqwest::Response {
    p.client
        .get(format!("{}/labs/runs/{run}/events", p.base))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("stream")
}

/// One person's live progress streams are capped; others are not affected, and
/// a closed stream frees its place.
async fn streams(app: TestApp) {
    let lab = first_lab();
    let lea = app.learner("streams@example.com").await;
    let other = app.learner("other@example.com").await;
    // No workers: the runs stay queued and their streams stay open.
    let form = lab_form(&lab, |f| f.solution.clone());
    let mut runs = Vec::new();
    for p in [&lea, &other] {
        let r = call_owned(p, "labs/run", &form).await;
        assert_eq!(r.status(), StatusCode::OK);
        runs.push(Person::json(r).await.as_i64().expect("run id"));
    }
    let (run, others) = (runs[0], runs[1]);

    let max = app::labs::events::MAX_STREAMS_PER_USER;
    let mut open = Vec::new();
    for _ in 0..max {
        let r = open_stream(&lea, run).await;
        assert_eq!(r.status(), StatusCode::OK);
        open.push(r);
    }
    let r = open_stream(&lea, run).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let why = r.text().await.expect("body");
    assert!(why.contains(&format!("{max} runs live")), "{why}");

    // Someone else is not held back by it.
    let r = open_stream(&other, others).await;
    assert_eq!(r.status(), StatusCode::OK);
    drop(r);

    // Closing one gives its place back (once the server notices: bounded wait).
    drop(open.pop());
    let mut again = None;
    for _ in 0..120 {
        let r = open_stream(&lea, run).await;
        if r.status() == StatusCode::OK {
            again = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(again.is_some(), "a closed stream never gave its place back");
}

mod progress_streams_are_capped {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = super::TestApp::spawn_custom(super::Backend::Sqlite, |s| s.lab_workers = 0)
            .await
            .expect("sqlite app");
        super::streams(app).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) =
            super::TestApp::spawn_custom(super::Backend::Postgres, |s| s.lab_workers = 0).await
        {
            super::streams(app).await;
        }
    }
}

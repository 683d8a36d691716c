//! Authoring from the browser and `content/` in step with the database: edits are
//! revisions that learners see once saved, broken edits are refused and kept as
//! drafts, import/export round-trips byte for byte and stops on conflicts, and
//! uploads are checked.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;
use support::{Person, TestApp};

const COURSE: &str = "performance-engineering-masterclass";
const MODULE_PATH: &str = "modules/01-why-load-test.md";
const MODULE_SLUG: &str = "what-a-load-test-is-for";

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).expect("inside").display().to_string();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, bytes).expect("write");
    }
}

async fn save(admin: &Person, path: &str, text: &str, base: i64) -> reqwest::Response {
    admin
        .call(
            "admin/content/save",
            &[
                ("course", COURSE),
                ("path", path),
                ("text", text),
                ("base_revision", &base.to_string()),
            ],
        )
        .await
}

async fn file(admin: &Person, path: &str) -> Value {
    Person::json(
        admin
            .call("admin/content/file", &[("course", COURSE), ("path", path)])
            .await,
    )
    .await
}

async fn module_html(p: &Person) -> String {
    let r = p.module(COURSE, MODULE_SLUG).await;
    assert_eq!(r.status(), StatusCode::OK);
    Person::json(r).await["body_html"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// An administrator edits a module; the learner sees it at once; a broken edit is
/// refused with its line and kept as a draft; a stale edit is refused; restoring an
/// old revision brings the old text back; every step is in the history and audit log.
async fn edit_publish_restore(app: TestApp) {
    let admin = app.admin().await;
    let learner = app.learner("learner@example.com").await;
    let before = module_html(&learner).await;
    assert!(!before.contains("A freshly written paragraph"));

    let original = file(&admin, MODULE_PATH).await;
    let rev1 = original["revision"].as_i64().expect("revision");
    let text = original["text"].as_str().expect("text").to_string();
    let edited = text.replacen("\n## ", "\nA freshly written paragraph.\n\n## ", 1);
    assert_ne!(
        edited, text,
        "the module has a level-2 heading to write before"
    );

    // The preview is the learners' renderer, and it is sanitized like the page.
    let preview = Person::json(
        admin
            .call(
                "admin/content/draft",
                &[
                    ("course", COURSE),
                    ("path", MODULE_PATH),
                    ("text", &format!("{edited}\n<script>alert(1)</script>\n")),
                    ("base_revision", &rev1.to_string()),
                ],
            )
            .await,
    )
    .await;
    let html = preview["html"].as_str().expect("html");
    assert!(html.contains("A freshly written paragraph"));
    assert!(!html.contains("<script"), "sanitized");
    assert_eq!(preview["problems"], Value::Array(vec![]));

    let r = save(&admin, MODULE_PATH, &edited, rev1).await;
    assert_eq!(r.status(), StatusCode::OK);
    let rev2 = Person::json(r).await.as_i64().expect("new revision");
    assert_eq!(rev2, rev1 + 1);
    assert!(
        module_html(&learner)
            .await
            .contains("A freshly written paragraph"),
        "the learner sees the saved text at once"
    );
    assert_eq!(
        file(&admin, MODULE_PATH).await["draft_at"],
        Value::Null,
        "a saved draft is gone"
    );

    // A save based on an old revision would lose the one in between: refused.
    let r = save(&admin, MODULE_PATH, &text, rev1).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Broken front matter: refused with the line, the draft kept, learners unaffected.
    let broken = text.replacen("order: 1", "order: [", 1);
    let r = save(&admin, MODULE_PATH, &broken, rev2).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let message = r.text().await.expect("body");
    assert!(message.contains(MODULE_PATH), "{message}");
    let reopened = file(&admin, MODULE_PATH).await;
    assert_eq!(
        reopened["text"], broken,
        "the broken text is kept as a draft"
    );
    assert_eq!(reopened["revision"], rev2);
    assert!(!reopened["preview"]["problems"]
        .as_array()
        .expect("problems")
        .is_empty());
    assert!(module_html(&learner)
        .await
        .contains("A freshly written paragraph"));

    // History, a diff, and restore.
    let h = Person::json(
        admin
            .call(
                "admin/content/history",
                &[
                    ("course", COURSE),
                    ("path", MODULE_PATH),
                    ("from", &rev1.to_string()),
                    ("to", &rev2.to_string()),
                ],
            )
            .await,
    )
    .await;
    assert_eq!(h["current"], rev2);
    assert_eq!(h["revisions"][0]["author"], "admin@example.com");
    assert_eq!(h["diff"]["added"], 2);
    assert_eq!(h["diff"]["removed"], 0);
    let r = admin
        .call(
            "admin/content/restore",
            &[
                ("course", COURSE),
                ("path", MODULE_PATH),
                ("revision", &rev1.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(Person::json(r).await, rev2 + 1);
    assert_eq!(module_html(&learner).await, before, "the old text is back");

    // Unpublish hides the module from learners; publish brings it back.
    let publish = |on: bool| {
        let admin = &admin;
        async move {
            admin
                .call(
                    "admin/content/publish",
                    &[
                        ("course", COURSE),
                        ("path", MODULE_PATH),
                        ("publish", if on { "true" } else { "false" }),
                    ],
                )
                .await
                .status()
        }
    };
    assert_eq!(publish(false).await, StatusCode::OK);
    assert_eq!(
        learner.module(COURSE, MODULE_SLUG).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(publish(true).await, StatusCode::OK);
    assert_eq!(
        learner.module(COURSE, MODULE_SLUG).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        file(&admin, MODULE_PATH).await["text"],
        text,
        "unpublishing and publishing again leaves the file as it was"
    );

    let audit = Person::json(admin.call("admin/audit", &[]).await).await;
    let actions: Vec<&str> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        vec![
            "published",
            "unpublished",
            &format!("restored revision {rev1}"),
            "edited in the browser"
        ]
    );
}
on_both_backends!(edit_publish_and_restore, edit_publish_restore);

/// Import then export of the whole shipped course changes nothing, byte for byte;
/// export writes the browser's edits; both stop on a file changed on both sides.
async fn round_trip_and_conflicts(app: TestApp) {
    let out = tempfile::tempdir().expect("dir");
    let report = app::course::sync::export_dir(&app.db, out.path())
        .await
        .expect("export");
    assert!(report.conflicts.is_empty());
    assert_eq!(
        tree(out.path()),
        tree(&support::repo_content()),
        "export of an import is byte-identical"
    );
    let again = app::course::sync::import_dir(&app.db, out.path())
        .await
        .expect("import");
    assert!(!again.changed() && again.conflicts.is_empty(), "{again:?}");

    // Edited in the browser only: import keeps the database's version, export writes it.
    let admin = app.admin().await;
    let f = file(&admin, MODULE_PATH).await;
    let text = f["text"].as_str().expect("text").to_string();
    let edited = format!("{text}\nEdited in the browser.\n");
    let r = save(
        &admin,
        MODULE_PATH,
        &edited,
        f["revision"].as_i64().expect("rev"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let on_disk = out.path().join(COURSE).join(MODULE_PATH);
    let report = app::course::sync::import_dir(&app.db, out.path())
        .await
        .expect("import");
    assert_eq!(report.kept, vec![format!("{COURSE}/{MODULE_PATH}")]);
    assert!(!report.changed());
    app::course::sync::export_dir(&app.db, out.path())
        .await
        .expect("export");
    assert_eq!(std::fs::read_to_string(&on_disk).expect("file"), edited);

    // Changed on both sides: import and export each stop, and neither side changes.
    std::fs::write(&on_disk, format!("{edited}\nEdited on disk.\n")).expect("write");
    let disk_version = std::fs::read(&on_disk).expect("read");
    let f = file(&admin, MODULE_PATH).await;
    let db_version = format!("{edited}\nEdited again in the browser.\n");
    let r = save(
        &admin,
        MODULE_PATH,
        &db_version,
        f["revision"].as_i64().expect("rev"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let conflict = vec![format!("{COURSE}/{MODULE_PATH}")];
    let report = app::course::sync::import_dir(&app.db, out.path())
        .await
        .expect("import");
    assert_eq!(report.conflicts, conflict);
    let report = app::course::sync::export_dir(&app.db, out.path())
        .await
        .expect("export");
    assert_eq!(report.conflicts, conflict);
    assert_eq!(std::fs::read(&on_disk).expect("read"), disk_version);
    assert_eq!(file(&admin, MODULE_PATH).await["text"], db_version);

    // A file changed only on disk comes in on import.
    let copy = tempfile::tempdir().expect("dir");
    copy_dir(out.path(), copy.path());
    std::fs::write(copy.path().join(COURSE).join(MODULE_PATH), &db_version).expect("write");
    let exam = copy.path().join(COURSE).join("exam/blueprint.yaml");
    let blueprint = std::fs::read_to_string(&exam).expect("blueprint");
    std::fs::write(&exam, format!("{blueprint}# a comment\n")).expect("write");
    let report = app::course::sync::import_dir(&app.db, copy.path())
        .await
        .expect("import");
    assert!(report.conflicts.is_empty(), "{report:?}");
    assert_eq!(
        report.updated,
        vec![format!("{COURSE}/exam/blueprint.yaml")]
    );
}
on_both_backends!(import_export_round_trip, round_trip_and_conflicts);

fn multipart(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----masterclass-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
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

/// Uploads: only administrators; only the allowed types, checked by content; no
/// paths; size limits; what is stored is served with a safe type.
async fn uploads(app: TestApp) {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let anon = app.person();
    let learner = app.learner("learner@example.com").await;
    let admin = app.admin().await;
    assert_eq!(
        upload(&anon, "a.png", &png).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        upload(&learner, "a.png", &png).await.status(),
        StatusCode::FORBIDDEN
    );

    for (name, bytes, status) in [
        (
            "page.html",
            &b"<html><script>alert(1)</script></html>"[..],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "x.svg.html",
            b"<svg></svg>",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("../../escape.png", &png, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("..\\escape.png", &png, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            "fake.png",
            b"<html>not a png</html>",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "evil.svg",
            b"<svg onload=\"alert(1)\"></svg>",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("bad.vtt", b"not captions", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        assert_eq!(upload(&admin, name, bytes).await.status(), status, "{name}");
    }
    let mut big = png.clone();
    big.resize(5 * 1024 * 1024 + 1, 0);
    assert_eq!(
        upload(&admin, "big.png", &big).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let files = app::course::sync::course_files(&app.db, COURSE)
        .await
        .expect("files");
    assert!(
        !files.iter().any(|f| f.path.contains("escape")
            || f.path.ends_with(".html")
            || f.path.contains("fake")
            || f.path.contains("big")),
        "nothing refused was stored"
    );

    let r = upload(&admin, "Diagram.png", &png).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let served = anon.get(&format!("/media/{COURSE}/diagram.png")).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(
        served
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/png")
    );
    assert_eq!(
        served
            .headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    assert_eq!(served.bytes().await.expect("body").as_ref(), &png[..]);
    let audit = Person::json(admin.call("admin/audit", &[]).await).await;
    assert_eq!(audit[0]["action"], "uploaded a file");
    assert_eq!(audit[0]["target"], format!("{COURSE}/media/diagram.png"));

    // GIFT: imported into the question bank from the browser, and exported as a download.
    let bank = "$CATEGORY: k6 and load testing\n\n::uploaded-one:: Which executor keeps an arrival rate? {=constant-arrival-rate ~constant-vus}\n";
    assert_eq!(
        upload(&admin, "broken.gift", b"::x:: never closed {=a")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        upload(&admin, "uploaded.gift", bank.as_bytes())
            .await
            .status(),
        StatusCode::CREATED
    );
    let in_bank: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM exam_questions WHERE qkey LIKE '%uploaded-one%'")
            .fetch_one(&app.db)
            .await
            .expect("count");
    assert_eq!(in_bank, 1, "the uploaded question is in the bank");
    let path = format!("/admin/files/{COURSE}/exam/uploaded.gift");
    assert_eq!(learner.get(&path).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(anon.get(&path).await.status(), StatusCode::UNAUTHORIZED);
    let download = admin.get(&path).await;
    assert_eq!(download.status(), StatusCode::OK);
    assert!(download
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("attachment")));
    assert_eq!(download.text().await.expect("body"), bank);
}
on_both_backends!(media_uploads, uploads);

/// Running the course: find a learner with their progress, see it in the
/// analytics, reset it, change a role; each step in the audit log.
async fn learners_and_analytics(app: TestApp) {
    let admin = app.admin().await;
    let learner = app.learner("grace@example.com").await;
    assert_eq!(
        learner.complete(COURSE, MODULE_SLUG, true).await.status(),
        StatusCode::OK
    );
    let found = Person::json(admin.call("admin/learners", &[("q", "GRACE@")]).await).await;
    let rows = found.as_array().expect("rows");
    assert_eq!(rows.len(), 1, "search ignores case and matches the email");
    assert_eq!(rows[0]["modules_completed"], 1);
    let id = rows[0]["id"].as_i64().expect("id").to_string();
    let nobody = Person::json(admin.call("admin/learners", &[("q", "%")]).await).await;
    assert_eq!(nobody, Value::Array(vec![]), "LIKE wildcards are escaped");

    let a = Person::json(admin.call("admin/analytics", &[("course", COURSE)]).await).await;
    assert_eq!(a["enrolled"], 1);
    assert_eq!(a["funnel"][0]["value"], 1, "{}", a["funnel"][0]);
    assert_eq!(a["funnel"][1]["value"], 0);
    assert_eq!(a["scores"].as_array().map(Vec::len), Some(10));

    // What the learner sees of their own progress follows every change at once.
    let own_progress = || async {
        Person::json(
            learner
                .call("courses/overview", &[("course", COURSE)])
                .await,
        )
        .await["completed"]
            .clone()
    };
    assert_eq!(own_progress().await, 1);
    // A reset must be confirmed: without the box ticked nothing is cleared.
    let r = admin
        .call("admin/learners/reset", &[("user", &id), ("course", COURSE)])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("body").contains("Tick the box"));
    assert_eq!(own_progress().await, 1);
    let r = admin
        .call(
            "admin/learners/reset",
            &[("user", &id), ("course", COURSE), ("confirm", "yes")],
        )
        .await;
    assert_eq!(Person::json(r).await, 1);
    let found = Person::json(admin.call("admin/learners", &[("q", "grace")]).await).await;
    assert_eq!(found[0]["modules_completed"], 0);
    assert_eq!(own_progress().await, 0);

    assert_eq!(
        learner.call("admin/learners", &[("q", "")]).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = admin
        .call("admin/learners/role", &[("user", &id), ("admin", "true")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        learner.call("admin/learners", &[("q", "")]).await.status(),
        StatusCode::OK,
        "the new administrator may now run the course"
    );
    let audit = Person::json(admin.call("admin/audit", &[]).await).await;
    assert_eq!(audit[0]["action"], "changed a role");
    assert_eq!(audit[0]["after"], "administrator");
    assert_eq!(audit[1]["action"], "reset progress");
    assert_eq!(audit[1]["before"], "1 modules completed, 0 labs passed");
    let r = admin
        .call("admin/learners/role", &[("user", &id), ("admin", "false")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        learner.call("admin/learners", &[("q", "")]).await.status(),
        StatusCode::FORBIDDEN,
        "a withdrawn role counts at once"
    );
}
on_both_backends!(running_the_course, learners_and_analytics);

/// "Test the lab": the shipped first lab passes with its solution and fails
/// with its starter files.
async fn lab_test(app: TestApp) {
    let admin = app.admin().await;
    let r = admin
        .call(
            "admin/content/test-lab",
            &[("course", COURSE), ("lab", "01-first-load-test")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t = Person::json(r).await;
    assert_eq!(t["solution"]["passed"], true, "{}", t["solution"]);
    assert_eq!(t["starter"]["passed"], false, "{}", t["starter"]);
    assert!(!t["starter"]["failed"]
        .as_array()
        .expect("failed")
        .is_empty());
    assert_eq!(
        admin
            .call(
                "admin/content/test-lab",
                &[("course", COURSE), ("lab", "no-such-lab")],
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}
on_both_backends!(test_the_lab, lab_test);

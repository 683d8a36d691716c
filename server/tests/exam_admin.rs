//! The exam's administration over HTTP, on SQLite and PostgreSQL: the blueprint (saved
//! as a revision of `exam/blueprint.yaml`, kept by a re-import of unchanged content,
//! written back by `content export`), extra time, extra attempts, voiding, item
//! statistics against hand-computed values, and retiring questions that left the bank.

mod support;

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;
use support::{Backend, Person, TestApp, COURSE};

const STATS: &str = "stats-check";

const STATS_BANK: &str = "$CATEGORY: Stats\n\n\
::a::Statement A is true. {T}\n\n\
::b::Statement B is true. {T}\n\n\
::c::Statement C is true. {T}\n";

const STATS_BLUEPRINT: &str = "time_limit_minutes: 10\n\
pass_mark_percent: 50\n\
attempts_allowed: 1\n\
show_answers: true\n\
draw:\n  - category: Stats\n    count: 3\n";

/// A content folder with one small course whose exam is three true/false questions.
fn stats_content(dir: &Path, bank: &str) {
    let course = dir.join(STATS);
    std::fs::create_dir_all(course.join("modules")).expect("mkdir");
    std::fs::create_dir_all(course.join("exam")).expect("mkdir");
    std::fs::write(
        course.join("course.yaml"),
        "title: Statistics check\nsummary: A fixture course for the item statistics.\norder: 1\nsections:\n  - slug: only\n    title: Only section\n",
    )
    .expect("course.yaml");
    std::fs::write(
        course.join("modules/about.md"),
        "---\ntitle: About\nsection: only\norder: 1\nminutes: 1\n---\n\nA fixture.\n",
    )
    .expect("module");
    std::fs::write(course.join("exam/blueprint.yaml"), STATS_BLUEPRINT).expect("blueprint");
    std::fs::write(course.join("exam/questions.gift"), bank).expect("bank");
}

async fn spawn_stats(backend: Backend) -> Option<(TestApp, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("dir");
    stats_content(dir.path(), STATS_BANK);
    let app = TestApp::spawn_with_content(backend, dir.path()).await?;
    Some((app, dir))
}

async fn ok(r: reqwest::Response) -> Value {
    let status = r.status();
    let v = Person::json(r).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

async fn status_and_message(r: reqwest::Response) -> (StatusCode, String) {
    let s = r.status();
    (s, r.text().await.expect("body"))
}

async fn start(p: &Person, course: &str) -> i64 {
    ok(p.call("exam/start", &[("course", course)]).await)
        .await
        .as_i64()
        .expect("attempt id")
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.db)
        .await
        .expect("user")
}

async fn deadline(app: &TestApp, attempt: i64) -> i64 {
    sqlx::query_scalar("SELECT deadline_at FROM exam_attempts WHERE id = $1")
        .bind(attempt)
        .fetch_one(&app.db)
        .await
        .expect("deadline")
}

/// The repository course's blueprint, read so that its tunable numbers are not assumed here.
fn shipped_blueprint() -> app::exam::draw::Blueprint {
    let dir = support::repo_content().join(COURSE).join("exam");
    let (_, bp) = app::exam::store::read_folder(&dir).expect("the shipped bank");
    bp.expect("blueprint.yaml")
}

/// The blueprint form with the repository course's settings, changed by `changes`.
fn blueprint_form(changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let shipped = shipped_blueprint();
    let mut f: Vec<(String, String)> = vec![
        ("course".into(), COURSE.into()),
        ("time_limit".into(), shipped.time_limit_minutes.to_string()),
        ("time_unit".into(), "minutes".into()),
        ("pass_mark_percent".into(), "70".into()),
        ("attempts_allowed".into(), "3".into()),
        ("cooldown_minutes".into(), "60".into()),
        ("opens_at".into(), String::new()),
        ("closes_at".into(), String::new()),
        ("show_answers".into(), shipped.show_answers.as_str().into()),
        ("shuffle_questions".into(), "on".into()),
        ("shuffle_options".into(), "on".into()),
    ];
    for (i, d) in shipped.draw.iter().enumerate() {
        f.push((format!("category[{i}]"), d.category.clone()));
        f.push((format!("count[{i}]"), d.count.to_string()));
    }
    for (k, v) in changes {
        f.retain(|(fk, _)| fk != k);
        if !v.is_empty() || k.ends_with("_at") {
            f.push(((*k).into(), (*v).into()));
        }
    }
    f
}

/// `exam/blueprint.yaml` as the content store holds it: (text, revision).
async fn blueprint_file(admin: &Person) -> (String, i64) {
    let f = ok(admin
        .call(
            "admin/content/file",
            &[("course", COURSE), ("path", "exam/blueprint.yaml")],
        )
        .await)
    .await;
    (
        f["text"].as_str().expect("text").to_string(),
        f["revision"].as_i64().expect("revision"),
    )
}

/// The revisions of `exam/blueprint.yaml`, newest first.
async fn blueprint_history(admin: &Person) -> Vec<Value> {
    ok(admin
        .call(
            "admin/content/history",
            &[("course", COURSE), ("path", "exam/blueprint.yaml")],
        )
        .await)
    .await["revisions"]
        .as_array()
        .expect("revisions")
        .clone()
}

async fn save_blueprint(p: &Person, form: &[(String, String)]) -> reqwest::Response {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    p.call("exam/admin/save-blueprint", &form).await
}

async fn blueprint(app: TestApp) {
    let admin = app.admin().await;
    let learner = app.learner("lea@example.com").await;
    let course = [("course", COURSE)];
    assert_eq!(
        app.person()
            .call("exam/admin/blueprint", &course)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        learner.call("exam/admin/blueprint", &course).await.status(),
        StatusCode::FORBIDDEN
    );
    let shipped = shipped_blueprint();
    let b = ok(admin.call("exam/admin/blueprint", &course).await).await;
    assert_eq!(b["time_limit"], shipped.time_limit_minutes);
    assert_eq!(b["time_unit"], "minutes");
    assert_eq!(b["pass_mark_percent"], 70.0);
    assert_eq!(b["attempts_allowed"], 3);
    assert_eq!(b["show_answers"], "after_last_attempt");
    assert_eq!(b["path"], "exam/blueprint.yaml");
    let (shipped_text, rev0) = blueprint_file(&admin).await;
    assert_eq!(b["revision"], rev0);
    let history0 = blueprint_history(&admin).await;
    assert_eq!(history0[0]["revision"], rev0);
    let draw = b["draw"].as_array().expect("draw");
    assert_eq!(draw.len(), shipped.draw.len());
    for s in &shipped.draw {
        let d = draw
            .iter()
            .find(|d| d["category"] == s.category.as_str())
            .unwrap_or_else(|| panic!("{} in {draw:?}", s.category));
        assert_eq!(d["count"], s.count, "{d}");
        assert!(d["available"].as_i64() >= Some(s.count), "{d}");
    }
    assert_eq!(
        ok(admin.call("exam/admin/courses", &[]).await).await[0]["has_exam"],
        true
    );

    // Bad input is refused with a message in words, and changes nothing.
    for (changes, says) in [
        (vec![("time_limit", "ninety")], "whole number"),
        (vec![("time_limit", "0")], "between 1 and 1440"),
        (
            vec![("time_limit", "3"), ("time_unit", "seconds")],
            "between 5 and 86400",
        ),
        (vec![("time_unit", "hours")], "minutes or seconds"),
        (vec![("pass_mark_percent", "150")], "between 0 and 100"),
        (vec![("pass_mark_percent", "lots")], "number from 0 to 100"),
        (vec![("attempts_allowed", "0")], "at least 1"),
        (vec![("cooldown_minutes", "-5")], "not negative"),
        (vec![("count[0]", "999")], "the bank has"),
        (vec![("count[1]", "-1")], "cannot be negative"),
        (
            vec![
                ("count[0]", "0"),
                ("count[1]", "0"),
                ("count[2]", "0"),
                ("count[3]", "0"),
                ("count[4]", "0"),
            ],
            "at least one question",
        ),
        (vec![("opens_at", "next tuesday")], "not a UTC date"),
        (
            vec![("opens_at", "2030-02-01"), ("closes_at", "2030-01-01")],
            "open before it closes",
        ),
        (vec![("module[0]", "no-such-module")], "no module"),
        (
            vec![("certificate_valid_months", "0")],
            "from 1 to 120 months",
        ),
        (vec![("certificate_valid_months", "a year")], "whole number"),
        (
            vec![("show_answers", "always")],
            "after_last_attempt, after_pass, never",
        ),
    ] {
        let (status, body) =
            status_and_message(save_blueprint(&admin, &blueprint_form(&changes)).await).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{changes:?}: {body}"
        );
        assert!(body.contains(says), "{changes:?}: {body}");
    }
    assert_eq!(
        learner
            .call("exam/admin/save-blueprint", &[("course", COURSE)])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let unchanged = ok(admin.call("exam/admin/blueprint", &course).await).await;
    assert_eq!(unchanged, b);
    assert_eq!(
        blueprint_file(&admin).await,
        (shipped_text.clone(), rev0),
        "a refused form writes no revision"
    );
    assert_eq!(blueprint_history(&admin).await, history0);
    let audit = ok(admin.call("admin/audit", &[]).await).await;
    assert!(
        !audit
            .as_array()
            .expect("audit")
            .iter()
            .any(|a| a["action"] == "saved the exam blueprint"),
        "{audit}"
    );

    // A good edit is what learners see from now on.
    let r = save_blueprint(
        &admin,
        &blueprint_form(&[
            ("time_limit", "45"),
            ("pass_mark_percent", "62.5"),
            ("attempts_allowed", "2"),
            ("cooldown_minutes", "0"),
            ("count[0]", "2"),
            ("count[1]", "2"),
            ("count[2]", "0"),
            ("shuffle_questions", ""),
            ("module[0]", support::FIRST),
            ("certificate_valid_months", "18"),
        ]),
    )
    .await;
    let rev1 = ok(r).await.as_i64().expect("the new revision");
    assert_eq!(rev1, rev0 + 1);
    let b2 = ok(admin.call("exam/admin/blueprint", &course).await).await;
    assert_eq!(b2["time_limit"], 45);
    assert_eq!(b2["certificate_valid_months"], 18);
    assert_eq!(b2["revision"], rev1);
    assert_eq!(b2["shuffle_questions"], false);
    assert_eq!(b2["shuffle_options"], true);
    assert!(b2["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .any(|m| m["slug"] == support::FIRST && m["required"] == true));
    let ov = ok(learner.call("exam/overview", &course).await).await;
    let kept: i64 = shipped.draw[3..].iter().map(|d| d.count).sum();
    assert_eq!(ov["questions"], 2 + 2 + kept);
    assert_eq!(ov["time_limit_seconds"], 45 * 60);
    assert_eq!(ov["pass_mark_percent"], 62.5);
    assert_eq!(ov["attempts_allowed"], 2);
    assert!(
        ov["blocked"]
            .as_str()
            .unwrap_or("")
            .contains("Complete these modules first"),
        "{ov}"
    );

    // The save is a revision of exam/blueprint.yaml, in the file's history, in the YAML
    // the importer reads, with the file's comment still on top.
    let history = blueprint_history(&admin).await;
    assert_eq!(history.len(), history0.len() + 1);
    assert_eq!(history[0]["revision"], rev1);
    assert_eq!(history[0]["author"], "admin@example.com");
    assert_eq!(history[0]["note"], "saved with the exam blueprint form");
    let (text, rev) = blueprint_file(&admin).await;
    assert_eq!(rev, rev1);
    let first_line = shipped_text.lines().next().expect("a first line");
    assert!(
        first_line.starts_with('#') && text.starts_with(first_line),
        "{text}"
    );
    for line in [
        "time_limit_minutes: 45\n",
        "pass_mark_percent: 62.5\n",
        "shuffle_questions: false\n",
        "shuffle_options: true\n",
        "certificate_valid_months: 18\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let written = app::exam::draw::Blueprint::parse(&text).expect("the importer reads it");
    assert_eq!(written.time_limit_minutes, 45);
    assert_eq!(written.pass_mark_percent, 62.5);
    assert_eq!(written.attempts_allowed, 2);
    assert_eq!(written.cooldown_minutes, 0);
    assert!(!written.shuffle_questions && written.shuffle_options);
    assert_eq!(
        written.show_answers,
        app::exam::ShowAnswers::AfterLastAttempt
    );
    assert_eq!(written.certificate_valid_months, Some(18));
    assert_eq!(written.eligibility.modules_completed, vec![support::FIRST]);
    assert_eq!(written.draw.len(), shipped.draw.len() - 1);
    // One audit entry, with the settings before and after.
    let audit = ok(admin.call("admin/audit", &[]).await).await;
    let saves: Vec<&Value> = audit
        .as_array()
        .expect("audit")
        .iter()
        .filter(|a| a["target"] == format!("{COURSE}/exam/blueprint.yaml"))
        .collect();
    assert_eq!(saves.len(), 1, "{audit}");
    assert_eq!(saves[0]["action"], "saved the exam blueprint");
    let before: Value =
        serde_json::from_str(saves[0]["before"].as_str().expect("before")).expect("json");
    let after: Value =
        serde_json::from_str(saves[0]["after"].as_str().expect("after")).expect("json");
    assert_eq!(before["time_limit_minutes"], shipped.time_limit_minutes);
    assert_eq!(after["time_limit_minutes"], 45);

    // A form read before that save is stale: refused, and nothing changes.
    let mut stale = blueprint_form(&[("time_limit", "50")]);
    stale.push(("revision".into(), rev0.to_string()));
    let (status, message) = status_and_message(save_blueprint(&admin, &stale).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{message}");
    assert!(message.contains("since you opened this form"), "{message}");
    assert_eq!(blueprint_file(&admin).await, (text.clone(), rev1));
    let mut bad = blueprint_form(&[("time_limit", "50")]);
    bad.push(("revision".into(), "latest".into()));
    let (status, message) = status_and_message(save_blueprint(&admin, &bad).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
    assert!(message.contains("whole number"), "{message}");
    assert_eq!(
        ok(admin.call("exam/admin/blueprint", &course).await).await,
        b2
    );

    // Learners who start the exam from now on sit it under the new settings.
    let mut open = blueprint_form(&[
        ("time_limit", "45"),
        ("pass_mark_percent", "62.5"),
        ("attempts_allowed", "2"),
        ("cooldown_minutes", "0"),
        ("count[0]", "2"),
        ("count[1]", "2"),
        ("count[2]", "0"),
        ("shuffle_questions", ""),
        ("certificate_valid_months", "18"),
    ]);
    open.push(("revision".into(), rev1.to_string()));
    let rev2 = ok(save_blueprint(&admin, &open).await)
        .await
        .as_i64()
        .expect("revision");
    assert_eq!(rev2, rev1 + 1);
    // The labs the blueprint still requires (the form keeps them) done, the learner starts.
    app.make_eligible(&learner, COURSE).await;
    let attempt = start(&learner, COURSE).await;
    let (started, due): (i64, i64) =
        sqlx::query_as("SELECT started_at, deadline_at FROM exam_attempts WHERE id = $1")
            .bind(attempt)
            .fetch_one(&app.db)
            .await
            .expect("attempt");
    assert_eq!(due - started, 45 * 60 * 1000);
    let items: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM exam_attempt_items WHERE attempt_id = $1",
    )
    .bind(attempt)
    .fetch_one(&app.db)
    .await
    .expect("items");
    assert_eq!(items, 2 + 2 + kept);
    let ov = ok(learner.call("exam/overview", &course).await).await;
    assert_eq!(ov["attempts_allowed"], 2);
    let b2 = ok(admin.call("exam/admin/blueprint", &course).await).await;

    // Re-importing the unchanged content/ keeps the edit: the database's file is newer …
    let published = masterclass::startup::import_content(&app.db, &app.settings)
        .await
        .expect("import");
    assert!(
        published.exam_problems.is_empty(),
        "{:?}",
        published.exam_problems
    );
    assert_eq!(
        ok(admin.call("exam/admin/blueprint", &course).await).await,
        b2,
        "an unchanged content/ does not undo an admin's edit"
    );

    // … `content export` writes it to content/<course>/exam/blueprint.yaml …
    let out = tempfile::tempdir().expect("dir");
    let report = app::course::sync::export_dir(&app.db, out.path())
        .await
        .expect("export");
    assert!(report.conflicts.is_empty(), "{report:?}");
    let exported = out.path().join(COURSE).join("exam/blueprint.yaml");
    let yaml = std::fs::read_to_string(&exported).expect("exported blueprint");
    assert_eq!(yaml, blueprint_file(&admin).await.0);
    let (_, from_disk) =
        app::exam::store::read_folder(&out.path().join(COURSE).join("exam")).expect("the folder");
    let from_disk = from_disk.expect("blueprint.yaml");
    assert_eq!(from_disk.time_limit_minutes, 45);
    assert_eq!(from_disk.certificate_valid_months, Some(18));
    assert!(!from_disk.shuffle_questions);

    // … and a file changed afterwards in content/ is the author's newer word.
    assert!(yaml.contains("time_limit_minutes: 45\n"), "{yaml}");
    std::fs::write(
        &exported,
        yaml.replace("time_limit_minutes: 45\n", "time_limit_minutes: 75\n"),
    )
    .expect("write");
    let report = app::course::sync::import_dir(&app.db, out.path())
        .await
        .expect("import");
    assert_eq!(
        report.updated,
        vec![format!("{COURSE}/exam/blueprint.yaml")],
        "{report:?}"
    );
    let published = app::course::sync::publish(&app.db, &app.settings.media_dir())
        .await
        .expect("publish");
    assert!(
        published.exam_problems.is_empty(),
        "{:?}",
        published.exam_problems
    );
    let b3 = ok(admin.call("exam/admin/blueprint", &course).await).await;
    assert_eq!(b3["time_limit"], 75);
    assert_eq!(b3["revision"], rev2 + 1);
    assert_eq!(
        blueprint_history(&admin).await[0]["note"],
        "imported from content/"
    );
}
on_both_backends!(the_blueprint_is_edited_and_survives_reimport, blueprint);

async fn extra_time(app: TestApp) {
    let admin = app.admin().await;
    let lea = app.exam_taker("lea@example.com").await;
    let other = app.learner("other@example.com").await;
    let id = start(&lea, COURSE).await;
    let ids = id.to_string();
    let before = deadline(&app, id).await;
    let q = ok(lea
        .call("exam/question", &[("attempt", &ids), ("position", "1")])
        .await)
    .await;
    assert!(
        q["remaining_seconds"].as_i64().expect("secs")
            <= shipped_blueprint().time_limit_minutes * 60
    );

    for (who, expect) in [
        (app.person(), StatusCode::UNAUTHORIZED),
        (other, StatusCode::FORBIDDEN),
    ] {
        assert_eq!(
            who.call(
                "exam/admin/extra-time",
                &[("attempt", &ids), ("minutes", "10")]
            )
            .await
            .status(),
            expect
        );
    }
    assert_eq!(
        lea.call(
            "exam/admin/extra-time",
            &[("attempt", &ids), ("minutes", "10")]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN,
        "a learner cannot give herself time"
    );
    for bad in ["0", "-3", "601", "ten", ""] {
        let (s, body) = status_and_message(
            admin
                .call(
                    "exam/admin/extra-time",
                    &[("attempt", &ids), ("minutes", bad)],
                )
                .await,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body.contains("1 to 600"), "{body}");
    }
    assert_eq!(
        admin
            .call(
                "exam/admin/extra-time",
                &[("attempt", "999999"), ("minutes", "5")]
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(deadline(&app, id).await, before, "nothing moved yet");

    let left = ok(admin
        .call(
            "exam/admin/extra-time",
            &[("attempt", &ids), ("minutes", "10")],
        )
        .await)
    .await
    .as_i64()
    .expect("secs");
    // The shipped time limit plus the ten minutes, less the seconds the test has taken.
    let limit = shipped_blueprint().time_limit_minutes * 60 + 600;
    assert!(left > limit - 60 && left <= limit, "{left}");
    assert_eq!(deadline(&app, id).await, before + 600_000);
    let q = ok(lea
        .call("exam/question", &[("attempt", &ids), ("position", "1")])
        .await)
    .await;
    let secs = q["remaining_seconds"].as_i64().expect("secs");
    assert!(
        secs > limit - 60,
        "the learner's countdown starts from the new deadline: {secs}"
    );
    let list = ok(admin
        .call("exam/admin/attempts", &[("course", COURSE)])
        .await)
    .await;
    let a = &list["learners"][0]["attempts"][0];
    assert_eq!(a["extra_minutes"], 10);
    assert_eq!(list["log"][0]["action"], "extra time");

    // An attempt past its deadline (and grace) is over: no more time, it is submitted.
    sqlx::query("UPDATE exam_attempts SET deadline_at = $1 WHERE id = $2")
        .bind(app::db::now_ms() - 60_000)
        .bind(id)
        .execute(&app.db)
        .await
        .expect("expire");
    let (s, body) = status_and_message(
        admin
            .call(
                "exam/admin/extra-time",
                &[("attempt", &ids), ("minutes", "10")],
            )
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let list = ok(admin
        .call("exam/admin/attempts", &[("course", COURSE)])
        .await)
    .await;
    let a = &list["learners"][0]["attempts"][0];
    assert_eq!(a["status"], "submitted");
    assert_eq!(a["submitted_by"], "server");
}
on_both_backends!(extra_time_moves_the_deadline, extra_time);

async fn extra_attempt(app: TestApp) {
    let admin = app.admin().await;
    let lea = app.exam_taker("lea@example.com").await;
    ok(save_blueprint(
        &admin,
        &blueprint_form(&[("attempts_allowed", "1"), ("cooldown_minutes", "0")]),
    )
    .await)
    .await;
    let id = start(&lea, COURSE).await;
    ok(lea
        .call("exam/submit", &[("attempt", &id.to_string())])
        .await)
    .await;
    let ov = ok(lea.call("exam/overview", &[("course", COURSE)]).await).await;
    assert!(
        ov["blocked"].as_str().unwrap_or("").contains("used all 1"),
        "{ov}"
    );
    assert_eq!(
        lea.call("exam/start", &[("course", COURSE)]).await.status(),
        StatusCode::CONFLICT
    );

    let uid = user_id(&app, "lea@example.com").await.to_string();
    let form = [("course", COURSE), ("user", uid.as_str())];
    assert_eq!(
        app.person()
            .call("exam/admin/extra-attempt", &form)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        lea.call("exam/admin/extra-attempt", &form).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin
            .call(
                "exam/admin/extra-attempt",
                &[("course", COURSE), ("user", "999999")]
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin
            .call(
                "exam/admin/extra-attempt",
                &[("course", "no-such-course"), ("user", &uid)]
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ok(admin.call("exam/admin/extra-attempt", &form).await).await,
        2
    );
    let ov = ok(lea.call("exam/overview", &[("course", COURSE)]).await).await;
    assert_eq!(ov["blocked"], Value::Null, "{ov}");
    assert_eq!(ov["attempts_allowed"], 2);
    let second = start(&lea, COURSE).await;
    assert_ne!(second, id);
    ok(lea
        .call("exam/submit", &[("attempt", &second.to_string())])
        .await)
    .await;
    assert_eq!(
        lea.call("exam/start", &[("course", COURSE)]).await.status(),
        StatusCode::CONFLICT,
        "one extra attempt is exactly one more"
    );
    let list = ok(admin
        .call("exam/admin/attempts", &[("course", COURSE)])
        .await)
    .await;
    let l = &list["learners"][0];
    assert_eq!(
        (l["used"].clone(), l["allowed"].clone()),
        (Value::from(2), Value::from(2))
    );
    assert_eq!(l["extra_attempts"], 1);
    assert_eq!(l["attempts"][0]["submitted_by"], "learner");
}
on_both_backends!(an_extra_attempt_allows_one_more, extra_attempt);

/// Answers the stats course's questions by name (`None`: no answer) and submits.
async fn take(app: &TestApp, p: &Person, answers: &[(&str, Option<bool>)]) -> i64 {
    let id = start(p, STATS).await;
    let ids = id.to_string();
    let items: Vec<(i64, String)> = sqlx::query_as(
        "SELECT i.position, v.body_json FROM exam_attempt_items i JOIN exam_question_versions v ON v.id = i.question_version_id WHERE i.attempt_id = $1",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .expect("items");
    for (pos, body) in items {
        let q: app::exam::model::Question = serde_json::from_str(&body).expect("question");
        let given = answers
            .iter()
            .find(|(n, _)| *n == q.name)
            .and_then(|(_, a)| *a);
        if let Some(b) = given {
            let ps = pos.to_string();
            let v = b.to_string();
            ok(p.call(
                "exam/save",
                &[
                    ("attempt", &ids),
                    ("position", &ps),
                    ("seq", "1"),
                    ("answer[0]", &v),
                ],
            )
            .await)
            .await;
        }
    }
    ok(p.call("exam/submit", &[("attempt", &ids)]).await).await;
    id
}

async fn voiding(app: TestApp) {
    let admin = app.admin().await;
    let lea = app.learner("lea@example.com").await;
    let other = app.learner("other@example.com").await;
    let all_right = [("a", Some(true)), ("b", Some(true)), ("c", Some(true))];
    let id = take(&app, &lea, &all_right).await;
    let ids = id.to_string();
    let r = ok(lea.call("exam/result", &[("attempt", &ids)]).await).await;
    assert_eq!(r["passed"], true);
    let ov = ok(lea.call("exam/overview", &[("course", STATS)]).await).await;
    assert_eq!(ov["attempts_used"], 1);
    assert!(ov["blocked"].as_str().is_some(), "{ov}");

    let form = [
        ("attempt", ids.as_str()),
        ("reason", "Took it with the answers open"),
    ];
    assert_eq!(
        app.person().call("exam/admin/void", &form).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        lea.call("exam/admin/void", &form).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        other.call("exam/admin/void", &form).await.status(),
        StatusCode::FORBIDDEN
    );
    for bad in ["", "  ", "no", &"x".repeat(501)] {
        let (s, body) = status_and_message(
            admin
                .call("exam/admin/void", &[("attempt", &ids), ("reason", bad)])
                .await,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert_eq!(
        admin
            .call(
                "exam/admin/void",
                &[("attempt", "999999"), ("reason", "no such")]
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    ok(admin.call("exam/admin/void", &form).await).await;
    assert_eq!(
        admin.call("exam/admin/void", &form).await.status(),
        StatusCode::CONFLICT,
        "voiding twice"
    );

    // A voided attempt cannot count as a pass, and does not count against the attempts.
    let r = ok(lea.call("exam/result", &[("attempt", &ids)]).await).await;
    assert_eq!(r["status"], "voided");
    assert_eq!(r["passed"], false);
    let ov = ok(lea.call("exam/overview", &[("course", STATS)]).await).await;
    assert_eq!(ov["attempts_used"], 0);
    assert_eq!(ov["blocked"], Value::Null, "{ov}");
    let list = ok(admin
        .call("exam/admin/attempts", &[("course", STATS)])
        .await)
    .await;
    let a = &list["learners"][0]["attempts"][0];
    assert_eq!(a["status"], "voided");
    assert_eq!(a["void_reason"], "Took it with the answers open");
    assert_eq!(list["learners"][0]["used"], 0);

    // Voiding an attempt in progress ends it for the learner and frees the slot.
    let active = start(&lea, STATS).await;
    let act = active.to_string();
    ok(admin
        .call(
            "exam/admin/void",
            &[("attempt", &act), ("reason", "Wrong room")],
        )
        .await)
    .await;
    let (s, body) = status_and_message(
        lea.call("exam/question", &[("attempt", &act), ("position", "1")])
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(body.contains("voided"), "{body}");
    assert_eq!(
        lea.call(
            "exam/save",
            &[("attempt", &act), ("position", "1"), ("answer[0]", "true")]
        )
        .await
        .status(),
        StatusCode::CONFLICT
    );
    let third = start(&lea, STATS).await;
    assert!(third != id && third != active);
}
async fn voiding_stats(backend: Backend) {
    if let Some((app, _dir)) = spawn_stats(backend).await {
        voiding(app).await;
    }
}
mod voiding_frees_the_attempt {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::voiding_stats(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::voiding_stats(super::Backend::Postgres).await;
    }
}

fn item<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["question"] == format!("Stats/{name}"))
        .unwrap_or_else(|| panic!("no item {name}: {stats}"))
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or(f64::NAN);
    assert!((got - want).abs() < 1e-3, "{got} ≠ {want}");
}

async fn statistics(app: TestApp) {
    let admin = app.admin().await;
    let t = Some(true);
    let f = Some(false);
    // Five takers; the rest-of-attempt score of each item is the mean of the other two.
    let takers: [[(&str, Option<bool>); 3]; 5] = [
        [("a", t), ("b", t), ("c", t)],
        [("a", t), ("b", t), ("c", f)],
        [("a", t), ("b", f), ("c", f)],
        [("a", f), ("b", t), ("c", f)],
        [("a", f), ("b", f), ("c", None)],
    ];
    let mut people = Vec::new();
    for i in 0..5 {
        people.push(app.learner(&format!("taker{i}@example.com")).await);
    }
    for (p, answers) in people.iter().zip(&takers).take(4) {
        take(&app, p, answers).await;
    }
    let learner = &people[0];
    let course = [("course", STATS)];
    assert_eq!(
        learner
            .call("exam/admin/statistics", &course)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.person()
            .call("exam/admin/statistics", &course)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let s = ok(admin.call("exam/admin/statistics", &course).await).await;
    assert_eq!(s["submitted"], 4);
    assert_eq!(s["items"], Value::Array(vec![]), "not before five attempts");

    take(&app, &people[4], &takers[4]).await;
    // A voided attempt and one in progress are left out.
    let extra = app.learner("voided@example.com").await;
    let v = take(&app, &extra, &takers[0]).await;
    ok(admin
        .call(
            "exam/admin/void",
            &[("attempt", &v.to_string()), ("reason", "left out")],
        )
        .await)
    .await;
    start(&app.learner("busy@example.com").await, STATS).await;

    let s = ok(admin.call("exam/admin/statistics", &course).await).await;
    assert_eq!(s["submitted"], 5);
    assert_eq!(s["items"].as_array().map(Vec::len), Some(3));
    // Hand-computed. a: scores 1,1,1,0,0; rest 1,.5,0,.5,0 → r = .30/√(1.2·.70) = 0.3273.
    let a = item(&s, "a");
    assert_eq!(a["attempts"], 5);
    close(&a["facility_percent"], 60.0);
    close(&a["sd_percent"], 49.0);
    close(&a["discrimination"], 0.3273);
    assert_eq!(a["kind"], "true/false");
    assert_eq!(a["options"][0]["text"], "True");
    assert_eq!(a["options"][0]["right"], true);
    assert_eq!(a["options"][0]["count"], 3);
    assert_eq!(a["options"][1]["count"], 2);
    close(&a["options"][1]["percent"], 40.0);
    // b: scores 1,1,0,1,0; rest 1,.5,.5,0,0 → r = .30/√(1.2·.70) = 0.3273.
    let b = item(&s, "b");
    close(&b["facility_percent"], 60.0);
    close(&b["discrimination"], 0.3273);
    // c: scores 1,0,0,0,0; rest 1,1,.5,.5,0 → r = .40/√(.8·.70) = 0.5345; one left it blank.
    let c = item(&s, "c");
    close(&c["facility_percent"], 20.0);
    close(&c["sd_percent"], 40.0);
    close(&c["discrimination"], 0.5345);
    assert_eq!(c["unanswered"], 1);
    assert_eq!(c["options"][0]["count"], 1);
    assert_eq!(c["options"][1]["count"], 3);
}
async fn statistics_stats(backend: Backend) {
    if let Some((app, _dir)) = spawn_stats(backend).await {
        statistics(app).await;
    }
}
mod item_statistics_match_hand_computed_values {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::statistics_stats(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::statistics_stats(super::Backend::Postgres).await;
    }
}

/// A question removed from the bank file is retired: never drawn again, while an
/// attempt that drew it keeps (and is graded on) the version it drew.
async fn retiring(app: TestApp, dir: &Path) {
    let lea = app.learner("lea@example.com").await;
    let id = start(&lea, STATS).await;

    // A question brought in with `questions import` (not in the folder) is not the folder's to retire.
    let cid = app::exam::store::course_id(&app.db, STATS)
        .await
        .expect("db")
        .expect("course");
    let extra = app::exam::store::parse_file(
        "extra.gift",
        "$CATEGORY: Extra\n\n::e::Statement E is true. {T}\n",
    )
    .expect("gift");
    app::exam::store::store_questions(&app.db, cid, &extra)
        .await
        .expect("store");

    let bank = STATS_BANK.replace(
        "::c::Statement C is true. {T}",
        "::d::Statement D is false. {F}",
    );
    stats_content(dir, &bank);
    let problems = app::exam::store::import_content(&app.db, dir)
        .await
        .expect("import");
    assert!(problems.is_empty(), "{problems:?}");
    let retired: Vec<(String, i64)> = sqlx::query_as(
        "SELECT q.qkey, q.retired FROM exam_questions q JOIN courses c ON c.id = q.course_id WHERE c.slug = $1 ORDER BY q.qkey",
    )
    .bind(STATS)
    .fetch_all(&app.db)
    .await
    .expect("questions");
    assert_eq!(
        retired,
        vec![
            ("Extra/e".to_string(), 0),
            ("Stats/a".to_string(), 0),
            ("Stats/b".to_string(), 0),
            ("Stats/c".to_string(), 1),
            ("Stats/d".to_string(), 0)
        ]
    );

    // The attempt in progress still shows and grades question c.
    let ids = id.to_string();
    let mut texts = Vec::new();
    for pos in 1..=3 {
        let q = ok(lea
            .call(
                "exam/question",
                &[("attempt", &ids), ("position", &pos.to_string())],
            )
            .await)
        .await;
        texts.push(q["view"]["text"].as_str().unwrap_or("").to_string());
    }
    assert!(texts.iter().any(|t| t.contains("Statement C")), "{texts:?}");
    ok(lea.call("exam/submit", &[("attempt", &ids)]).await).await;
    let r = ok(lea.call("exam/result", &[("attempt", &ids)]).await).await;
    assert!(r.to_string().contains("Statement C"), "{r}");

    // New attempts draw from what the bank has now.
    let other = app.learner("other@example.com").await;
    let id2 = start(&other, STATS).await;
    let bodies: Vec<String> = sqlx::query_scalar(
        "SELECT v.body_json FROM exam_attempt_items i JOIN exam_question_versions v ON v.id = i.question_version_id WHERE i.attempt_id = $1",
    )
    .bind(id2)
    .fetch_all(&app.db)
    .await
    .expect("items");
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| !b.contains("Statement C")));
    assert!(bodies.iter().any(|b| b.contains("Statement D")));

    // Putting the question back brings it back, same version.
    stats_content(dir, STATS_BANK);
    app::exam::store::import_content(&app.db, dir)
        .await
        .expect("import");
    let back: (i64, i64) = sqlx::query_as(
        "SELECT retired, current_version FROM exam_questions WHERE qkey = 'Stats/c'",
    )
    .fetch_one(&app.db)
    .await
    .expect("c");
    assert_eq!(back, (0, 1));
}
async fn retiring_stats(backend: Backend) {
    if let Some((app, dir)) = spawn_stats(backend).await {
        retiring(app, dir.path()).await;
    }
}
mod removed_questions_are_retired {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::retiring_stats(super::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::retiring_stats(super::Backend::Postgres).await;
    }
}

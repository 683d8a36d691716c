//! The exam against people who try to game it, over HTTP on SQLite and PostgreSQL:
//! throw-away accounts that sit the exam to collect its answer keys, learners who
//! start an attempt before (or after losing) what the blueprint requires, and
//! autosaves whose sequence number tries to freeze an answer.

mod support;

use reqwest::StatusCode;
use serde_json::Value;
use support::answers::{field, right_fields};
use support::{Person, TestApp, COURSE};

use app::exam::attempts::{MAX_SEQ, SEQ_WINDOW};
use app::exam::draw::Layout;
use app::exam::model::{Kind, Question};
use app::exam::Answer;

async fn ok(r: reqwest::Response) -> Value {
    let status = r.status();
    let v = Person::json(r).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

async fn start(p: &Person) -> reqwest::Response {
    p.call("exam/start", &[("course", COURSE)]).await
}

async fn start_id(p: &Person) -> i64 {
    ok(start(p).await).await.as_i64().expect("attempt id")
}

async fn submit(p: &Person, attempt: i64) {
    ok(p.call("exam/submit", &[("attempt", &attempt.to_string())])
        .await)
    .await;
}

async fn save(
    p: &Person,
    attempt: i64,
    pos: i32,
    seq: Option<&str>,
    fields: &[(String, String)],
) -> reqwest::Response {
    let a = attempt.to_string();
    let ps = pos.to_string();
    let mut form: Vec<(&str, &str)> = vec![("attempt", &a), ("position", &ps)];
    if let Some(s) = seq {
        form.push(("seq", s));
    }
    for (k, v) in fields {
        form.push((k, v));
    }
    p.call("exam/save", &form).await
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn attempts_of(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM exam_attempts a JOIN users u ON u.id = a.user_id WHERE u.email = $1",
    )
    .bind(email)
    .fetch_one(&app.db)
    .await
    .expect("count")
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.db)
        .await
        .expect("user")
}

/// The questions an attempt drew, with their layouts, straight from the database.
async fn drawn(app: &TestApp, attempt: i64) -> Vec<(Question, Layout)> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT v.body_json, i.layout_json FROM exam_attempt_items i JOIN exam_question_versions v ON v.id = i.question_version_id WHERE i.attempt_id = $1 ORDER BY i.position",
    )
    .bind(attempt)
    .fetch_all(&app.db)
    .await
    .expect("items");
    rows.into_iter()
        .map(|(b, l)| {
            (
                serde_json::from_str(&b).expect("question"),
                serde_json::from_str(&l).expect("layout"),
            )
        })
        .collect()
}

/// A wrong answer where the question has one to give (a wrong option, the wrong truth
/// value): its form fields, the answer in display terms, and the answer as the review
/// describes it. `None`: the question is left unanswered.
fn wrong(q: &Question, l: &Layout) -> Option<(Vec<(String, String)>, Answer, String)> {
    match &q.kind {
        Kind::SingleChoice { options } => {
            let d = l.order.iter().position(|o| options[*o].weight <= 0.0)?;
            let text = options[l.order[d]].text.clone();
            Some((vec![field(0, d)], Answer::Choice(d as i32), text))
        }
        Kind::TrueFalse { answer, .. } => Some((
            vec![field(0, !answer)],
            Answer::Bool(!answer),
            if *answer { "False" } else { "True" }.into(),
        )),
        _ => None,
    }
}

/// What a learner who sat an attempt may see in its review whatever the policy: the
/// questions, what they answered, the categories and the modules to review.
#[derive(Default)]
struct Sat {
    /// Everything the review legitimately shows, run together.
    shown: String,
    /// What only the keys give away: each question's right answer and the feedback
    /// the learner's answer would get, minus what the review shows anyway.
    secrets: Vec<String>,
}

/// Answers every question of `attempt` wrongly (or not at all) and submits it.
async fn sit_wrongly(app: &TestApp, p: &Person, attempt: i64) -> Sat {
    let items = drawn(app, attempt).await;
    let mut sat = Sat::default();
    let mut secrets = Vec::new();
    for (i, (q, l)) in items.iter().enumerate() {
        let answer = match wrong(q, l) {
            Some((fields, answer, described)) => {
                let r = save(p, attempt, i as i32 + 1, None, &fields).await;
                assert_eq!(r.status(), StatusCode::OK, "{}", q.key());
                sat.shown.push_str(&described);
                Some(answer)
            }
            None => None,
        };
        sat.shown.push_str(&q.text);
        sat.shown.push_str(&q.text_after);
        sat.shown.push_str(&q.category);
        let g = app::exam::grade::grade(q, l, answer.as_ref());
        secrets.push(g.correct_answer);
        secrets.extend(g.feedback);
        secrets.extend(q.general_feedback.clone());
    }
    submit(p, attempt).await;
    sat.secrets = secrets
        .into_iter()
        .filter(|s| s.chars().count() >= 4 && !sat.shown.contains(s.as_str()))
        .collect();
    assert!(sat.secrets.len() > 20, "there is something to look for");
    sat
}

/// Every string in a JSON value, whatever its depth.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// The longest run of a secret that reads the same escaped for HTML or JSON (letters,
/// digits, spaces and plain punctuation), if long enough to mean something.
fn probe(secret: &str) -> Option<String> {
    let plain = |c: char| c.is_alphanumeric() || " .,;:()%?-".contains(c);
    secret
        .split(|c: char| !plain(c))
        .map(str::trim)
        .max_by_key(|s| s.len())
        .filter(|s| s.len() >= 12)
        .map(str::to_string)
}

/// How many of the attempt's secrets reach `p` through the review: its JSON API (the
/// server function the page calls) and its server-rendered page with hydration data.
async fn leaked(p: &Person, attempt: i64, sat: &Sat) -> usize {
    let r = ok(p
        .call("exam/result", &[("attempt", &attempt.to_string())])
        .await)
    .await;
    let mut texts = Vec::new();
    strings(&r, &mut texts);
    let page = p.get(&format!("/exam/{attempt}/result")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("page");
    assert!(html.contains("Your result"), "{html}");
    // On the page, a run of a secret counts unless the API's answer holds it as
    // part of something legitimate (a module title, say): the API was checked whole.
    sat.secrets
        .iter()
        .filter(|s| {
            texts.iter().any(|t| t.contains(s.as_str()))
                || probe(s).is_some_and(|pr| {
                    !sat.shown.contains(&pr)
                        && !texts.iter().any(|t| t.contains(&pr))
                        && html.contains(&pr)
                })
        })
        .count()
}

/// One question of an attempt in progress, as its page loads it.
async fn question(p: &Person, attempt: i64, pos: i32) -> Value {
    ok(p.call(
        "exam/question",
        &[
            ("attempt", &attempt.to_string()),
            ("position", &pos.to_string()),
        ],
    )
    .await)
    .await
}

/// The result as the learner's review API returns it.
async fn result(p: &Person, attempt: i64) -> Value {
    ok(p.call("exam/result", &[("attempt", &attempt.to_string())])
        .await)
    .await
}

/// Saves the blueprint through the administration's form: what it holds now, with
/// `changes` (field name, value). Learners see the change at once.
async fn set_blueprint(admin: &Person, changes: &[(&str, &str)]) {
    let b = ok(admin
        .call("exam/admin/blueprint", &[("course", COURSE)])
        .await)
    .await;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut form: Vec<(String, String)> = vec![("course".into(), COURSE.into())];
    for k in [
        "revision",
        "time_limit",
        "time_unit",
        "pass_mark_percent",
        "attempts_allowed",
        "cooldown_minutes",
        "opens_at",
        "closes_at",
        "show_answers",
        "certificate_valid_months",
    ] {
        form.push((k.into(), text(&b[k])));
    }
    for k in ["shuffle_questions", "shuffle_options"] {
        if b[k] == true {
            form.push((k.into(), "on".into()));
        }
    }
    for (i, d) in b["draw"].as_array().expect("draw").iter().enumerate() {
        form.push((format!("category[{i}]"), text(&d["category"])));
        form.push((format!("count[{i}]"), text(&d["count"])));
    }
    for (i, m) in b["modules"].as_array().expect("modules").iter().enumerate() {
        if m["required"] == true {
            form.push((format!("module[{i}]"), text(&m["slug"])));
        }
    }
    for (k, v) in changes {
        form.retain(|(fk, _)| fk != k);
        form.push(((*k).into(), (*v).into()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ok(admin.call("exam/admin/save-blueprint", &form).await).await;
}

/// Throw-away accounts sit the exam again and again to collect its keys: under every
/// policy, nothing of the keys reaches them while they can still use them.
async fn harvest(app: TestApp) {
    let admin = app.admin().await;
    // Two attempts, no cooldown: the harvest is as quick as it can be.
    let quick = [("attempts_allowed", "2"), ("cooldown_minutes", "0")];

    // after_last_attempt (the default).
    set_blueprint(&admin, &quick).await;
    let blueprint = ok(admin
        .call("exam/admin/blueprint", &[("course", COURSE)])
        .await)
    .await;
    assert_eq!(blueprint["show_answers"], "after_last_attempt");
    for n in 0..3 {
        let p = app.exam_taker(&format!("throwaway{n}@example.com")).await;
        let first = start_id(&p).await;
        let sat1 = sit_wrongly(&app, &p, first).await;
        assert_eq!(
            leaked(&p, first, &sat1).await,
            0,
            "attempt 1 of account {n}"
        );
        let r = result(&p, first).await;
        assert_eq!(r["keys_shown"], false);
        assert!(
            r["keys_note"]
                .as_str()
                .is_some_and(|n| n.contains("no attempts left")),
            "{r}"
        );
        // What was missed and where to read about it is there, without the keys.
        let review = r["review"].as_array().expect("review");
        assert!(review.iter().all(|it| it["key"].is_null()), "{r}");
        let missed: Vec<&Value> = review
            .iter()
            .filter(|it| it["score_percent"].as_f64() < Some(100.0))
            .collect();
        assert!(!missed.is_empty());
        for it in &missed {
            let href = it["module"]["href"]
                .as_str()
                .unwrap_or_else(|| panic!("{it}"));
            assert!(href.starts_with(&format!("/courses/{COURSE}/")), "{it}");
            let page = p.get(href).await;
            assert_eq!(page.status(), StatusCode::OK, "{href}");
        }
        let html = p
            .get(&format!("/exam/{first}/result"))
            .await
            .text()
            .await
            .expect("page");
        assert!(html.contains("What to review") && html.contains("To review: "));
        assert!(!html.contains("Right answer: "), "no key on the page");

        // The last attempt in progress: the first one's keys stay hidden meanwhile,
        // or they could be copied into it.
        let second = start_id(&p).await;
        assert_eq!(leaked(&p, first, &sat1).await, 0, "during the last attempt");
        let sat2 = sit_wrongly(&app, &p, second).await;
        // No attempt left: now the review is complete (the check above can see keys).
        assert_eq!(
            leaked(&p, second, &sat2).await,
            sat2.secrets.len(),
            "every key and feedback once no attempt is left"
        );
        assert!(leaked(&p, first, &sat1).await > 0);
        assert_eq!(result(&p, second).await["keys_shown"], true);
        assert_eq!(start(&p).await.status(), StatusCode::CONFLICT);
        // An administrator grants another attempt: the keys are hidden again.
        if n == 0 {
            let uid = user_id(&app, "throwaway0@example.com").await;
            ok(admin
                .call(
                    "exam/admin/extra-attempt",
                    &[("course", COURSE), ("user", &uid.to_string())],
                )
                .await)
            .await;
            assert_eq!(
                leaked(&p, second, &sat2).await,
                0,
                "an attempt is left again"
            );
        }
    }

    // after_pass: failing accounts never see the keys, however many attempts they use;
    // one that passes does, and can start no further attempt.
    set_blueprint(&admin, &[("show_answers", "after_pass")]).await;
    let mut collected = 0;
    for n in 0..2 {
        let p = app.exam_taker(&format!("failer{n}@example.com")).await;
        for _ in 0..2 {
            let id = start_id(&p).await;
            let sat = sit_wrongly(&app, &p, id).await;
            collected += leaked(&p, id, &sat).await;
            let r = result(&p, id).await;
            assert_eq!(r["keys_shown"], false);
            assert!(r["keys_note"]
                .as_str()
                .is_some_and(|n| n.contains("passed")));
        }
        assert_eq!(start(&p).await.status(), StatusCode::CONFLICT);
    }
    assert_eq!(collected, 0, "failed attempts give nothing away");
    let passer = app.exam_taker("passer@example.com").await;
    let id = start_id(&passer).await;
    let items = drawn(&app, id).await;
    for (i, (q, l)) in items.iter().enumerate() {
        let r = save(&passer, id, i as i32 + 1, None, &right_fields(q, l)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    submit(&passer, id).await;
    let r = result(&passer, id).await;
    assert_eq!(
        (r["passed"].clone(), r["keys_shown"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    assert!(r["review"][0]["key"]["correct_answer"].is_string(), "{r}");
    let r = start(&passer).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.expect("body").contains("You have passed"));

    // never: nobody sees the keys, not even after passing or with no attempt left.
    set_blueprint(&admin, &[("show_answers", "never")]).await;
    let r = result(&passer, id).await;
    assert_eq!(
        r["keys_shown"], false,
        "the policy in force applies to past attempts"
    );
    assert!(r["review"]
        .as_array()
        .expect("review")
        .iter()
        .all(|it| it["key"].is_null()));
    let p = app.exam_taker("never@example.com").await;
    for _ in 0..2 {
        let id = start_id(&p).await;
        let sat = sit_wrongly(&app, &p, id).await;
        assert_eq!(leaked(&p, id, &sat).await, 0);
    }
    assert_eq!(start(&p).await.status(), StatusCode::CONFLICT);
    // An administrator still sees everything (the same check finds the keys for them).
    let sat = sit_wrongly_as_seen(&app, &p).await;
    assert_eq!(leaked(&admin, sat.0, &sat.1).await, sat.1.secrets.len());
}
on_both_backends!(harvesting_accounts_get_no_keys, harvest);

/// The learner's last submitted attempt and what it would give away, rebuilt from the
/// database without sitting it again.
async fn sit_wrongly_as_seen(app: &TestApp, p: &Person) -> (i64, Sat) {
    let me = p.me().await;
    let id: i64 = sqlx::query_scalar(
        "SELECT MAX(id) FROM exam_attempts WHERE user_id = $1 AND status = 'submitted'",
    )
    .bind(me["id"].as_i64().expect("id"))
    .fetch_one(&app.db)
    .await
    .expect("attempt");
    let answers: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT answer_json FROM exam_attempt_items WHERE attempt_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .expect("answers");
    let mut sat = Sat::default();
    let mut secrets = Vec::new();
    for ((q, l), a) in drawn(app, id).await.iter().zip(answers) {
        let a: Option<Answer> = a.and_then(|a| serde_json::from_str(&a).ok());
        if let Some((_, _, described)) = wrong(q, l).filter(|_| a.is_some()) {
            sat.shown.push_str(&described);
        }
        sat.shown.push_str(&q.text);
        sat.shown.push_str(&q.text_after);
        sat.shown.push_str(&q.category);
        let g = app::exam::grade::grade(q, l, a.as_ref());
        secrets.push(g.correct_answer);
        secrets.extend(g.feedback);
        secrets.extend(q.general_feedback.clone());
    }
    sat.secrets = secrets
        .into_iter()
        .filter(|s| s.chars().count() >= 4 && !sat.shown.contains(s.as_str()))
        .collect();
    (id, sat)
}

/// Eligibility is checked by the server at the start of every attempt: a new account
/// cannot start before it has done what the blueprint requires, and a learner whose
/// progress is reset cannot start the next one.
async fn eligibility(app: TestApp) {
    let admin = app.admin().await;
    set_blueprint(&admin, &[("cooldown_minutes", "0")]).await;
    let email = "newcomer@example.com";
    let p = app.learner(email).await;
    let ov = ok(p.call("exam/overview", &[("course", COURSE)]).await).await;
    assert!(
        ov["blocked"]
            .as_str()
            .is_some_and(|b| b.contains("Complete these modules first")),
        "{ov}"
    );
    // The page shows no button, but the server function is a public endpoint: a
    // direct call, and a plain form post, are refused alike.
    let r = start(&p).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r
        .text()
        .await
        .expect("body")
        .contains("Complete these modules first"));
    let r = p
        .form_post(
            "exam/start",
            &[("course", COURSE)],
            &format!("/courses/{COURSE}/exam"),
        )
        .await;
    assert!(
        !location(&r).contains("/q/1"),
        "{} {}",
        r.status(),
        location(&r)
    );
    assert_eq!(attempts_of(&app, email).await, 0);

    // Every module done, but no lab passed: still refused, now for the labs.
    let cid = app::exam::store::course_id(&app.db, COURSE)
        .await
        .expect("id")
        .expect("course");
    let bp = app::exam::store::blueprint(&app.db, cid)
        .await
        .expect("bp")
        .expect("exam");
    assert!(!bp.eligibility.modules_completed.is_empty() && !bp.eligibility.labs_passed.is_empty());
    let mut todo = bp.eligibility.modules_completed.clone();
    while !todo.is_empty() {
        let before = todo.len();
        let mut left = Vec::new();
        for m in todo {
            if !p.complete(COURSE, &m, true).await.status().is_success() {
                left.push(m);
            }
        }
        assert!(left.len() < before, "stuck on {left:?}");
        todo = left;
    }
    let r = start(&p).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r
        .text()
        .await
        .expect("body")
        .contains("Pass these labs first"));

    // The first lab passed through the real queue and grader: the others still missing.
    let form = support::solution_run_form();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = ok(p.call("labs/run", &form).await)
        .await
        .as_i64()
        .expect("run");
    let mut status = String::new();
    for _ in 0..3000 {
        let v = ok(p.call("labs/run-view", &[("run", &run.to_string())]).await).await;
        status = v["status"].as_str().unwrap_or_default().to_string();
        if status != "queued" && status != "running" {
            assert_eq!(v["report"]["passed"], true, "{v}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "done");
    let r = start(&p).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let msg = r.text().await.expect("body");
    let first = support::first_lab();
    assert!(
        msg.contains("Pass these labs first") && !msg.contains(&first.slug),
        "{msg}"
    );
    assert_eq!(attempts_of(&app, email).await, 0);

    // Everything done: the attempt starts.
    app.make_eligible(&p, COURSE).await;
    let id = start_id(&p).await;
    submit(&p, id).await;

    // A learner who withdraws a completion is refused the next attempt...
    let one = &bp.eligibility.modules_completed[bp.eligibility.modules_completed.len() - 1];
    assert!(p.complete(COURSE, one, false).await.status().is_success());
    assert_eq!(start(&p).await.status(), StatusCode::CONFLICT);
    assert!(p.complete(COURSE, one, true).await.status().is_success());
    let id = start_id(&p).await;
    submit(&p, id).await;

    // ...and so is one whose progress an administrator reset, with a JavaScript-off
    // form post too.
    let uid = user_id(&app, email).await;
    ok(admin
        .call(
            "admin/learners/reset",
            &[
                ("user", &uid.to_string()),
                ("course", COURSE),
                ("confirm", "yes"),
            ],
        )
        .await)
    .await;
    let ov = ok(p.call("exam/overview", &[("course", COURSE)]).await).await;
    assert!(
        ov["blocked"]
            .as_str()
            .is_some_and(|b| b.contains("Complete these modules first")),
        "{ov}"
    );
    let r = start(&p).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = p
        .form_post(
            "exam/start",
            &[("course", COURSE)],
            &format!("/courses/{COURSE}/exam"),
        )
        .await;
    assert!(
        !location(&r).contains("/q/1"),
        "{} {}",
        r.status(),
        location(&r)
    );
    assert_eq!(attempts_of(&app, email).await, 2, "no third attempt");
    // Done again, the learner may go on.
    app.make_eligible(&p, COURSE).await;
    start_id(&p).await;
    assert_eq!(attempts_of(&app, email).await, 3);
}
on_both_backends!(attempts_start_only_when_eligible, eligibility);

/// A save's sequence number is bounded: a huge one is refused, so no client can
/// freeze its own answer (the next save must carry a larger number than the stored
/// one); one frozen before the bound existed thaws.
async fn sequence_bounds(app: TestApp) {
    let p = app.exam_taker("seq@example.com").await;
    let id = start_id(&p).await;
    // A free-text question: any text is an answer.
    let items = drawn(&app, id).await;
    let pos = items
        .iter()
        .position(|(q, _)| matches!(q.kind, Kind::ShortAnswer { .. } | Kind::Numeric { .. }))
        .expect("a free-text question") as i32
        + 1;
    let answer = |v: &Value| v["answer"].to_string();

    for huge in [
        i64::MAX.to_string(),
        (MAX_SEQ + 1).to_string(),
        (SEQ_WINDOW + 1).to_string(),
        "99999999999999999999999".to_string(),
        "-1".to_string(),
    ] {
        let r = save(&p, id, pos, Some(&huge), &[field(0, "frozen")]).await;
        assert!(
            r.status() == StatusCode::UNPROCESSABLE_ENTITY || r.status() == StatusCode::BAD_REQUEST,
            "{huge}: {}",
            r.status()
        );
        let v = question(&p, id, pos).await;
        assert!(!answer(&v).contains("frozen"), "{huge}: {v}");
        assert_eq!(v["seq"], 0, "{huge}: {v}");
    }
    // The answer still takes saves, numbered and plain.
    let ack = ok(save(&p, id, pos, Some("1"), &[field(0, "one")]).await).await;
    assert_eq!(
        (ack["seq"].clone(), ack["applied"].clone()),
        (Value::from(1), Value::Bool(true))
    );
    let ack = ok(save(&p, id, pos, None, &[field(0, "two")]).await).await;
    assert_eq!(
        (ack["seq"].clone(), ack["applied"].clone()),
        (Value::from(2), Value::Bool(true))
    );
    // A jump as large as the window allows is taken; the next save still fits after it.
    let far = (2 + SEQ_WINDOW).to_string();
    let ack = ok(save(&p, id, pos, Some(&far), &[field(0, "far")]).await).await;
    assert_eq!(ack["applied"], true);
    let ack = ok(save(&p, id, pos, None, &[field(0, "after")]).await).await;
    assert_eq!(ack["applied"], true);
    assert!(answer(&question(&p, id, pos).await).contains("after"));

    // A number stored out of bounds (as the old server allowed) no longer freezes it.
    sqlx::query("UPDATE exam_attempt_items SET seq = $1 WHERE attempt_id = $2 AND position = $3")
        .bind(i64::MAX)
        .bind(id)
        .bind(i64::from(pos))
        .execute(&app.db)
        .await
        .expect("wedge");
    let v = question(&p, id, pos).await;
    assert_eq!(v["seq"], 0, "{v}");
    let ack = ok(save(&p, id, pos, Some("1"), &[field(0, "thawed")]).await).await;
    assert_eq!(
        (ack["seq"].clone(), ack["applied"].clone()),
        (Value::from(1), Value::Bool(true))
    );
    assert!(answer(&question(&p, id, pos).await).contains("thawed"));
    let ack = ok(save(&p, id, pos, None, &[field(0, "plain")]).await).await;
    assert_eq!(ack["applied"], true);
    assert!(answer(&question(&p, id, pos).await).contains("plain"));

    // Someone else's huge number cannot reach this answer at all.
    let mallory = app.exam_taker("mallory@example.com").await;
    let r = save(
        &mallory,
        id,
        pos,
        Some(&MAX_SEQ.to_string()),
        &[field(0, "mallory")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let ack = ok(save(&p, id, pos, None, &[field(0, "mine")]).await).await;
    assert_eq!(ack["applied"], true);
    assert!(answer(&question(&p, id, pos).await).contains("mine"));
}
on_both_backends!(sequence_numbers_cannot_freeze_an_answer, sequence_bounds);

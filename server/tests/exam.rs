//! The timed exam over HTTP, on SQLite and PostgreSQL: the server's clock, saves with
//! sequence numbers, the deadline, the sweeper (also across a restart), the one-active
//! rule, and that nothing sent before submission reveals an answer.

mod support;

use reqwest::StatusCode;
use serde_json::Value;
use support::answers::{field, right_fields};
use support::{Person, TestApp, COURSE};

use app::exam::draw::Layout;
use app::exam::model::{Kind, Question};

async fn start(p: &Person) -> reqwest::Response {
    p.call("exam/start", &[("course", COURSE)]).await
}

async fn start_id(p: &Person) -> i64 {
    let r = start(p).await;
    assert_eq!(r.status(), StatusCode::OK);
    Person::json(r).await.as_i64().expect("attempt id")
}

async fn question(p: &Person, attempt: i64, pos: i32) -> reqwest::Response {
    p.call(
        "exam/question",
        &[
            ("attempt", &attempt.to_string()),
            ("position", &pos.to_string()),
        ],
    )
    .await
}

async fn save(
    p: &Person,
    attempt: i64,
    pos: i32,
    seq: Option<i64>,
    fields: &[(String, String)],
) -> reqwest::Response {
    let a = attempt.to_string();
    let ps = pos.to_string();
    let s = seq.map(|s| s.to_string());
    let mut form: Vec<(&str, &str)> = vec![("attempt", &a), ("position", &ps)];
    if let Some(s) = &s {
        form.push(("seq", s));
    }
    for (k, v) in fields {
        form.push((k, v));
    }
    p.call("exam/save", &form).await
}

/// The shipped blueprint's numbers, read rather than assumed so an admin-tunable exam can
/// change without breaking its tests: (questions drawn, time limit in seconds).
fn shipped_exam() -> (i32, i64) {
    let dir = support::repo_content().join(COURSE).join("exam");
    let (_, bp) = app::exam::store::read_folder(&dir).expect("the shipped bank");
    let bp = bp.expect("blueprint.yaml");
    let n: i64 = bp.draw.iter().map(|d| d.count).sum();
    let limit = bp.time_limit_seconds.unwrap_or(bp.time_limit_minutes * 60);
    (i32::try_from(n).expect("question count"), limit)
}

/// A score of `right` questions out of `n`, as the result reports it.
fn score_of(right: i32, n: i32) -> f64 {
    (f64::from(right) / f64::from(n) * 10_000.0).round() / 100.0
}

/// The countdown as the question page shows it: h:mm:ss from an hour up, m:ss below.
fn countdown(secs: i64) -> String {
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

/// The stored question and layout of one item, read straight from the database.
async fn item(app: &TestApp, attempt: i64, pos: i32) -> (Question, Layout) {
    let (body, layout): (String, String) = sqlx::query_as(
        "SELECT v.body_json, i.layout_json FROM exam_attempt_items i JOIN exam_question_versions v ON v.id = i.question_version_id WHERE i.attempt_id = $1 AND i.position = $2",
    )
    .bind(attempt)
    .bind(i64::from(pos))
    .fetch_one(&app.db)
    .await
    .expect("item");
    (
        serde_json::from_str(&body).expect("question"),
        serde_json::from_str(&layout).expect("layout"),
    )
}

/// Strings only a grader may know: feedback, and the accepted short answers.
fn secrets(q: &Question) -> Vec<String> {
    let mut s: Vec<String> = q.general_feedback.iter().cloned().collect();
    match &q.kind {
        Kind::SingleChoice { options } | Kind::MultipleResponse { options } => {
            s.extend(options.iter().filter_map(|o| o.feedback.clone()))
        }
        Kind::TrueFalse {
            feedback_wrong,
            feedback_right,
            ..
        } => {
            s.extend(feedback_wrong.clone());
            s.extend(feedback_right.clone());
        }
        Kind::Numeric { answers } => s.extend(answers.iter().filter_map(|a| a.feedback.clone())),
        Kind::ShortAnswer { answers } => {
            s.extend(answers.iter().map(|a| a.text.clone()));
            s.extend(answers.iter().filter_map(|a| a.feedback.clone()));
        }
        _ => {}
    }
    s.into_iter().filter(|x| x.len() >= 5).collect()
}

async fn full_attempt(app: TestApp) {
    let alice = app.exam_taker("alice@example.com").await;
    let anon = app.person();
    assert_eq!(
        anon.call("exam/overview", &[("course", COURSE)])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let (n, limit) = shipped_exam();
    let ov = Person::json(alice.call("exam/overview", &[("course", COURSE)]).await).await;
    assert_eq!(ov["questions"], n, "{ov}");
    assert_eq!(ov["blocked"], Value::Null);
    assert_eq!(ov["active"], Value::Null);

    let r = start(&alice).await;
    assert_eq!(r.status(), StatusCode::OK);
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let id = Person::json(r).await.as_i64().expect("id");
    assert_eq!(
        location.as_deref(),
        Some(format!("/exam/{id}/q/1").as_str())
    );
    // One active attempt: starting again resumes it.
    assert_eq!(start_id(&alice).await, id);
    let active: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM exam_attempts WHERE status = 'active'",
    )
    .fetch_one(&app.db)
    .await
    .expect("count");
    assert_eq!(active, 1);
    // Even two starts at the same moment make one attempt.
    let bob = app.exam_taker("bob@example.com").await;
    let (a, b) = tokio::join!(start(&bob), start(&bob));
    let (a, b) = (Person::json(a).await, Person::json(b).await);
    assert_eq!(a, b, "concurrent starts agree");

    // Everything a learner can see before submitting: no feedback, no accepted answers.
    let mut seen = String::new();
    seen.push_str(
        &Person::json(
            alice
                .call("exam/summary", &[("attempt", &id.to_string())])
                .await,
        )
        .await
        .to_string(),
    );
    let summary: Value = serde_json::from_str(&seen).expect("json");
    let remaining = summary["remaining_seconds"].as_i64().expect("remaining");
    assert!((limit - 60..=limit).contains(&remaining), "{remaining}");
    assert_eq!(summary["items"].as_array().map(Vec::len), Some(n as usize));
    let mut drawn = Vec::new();
    for pos in 1..=n {
        let r = question(&alice, id, pos).await;
        assert_eq!(r.status(), StatusCode::OK);
        seen.push_str(&r.text().await.expect("body"));
        drawn.push(item(&app, id, pos).await);
    }
    let page = alice.get(&format!("/exam/{id}/q/1")).await;
    seen.push_str(&page.text().await.expect("page"));
    // What the questions legitimately show (a short answer may be a word another question uses).
    let shown: String = drawn
        .iter()
        .map(|(q, l)| serde_json::to_string(&app::exam::grade::view(q, l)).expect("view"))
        .collect();
    let mut checked = 0;
    for (q, _) in &drawn {
        for s in secrets(q)
            .into_iter()
            .filter(|s| !shown.contains(s.as_str()))
        {
            assert!(!seen.contains(&s), "{:?} leaked before submission", s);
            checked += 1;
        }
    }
    assert!(
        checked > 5,
        "the check looked at something ({checked} secrets)"
    );
    assert!(
        !seen.contains("\"weight\"") && !seen.contains("\"feedback\""),
        "no grading fields on the wire"
    );

    // Another learner sees nothing of it.
    let mallory = app.learner("mallory@example.com").await;
    assert_eq!(
        question(&mallory, id, 1).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        save(&mallory, id, 1, Some(1), &[field(0, 0)])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Answer all but one right; flag one.
    for (i, (q, l)) in drawn.iter().enumerate() {
        let pos = i as i32 + 1;
        if pos == n {
            continue;
        }
        let r = save(&alice, id, pos, Some(1), &right_fields(q, l)).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", q.key());
        let ack = Person::json(r).await;
        assert_eq!(ack["applied"], true, "{ack}");
    }
    let r = alice
        .call(
            "exam/flag",
            &[
                ("attempt", &id.to_string()),
                ("position", "3"),
                ("flagged", "true"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Reload: the answers, the flag and the order are all there.
    let page = Person::json(question(&alice, id, 3).await).await;
    assert_eq!(page["flagged"], true);
    assert_ne!(page["answer"], Value::Null);
    let summary = Person::json(
        alice
            .call("exam/summary", &[("attempt", &id.to_string())])
            .await,
    )
    .await;
    let answered = summary["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["answered"] == true)
        .count();
    assert_eq!(answered, n as usize - 1);

    assert_eq!(
        alice
            .call("exam/result", &[("attempt", &id.to_string())])
            .await
            .status(),
        StatusCode::CONFLICT,
        "no result before submission"
    );
    let r = alice
        .call("exam/submit", &[("attempt", &id.to_string())])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/exam/{id}/result").as_str())
    );
    let result = Person::json(
        alice
            .call("exam/result", &[("attempt", &id.to_string())])
            .await,
    )
    .await;
    assert_eq!(result["score_percent"], score_of(n - 1, n), "{result}");
    assert_eq!(result["passed"], true);
    assert_eq!(result["submitted_by_server"], false);
    assert_eq!(result["categories"].as_array().map(Vec::len), Some(5));
    let review = result["review"].as_array().expect("review");
    assert_eq!(review[n as usize - 1]["your_answer"], "(no answer)");
    assert_eq!(review[0]["score_percent"], 100.0);
    // Attempts are left: no keys yet (see hostile_exam.rs for the policies).
    assert_eq!(result["keys_shown"], false);
    assert!(review.iter().all(|it| it["key"].is_null()), "{result}");
    // Others cannot read it; an administrator can, keys and all.
    assert_eq!(
        mallory
            .call("exam/result", &[("attempt", &id.to_string())])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let as_admin = app
        .admin()
        .await
        .call("exam/result", &[("attempt", &id.to_string())])
        .await;
    assert_eq!(as_admin.status(), StatusCode::OK);
    let as_admin = Person::json(as_admin).await;
    assert_eq!(as_admin["keys_shown"], true);
    assert!(as_admin["review"][0]["key"]["correct_answer"].is_string());

    // Submitted: answers are refused, submitting again is harmless, the cooldown applies.
    let r = save(&alice, id, n, Some(1), &[field(0, "x")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        alice
            .call("exam/submit", &[("attempt", &id.to_string())])
            .await
            .status(),
        StatusCode::OK
    );
    let r = start(&alice).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(Person::json(r)
        .await
        .to_string()
        .contains("next attempt after"));
    let ov = Person::json(alice.call("exam/overview", &[("course", COURSE)]).await).await;
    assert_eq!(ov["attempts_used"], 1);
    assert_eq!(ov["attempts"][0]["passed"], true);
}
on_both_backends!(taking_an_exam, full_attempt);

async fn sequence_numbers(app: TestApp) {
    let p = app.exam_taker("seq@example.com").await;
    let id = start_id(&p).await;
    // Find a short-answer or numeric question: its answer is free text.
    let mut pos = 0;
    for i in 1..=shipped_exam().0 {
        let (q, _) = item(&app, id, i).await;
        if matches!(q.kind, Kind::ShortAnswer { .. } | Kind::Numeric { .. }) {
            pos = i;
            break;
        }
    }
    assert!(pos > 0);
    let answer_of = |v: Value| v["answer"].to_string();
    let ack = Person::json(save(&p, id, pos, Some(5), &[field(0, "newest")]).await).await;
    assert_eq!(
        (ack["seq"].clone(), ack["applied"].clone()),
        (Value::from(5), Value::Bool(true))
    );
    // A stale save arriving late is ignored.
    let ack = Person::json(save(&p, id, pos, Some(3), &[field(0, "stale")]).await).await;
    assert_eq!(
        (ack["seq"].clone(), ack["applied"].clone()),
        (Value::from(5), Value::Bool(false))
    );
    // A repeated save is harmless.
    let ack = Person::json(save(&p, id, pos, Some(5), &[field(0, "newest")]).await).await;
    assert_eq!(ack["applied"], false);
    let page = Person::json(question(&p, id, pos).await).await;
    assert!(answer_of(page.clone()).contains("newest"), "{page}");
    assert_eq!(page["seq"], 5);
    // A plain form (no sequence number) is the newest save; an empty one clears the answer.
    let ack = Person::json(save(&p, id, pos, None, &[field(0, "form")]).await).await;
    assert_eq!(
        (ack["seq"].clone(), ack["applied"].clone()),
        (Value::from(6), Value::Bool(true))
    );
    let ack = Person::json(save(&p, id, pos, Some(7), &[]).await).await;
    assert_eq!(ack["applied"], true);
    assert_eq!(
        Person::json(question(&p, id, pos).await).await["answer"],
        Value::Null
    );
    // Concurrent saves: the highest sequence number wins whatever the arrival order.
    let saves = (8..40).map(|s| {
        let p = &p;
        async move { save(p, id, pos, Some(s), &[field(0, format!("v{s}"))]).await }
    });
    futures_join_all(saves).await;
    let page = Person::json(question(&p, id, pos).await).await;
    assert_eq!(page["seq"], 39);
    assert!(answer_of(page).contains("v39"));
    // Malformed saves are refused clearly.
    assert_eq!(
        save(&p, id, pos, Some(0), &[field(0, "x")]).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        save(&p, id, 99, Some(50), &[field(0, "x")]).await.status(),
        StatusCode::NOT_FOUND
    );
    // A JavaScript-off form post that moves on is redirected to the next question.
    let r = p
        .form_post(
            "exam/save",
            &[
                ("attempt", &id.to_string()),
                ("position", "1"),
                ("go", "next"),
            ],
            &format!("/exam/{id}/q/1"),
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/exam/{id}/q/2").as_str())
    );
}
on_both_backends!(saves_are_ordered_by_sequence, sequence_numbers);

async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = fs.collect();
    let mut out = Vec::new();
    // Poll all at once by joining pairwise through tokio's JoinSet-free select: simple and enough here.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = handles.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    for r in results.into_iter().flatten() {
        out.push(r);
    }
    out
}

async fn set_deadline(app: &TestApp, id: i64, offset_ms: i64) {
    sqlx::query("UPDATE exam_attempts SET deadline_at = $1 WHERE id = $2")
        .bind(app::db::now_ms() + offset_ms)
        .bind(id)
        .execute(&app.db)
        .await
        .expect("deadline");
}

async fn deadline(app: TestApp) {
    let p = app.exam_taker("late@example.com").await;
    let id = start_id(&p).await;
    // Within the network grace after the deadline a save still counts.
    set_deadline(&app, id, -5_000).await;
    let r = save(&p, id, 1, Some(1), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(Person::json(r).await["remaining_seconds"], 0);
    // After it, saves are refused with a clear message, and the attempt is submitted.
    set_deadline(&app, id, -60_000).await;
    let r = save(&p, id, 1, Some(2), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let msg = Person::json(r).await.to_string();
    assert!(msg.contains("Time is up"), "{msg}");
    let summary = Person::json(
        p.call("exam/summary", &[("attempt", &id.to_string())])
            .await,
    )
    .await;
    assert_eq!(summary["status"], "submitted");
    let result = Person::json(p.call("exam/result", &[("attempt", &id.to_string())]).await).await;
    assert_eq!(result["submitted_by_server"], true);
    assert_eq!(
        result["review"].as_array().map(Vec::len),
        Some(shipped_exam().0 as usize)
    );
}
on_both_backends!(answers_after_the_deadline_are_refused, deadline);

async fn submitted_by(app: &TestApp, id: i64) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, submitted_by FROM exam_attempts WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .expect("attempt")
}

async fn sweeper(app: TestApp) {
    let p = app.exam_taker("sweep@example.com").await;
    let id = start_id(&p).await;
    save(&p, id, 1, Some(1), &[field(0, "1")]).await;
    let q = app.exam_taker("fresh@example.com").await;
    let fresh = start_id(&q).await;
    set_deadline(&app, id, -60_000).await;
    // Nobody looks at the overdue attempt. A restarted server (a new instance on the
    // same database) sweeps at start-up, well before its first 20 s tick.
    let _restarted = masterclass::startup::build(&app.settings, app.db.clone(), Default::default())
        .await
        .expect("restart");
    let mut waited = 0;
    while submitted_by(&app, id).await.0 == "active" && waited < 600 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(
        submitted_by(&app, id).await,
        ("submitted".to_string(), Some("server".to_string()))
    );
    assert_eq!(
        submitted_by(&app, fresh).await.0,
        "active",
        "attempts with time left are left alone"
    );
    // A sweep is idempotent (the running servers' own sweepers may get there first).
    set_deadline(&app, fresh, -60_000).await;
    assert!(app::exam::attempts::sweep(&app.db).await.expect("sweep") <= 1);
    assert_eq!(
        submitted_by(&app, fresh).await,
        ("submitted".to_string(), Some("server".to_string()))
    );
    assert_eq!(app::exam::attempts::sweep(&app.db).await.expect("sweep"), 0);
    let score: Option<i64> = sqlx::query_scalar("SELECT score_bp FROM exam_attempts WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .expect("score");
    assert!(score.is_some(), "the sweeper grades what it submits");
}
on_both_backends!(the_sweeper_submits_overdue_attempts, sweeper);

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The whole exam with JavaScript off: plain page loads and plain form posts.
async fn pages_without_javascript(app: TestApp) {
    let (n, limit) = shipped_exam();
    let p = app.exam_taker("nojs@example.com").await;
    let home = p.get(&format!("/courses/{COURSE}/exam")).await;
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.expect("html");
    assert!(
        html.contains("Start the exam")
            && html.contains(&format!("{n} questions, {} minutes", limit / 60)),
        "{html}"
    );

    let r = p
        .form_post(
            "exam/start",
            &[("course", COURSE)],
            &format!("/courses/{COURSE}/exam"),
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let q1 = location(&r);
    assert!(q1.starts_with("/exam/") && q1.ends_with("/q/1"), "{q1}");
    let id: i64 = q1
        .trim_start_matches("/exam/")
        .trim_end_matches("/q/1")
        .parse()
        .expect("id");
    let html = p.get(&q1).await.text().await.expect("html");
    assert!(
        html.contains(&format!("Question 1 of {n}")) && html.contains("Time left: "),
        "{html}"
    );
    assert!(
        (limit - 10..=limit).any(|s| html.contains(&countdown(s))),
        "the countdown starts from the server's time"
    );

    // Answer question 1 right through the form, move on, come back: the answer is there.
    let (q, l) = item(&app, id, 1).await;
    let fields = right_fields(&q, &l);
    let ids = id.to_string();
    let mut form: Vec<(&str, &str)> = vec![("attempt", &ids), ("position", "1"), ("go", "next")];
    form.extend(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let r = p.form_post("exam/save", &form, &q1).await;
    assert_eq!(location(&r), format!("/exam/{id}/q/2"));
    let html = p.get(&q1).await.text().await.expect("html");
    assert!(
        html.contains("checked") || html.contains("selected") || html.contains("value=\""),
        "{html}"
    );
    let saved: Option<String> = sqlx::query_scalar(
        "SELECT answer_json FROM exam_attempt_items WHERE attempt_id = $1 AND position = 1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .expect("saved");
    assert!(saved.is_some());

    // Flag question 2, then review and submit.
    let r = p
        .form_post(
            "exam/flag",
            &[
                ("attempt", &ids),
                ("position", "2"),
                ("flagged", "true"),
                ("go", "stay"),
            ],
            &format!("/exam/{id}/q/2"),
        )
        .await;
    assert_eq!(location(&r), format!("/exam/{id}/q/2"));
    let html = p
        .get(&format!("/exam/{id}"))
        .await
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("Review your answers")
            && html.contains(&format!("1 of {n} answered; 1 flagged")),
        "{html}"
    );
    let r = p
        .form_post("exam/submit", &[("attempt", &ids)], &format!("/exam/{id}"))
        .await;
    assert_eq!(location(&r), format!("/exam/{id}/result"));
    let res = p.get(&format!("/exam/{id}/result")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.expect("html");
    assert!(
        html.contains("Your result")
            && html.contains(&format!("Score: {}%", score_of(1, n)))
            && html.contains("By category"),
        "{html}"
    );
    // A question page of a submitted attempt says so.
    let html = p.get(&q1).await.text().await.expect("html");
    assert!(html.contains("This attempt is over"), "{html}");
}
on_both_backends!(pages_work_without_javascript, pages_without_javascript);

//! Labs over HTTP, on SQLite and PostgreSQL: drafts, the queue (one run in
//! flight per learner, positions, cancel, runs waiting for a worker), grading
//! the starter and the solution, progress as Server-Sent Events, the PromQL
//! box, revealing the solution, and that nobody sees another learner's runs.

mod support;

use reqwest::StatusCode;
use serde_json::Value;
use support::{first_lab, Backend, Person, TestApp, COURSE};

fn files_form<'a>(
    course: &'a str,
    lab: &'a str,
    files: &'a [(String, String)],
) -> Vec<(String, &'a str)> {
    let mut form = vec![("course".to_string(), course), ("lab".to_string(), lab)];
    for (name, body) in files {
        form.push((format!("files[{name}]"), body.as_str()));
    }
    form
}

async fn call_owned(p: &Person, endpoint: &str, form: &[(String, &str)]) -> reqwest::Response {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    p.call(endpoint, &form).await
}

fn starter(lab: &lab_grader::Lab) -> Vec<(String, String)> {
    lab.files
        .iter()
        .map(|f| (f.name.clone(), f.starter.clone()))
        .collect()
}

fn solution(lab: &lab_grader::Lab) -> Vec<(String, String)> {
    lab.files
        .iter()
        .map(|f| (f.name.clone(), f.solution.clone()))
        .collect()
}

async fn start(p: &Person, lab: &str, files: &[(String, String)]) -> reqwest::Response {
    call_owned(p, "labs/run", &files_form(COURSE, lab, files)).await
}

fn failing_checks(report: &Value) -> Vec<Value> {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .flat_map(|s| s["checks"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["passed"] == false)
        .collect()
}

async fn grading(app: TestApp) {
    let lab = first_lab();
    let alice = app.learner("alice@example.com").await;
    let page = Person::json(
        alice
            .call("labs/get", &[("course", COURSE), ("lab", &lab.slug)])
            .await,
    )
    .await;
    assert_eq!(page["title"], lab.title.as_str());
    assert_eq!(page["files"][0]["body"], lab.files[0].starter.as_str());
    assert!(
        page["solution"].is_null(),
        "a learner does not see the solution yet"
    );

    // The starter fails, saying what was expected and how to get there.
    let r = start(&alice, &lab.slug, &starter(&lab)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let run = Person::json(r).await.as_i64().expect("run id");
    let v = alice.finished_run(run).await;
    assert_eq!(v["status"], "done", "{v}");
    let report = &v["report"];
    assert_eq!(report["passed"], false);
    let failing = failing_checks(report);
    assert!(!failing.is_empty());
    assert!(failing.iter().any(|c| c["hint"].is_string()), "{failing:?}");
    assert!(!report["runs"][0]["charts"]
        .as_array()
        .expect("charts")
        .is_empty());
    assert!(!report["runs"][0]["metrics"]["rows"]
        .as_array()
        .expect("rows")
        .is_empty());

    // The PromQL box queries what the toy service exposed during the run.
    let data = v["data_runs"][0][0]
        .as_str()
        .expect("a load test with data")
        .to_string();
    let chart = alice
        .call(
            "labs/query",
            &[
                ("run", &run.to_string()),
                ("data", &data),
                ("query", "sum(http_requests_total)"),
            ],
        )
        .await;
    assert_eq!(chart.status(), StatusCode::OK);
    let chart = Person::json(chart).await;
    assert!(
        !chart["lines"][0]["points"]
            .as_array()
            .expect("points")
            .is_empty(),
        "{chart}"
    );
    let bad = alice
        .call(
            "labs/query",
            &[
                ("run", &run.to_string()),
                ("data", &data),
                ("query", "sum(rate(x[1m])"),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Nobody else sees, cancels or queries Alice's run.
    let mallory = app.learner("mallory@example.com").await;
    for (endpoint, form) in [
        ("labs/run-view", vec![("run", run.to_string())]),
        ("labs/progress", vec![("run", run.to_string())]),
        ("labs/cancel", vec![("run", run.to_string())]),
        (
            "labs/query",
            vec![
                ("run", run.to_string()),
                ("data", data.clone()),
                ("query", "up".into()),
            ],
        ),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            mallory.call(endpoint, &form).await.status(),
            StatusCode::NOT_FOUND,
            "{endpoint}"
        );
    }
    assert_eq!(
        mallory
            .get(&format!("/labs/runs/{run}/events"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.person()
            .get(&format!("/labs/runs/{run}/events"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // The finished run's stream says so at once and ends.
    let events = alice.text(&format!("/labs/runs/{run}/events")).await;
    assert!(events.contains("event: done"), "{events}");

    // The solution passes, and the pass counts in the course's progress.
    let before = Person::json(alice.overview(COURSE).await).await;
    let r = start(&alice, &lab.slug, &solution(&lab)).await;
    let run2 = Person::json(r).await.as_i64().expect("run id");
    let v = alice.finished_run(run2).await;
    assert_eq!(v["report"]["passed"], true, "{}", v["report"]);
    assert!(failing_checks(&v["report"]).is_empty());
    let after = Person::json(alice.overview(COURSE).await).await;
    assert_eq!(
        after["completed"].as_i64().expect("completed"),
        before["completed"].as_i64().expect("completed") + 1
    );
    let item = after["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .flat_map(|s| s["modules"].as_array().cloned().unwrap_or_default())
        .find(|m| m["kind"] == "lab" && m["slug"] == lab.slug.as_str())
        .expect("the lab is in the outline");
    assert_eq!(item["completed"], true);

    // The lab page lists both runs, newest first, and the steps' status.
    let page = Person::json(
        alice
            .call("labs/get", &[("course", COURSE), ("lab", &lab.slug)])
            .await,
    )
    .await;
    assert_eq!(page["passed"], true);
    assert_eq!(page["runs"][0]["id"], run2);
    assert_eq!(page["runs"][1]["id"], run);
    assert!(page["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .all(|s| s["passed"] == true));
    assert_eq!(page["attempts"], 2);
}
on_both_backends!(grading_the_first_lab, grading);

async fn drafts(app: TestApp) {
    let lab = first_lab();
    let file = lab.files[0].name.clone();
    let alice = app.learner("alice@example.com").await;
    let field = format!("files[{file}]");
    let saved = alice
        .call(
            "labs/save",
            &[
                ("course", COURSE),
                ("lab", &lab.slug),
                (&field, "// my draft\r\nexport default function () {}\r\n"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let page = Person::json(
        alice
            .call("labs/get", &[("course", COURSE), ("lab", &lab.slug)])
            .await,
    )
    .await;
    assert_eq!(
        page["files"][0]["body"],
        "// my draft\nexport default function () {}\n"
    );
    assert_eq!(page["files"][0]["edited"], true);

    // Bad input is refused whole and loses nothing.
    let big = "x".repeat(app::labs::MAX_FILE_BYTES + 1);
    for (name, body, why) in [
        (field.as_str(), big.as_str(), "at most"),
        ("files[../../etc/passwd]", "x", "no file called"),
    ] {
        let r = alice
            .call(
                "labs/save",
                &[("course", COURSE), ("lab", &lab.slug), (name, body)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.expect("body").contains(why));
    }
    let page = Person::json(
        alice
            .call("labs/get", &[("course", COURSE), ("lab", &lab.slug)])
            .await,
    )
    .await;
    assert_eq!(
        page["files"][0]["body"],
        "// my draft\nexport default function () {}\n"
    );

    // A plain form post (JavaScript off) saves and goes back to the lab.
    let r = alice
        .form_post(
            "labs/save",
            &[
                ("course", COURSE),
                ("lab", &lab.slug),
                (&field, "// saved without js\n"),
                ("back", "1"),
            ],
            &format!("/courses/{COURSE}/labs/{}", lab.slug),
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let page = Person::json(
        alice
            .call("labs/get", &[("course", COURSE), ("lab", &lab.slug)])
            .await,
    )
    .await;
    assert_eq!(page["files"][0]["body"], "// saved without js\n");

    // Drafts are per learner.
    let bob = app.learner("bob@example.com").await;
    let page = Person::json(
        bob.call("labs/get", &[("course", COURSE), ("lab", &lab.slug)])
            .await,
    )
    .await;
    assert_eq!(page["files"][0]["body"], lab.files[0].starter.as_str());

    // Reset brings the starter back.
    assert_eq!(
        alice
            .call("labs/reset", &[("course", COURSE), ("lab", &lab.slug)])
            .await
            .status(),
        StatusCode::OK
    );
    let page = Person::json(
        alice
            .call("labs/get", &[("course", COURSE), ("lab", &lab.slug)])
            .await,
    )
    .await;
    assert_eq!(page["files"][0]["body"], lab.files[0].starter.as_str());
    assert_eq!(page["files"][0]["edited"], false);

    // The solution opens only after enough graded runs; admins always see it.
    let r = alice
        .call("labs/reveal", &[("course", COURSE), ("lab", &lab.slug)])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let admin = app.admin().await;
    let page = Person::json(
        admin
            .call("labs/get", &[("course", COURSE), ("lab", &lab.slug)])
            .await,
    )
    .await;
    assert_eq!(page["solution"][0]["body"], lab.files[0].solution.as_str());
    for _ in 0..lab.reveal_solution_after {
        let run = Person::json(start(&alice, &lab.slug, &starter(&lab)).await)
            .await
            .as_i64()
            .expect("run");
        alice.finished_run(run).await;
    }
    assert_eq!(
        alice
            .call("labs/reveal", &[("course", COURSE), ("lab", &lab.slug)])
            .await
            .status(),
        StatusCode::OK
    );
    let page = Person::json(
        alice
            .call("labs/get", &[("course", COURSE), ("lab", &lab.slug)])
            .await,
    )
    .await;
    assert_eq!(page["solution"][0]["body"], lab.files[0].solution.as_str());
}
on_both_backends!(drafts_reset_and_solution, drafts);

/// The queue with no worker of this instance taking runs: what waits, waits.
async fn queue(app: TestApp) {
    let lab = first_lab();
    let alice = app.learner("alice@example.com").await;
    let bob = app.learner("bob@example.com").await;
    let a = Person::json(start(&alice, &lab.slug, &starter(&lab)).await)
        .await
        .as_i64()
        .expect("run");
    let again = start(&alice, &lab.slug, &starter(&lab)).await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "one run in flight per learner"
    );
    let b = Person::json(start(&bob, &lab.slug, &solution(&lab)).await)
        .await
        .as_i64()
        .expect("run");
    let pa = Person::json(
        alice
            .call("labs/progress", &[("run", &a.to_string())])
            .await,
    )
    .await;
    let pb = Person::json(bob.call("labs/progress", &[("run", &b.to_string())]).await).await;
    assert_eq!(
        (pa["status"].as_str(), pa["position"].as_i64()),
        (Some("queued"), Some(1))
    );
    assert_eq!(pb["position"], 2);

    // Cancelling a queued run frees the learner's slot and moves the line up.
    assert_eq!(
        alice
            .call("labs/cancel", &[("run", &a.to_string())])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(alice.run_view(a).await["status"], "cancelled");
    let pb = Person::json(bob.call("labs/progress", &[("run", &b.to_string())]).await).await;
    assert_eq!(pb["position"], 1);
    assert_eq!(
        start(&alice, &lab.slug, &starter(&lab)).await.status(),
        StatusCode::OK
    );

    // A worker that starts later (another instance, or this one after a
    // restart) finds the queue as it was.
    app::labs::worker::spawn(app.db.clone(), app.state.labs.clone(), 1).await;
    let v = bob.finished_run(b).await;
    assert_eq!(v["status"], "done");
    assert_eq!(v["report"]["passed"], true);
}

mod queue_waits_for_workers {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = TestApp::spawn_custom(Backend::Sqlite, |s| s.lab_workers = 0)
            .await
            .expect("app");
        queue(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = TestApp::spawn_custom(Backend::Postgres, |s| s.lab_workers = 0).await {
            queue(app).await;
        }
    }
}

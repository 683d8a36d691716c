//! Several instances on one PostgreSQL: a learner's journey alternating
//! between two of them, one killed mid-exam, and background work (lab runs,
//! the exam sweeper) done exactly once across instances.
//!
//! Each instance runs on a tokio runtime of its own, so killing it stops its
//! server, its lab workers, its lease renewals and its sweeper at once, the
//! way a crashed process would (no graceful hand-back).

mod support;

use std::sync::Arc;
use std::time::Duration;

use app::exam::{QuestionPage, ViewKind};
use reqwest::StatusCode;
use serde_json::Value;
use support::{Backend, Person, COURSE};

/// One instance of the platform on its own runtime.
struct Instance {
    base: String,
    instance: String,
    state: app::state::AppState,
    runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl Instance {
    /// Starts an instance on `database`; the first one also imports the
    /// course and creates the administrator, as the first `serve` does.
    async fn start(database: &(String, String), first: bool) -> Instance {
        let database = database.clone();
        // A runtime is built and entered off the test's own runtime.
        tokio::task::spawn_blocking(move || {
            std::thread::spawn(move || Instance::start_blocking(database, first))
                .join()
                .expect("instance thread")
        })
        .await
        .expect("instance start")
    }

    fn start_blocking(database: (String, String), first: bool) -> Instance {
        let dir = tempfile::tempdir().expect("dir");
        let mut settings = support::settings_for(dir.path(), database.0, database.1);
        // Workers start when the scenario says so (see `start_workers`).
        settings.lab_workers = 0;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (base, instance, state) = runtime.block_on(async {
            let db = masterclass::startup::database(&settings)
                .await
                .expect("database");
            if first {
                masterclass::startup::import_content(&db, &settings)
                    .await
                    .expect("import");
            }
            let server = masterclass::startup::build(&settings, db, Default::default())
                .await
                .expect("build");
            let instance = server.state.labs.instance().to_string();
            let state = server.state.clone();
            let addr = support::serve(server).await;
            (format!("http://{addr}"), instance, state)
        });
        Instance {
            base,
            instance,
            state,
            runtime: Some(runtime),
            _dir: dir,
        }
    }

    /// Starts `n` lab workers on the instance, as `serve` does at start-up.
    fn start_workers(&self, n: usize) {
        let (db, labs) = (self.state.db.clone(), self.state.labs.clone());
        if let Some(rt) = &self.runtime {
            rt.spawn(app::labs::worker::spawn(db, labs, n));
        }
    }

    /// Stops everything the instance runs, at once.
    fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Some answer to any question, in the form the exam page posts.
fn some_answer(view: &ViewKind) -> Vec<(String, String)> {
    let f = |i: usize, v: String| (format!("answer[{i}]"), v);
    match view {
        ViewKind::SingleChoice { .. } | ViewKind::MultipleResponse { .. } => vec![f(0, "0".into())],
        ViewKind::TrueFalse => vec![f(0, "true".into())],
        ViewKind::Numeric => vec![f(0, "42".into())],
        ViewKind::ShortAnswer => vec![f(0, "latency".into())],
        ViewKind::Ordering { items } => (0..items.len())
            .map(|i| f(i, (i + 1).to_string()))
            .collect(),
        ViewKind::Matching { lefts, rights } => (0..lefts.len())
            .map(|i| f(i, (i % rights.len().max(1)).to_string()))
            .collect(),
    }
}

async fn question(p: &Person, attempt: i64, pos: i32) -> QuestionPage {
    let r = p
        .call(
            "exam/question",
            &[
                ("attempt", &attempt.to_string()),
                ("position", &pos.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "question {pos} on {}", p.base);
    serde_json::from_value(Person::json(r).await).expect("question page")
}

/// Answers a question through `p`'s instance; returns what the server stored.
async fn answer(p: &Person, attempt: i64, pos: i32) -> Value {
    let page = question(p, attempt, pos).await;
    let (a, ps, seq) = (
        attempt.to_string(),
        pos.to_string(),
        (page.seq + 1).to_string(),
    );
    let fields = some_answer(&page.view.kind);
    let mut form: Vec<(&str, &str)> = vec![("attempt", &a), ("position", &ps), ("seq", &seq)];
    form.extend(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let r = p.call("exam/save", &form).await;
    assert_eq!(r.status(), StatusCode::OK, "save {pos} on {}", p.base);
    assert_eq!(Person::json(r).await["applied"], true);
    let stored = question(p, attempt, pos).await;
    serde_json::to_value(stored.answer).expect("answer")
}

async fn queue_lab_run(p: &Person) -> i64 {
    let form = support::solution_run_form();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = p.call("labs/run", &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    Person::json(r).await.as_i64().expect("run id")
}

/// `(status, lease_owner, claims, passed)` of a run, straight from the database.
async fn run_row(db: &app::db::Db, run: i64) -> (String, Option<String>, i64, i64) {
    sqlx::query_as("SELECT status, lease_owner, claims, passed FROM lab_runs WHERE id = $1")
        .bind(run)
        .fetch_one(db)
        .await
        .expect("run row")
}

/// Polls until the run is settled; bounded in count.
async fn settled(db: &app::db::Db, run: i64) -> (String, Option<String>, i64, i64) {
    for _ in 0..1200 {
        let row = run_row(db, run).await;
        if row.0 != "queued" && row.0 != "running" {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {run} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_moves_between_instances_and_survives_one_dying() {
    let dir = tempfile::tempdir().expect("dir");
    let Some(database) = support::fresh_database(Backend::Postgres, dir.path()).await else {
        return;
    };
    let mut a = Instance::start(&database, true).await;
    let b = Instance::start(&database, false).await;
    assert_ne!(a.instance, b.instance);
    let db = app::db::connect(&database.0, 2).await.expect("test pool");

    // One session, two instances: a cookie jar ignores ports, as browsers do
    // behind one load-balanced host name.
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let on_a = Person::new(&a.base, jar.clone());
    let on_b = Person::new(&b.base, jar);
    let r = on_a
        .register("roaming@example.com", "Roaming", "learner password 1")
        .await;
    assert!(r.status().is_success() || r.status() == StatusCode::FOUND);
    assert_eq!(on_b.me().await["email"], "roaming@example.com");

    // A lab run queued through A, and taken by A's worker (its lease renewed
    // while it grades, which outlasts what follows).
    let run = queue_lab_run(&on_a).await;
    let a_claim = app::labs::store::claim_next(&db, &a.instance, 60_000)
        .await
        .expect("claim")
        .expect("the queued run");
    assert_eq!(a_claim.id, run);

    // The exam, started on A, answered alternately on B and A.
    support::make_eligible(&db, &on_a, COURSE).await;
    let r = on_a.call("exam/start", &[("course", COURSE)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let attempt = Person::json(r).await.as_i64().expect("attempt");
    let total = question(&on_b, attempt, 1).await.total;
    assert!(total >= 4, "the shipped exam has questions");
    let half = total / 2;
    let mut saved = Vec::new();
    for pos in 1..=half {
        let via = if pos % 2 == 1 { &on_b } else { &on_a };
        saved.push(answer(via, attempt, pos).await);
    }

    // A dies mid-exam (and mid-run), with no chance to hand anything over.
    a.kill();
    assert!(on_a
        .client
        .get(format!("{}/healthz", a.base))
        .send()
        .await
        .is_err());

    // The learner carries on with B: still signed in, every answer there.
    assert_eq!(on_b.me().await["email"], "roaming@example.com");
    for (i, before) in saved.iter().enumerate() {
        let pos = i32::try_from(i).expect("small") + 1;
        let now = serde_json::to_value(question(&on_b, attempt, pos).await.answer).expect("answer");
        assert_eq!(&now, before, "answer {pos} survived A's death");
        assert!(!now.is_null());
    }
    for pos in half + 1..=total {
        answer(&on_b, attempt, pos).await;
    }
    let r = on_b
        .call("exam/submit", &[("attempt", &attempt.to_string())])
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let answered: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM exam_attempt_items WHERE attempt_id = $1 AND answer_json IS NOT NULL",
    )
    .bind(attempt)
    .fetch_one(&db)
    .await
    .expect("answered");
    assert_eq!(answered, i64::from(total), "nothing lost");
    let result = Person::json(
        on_b.call("exam/result", &[("attempt", &attempt.to_string())])
            .await,
    )
    .await;
    assert_eq!(result["submitted_by_server"], false, "{result}");

    // B's workers leave A's run alone while its lease holds...
    b.start_workers(1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, owner, claims, _) = run_row(&db, run).await;
    assert_eq!(
        (status.as_str(), owner.as_deref(), claims),
        ("running", Some(a.instance.as_str()), 1),
        "a live lease is respected"
    );
    // ...and take it over once it has run out, grading it in full, once.
    sqlx::query("UPDATE lab_runs SET lease_until = $1 WHERE id = $2")
        .bind(app::db::now_ms() - 1)
        .bind(run)
        .execute(&db)
        .await
        .expect("the lease runs out");
    let (status, owner, claims, passed) = settled(&db, run).await;
    assert_eq!((status.as_str(), passed), ("done", 1));
    assert_eq!(owner.as_deref(), Some(b.instance.as_str()));
    assert_eq!(claims, 2, "taken by A, then taken over by B");
    let view = Person::json(
        on_b.call("labs/run-view", &[("run", &run.to_string())])
            .await,
    )
    .await;
    assert_eq!(view["report"]["passed"], true);
    // Had A come back with a result, it would not count: the run is B's.
    let late = app::labs::LabReport {
        passed: false,
        score: 0,
        max_score: 1,
        cancelled: false,
        error: Some("late".into()),
        steps: Vec::new(),
        runs: Vec::new(),
        charts: Vec::new(),
        tables: Vec::new(),
    };
    app::labs::store::finish(&db, &a_claim, &late, &[])
        .await
        .expect("late finish");
    assert_eq!(settled(&db, run).await, (status, owner, claims, passed));

    // A run queued through B now is graded by B at once, claimed once.
    let second = queue_lab_run(&on_b).await;
    let (status, owner, claims, _) = settled(&db, second).await;
    assert_eq!(status, "done");
    assert_eq!(owner.as_deref(), Some(b.instance.as_str()));
    assert_eq!(claims, 1);
    let passes: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM lab_passes p JOIN users u ON u.id = p.user_id
         WHERE u.email = $1 AND p.lab_id = (SELECT lab_id FROM lab_runs WHERE id = $2)",
    )
    .bind("roaming@example.com")
    .bind(run)
    .fetch_one(&db)
    .await
    .expect("passes");
    assert_eq!(passes, 1, "one pass of the lab, recorded once");
    db.close().await;
}

/// Every instance sweeps overdue attempts; each is submitted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweepers_on_several_instances_submit_each_attempt_once() {
    let dir = tempfile::tempdir().expect("dir");
    let Some(database) = support::fresh_database(Backend::Postgres, dir.path()).await else {
        return;
    };
    let a = Instance::start(&database, true).await;
    let db = app::db::connect(&database.0, 8).await.expect("test pool");
    let mut attempts = Vec::new();
    for i in 0..6 {
        let p = Person::new(&a.base, Arc::default());
        let r = p
            .register(
                &format!("late{i}@example.com"),
                "Late",
                "learner password 1",
            )
            .await;
        assert!(r.status().is_success() || r.status() == StatusCode::FOUND);
        support::make_eligible(&db, &p, COURSE).await;
        let r = p.call("exam/start", &[("course", COURSE)]).await;
        attempts.push(Person::json(r).await.as_i64().expect("attempt"));
    }
    sqlx::query("UPDATE exam_attempts SET deadline_at = $1")
        .bind(app::db::now_ms() - 60_000)
        .execute(&db)
        .await
        .expect("overdue");
    // Four sweepers at the same moment, as four instances' ticks might fall.
    let other = app::db::connect(&database.0, 8).await.expect("pool");
    let (s1, s2, s3, s4) = tokio::join!(
        app::exam::attempts::sweep(&db),
        app::exam::attempts::sweep(&other),
        app::exam::attempts::sweep(&db),
        app::exam::attempts::sweep(&other),
    );
    let swept: usize = [s1, s2, s3, s4]
        .into_iter()
        .map(|s| s.expect("sweep"))
        .sum();
    // The instances' own sweepers (every 20 s) may take some first; the rows
    // below show each attempt submitted once, by the server.
    assert!(
        swept <= attempts.len(),
        "{swept} sweeps for {} attempts",
        attempts.len()
    );
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT status, submitted_by FROM exam_attempts ORDER BY id")
            .fetch_all(&db)
            .await
            .expect("attempts");
    assert!(rows
        .iter()
        .all(|(s, by)| s == "submitted" && by.as_deref() == Some("server")));
    // Sweeping again finds nothing to do.
    assert_eq!(app::exam::attempts::sweep(&other).await.expect("sweep"), 0);
    drop(a);
}

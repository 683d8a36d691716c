//! Operations: readiness, start-up configuration errors, backup and restore
//! of the embedded database, and a graceful stop that hands lab runs back.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use support::{Backend, Person, TestApp, COURSE, FIRST};

/// The built binary, run with nothing from this process's environment that
/// could point it at another database.
fn masterclass(data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_masterclass"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MASTERCLASS_DATA_DIR", data_dir)
        .env("MASTERCLASS_CONTENT_DIR", support::repo_content())
        .env("MASTERCLASS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    c
}

/// Runs to the end, at most 60 s (a hang is a failure, not a stuck suite).
fn finish(mut c: Command) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start masterclass");
    for _ in 0..600 {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("masterclass did not stop within 60 s");
}

fn stderr_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

async fn readiness(app: TestApp) {
    let p = app.person();
    let r = p.get("/readyz").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body").trim(), "ready");
    assert_eq!(p.get("/healthz").await.status(), StatusCode::OK);

    // A migration this binary knows that the database lacks: alive, but not ready.
    let newest: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&app.db)
        .await
        .expect("newest migration");
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(newest)
        .execute(&app.db)
        .await
        .expect("forget one migration");
    let r = p.get("/readyz").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = r.text().await.expect("body");
    assert!(body.contains(&newest.to_string()), "{body}");
    assert_eq!(p.get("/healthz").await.status(), StatusCode::OK);

    // The database gone (the pool closed): not ready either.
    app.db.close().await;
    let r = p.get("/readyz").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.expect("body").contains("database"));
}
on_both_backends!(readyz_needs_the_database_and_its_migrations, readiness);

/// Each bad setting stops `serve` at once with one line naming it.
#[test]
fn bad_configuration_stops_the_server_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("dir");
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, "not a folder").expect("file");
    // What is wrong, the variable that says it (the line must name it), its value.
    let cases = [
        (
            "unreachable database",
            "DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/none".to_string(),
        ),
        (
            "unknown database kind",
            "DATABASE_URL",
            "mysql://localhost/masterclass".into(),
        ),
        (
            "public URL without a scheme",
            "MASTERCLASS_PUBLIC_URL",
            "masterclass.example.org".into(),
        ),
        (
            "public URL with another scheme",
            "MASTERCLASS_PUBLIC_URL",
            "ftp://masterclass.example.org".into(),
        ),
        (
            "data directory that is a file",
            "MASTERCLASS_DATA_DIR",
            a_file.display().to_string(),
        ),
        ("bad lease", "MASTERCLASS_LAB_LEASE_SECS", "soon".into()),
    ];
    for (what, name, value) in cases {
        let mut c = masterclass(&dir.path().join("data"));
        c.arg("serve").env(name, &value);
        let out = finish(c);
        let lines = stderr_lines(&out);
        assert!(!out.status.success(), "{what}: serve started");
        assert_eq!(lines.len(), 1, "{what}: {lines:?}");
        assert!(lines[0].starts_with("error: "), "{what}: {lines:?}");
        assert!(lines[0].contains(name), "{what}: {lines:?}");
    }
    assert!(
        !dir.path().join("data").join("masterclass.db").exists(),
        "nothing was created for a server that did not start"
    );
}

/// A learner's data goes through an online backup and a restore into a new
/// data directory, where a server picks it up; a restore never clobbers
/// quietly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_and_restore_elsewhere() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let alice = app.learner("alice@example.com").await;
    assert_eq!(
        alice.complete(COURSE, FIRST, true).await.status(),
        StatusCode::OK
    );
    let url = app.settings.database_url.clone();
    let work = tempfile::tempdir().expect("dir");
    let file = work.path().join("masterclass-backup.db");

    // Online: the server keeps running and serving while the copy is taken.
    let mut c = masterclass(&app.settings.data_dir);
    c.env("DATABASE_URL", &url).arg("backup").arg(&file);
    let out = tokio::task::spawn_blocking(move || finish(c))
        .await
        .expect("backup");
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("backed up"));
    assert_eq!(alice.get("/healthz").await.status(), StatusCode::OK);
    // Never overwritten by accident.
    let mut again = masterclass(&app.settings.data_dir);
    again.env("DATABASE_URL", &url).arg("backup").arg(&file);
    let out = finish(again);
    assert!(!out.status.success());
    assert!(stderr_lines(&out)[0].contains("--force"));

    // Restored into an empty data directory, a server serves the learner's progress.
    let fresh = work.path().join("restored");
    let out = finish({
        let mut c = masterclass(&fresh);
        c.arg("restore").arg(&file);
        c
    });
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    let restored_url = format!(
        "sqlite://{}?mode=rwc",
        fresh.join("masterclass.db").display()
    );
    let mut settings = support::settings_for(&fresh, restored_url.clone(), "tower_sessions".into());
    settings.lab_workers = 0;
    let db = masterclass::startup::database(&settings)
        .await
        .expect("restored database");
    let server = masterclass::startup::build(&settings, db.clone(), Default::default())
        .await
        .expect("server on the restored database");
    let base = format!("http://{}", support::serve(server).await);
    let again = Person::new(&base, std::sync::Arc::default());
    let r = again.login("alice@example.com", "learner password 1").await;
    assert!(r.status().is_success() || r.status() == StatusCode::FOUND);
    let overview = Person::json(again.overview(COURSE).await).await;
    assert!(
        overview.to_string().contains(FIRST),
        "the course is there: {overview}"
    );
    let done: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM progress p JOIN users u ON u.id = p.user_id WHERE u.email = $1",
    )
    .bind("alice@example.com")
    .fetch_one(&db)
    .await
    .expect("progress");
    assert_eq!(done, 1, "the completed module survived");

    // While a server holds the data directory, restore refuses outright.
    let held = masterclass::ops::hold_data_dir(&fresh).expect("lock");
    let out = finish({
        let mut c = masterclass(&fresh);
        c.arg("restore").arg("--force").arg(&file);
        c
    });
    assert!(!out.status.success());
    assert!(
        stderr_lines(&out)[0].contains("running"),
        "{:?}",
        stderr_lines(&out)
    );
    drop(held);
    db.close().await;

    // Without --force an existing database is left alone; with it, it is kept aside.
    let out = finish({
        let mut c = masterclass(&fresh);
        c.arg("restore").arg(&file);
        c
    });
    assert!(!out.status.success());
    assert!(stderr_lines(&out)[0].contains("--force"));
    let out = finish({
        let mut c = masterclass(&fresh);
        c.arg("restore").arg("--force").arg(&file);
        c
    });
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    let kept = std::fs::read_dir(&fresh)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".before-restore-"))
        .count();
    assert_eq!(kept, 1);

    // Files that are not Masterclass databases are refused before anything moves.
    let junk = work.path().join("junk.db");
    std::fs::write(&junk, "hello").expect("junk");
    let other = work.path().join("other.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", other.display()))
        .await
        .expect("other");
    sqlx::query("CREATE TABLE notes (body TEXT)")
        .execute(&pool)
        .await
        .expect("table");
    pool.close().await;
    for (bad, says) in [
        (&junk, "not an SQLite database"),
        (&other, "not a Masterclass database"),
    ] {
        let out = finish({
            let mut c = masterclass(&fresh);
            c.arg("restore").arg("--force").arg(bad);
            c
        });
        assert!(!out.status.success());
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(says), "{lines:?}");
    }
}

/// SIGTERM: the server stops accepting, finishes, and exits cleanly.
#[test]
fn sigterm_stops_the_server_cleanly() {
    use std::io::{BufRead, Read};
    let dir = tempfile::tempdir().expect("dir");
    let mut c = masterclass(dir.path());
    // Port 0: the server binds a free port and prints it (a port picked here and
    // released could be taken by another test's connection before the server binds it).
    c.env("MASTERCLASS_ADDR", "127.0.0.1:0")
        // No course to import: the stop is what is tested, not the start.
        .env("MASTERCLASS_CONTENT_DIR", dir.path().join("no-content"))
        .env("RUST_LOG", "info")
        .env("MASTERCLASS_ADMIN_EMAIL", "admin@example.com")
        .env("MASTERCLASS_ADMIN_PASSWORD", "admin password 123")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("serve");
    // Both pipes are read as the server writes, so it never blocks on a full one.
    let mut stderr = child.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    let stdout = child.stdout.take().expect("stdout");
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(addr) = line.split("serving at http://").nth(1) {
                let _ = addr_tx.send(addr.trim().to_string());
            }
        }
    });
    let Ok(addr) = addr_rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = child.kill();
        let status = child.wait().expect("wait");
        panic!(
            "the server did not start listening within 60 s ({status}):\n{}",
            log.join().unwrap_or_default()
        );
    };
    assert!(std::net::TcpStream::connect(&addr).is_ok(), "{addr}");
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server stopped within 60 s")
        .expect("status");
    let log = log.join().expect("log");
    assert!(status.success(), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

/// A graceful stop hands the runs this instance holds back to the queue, and
/// another instance grades them.
async fn drain(app: TestApp) {
    let learner = app.learner("drain@example.com").await;
    let form = support::solution_run_form();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = Person::json(learner.call("labs/run", &form).await)
        .await
        .as_i64()
        .expect("run id");
    // This instance's worker takes the run (as its own worker loop would)...
    let queue = app.state.labs.clone();
    let claimed = app::labs::store::claim_next(&app.db, queue.instance(), 60_000)
        .await
        .expect("claim")
        .expect("a queued run");
    assert_eq!(claimed.id, run);
    // ...and the instance is asked to stop before grading is done.
    let handed = queue.drain(&app.db, Duration::from_millis(100)).await;
    assert_eq!(handed, 1);
    let (status, owner): (String, Option<String>) =
        sqlx::query_as("SELECT status, lease_owner FROM lab_runs WHERE id = $1")
            .bind(run)
            .fetch_one(&app.db)
            .await
            .expect("run");
    assert_eq!((status.as_str(), owner), ("queued", None));
    // The stopped instance's late result does not count...
    let report = app::labs::LabReport {
        passed: false,
        score: 0,
        max_score: 1,
        cancelled: true,
        error: None,
        steps: Vec::new(),
        runs: Vec::new(),
        charts: Vec::new(),
        tables: Vec::new(),
    };
    app::labs::store::finish(&app.db, &claimed, &report, &[])
        .await
        .expect("finish");
    // ...another instance's worker grades the run from the start.
    let other = std::sync::Arc::new(app::labs::worker::LabQueue::new(
        app::labs::worker::DEFAULT_LEASE,
        support::sandbox(),
    ));
    app::labs::worker::spawn(app.db.clone(), other.clone(), 1).await;
    let mut status = String::new();
    for _ in 0..1200 {
        status = sqlx::query_scalar("SELECT status FROM lab_runs WHERE id = $1")
            .bind(run)
            .fetch_one(&app.db)
            .await
            .expect("status");
        if status != "queued" && status != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (passed, claims, owner): (i64, i64, Option<String>) =
        sqlx::query_as("SELECT passed, claims, lease_owner FROM lab_runs WHERE id = $1")
            .bind(run)
            .fetch_one(&app.db)
            .await
            .expect("run");
    assert_eq!(status, "done");
    assert_eq!(passed, 1, "the solution passes when graded in full");
    assert_eq!(claims, 2);
    assert_eq!(owner.as_deref(), Some(other.instance()));
}

mod a_graceful_stop_hands_lab_runs_back {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = TestApp::spawn_custom(Backend::Sqlite, |s| s.lab_workers = 0)
            .await
            .expect("app");
        drain(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = TestApp::spawn_custom(Backend::Postgres, |s| s.lab_workers = 0).await {
            drain(app).await;
        }
    }
}

/// The operator points the platform's own load runner at an instance on this
/// machine; any other host is refused before a request is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_run_loads_a_loopback_target_only() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let dir = tempfile::tempdir().expect("dir");
    let script = dir.path().join("probe.js");
    std::fs::write(
        &script,
        r#"import http from "k6/http";
import { check } from "k6";
export const options = { vus: 2, iterations: 6, thresholds: { checks: ["rate==1"] } };
export default function () {
  const r = http.get(`${__ENV.BASE_URL}/readyz`, { tags: { slo: "probe" } });
  check(r, { "ready": (x) => x.status === 200 && x.body.includes("ready") });
}
"#,
    )
    .expect("script");
    let summary = dir.path().join("summary.json");
    let out = {
        let mut c = masterclass(dir.path());
        c.args(["lab", "run", "--quiet", "--target", &app.base])
            .arg(&script)
            .arg("--summary-export")
            .arg(&summary);
        tokio::task::spawn_blocking(move || finish(c))
            .await
            .expect("run")
    };
    assert!(out.status.success(), "{:?}", stderr_lines(&out));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    assert_eq!(
        s["metrics"]["http_reqs"]["count"].as_f64(),
        Some(6.0),
        "{s}"
    );
    assert_eq!(s["metrics"]["checks"]["passes"].as_f64(), Some(6.0), "{s}");
    assert_eq!(s["metrics"]["checks"]["fails"].as_f64(), Some(0.0), "{s}");
    // The instance saw them.
    let metrics = app.person().text("/metrics").await;
    assert!(
        metrics.contains("route=\"/readyz\",status=\"200\"} 6"),
        "{metrics}"
    );

    for elsewhere in [
        "http://192.0.2.10:80",
        "http://example.com",
        "https://127.0.0.1:1",
    ] {
        let out = finish({
            let mut c = masterclass(dir.path());
            c.args(["lab", "run", "--target", elsewhere]).arg(&script);
            c
        });
        assert!(!out.status.success(), "{elsewhere}");
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("only loads this machine"), "{lines:?}");
    }
}

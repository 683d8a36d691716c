//! Importing `content/`: idempotent, and a broken file costs only itself.

mod support;

use std::fs;
use std::path::Path;

use support::{Backend, Person, TestApp};

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

const COURSE_YAML: &str =
    "title: Test course\nsummary: A course for tests.\nsections:\n  - slug: one\n    title: One\n";

fn module(title: &str, order: i64, extra: &str, body: &str) -> String {
    format!("---\ntitle: {title}\nsection: one\norder: {order}\nminutes: 5\n{extra}---\n{body}\n")
}

/// Imports as `masterclass content import` would, then makes the running
/// server forget its cached catalog instead of waiting for it to expire.
async fn import(app: &TestApp) -> app::course::import::ImportReport {
    let report = masterclass::startup::import_content(&app.db, &app.settings)
        .await
        .expect("import");
    app.state.published.invalidate();
    report
}

#[tokio::test]
async fn broken_files_are_reported_and_lose_nothing() {
    let content = tempfile::tempdir().expect("dir");
    let c = content.path();
    write(c, "test-course/course.yaml", COURSE_YAML);
    write(
        c,
        "test-course/modules/01-a.md",
        &module("Alpha", 1, "", "## Hello\n\nFirst version."),
    );
    write(
        c,
        "test-course/modules/02-b.md",
        &module(
            "Beta",
            2,
            "",
            "Beta text. <script>window.pwned = 1</script> <img src=x onerror=alert(1)>",
        ),
    );
    let app = TestApp::spawn_with_content(Backend::Sqlite, c)
        .await
        .expect("app");
    let again = import(&app).await;
    assert_eq!(
        again.unchanged,
        vec!["test-course".to_string()],
        "a second import changes nothing"
    );
    assert_eq!(again.modules, 0);

    // Break Alpha, add a broken Gamma and a Delta with an unknown prerequisite.
    write(
        c,
        "test-course/modules/01-a.md",
        "---\ntitle: Alpha\nsection: one\norder: oops\nminutes: 5\n---\nSecond version.",
    );
    write(c, "test-course/modules/03-c.md", "no front matter at all");
    write(
        c,
        "test-course/modules/04-d.md",
        &module("Delta", 4, "prerequisites: [nope]\n", "Delta."),
    );
    write(
        c,
        "test-course/modules/05-e.md",
        &module("Epsilon", 5, "", "Epsilon."),
    );
    let report = import(&app).await;
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("test-course/modules/01-a.md:4: ")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("test-course/modules/03-c.md:1: ")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("test-course/modules/04-d.md:6: ") && p.contains("nope")),
        "{problems:?}"
    );
    assert_eq!(problems.len(), 3, "{problems:?}");

    let p = app.learner("kim@example.com").await;
    let ov = Person::json(p.overview("test-course").await).await;
    let titles: Vec<&str> = ov["sections"][0]["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .filter_map(|m| m["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        vec!["Alpha", "Beta", "Epsilon"],
        "the broken Alpha keeps its stored version; the rest is published"
    );
    let alpha = Person::json(p.module("test-course", "a").await).await;
    assert!(alpha["body_html"]
        .as_str()
        .is_some_and(|b| b.contains("First version.")));

    // Raw HTML in content cannot carry script.
    let beta = Person::json(p.module("test-course", "b").await).await;
    let body = beta["body_html"].as_str().expect("body");
    assert!(
        body.contains("Beta text.") && !body.contains("<script") && !body.contains("onerror"),
        "{body}"
    );

    // A broken course.yaml keeps the stored course.
    write(c, "test-course/course.yaml", "title: [unclosed\n");
    let report = import(&app).await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.path == "test-course/course.yaml"),
        "{:?}",
        report.problems
    );
    assert_eq!(
        Person::json(p.overview("test-course").await).await["title"],
        "Test course"
    );

    // A removed file unpublishes its module without deleting anyone's progress.
    write(c, "test-course/course.yaml", COURSE_YAML);
    p.complete("test-course", "e", true).await;
    fs::remove_file(c.join("test-course/modules/05-e.md")).expect("rm");
    import(&app).await;
    let ov = Person::json(p.overview("test-course").await).await;
    assert!(!ov.to_string().contains("Epsilon"));
    let (kept,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM progress")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn the_shipped_course_imports_cleanly() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let db = &app.db;
    let (problems,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM import_problems")
        .fetch_one(db)
        .await
        .expect("count");
    assert_eq!(problems, 0, "content/ has no broken files");
    let (sections,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sections")
        .fetch_one(db)
        .await
        .expect("count");
    assert_eq!(sections, 4);
    let rows: Vec<(String,)> = sqlx::query_as("SELECT body_html FROM modules")
        .fetch_all(db)
        .await
        .expect("modules");
    for (body,) in rows {
        let words = body.split_whitespace().count();
        assert!(
            words > 250,
            "every seeded module is a real text, not a stub ({words} words)"
        );
    }
}

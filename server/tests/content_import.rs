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
        .expect("import")
        .report;
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
    let (labs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM labs WHERE published = 1")
        .fetch_one(db)
        .await
        .expect("count");
    assert_eq!(labs, 6, "the six labs of the masterclass");
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

/// Copies one of the shipped labs into a test course's `labs/` folder.
fn copy_lab(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("lab folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_lab(&entry.path(), &target);
        } else {
            fs::create_dir_all(to).expect("mkdir");
            fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[tokio::test]
async fn a_broken_lab_is_reported_and_keeps_its_stored_version() {
    let content = tempfile::tempdir().expect("dir");
    let c = content.path();
    write(c, "test-course/course.yaml", COURSE_YAML);
    write(
        c,
        "test-course/modules/01-a.md",
        &module("Alpha", 1, "", "Alpha text."),
    );
    let shipped = support::repo_content()
        .join(support::COURSE)
        .join("labs/01-first-load-test");
    let lab_dir = c.join("test-course/labs/01-first-load-test");
    copy_lab(&shipped, &lab_dir);
    let yaml_path = lab_dir.join("lab.yaml");
    let yaml = fs::read_to_string(&yaml_path)
        .expect("lab.yaml")
        .replace("section: load-testing-and-slos", "section: one");
    fs::write(&yaml_path, &yaml).expect("write");
    let app = TestApp::spawn_with_content(Backend::Sqlite, c)
        .await
        .expect("app");
    let p = app.learner("kim@example.com").await;
    let titles = |ov: serde_json::Value| -> Vec<String> {
        ov["sections"][0]["modules"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| {
                format!(
                    "{}:{}",
                    m["kind"].as_str().unwrap_or(""),
                    m["title"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    assert_eq!(
        titles(Person::json(p.overview("test-course").await).await),
        vec!["module:Alpha", "lab:Your first load test"]
    );

    // A check of an unknown kind: reported with its line; the stored lab stays.
    let broken = yaml
        .replace("title: Your first load test", "title: Renamed lab")
        .replace("kind: vus", "kind: vibes");
    fs::write(&yaml_path, &broken).expect("write");
    let report = import(&app).await;
    let line = broken
        .lines()
        .position(|l| l.contains("kind: vibes"))
        .expect("line")
        + 1;
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert!(
        problems.iter().any(|p| p.starts_with(&format!(
            "test-course/labs/01-first-load-test/lab.yaml:{line}: "
        )) && p.contains("vibes")),
        "{problems:?}"
    );
    assert_eq!(
        titles(Person::json(p.overview("test-course").await).await),
        vec!["module:Alpha", "lab:Your first load test"]
    );

    // Fixed, it is stored anew; removed, it is unpublished (runs and passes stay).
    fs::write(
        &yaml_path,
        yaml.replace("title: Your first load test", "title: Renamed lab"),
    )
    .expect("write");
    assert!(import(&app).await.problems.is_empty());
    assert_eq!(
        titles(Person::json(p.overview("test-course").await).await),
        vec!["module:Alpha", "lab:Renamed lab"]
    );
    fs::remove_dir_all(&lab_dir).expect("rm");
    import(&app).await;
    assert_eq!(
        titles(Person::json(p.overview("test-course").await).await),
        vec!["module:Alpha"]
    );
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM labs")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(stored, 1, "unpublished, not deleted");
}

/// The shipped course as a learner meets it: every module is a real text
/// (at least 800 words outside its front matter), and every link or image
/// that points inside the site answers.
#[tokio::test]
async fn every_module_is_substantial_and_every_internal_link_resolves() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let modules = support::repo_content()
        .join(support::COURSE)
        .join("modules");
    let mut files: Vec<_> = fs::read_dir(&modules)
        .expect("modules")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    assert!(files.len() >= 16, "the course has {} modules", files.len());
    for f in &files {
        let text = fs::read_to_string(f).expect("module");
        let body = text.splitn(3, "---\n").nth(2).expect("front matter");
        let words = body.split_whitespace().count();
        assert!(words >= 800, "{} has {words} words", f.display());
    }

    let learner = app.learner("reader@example.com").await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT slug, body_html FROM modules WHERE published = 1 ORDER BY slug")
            .fetch_all(&app.db)
            .await
            .expect("modules");
    let mut checked = std::collections::BTreeSet::new();
    for (slug, html) in rows {
        for attr in ["href=\"", "src=\""] {
            for piece in html.split(attr).skip(1) {
                let target = piece.split('"').next().unwrap_or("");
                if !target.starts_with('/') || target.starts_with("//") {
                    continue;
                }
                let path = target.split('#').next().unwrap_or(target);
                if !checked.insert(path.to_string()) {
                    continue;
                }
                let status = learner.get(path).await.status();
                assert_eq!(status, reqwest::StatusCode::OK, "{slug} links to {target}");
            }
        }
    }
    assert!(checked.len() >= 10, "internal links checked: {checked:?}");
}

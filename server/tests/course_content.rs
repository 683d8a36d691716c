//! The course around its text: external links listed in one place, reading times on the
//! module page, and the narrated videos `masterclass content videos` makes — attached only
//! when they exist, and with captions that last exactly as long as the audio.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use support::{Backend, TestApp, COURSE};

fn course_dir() -> PathBuf {
    support::repo_content().join(COURSE)
}

/// Every `http://` or `https://` address in a text, without trailing punctuation.
fn urls(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("http") {
        let rest = &text[at..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || "\"'`<>()[]|{}".contains(c))
            .unwrap_or(rest.len());
        let url = rest[..end].trim_end_matches(['.', ',', ';', ':']);
        found.insert(url.to_string());
    }
    found
}

fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            text_files(&p, out);
        } else if fs::read_to_string(&p).is_ok() {
            out.push(p);
        }
    }
}

/// What a course's modules and labs link to outside the platform, by address, with where.
fn used_urls(course: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    text_files(&course.join("modules"), &mut files);
    text_files(&course.join("labs"), &mut files);
    files.sort();
    let mut used = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).expect("text");
        for u in urls(&text) {
            used.push((
                u,
                f.strip_prefix(course).unwrap_or(&f).display().to_string(),
            ));
        }
    }
    used
}

/// Addresses used but not listed, and listed but not used.
fn link_problems(used: &[(String, String)], listed: &BTreeSet<String>) -> Vec<String> {
    let mut problems: Vec<String> = used
        .iter()
        .filter(|(u, _)| !listed.contains(u))
        .map(|(u, f)| format!("{f} links to {u}, which _links.md does not list"))
        .collect();
    for l in listed {
        if !used.iter().any(|(u, _)| u == l) {
            problems.push(format!("_links.md lists {l}, which no module or lab uses"));
        }
    }
    problems
}

#[test]
fn every_external_link_is_listed_in_one_place() {
    let course = course_dir();
    let listed = urls(&fs::read_to_string(course.join("_links.md")).expect("_links.md"));
    let used = used_urls(&course);
    assert!(
        !used.is_empty(),
        "the scan finds the course's example addresses"
    );
    let problems = link_problems(&used, &listed);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check catches a new address in a module.
    let mut more = used.clone();
    more.push((
        "https://unlisted.example.org/x".into(),
        "modules/new.md".into(),
    ));
    assert_eq!(
        link_problems(&more, &listed),
        vec![
            "modules/new.md links to https://unlisted.example.org/x, which _links.md does not list"
        ]
    );
    assert_eq!(
        urls("see [k6](https://k6.io/docs/). And `http://localhost:3333`, then (http://a.internal/x)."),
        BTreeSet::from([
            "https://k6.io/docs/".to_string(),
            "http://localhost:3333".to_string(),
            "http://a.internal/x".to_string()
        ])
    );
}

const PLAIN: &str = "slis-in-promql";
const OWN_VIDEO: &str = support::FIRST;

async fn module_html(learner: &support::Person, slug: &str) -> String {
    let r = learner.get(&format!("/courses/{COURSE}/{slug}")).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let html = r.text().await.expect("html");
    // The body is sent by reference (app::shared_html): in place, whole.
    assert!(
        !html.contains("<!--shared-html-"),
        "a placeholder was left in: {html}"
    );
    assert!(html.contains("<div class=\"module-content\"><"), "{html}");
    html
}

async fn reimport(app: &TestApp) {
    masterclass::startup::import_content(&app.db, &app.settings)
        .await
        .expect("import");
    app.state.published.invalidate();
}

#[tokio::test]
async fn a_generated_video_is_attached_only_while_it_exists() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let learner = app.learner("reader@example.com").await;
    let html = module_html(&learner, PLAIN).await;
    assert!(
        html.contains("Reading time: about 11 min"),
        "the module page says how long it takes to read"
    );
    assert!(
        !html.contains("<video"),
        "no generated video yet, so no player"
    );

    // What `masterclass content videos` leaves in the data dir.
    let dir = app
        .settings
        .media_dir()
        .join(COURSE)
        .join(app::course::generated::DIR);
    fs::create_dir_all(&dir).expect("mkdir");
    let vtt = "WEBVTT\n\n1\n00:00:00.300 --> 00:00:02.100\nService level indicators in PromQL.\n\n2\n00:00:02.800 --> 00:00:05.000\nSum the rates, then divide.\n";
    for slug in [PLAIN, OWN_VIDEO] {
        fs::write(
            dir.join(format!("{slug}.webm")),
            b"\x1a\x45\xdf\xa3 not really a video",
        )
        .expect("webm");
        fs::write(dir.join(format!("{slug}.en.vtt")), vtt).expect("vtt");
    }
    reimport(&app).await;
    let html = module_html(&learner, PLAIN).await;
    let src = format!("/media/{COURSE}/generated/{PLAIN}.webm");
    assert!(html.contains("<video") && html.contains(&src), "{html}");
    assert!(html.contains(&format!("/media/{COURSE}/generated/{PLAIN}.en.vtt")));
    assert!(
        html.contains("Sum the rates, then divide."),
        "the transcript is the captions' text"
    );
    assert_eq!(learner.get(&src).await.status(), reqwest::StatusCode::OK);
    // A module's own video wins over a generated one.
    let own = module_html(&learner, OWN_VIDEO).await;
    assert!(
        own.contains("welcome.webm") && !own.contains("/generated/"),
        "{own}"
    );

    // Captions missing: the video is not attached, and the page shows no broken player.
    fs::remove_file(dir.join(format!("{PLAIN}.en.vtt"))).expect("rm");
    reimport(&app).await;
    let html = module_html(&learner, PLAIN).await;
    assert!(
        !html.contains("<video") && !html.contains("/generated/"),
        "{html}"
    );
}

/// The end of the last cue of a WebVTT file, in milliseconds.
fn last_cue_end_ms(vtt: &str) -> u64 {
    let line = vtt
        .lines()
        .filter(|l| l.contains("-->"))
        .last()
        .expect("a cue");
    let end = line.split("-->").nth(1).expect("end").trim();
    let parts: Vec<f64> = end.split(':').map(|p| p.parse().expect("number")).collect();
    let secs = parts.iter().fold(0.0, |acc, p| acc * 60.0 + p);
    (secs * 1000.0).round() as u64
}

#[test]
fn a_real_video_lasts_exactly_as_long_as_its_captions() {
    let missing = masterclass::videos::missing_tools();
    let ffprobe = std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_ok();
    if !missing.is_empty() || !ffprobe {
        // Nothing to check without the tools; the command itself skips the same way.
        eprintln!("{}", masterclass::videos::skip_line(&missing));
        return;
    }
    let text = fs::read_to_string(course_dir().join("modules/01-roundtable.md")).expect("module");
    let module = masterclass::videos::read_module("01-roundtable", &text).expect("module");
    let script = masterclass::videos::Script::new("Performance Engineering Masterclass", &module);
    let out = tempfile::tempdir().expect("dir");
    let made = masterclass::videos::make(&script, out.path(), false).expect("made");
    assert!(
        matches!(made, masterclass::videos::Outcome::Made { .. }),
        "{made:?}"
    );
    let [webm, captions, transcript, _] = masterclass::videos::files(out.path(), &script.slug);

    let vtt = fs::read_to_string(&captions).expect("captions");
    let cues = app::course::vtt::parse(&vtt).expect("valid captions");
    let said = script.said();
    assert_eq!(
        cues.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
        said,
        "the captions say the script"
    );
    let tr = fs::read_to_string(&transcript).expect("transcript");
    assert!(said.iter().all(|s| tr.contains(s)), "{tr}");

    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&webm)
        .output()
        .expect("ffprobe");
    let duration: f64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .expect("a duration");
    let end = last_cue_end_ms(&vtt) as f64 / 1000.0;
    // A container ends with its last whole video frame, so allow one frame of the slide show.
    let frame = 1.0 / f64::from(masterclass::videos::FPS);
    assert!(
        (duration - end).abs() <= frame + 0.02,
        "the video lasts {duration} s, its last caption ends at {end} s"
    );

    // Unchanged script: nothing is remade; the scratch folder is gone.
    assert_eq!(
        masterclass::videos::make(&script, out.path(), false).expect("again"),
        masterclass::videos::Outcome::UpToDate
    );
    assert!(fs::read_dir(out.path())
        .expect("dir")
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().starts_with(".work")));
}

//! The deployment files in deploy/: the SLO rules are generated from the
//! Sloth spec and current, Prometheus accepts them and its configuration,
//! nginx accepts its site, and the SLIs name series the app really exports.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Backend, TestApp, COURSE};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Runs a tool that may be missing on a developer's machine (scripts/test installs it).
fn tool(name: &str) -> Option<Command> {
    match Command::new(name).arg("--version").output() {
        Ok(_) => Some(Command::new(name)),
        Err(_) => {
            eprintln!("SKIPPED: {name} is not installed (scripts/test installs it)");
            None
        }
    }
}

#[test]
fn the_slo_rules_are_generated_from_the_spec_and_current() {
    let dir = tempfile::tempdir().expect("dir");
    let fresh = dir.path().join("rules.yml");
    let out = Command::new(env!("CARGO_BIN_EXE_masterclass"))
        .args(["slo", "generate"])
        .arg(deploy().join("slo/masterclass.sloth.yaml"))
        .arg("-o")
        .arg(&fresh)
        .output()
        .expect("slo generate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked_in =
        std::fs::read_to_string(deploy().join("slo/masterclass.rules.yml")).expect("rules");
    assert!(
        std::fs::read_to_string(&fresh).expect("fresh") == checked_in,
        "deploy/slo/masterclass.rules.yml is stale: run masterclass slo generate deploy/slo/masterclass.sloth.yaml -o deploy/slo/masterclass.rules.yml"
    );
    for slo in [
        "pages-availability",
        "pages-latency",
        "exam-save-availability",
        "exam-save-latency",
        "lab-start-availability",
        "lab-start-latency",
    ] {
        assert!(
            checked_in.contains(&format!("sloth_slo: {slo}")),
            "{slo} has rules"
        );
    }
}

#[test]
fn promtool_accepts_the_rules_and_the_prometheus_config() {
    let Some(mut rules) = tool("promtool") else {
        return;
    };
    let out = rules
        .args(["check", "rules"])
        .arg(deploy().join("slo/masterclass.rules.yml"))
        .output()
        .expect("promtool");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(deploy().join("prometheus/prometheus.yml"))
        .output()
        .expect("promtool");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    // The config loads the SLO rules, so this checked them from there too.
    assert!(text.contains("masterclass.rules.yml"), "{text}");
}

#[test]
fn nginx_accepts_the_site() {
    let Some(_) = tool("nginx") else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let main = dir.path().join("nginx.conf");
    std::fs::write(
        &main,
        format!(
            "pid {0}/nginx.pid;\nerror_log {0}/error.log;\nevents {{}}\nhttp {{\n access_log off;\n client_body_temp_path {0};\n proxy_temp_path {0};\n fastcgi_temp_path {0};\n uwsgi_temp_path {0};\n scgi_temp_path {0};\n include {1};\n}}\n",
            dir.path().display(),
            deploy().join("nginx/masterclass.conf").display()
        ),
    )
    .expect("main conf");
    let out = Command::new("nginx")
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&main)
        .output()
        .expect("nginx -t");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The SLIs' routes are the app's: a lab start and an exam save show up in
/// /metrics under exactly the labels the spec selects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slis_select_series_the_app_exports() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let p = app.learner("slo@example.com").await;
    p.call("exam/start", &[("course", COURSE)]).await;
    p.call("exam/save", &[("attempt", "1"), ("position", "1")])
        .await;
    p.call("labs/run", &[("course", COURSE), ("lab", "no-such-lab")])
        .await;
    p.get("/").await;
    let metrics = p.text("/metrics").await;
    let spec = std::fs::read_to_string(deploy().join("slo/masterclass.sloth.yaml")).expect("spec");
    for route in ["/api/exam/save", "/api/labs/run"] {
        let label = format!("route=\"{route}\"");
        assert!(spec.contains(&label), "the spec selects {label}");
        assert!(
            metrics.contains(&format!(
                "masterclass_http_requests_total{{method=\"POST\",{label}"
            )),
            "{label} in /metrics:\n{metrics}"
        );
        assert!(
            metrics.contains(&format!(
                "masterclass_http_request_duration_seconds_bucket{{method=\"POST\",{label},le=\"0.1\"}}"
            )),
            "the latency SLIs' buckets exist for {label}"
        );
    }
    assert!(
        metrics.contains("le=\"0.25\""),
        "the page latency bucket exists"
    );
}

//! Grades a lab directory's starter or solution files and prints the report:
//! the author's loop while writing a lab.
//!
//! `cargo run --release -p lab-grader --example grade -- <lab dir> [starter|solution] [--json]`
//! `... -- <lab dir> solution --query <run id> '<promql>' [every seconds]` charts a query
//! over a run's data, for choosing an answer's accepted range.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: grade <lab dir> [starter|solution] [--json]");
        std::process::exit(2);
    };
    let which = args.get(1).map_or("solution", String::as_str);
    let json = args.iter().any(|a| a == "--json");
    let lab = match lab_grader::load_lab(Path::new(dir), dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let files: BTreeMap<String, String> = lab
        .files
        .iter()
        .map(|f| {
            let text = if which == "starter" {
                &f.starter
            } else {
                &f.solution
            };
            (f.name.clone(), text.clone())
        })
        .collect();
    let started = Instant::now();
    let outcome = lab_grader::grade(&lab, &files, CancellationToken::new(), |_| {}).await;
    let wall = started.elapsed();
    if let Some(i) = args.iter().position(|a| a == "--query") {
        let (Some(run), Some(query)) = (args.get(i + 1), args.get(i + 2)) else {
            eprintln!("--query needs a run id and a query");
            std::process::exit(2);
        };
        let every: f64 = args.get(i + 3).and_then(|e| e.parse().ok()).unwrap_or(60.0);
        let Some(data) = outcome.data.iter().find(|d| &d.run == run) else {
            eprintln!("no run {run}");
            std::process::exit(2);
        };
        match lab_grader::query_chart(data, query) {
            Ok(chart) => {
                for line in &chart.lines {
                    println!("{}", line.name);
                    let mut next = 0.0;
                    for p in &line.points {
                        if p.t >= next {
                            println!("  {:>8.0}s {}", p.t, p.v);
                            next = p.t + every;
                        }
                    }
                    if let Some(p) = line.points.last() {
                        println!("  {:>8.0}s {} (last)", p.t, p.v);
                    }
                }
            }
            Err(e) => eprintln!("{e}"),
        }
        return;
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome.report).unwrap_or_default()
        );
        return;
    }
    let r = &outcome.report;
    for run in &r.runs {
        println!(
            "run {} ({}): exit {} in {:.0}s of run time{}",
            run.id,
            run.scenario,
            run.exit_code,
            run.duration,
            run.error
                .as_ref()
                .map(|e| format!(", error: {e}"))
                .unwrap_or_default()
        );
    }
    for step in &r.steps {
        println!(
            "step {}: {}",
            step.id,
            if step.passed { "passed" } else { "FAILED" }
        );
        for c in &step.checks {
            println!(
                "  [{}] {}: {}",
                if c.passed { "x" } else { " " },
                c.id,
                c.message
            );
            if let Some(h) = &c.hint {
                println!("      hint: {}", h.trim());
            }
        }
    }
    for t in &r.tables {
        println!("table {}", t.title);
        for row in &t.rows {
            println!("  {}", row.join(" | "));
        }
    }
    let data: usize = outcome.data.iter().map(|d| d.text.len()).sum();
    println!(
        "score {}/{}, passed {}, {} charts, run data {} KB, graded in {:.2?}",
        r.score,
        r.max_score,
        r.passed,
        r.charts.len() + r.runs.iter().map(|x| x.charts.len()).sum::<usize>(),
        data / 1024,
        wall
    );
}

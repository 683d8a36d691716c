//! A run's scraped metrics, kept compactly so the app can store them with
//! the attempt and the learner can query them later.
//!
//! The text is a promqltest `load` script (the format `masterclass promql
//! eval --data` reads): one line per series with one value per scrape, and
//! runs of values that grow by a constant step written as `a+bxn`. Most of
//! the toy service's series are constant or count steadily, so a long run
//! shrinks to a fraction of its exposition text, and decoding gives back
//! exactly the scraped values (same bits), so queries see what grading saw.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use slo_toolkit::promql::store::parse_exposition;
use slo_toolkit::promql::{format_float, range_query_with, Labels, Storage, Value};
pub use slo_toolkit::promql::{QueryContext, QueryLimits};

use crate::report::{Chart, Line, Point};

/// Most series a query chart shows.
const MAX_CHART_LINES: usize = 30;
/// Most points per line of a query chart.
const MAX_CHART_POINTS: i64 = 400;

/// One run's scraped metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    /// The run's id.
    pub run: String,
    /// The scrapes as a promqltest `load` script (timestamps in
    /// milliseconds since the start of the run).
    pub text: String,
}

impl RunData {
    /// Encodes scrapes taken every `interval` seconds (plus, possibly, a
    /// last one off that grid at the end of the run).
    pub fn from_scrapes(run: &str, scrapes: &[lab_engine::runner::Scrape], interval: f64) -> Self {
        let step_ms = ((interval * 1000.0).round() as i64).max(1);
        let mut order: Vec<Labels> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut grid: Vec<Vec<Option<f64>>> = Vec::new();
        let mut off_grid: Vec<(i64, Vec<(usize, f64)>)> = Vec::new();
        let slots = scrapes
            .iter()
            .map(|s| ms(s.t))
            .filter(|t| t % step_ms == 0)
            .map(|t| usize::try_from(t / step_ms).unwrap_or(0) + 1)
            .max()
            .unwrap_or(0);
        let mut end_ms = 0;
        for scrape in scrapes {
            let t = ms(scrape.t);
            end_ms = end_ms.max(t);
            // The engine renders its own exposition; a line it cannot parse
            // would be a bug there, and losing one scrape beats losing the run.
            let Ok(samples) = parse_exposition(&scrape.text, t) else {
                continue;
            };
            let mut extra = Vec::new();
            for (labels, _, v) in samples {
                let i = *index.entry(labels.clone()).or_insert_with(|| {
                    order.push(labels);
                    grid.push(vec![None; slots]);
                    order.len() - 1
                });
                if t % step_ms == 0 {
                    if let Some(slot) = usize::try_from(t / step_ms)
                        .ok()
                        .and_then(|k| grid[i].get_mut(k))
                    {
                        *slot = Some(v);
                    }
                } else {
                    extra.push((i, v));
                }
            }
            if !extra.is_empty() {
                off_grid.push((t, extra));
            }
        }
        let mut text = format!(
            "# masterclass run data: run={run} step_ms={step_ms} end_ms={end_ms}\nload {step_ms}ms\n"
        );
        for (labels, values) in order.iter().zip(&grid) {
            let _ = writeln!(text, "  {} {}", series_name(labels), encode_values(values));
        }
        for (t, samples) in off_grid {
            if t <= 0 {
                continue;
            }
            let _ = writeln!(text, "load {t}ms");
            for (i, v) in samples {
                let _ = writeln!(text, "  {} _ {}", series_name(&order[i]), format_float(v));
            }
        }
        Self {
            run: run.to_owned(),
            text,
        }
    }

    /// The series, loaded into a store.
    pub fn storage(&self) -> Result<Storage, String> {
        let mut storage = Storage::new();
        slo_toolkit::promql::promqltest::load_script_data(&self.text, &mut storage)
            .map_err(|e| format!("run data of {}: line {e}", self.run))?;
        Ok(storage)
    }

    /// The scrape step, milliseconds (from the header; 5 s when absent).
    pub fn step_ms(&self) -> i64 {
        self.header("step_ms").unwrap_or(5000).max(1)
    }

    /// The time of the last scrape, milliseconds (from the header).
    pub fn end_ms(&self) -> Option<i64> {
        self.header("end_ms")
    }

    fn header(&self, key: &str) -> Option<i64> {
        let first = self.text.lines().next()?;
        first
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
    }
}

fn ms(secs: f64) -> i64 {
    (secs * 1000.0).round() as i64
}

/// `name{a="1",b="2"}`, the form promqltest's loader reads.
fn series_name(labels: &Labels) -> String {
    let mut s = labels.metric_name().unwrap_or("").to_owned();
    s.push('{');
    let mut first = true;
    for (k, v) in labels.iter().filter(|(k, _)| *k != "__name__") {
        if !first {
            s.push(',');
        }
        first = false;
        s.push_str(k);
        s.push('=');
        s.push_str(&slo_toolkit::promql::labels::quote(v));
    }
    s.push('}');
    s
}

/// promqltest series notation for `values`, exact to the bit.
fn encode_values(values: &[Option<f64>]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let Some(a) = values[i] else {
            let n = values[i..].iter().take_while(|v| v.is_none()).count();
            out.push(if n == 1 { "_".into() } else { format!("_x{n}") });
            i += n;
            continue;
        };
        let run = match values.get(i + 1).copied().flatten() {
            Some(b) if a.is_finite() && b.is_finite() && (b - a).is_finite() => {
                // The loader adds the step to a running value, so the run
                // lasts as long as that running value hits each sample exactly.
                let d = b - a;
                let mut cur = a;
                let mut j = i;
                while let Some(Some(next)) = values.get(j + 1) {
                    let stepped = cur + d;
                    if stepped.to_bits() != next.to_bits() {
                        break;
                    }
                    cur = stepped;
                    j += 1;
                }
                Some((d, j - i))
            }
            _ => None,
        };
        match run {
            Some((d, n)) if n >= 2 => {
                let head = if d == 0.0 && d.is_sign_positive() {
                    format_float(a)
                } else if d.is_sign_negative() {
                    format!("{}-{}", format_float(a), format_float(-d))
                } else {
                    format!("{}+{}", format_float(a), format_float(d))
                };
                out.push(format!("{head}x{n}"));
                i += n + 1;
            }
            _ => {
                out.push(format_float(a));
                i += 1;
            }
        }
    }
    out.join(" ")
}

/// Evaluates `query` as a range query over the whole run, for the learner's
/// "query the run's series" box, under the default [`QueryLimits`] (a 10 s
/// timeout, 5,000,000 samples, 11,000 points per series, 16 KiB and 200
/// levels of nesting).
pub fn query_chart(data: &RunData, query: &str) -> Result<Chart, String> {
    query_chart_with(data, query, &QueryContext::default())
}

/// [`query_chart`] under `ctx`'s limits, deadline and cancellation (e.g.
/// `QueryContext::default().with_cancel(&|| token.is_cancelled())` to stop
/// when the learner's request goes away).
pub fn query_chart_with(
    data: &RunData,
    query: &str,
    ctx: &QueryContext<'_>,
) -> Result<Chart, String> {
    let query = crate::checks::strip_promql_comments(query);
    if query.trim().is_empty() {
        return Err("the query is empty".into());
    }
    let storage = data.storage()?;
    let end = data.end_ms().unwrap_or_else(|| newest(&storage));
    let step = chart_step(data.step_ms(), end);
    let value = range_query_with(&storage, &query, 0, align_up(0, end, step), step, ctx)
        .map_err(|e| e.to_string())?;
    let mut lines = matrix_lines(&value, "");
    let total = lines.len();
    let mut title = query.trim().to_owned();
    if total > MAX_CHART_LINES {
        // The highest series are the ones worth seeing on a chart.
        lines.sort_by(|a, b| peak(b).total_cmp(&peak(a)));
        lines.truncate(MAX_CHART_LINES);
        title = format!("{title} (the {MAX_CHART_LINES} highest of {total} series)");
    }
    Ok(Chart {
        id: "query".into(),
        title,
        unit: String::new(),
        lines,
        reference: None,
        marks: Vec::new(),
    })
}

/// A step that keeps a chart under [`MAX_CHART_POINTS`] points and on the
/// scrape grid.
pub(crate) fn chart_step(scrape_step: i64, end: i64) -> i64 {
    let per_point = (end / MAX_CHART_POINTS).max(1);
    let multiple = (per_point + scrape_step - 1) / scrape_step;
    scrape_step * multiple.max(1)
}

/// The first step at or after `end`: a run rarely ends on the scrape grid,
/// and its last scrape should still be charted.
pub(crate) fn align_up(start: i64, end: i64, step: i64) -> i64 {
    let step = step.max(1);
    let span = (end - start).max(0);
    start + (span + step - 1) / step * step
}

pub(crate) fn newest(storage: &Storage) -> i64 {
    storage
        .series()
        .iter()
        .filter_map(|s| s.samples().last().map(|p| p.t))
        .max()
        .unwrap_or(0)
}

fn peak(l: &Line) -> f64 {
    l.points
        .iter()
        .map(|p| p.v)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Chart lines of a range query's result; `prefix` goes before each name.
pub(crate) fn matrix_lines(value: &Value, prefix: &str) -> Vec<Line> {
    match value {
        Value::Matrix(series) => series
            .iter()
            .map(|s| Line {
                name: format!("{prefix}{}", label_text(&s.labels)),
                points: s
                    .points
                    .iter()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(t, v)| Point::new(*t as f64 / 1000.0, *v))
                    .collect(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Labels as `{a="1", b="2"}` without the metric name; `{}` when none.
pub(crate) fn label_text(labels: &Labels) -> String {
    labels.without_metric_name().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values_of(text: &str) -> Vec<Option<f64>> {
        slo_toolkit::promql::store::expand_series_values(text).expect("valid notation")
    }

    #[test]
    fn runs_compress_and_expand_exactly() {
        let cases: Vec<Vec<Option<f64>>> = vec![
            vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)],
            vec![Some(5.0), Some(5.0), Some(5.0)],
            vec![
                None,
                None,
                Some(0.1),
                Some(0.2),
                Some(0.30000000000000004),
                Some(7.0),
            ],
            vec![
                Some(-3.0),
                Some(-5.0),
                Some(-7.0),
                None,
                Some(f64::INFINITY),
            ],
            vec![Some(0.1), Some(0.2), Some(0.3)],
            vec![Some(1e-7), Some(2.5e21)],
        ];
        for values in cases {
            let text = encode_values(&values);
            let back = values_of(&text);
            assert_eq!(back.len(), values.len(), "{text}");
            for (a, b) in values.iter().zip(&back) {
                assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "{text}");
            }
        }
        assert_eq!(encode_values(&[Some(5.0), Some(5.0), Some(5.0)]), "5x2");
        assert_eq!(
            encode_values(&[Some(1.0), Some(2.0), Some(3.0), Some(4.0)]),
            "1+1x3"
        );
        assert_eq!(encode_values(&[None, None, None]), "_x3");
    }

    /// Ten minutes of one counter scraped every 5 s.
    fn small_run() -> RunData {
        RunData {
            run: "r".into(),
            text: "# masterclass run data: run=r step_ms=5000 end_ms=600000\nload 5000ms\n  http_requests_total{job=\"api\"} 0+10x120\n".into(),
        }
    }

    #[test]
    fn hostile_queries_in_the_query_box_get_clear_errors() {
        let data = small_run();
        assert!(query_chart(&data, "sum(rate(http_requests_total[1m]))").is_ok());
        let chain = format!("1{}", "+1".repeat(20_000));
        let e = query_chart(&data, &chain).expect_err("too long");
        assert_eq!(
            e,
            "the query is 40,001 bytes long; the limit is 16,384 bytes"
        );
        let e = query_chart(&data, "count_over_time(vector(1)[30d:1ms])").expect_err("too fine");
        assert!(e.contains("11,000 points per timeseries"), "{e}");
        let stop = || true;
        let cancelled = QueryContext::default().with_cancel(&stop);
        assert_eq!(
            query_chart_with(&data, "http_requests_total", &cancelled).expect_err("cancelled"),
            "query cancelled"
        );
        let tight = QueryContext::new(QueryLimits {
            max_samples: 10,
            ..QueryLimits::default()
        });
        let e = query_chart_with(&data, "http_requests_total", &tight).expect_err("too many");
        assert!(
            e.starts_with("query processing would load too many samples into memory"),
            "{e}"
        );
    }
}

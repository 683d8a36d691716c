//! Line charts as server-rendered SVG: readable without JavaScript, with a
//! data table for screen readers, and a value readout under the pointer once
//! the page has hydrated.

use leptos::prelude::*;

use super::{Chart, Line};

const W: f64 = 640.0;
const H: f64 = 220.0;
// The axis labels are HTML beside and below the SVG (see the style sheet's
// `.chart .plot`), so the plot needs only a little room for its own edges.
// The style sheet's `.y-ticks` and `.x-ticks` repeat these margins as
// percentages of W and H: change both together.
const LEFT: f64 = 8.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 4.0;

/// A "nice" step for about `n` ticks over `span`.
fn nice_step(span: f64, n: f64) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / n;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// A time step for about `n` ticks over `span` seconds: whole seconds and the
/// steps a clock reads (15 s, 30 s, 1 m, 5 m, …), so no two ticks read alike.
fn nice_time_step(span: f64, n: f64) -> f64 {
    const STEPS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        21600.0, 86400.0,
    ];
    let raw = if span.is_finite() { span / n } else { 1.0 };
    STEPS
        .iter()
        .copied()
        .find(|s| *s >= raw)
        .unwrap_or_else(|| (raw / 86400.0).ceil() * 86400.0)
}

/// A value-axis label: as many decimals as the step needs and no more
/// (`0.5`, not `0.5000`), with the unit when it is short.
fn fmt_tick(v: f64, step: f64, unit: &str) -> String {
    let text = if v.abs() >= 1e4 {
        fmt_value(v)
    } else {
        // The fewest decimals that write the step exactly.
        let decimals = (0..6)
            .find(|d| {
                let scaled = step * 10f64.powi(*d);
                (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
            })
            .unwrap_or(6) as usize;
        // -0 reads as 0.
        format!("{:.*}", decimals, if v == 0.0 { 0.0 } else { v })
    };
    if unit.is_empty() || unit.chars().count() > 5 {
        text
    } else {
        format!("{text} {unit}")
    }
}

/// A value for an axis label or the readout: short, without float noise.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Seconds as `1m30s` for the time axis.
fn fmt_time(t: f64) -> String {
    let s = t.round() as i64;
    if s >= 60 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The ranges a chart spans, each from one tick to another: time, and values
/// from zero (or the lowest value). The ticks are evenly spaced from edge to
/// edge, so their labels can be laid out by the style sheet alone.
struct Frame {
    t0: f64,
    t1: f64,
    t_step: f64,
    v0: f64,
    v1: f64,
    v_step: f64,
}

impl Frame {
    fn of(chart: &Chart) -> Frame {
        let pts = || {
            chart
                .lines
                .iter()
                .flat_map(|l| l.points.iter())
                .filter(|p| p.t.is_finite() && p.v.is_finite())
        };
        let t0 = pts().map(|p| p.t).fold(f64::INFINITY, f64::min);
        let t1 = pts().map(|p| p.t).fold(f64::NEG_INFINITY, f64::max);
        let mut v0 = pts().map(|p| p.v).fold(0.0, f64::min);
        let mut v1 = pts().map(|p| p.v).fold(f64::NEG_INFINITY, f64::max);
        if let Some(r) = &chart.reference {
            v0 = v0.min(r.value);
            v1 = v1.max(r.value);
        }
        let (t0, t1) = if t0.is_finite() {
            (t0, t1.max(t0 + 1.0))
        } else {
            (0.0, 1.0)
        };
        if !v1.is_finite() || v1 <= v0 {
            v1 = v0 + 1.0;
        }
        let t_step = nice_time_step(t1 - t0, 6.0);
        let v_step = nice_step(v1 - v0, 4.0);
        Frame {
            t0: (t0 / t_step).floor() * t_step,
            t1: (t1 / t_step).ceil() * t_step,
            t_step,
            v0: (v0 / v_step).floor() * v_step,
            v1: (v1 / v_step).ceil() * v_step,
            v_step,
        }
    }
    /// Every tick from `from` to `to` by `step`, both ends included.
    fn ticks(from: f64, to: f64, step: f64) -> Vec<f64> {
        let n = ((to - from) / step).round().clamp(1.0, 24.0) as u32;
        (0..=n).map(|i| from + step * f64::from(i)).collect()
    }
    fn x(&self, t: f64) -> f64 {
        LEFT + (t - self.t0) / (self.t1 - self.t0) * (W - LEFT - RIGHT)
    }
    fn y(&self, v: f64) -> f64 {
        H - BOTTOM - (v - self.v0) / (self.v1 - self.v0) * (H - TOP - BOTTOM)
    }
}

fn polyline(frame: &Frame, line: &Line) -> String {
    line.points
        .iter()
        .filter(|p| p.t.is_finite() && p.v.is_finite())
        .map(|p| format!("{:.1},{:.1}", frame.x(p.t), frame.y(p.v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The values of every line at the point nearest `t`.
fn readout(chart: &Chart, t: f64) -> String {
    let mut parts = Vec::new();
    let mut at = t;
    for l in &chart.lines {
        if let Some(p) = l
            .points
            .iter()
            .min_by(|a, b| (a.t - t).abs().total_cmp(&(b.t - t).abs()))
        {
            at = p.t;
            parts.push(format!("{}: {} {}", l.name, fmt_value(p.v), chart.unit));
        }
    }
    format!("at {} — {}", fmt_time(at), parts.join(", "))
}

/// One chart with its legend and a table of its data.
#[component]
pub fn LineChart(chart: Chart) -> impl IntoView {
    let frame = Frame::of(&chart);
    let v_step = frame.v_step;
    let v_ticks = Frame::ticks(frame.v0, frame.v1, v_step);
    let t_ticks = Frame::ticks(frame.t0, frame.t1, frame.t_step);
    let title_id = format!("chart-{}", chart.id);
    let desc_id = format!("chart-{}-desc", chart.id);
    let summary = chart
        .lines
        .iter()
        .map(|l| {
            let max = l
                .points
                .iter()
                .map(|p| p.v)
                .fold(f64::NEG_INFINITY, f64::max);
            format!("{} peaks at {} {}", l.name, fmt_value(max), chart.unit)
        })
        .collect::<Vec<_>>()
        .join("; ");
    let hover = RwSignal::new(None::<String>);
    let hover_x = RwSignal::new(None::<f64>);
    let for_hover = chart.clone();
    let on_move = move |ev: leptos::ev::MouseEvent| {
        // The SVG scales with the page: map the pointer back to chart units.
        let Some(target) = ev
            .current_target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
        else {
            return;
        };
        let rect = target.get_bounding_client_rect();
        if rect.width() <= 0.0 {
            return;
        }
        let x = (f64::from(ev.client_x()) - rect.left()) / rect.width() * W;
        let f = Frame::of(&for_hover);
        let t = f.t0 + (x - LEFT) / (W - LEFT - RIGHT) * (f.t1 - f.t0);
        if t < f.t0 || t > f.t1 {
            hover.set(None);
            hover_x.set(None);
            return;
        }
        hover.set(Some(readout(&for_hover, t)));
        hover_x.set(Some(x));
    };
    let table_rows: Vec<(f64, Vec<String>)> = {
        let times: Vec<f64> = chart
            .lines
            .first()
            .map(|l| l.points.iter().map(|p| p.t).collect())
            .unwrap_or_default();
        // At most about 30 rows: the table summarises, the chart shows all.
        let every = (times.len() / 30).max(1);
        times
            .iter()
            .step_by(every)
            .map(|t| {
                let vals = chart
                    .lines
                    .iter()
                    .map(|l| {
                        l.points
                            .iter()
                            .find(|p| p.t == *t)
                            .map_or_else(|| "–".into(), |p| fmt_value(p.v))
                    })
                    .collect();
                (*t, vals)
            })
            .collect()
    };
    view! {
        <figure class="chart">
            <figcaption id=title_id.clone()>{chart.title.clone()}{(!chart.unit.is_empty()).then(|| format!(" ({})", chart.unit))}</figcaption>
            // The lines are SVG, which scales with the page; the text is HTML
            // laid over it, so it keeps its size on a phone.
            <div class="plot">
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-labelledby=title_id.clone() aria-describedby=desc_id.clone()
                on:mousemove=on_move on:mouseleave=move |_| { hover.set(None); hover_x.set(None); }>
                <title>{chart.title.clone()}</title>
                <desc id=desc_id.clone()>{summary}</desc>
                {v_ticks.iter().map(|v| {
                    let y = frame.y(*v);
                    view! { <line class="grid" x1=LEFT x2=W - RIGHT y1=y y2=y /> }
                }).collect_view()}
                <line class="axis" x1=LEFT x2=LEFT y1=TOP y2=H - BOTTOM />
                <line class="axis" x1=LEFT x2=W - RIGHT y1=H - BOTTOM y2=H - BOTTOM />
                {chart.reference.as_ref().map(|r| {
                    let y = frame.y(r.value);
                    view! { <line class="reference" x1=LEFT x2=W - RIGHT y1=y y2=y /> }
                })}
                {chart.marks.iter().map(|m| {
                    let x = frame.x(m.t);
                    view! { <line class="mark" x1=x x2=x y1=TOP y2=H - BOTTOM /> }
                }).collect_view()}
                {chart.lines.iter().enumerate().map(|(i, l)| view! {
                    <polyline class=format!("series s{}", i % 6) points=polyline(&frame, l) fill="none" />
                }).collect_view()}
                {move || hover_x.get().map(|x| view! { <line class="cursor" x1=x x2=x y1=TOP y2=H - BOTTOM /> })}
            </svg>
            // The axis labels, spread evenly by the style sheet (the page's
            // policy allows no inline styles): they stay at the page's text size
            // however narrow the chart.
            <div class="y-ticks" aria-hidden="true">
                {v_ticks.iter().map(|v| view! { <span>{fmt_tick(*v, v_step, &chart.unit)}</span> }).collect_view()}
            </div>
            <div class="x-ticks" aria-hidden="true">
                {t_ticks.iter().map(|t| view! { <span>{fmt_time(*t)}</span> }).collect_view()}
            </div>
            </div>
            <p class="chart-legend">
                {chart.lines.iter().enumerate().map(|(i, l)| view! {
                    <span class=format!("key s{}", i % 6)>{l.name.clone()}</span>
                }).collect_view()}
                {chart.reference.clone().map(|r| view! {
                    <span class="key reference">{format!("{} {} {}", r.label, fmt_value(r.value), chart.unit)}</span>
                })}
                {chart.marks.iter().map(|m| view! {
                    <span class="key mark">{format!("{} at {}", m.label, fmt_time(m.t))}</span>
                }).collect_view()}
            </p>
            <p class="chart-readout" aria-live="polite">{move || hover.get()}</p>
            <details class="chart-data">
                <summary>"Data table"</summary>
                <table>
                    <thead><tr><th scope="col">"Time"</th>{chart.lines.iter().map(|l| view! { <th scope="col">{l.name.clone()}</th> }).collect_view()}</tr></thead>
                    <tbody>
                        {table_rows.into_iter().map(|(t, vals)| view! {
                            <tr><td>{fmt_time(t)}</td>{vals.into_iter().map(|v| view! { <td>{v}</td> }).collect_view()}</tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </details>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labs::{Point, Reference};

    #[test]
    fn frame_includes_zero_and_the_reference() {
        let chart = Chart {
            id: "a".into(),
            title: "p95".into(),
            unit: "ms".into(),
            lines: vec![Line {
                name: "p95".into(),
                points: vec![Point { t: 0.0, v: 40.0 }, Point { t: 10.0, v: 90.0 }],
            }],
            reference: Some(Reference {
                label: "objective".into(),
                value: 200.0,
            }),
            marks: vec![],
        };
        let f = Frame::of(&chart);
        assert_eq!(f.v0, 0.0);
        assert!(f.v1 >= 200.0);
        assert_eq!(f.x(0.0), LEFT);
        assert_eq!(f.x(10.0), W - RIGHT);
        assert!(f.y(200.0) >= TOP);
        assert_eq!(readout(&chart, 9.0), "at 10s — p95: 90 ms");
    }

    #[test]
    fn values_and_times_read_well() {
        assert_eq!(fmt_value(0.5), "0.5000");
        assert_eq!(fmt_value(12.345), "12.35");
        assert_eq!(fmt_value(25_000.0), "25.0k");
        assert_eq!(fmt_time(90.0), "1m30s");
        assert_eq!(fmt_time(120.0), "2m");
        assert_eq!(nice_step(100.0, 4.0), 20.0);
        assert_eq!(fmt_tick(0.5, 0.25, "s"), "0.50 s");
        assert_eq!(fmt_tick(0.5, 0.5, ""), "0.5");
        assert_eq!(fmt_tick(200.0, 50.0, "ms"), "200 ms");
        assert_eq!(fmt_tick(-0.0, 1.0, "req/s"), "0 req/s");
        assert_eq!(fmt_tick(3.0, 1.0, "requests per second"), "3");
    }

    #[test]
    fn time_ticks_never_repeat() {
        for span in [0.4, 3.0, 7.0, 45.0, 100.0, 600.0, 5400.0, 30.0 * 86400.0] {
            let step = nice_time_step(span, 6.0);
            assert!(step >= 1.0 && span / step <= 6.0, "{span}: {step}");
            let labels: Vec<String> = (0..=6).map(|i| fmt_time(step * f64::from(i))).collect();
            let mut unique = labels.clone();
            unique.dedup();
            assert_eq!(unique, labels, "{span}");
        }
    }
}

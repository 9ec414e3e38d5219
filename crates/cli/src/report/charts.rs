//! The charts over the axis of days: the grid of runs (a column per logical
//! day, a row per top-level state, as Airflow's grid), the rows loaded and
//! the rejects by reason. SVG drawn by templates; the places come from
//! `geometry.rs`, the tooltips are `<title>` text.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};
use maud::{html, Markup};

use super::data::{Day, ReportData, StateRun};
use super::format::{duration, shorten, thousands, Tone};
use super::geometry::{nice_ticks, num, value_ticks, week_of, Axis, LEFT, SVG_WIDTH};

/// The height of a row of the grid, the gap between rows, and the height of
/// a marker (backfill, redrive).
const ROW: f64 = 14.0;
const GAP: f64 = 3.0;
const MARK: f64 = 9.0;

/// Colours of reject reasons, by their rank in name order.
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
];

/// An SVG of the page's width.
fn view_box(height: f64) -> String {
    format!("0 0 {} {}", num(SVG_WIDTH), num(height))
}

/// The drawn days whose latest execution did not succeed, with their column.
fn not_succeeded<'a>(
    data: &'a ReportData,
    axis: &'a Axis,
) -> impl Iterator<Item = (usize, &'a Day)> {
    data.days
        .iter()
        .filter(|d| Tone::of_execution(&d.status) != Tone::Ok)
        .filter_map(|d| Some((axis.index(d.date)?, d)))
}

/// The labels of the axis of days at `y`, and the lines between months
/// from `from` to `to`.
fn axis_labels(axis: &Axis, y: f64, from: f64, to: f64) -> Markup {
    html! {
        @for label in axis.labels() {
            text.axis.dim[label.day] x=(num(label.x)) y=(num(y)) { (label.text) }
        }
        @for x in axis.month_lines() {
            line.month x1=(num(x)) x2=(num(x)) y1=(num(from)) y2=(num(to)) {}
        }
    }
}

/// The y axis of a chart: gridlines and tick labels from 0 to `top`.
fn value_axis(axis: &Axis, y0: f64, height: f64, step: f64, top: f64) -> Markup {
    html! {
        @for (v, y) in value_ticks(y0, height, step, top) {
            line class=(if v == 0.0 { "base" } else { "gridline" })
                x1=(num(LEFT - 4.0)) x2=(num(LEFT + axis.width())) y1=(num(y)) y2=(num(y)) {}
            text.tick x=(num(LEFT - 8.0)) y=(num(y + 3.5)) { (thousands(v.round() as i64)) }
        }
    }
}

/// Airflow's grid: a column per logical day, a row per top-level state,
/// each cell the state's run in the day's latest execution.
pub fn grid(data: &ReportData, axis: &Axis) -> Markup {
    let top = 30.0;
    let by_day: BTreeMap<NaiveDate, &Day> = data.days.iter().map(|d| (d.date, d)).collect();
    let cw = axis.cell();
    // Rows: the execution, two marker rows, a gap, then the states.
    let exec_y = top;
    let backfill_y = exec_y + ROW + GAP;
    let redrive_y = backfill_y + MARK + GAP + 1.0;
    let states_y = redrive_y + MARK + GAP + 8.0;
    let height = states_y + data.steps.len() as f64 * (ROW + GAP) + 4.0;
    let backfill = |d: &Day| {
        d.parent_execution_id
            .as_ref()
            .map(|p| format!("started by backfill {p}"))
    };
    let redrive = |d: &Day| {
        (d.redrive_count > 0).then(|| {
            format!(
                "redriven {}× (resumed from its failed state)",
                d.redrive_count
            )
        })
    };
    html! {
        section.card #grid {
            div.head {
                h2 { "Runs by logical day" }
                p {
                    "The latest execution of each day: one column per day, one row per top-level \
                     state of the daily state machine. Hover a cell for its date, state, attempts, \
                     duration and error."
                }
            }
            svg.chart width=(num(SVG_WIDTH)) height=(num(height)) viewBox=(view_box(height))
                role="img" aria-label="Runs by logical day" {
                (axis_labels(axis, 11.0, 16.0, height - 2.0))
                // A mark above each day whose latest execution did not
                // succeed, so that a thin failed column is seen at once.
                @for (i, day) in not_succeeded(data, axis) {
                    @let cx = axis.x(i) + cw / 2.0;
                    path class=(Tone::of_execution(&day.status).class()) d=(triangle(cx, top)) {
                        title { (day_mark_tip(day)) }
                    }
                }
                text.label.strong x=(num(LEFT - 8.0)) y=(num(exec_y + ROW - 3.5)) { "execution" }
                g {
                    @for (i, d) in axis.dates().enumerate() {
                        @match by_day.get(&d) {
                            Some(day) => rect class=(Tone::of_execution(&day.status).class())
                                x=(num(axis.x(i))) y=(num(exec_y)) width=(num(cw)) height=(num(ROW)) {
                                title { (execution_tip(d, day)) }
                            },
                            None => rect.nr x=(num(axis.x(i))) y=(num(exec_y)) width=(num(cw)) height=(num(ROW)) {
                                title { (d) " · no execution" }
                            },
                        }
                    }
                }
                (marker_row(axis, &by_day, "started by backfill", backfill_y, "bf", backfill))
                (marker_row(axis, &by_day, "redriven", redrive_y, "rd", redrive))
                @for (row, step) in data.steps.iter().enumerate() {
                    @let y = states_y + row as f64 * (ROW + GAP);
                    text.label x=(num(LEFT - 8.0)) y=(num(y + ROW - 3.5)) { (step) }
                    g {
                        title { (step) ": not run" }
                        @for (i, d) in axis.dates().enumerate() {
                            @let run = by_day.get(&d).and_then(|day| {
                                Some((*day, day.states.iter().find(|r| r.name == *step)?))
                            });
                            @match run {
                                Some((day, r)) => rect class=(Tone::of_state(r).class())
                                    x=(num(axis.x(i))) y=(num(y)) width=(num(cw)) height=(num(ROW)) {
                                    title { (state_tip(d, step, day, r)) }
                                },
                                None => rect.nr x=(num(axis.x(i))) y=(num(y)) width=(num(cw)) height=(num(ROW)) {},
                            }
                        }
                    }
                }
            }
            div.legend {
                @for tone in Tone::ALL {
                    span.key { i class=(tone.class()) {} (tone.words()) }
                }
                span.key { i.bf {} "started by a backfill" }
                span.key { i.rd {} "redriven" }
            }
        }
    }
}

/// A triangle over a column centred on `cx`, its tip just above `top`.
fn triangle(cx: f64, top: f64) -> String {
    let (y, tip) = (num(top - 10.0), num(top - 3.0));
    format!(
        "M{} {y}L{} {y}L{} {tip}Z",
        num(cx - 4.0),
        num(cx + 4.0),
        num(cx)
    )
}

/// A row of markers: a day's mark when `pick` has something to say of it.
fn marker_row(
    axis: &Axis,
    by_day: &BTreeMap<NaiveDate, &Day>,
    label: &str,
    y: f64,
    class: &str,
    pick: impl Fn(&Day) -> Option<String>,
) -> Markup {
    html! {
        text.label.dim.small x=(num(LEFT - 8.0)) y=(num(y + MARK - 1.0)) { (label) }
        rect.track x=(num(LEFT)) y=(num(y + MARK / 2.0 - 0.5)) width=(num(axis.width())) height="1" {}
        @for (i, d) in axis.dates().enumerate() {
            @if let Some((day, what)) = by_day.get(&d).and_then(|day| Some((day, pick(day)?))) {
                rect class=(class) x=(num(axis.x(i))) y=(num(y)) width=(num(axis.cell().max(2.0))) height=(num(MARK)) {
                    title { (d) " · " (day.execution_id) " · " (what) }
                }
            }
        }
    }
}

/// The tooltip of the mark over a day that did not succeed.
fn day_mark_tip(day: &Day) -> String {
    let mut tip = format!(
        "{} · execution {} {}",
        day.date, day.execution_id, day.status
    );
    if let Some(st) = &day.failed_state {
        tip += &format!(" in {st}: {}", day.error.as_deref().unwrap_or(""));
    }
    tip
}

/// The tooltip of a day's execution.
fn execution_tip(d: NaiveDate, day: &Day) -> String {
    let mut tip = format!("{d} · execution {}\n{}", day.execution_id, day.status);
    if let Some(st) = &day.failed_state {
        tip += &format!(" in {st}: {}", day.error.as_deref().unwrap_or(""));
    }
    if let (Some(a), Some(b)) = (day.started_at, day.finished_at) {
        tip += &format!(" · {}", duration((b - a).num_milliseconds() as f64));
    }
    tip += &format!(
        "\n{} execution{} of this day",
        day.executions,
        if day.executions == 1 { "" } else { "s" }
    );
    if let Some(p) = &day.parent_execution_id {
        tip += &format!(" · started by backfill {p}");
    }
    if day.redrive_count > 0 {
        tip += &format!(" · redriven {}×", day.redrive_count);
    }
    tip
}

/// The tooltip of a state's run on a day.
fn state_tip(d: NaiveDate, step: &str, day: &Day, r: &StateRun) -> String {
    let tone = Tone::of_state(r);
    let mut tip = format!(
        "{d} · {step}\n{} ({}) · {} attempt{} · {}",
        r.status,
        tone.words(),
        r.attempts,
        if r.attempts == 1 { "" } else { "s" },
        duration(r.duration_ms as f64)
    );
    if let Some(e) = &r.error {
        tip += &format!("\n{e}");
        if let Some(c) = &r.cause {
            tip += &format!(": {}", shorten(c, 300));
        }
    }
    tip += &format!("\nexecution {}", day.execution_id);
    if r.redrive_count > 0 {
        tip += &format!(" · run by redrive {}", r.redrive_count);
    }
    tip
}

/// Fact rows by delivery day, and the days whose latest execution failed.
pub fn rows(data: &ReportData, axis: &Axis) -> Markup {
    let (y0, height) = (12.0, 150.0);
    let svg_h = y0 + height + 34.0;
    let shown: Vec<(usize, NaiveDate, i64)> = data
        .rows_per_day
        .iter()
        .copied()
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .filter_map(|(d, n)| Some((axis.index(d)?, d, n)))
        .collect();
    let max = shown.iter().map(|r| r.2).max().unwrap_or(0);
    let total: i64 = shown.iter().map(|r| r.2).sum();
    let (step, top) = nice_ticks(max as f64);
    let per_day = if shown.is_empty() {
        0
    } else {
        total / shown.len() as i64
    };
    let cw = axis.cell();
    html! {
        section.card #rows {
            div.head {
                h2 { "Rows loaded per day" }
                p {
                    code { "fact_bloodtest" } " rows by delivery day: " (thousands(total)) " in "
                    (thousands(shown.len() as i64)) " days, " (thousands(per_day)) " a day on average."
                }
            }
            svg.chart width=(num(SVG_WIDTH)) height=(num(svg_h)) viewBox=(view_box(svg_h))
                role="img" aria-label="Rows loaded per day" {
                (value_axis(axis, y0, height, step, top))
                @for (i, d, n) in &shown {
                    @let h = *n as f64 / top * height;
                    rect.bar x=(num(axis.x(*i))) y=(num(y0 + height - h)) width=(num(cw)) height=(num(h.max(0.5))) {
                        title { (d) ": " (thousands(*n)) " rows loaded" }
                    }
                }
                @for (i, day) in not_succeeded(data, axis) {
                    rect.fa x=(num(axis.x(i))) y=(num(y0 + height + 2.0)) width=(num(cw.max(2.0))) height="5" {
                        title { (day.date) ": latest execution " (day.execution_id) " " (day.status) }
                    }
                }
                (axis_labels(axis, y0 + height + 22.0, y0, y0 + height))
            }
            div.legend {
                span.key { i.bar {} "rows loaded" }
                span.key { i.fa {} "day whose latest execution failed" }
            }
        }
    }
}

/// Rejects by delivery day (by week when the days are many), stacked by
/// reason.
pub fn rejects(data: &ReportData, axis: &Axis) -> Markup {
    let (y0, height) = (12.0, 130.0);
    let svg_h = y0 + height + 34.0;
    let reasons: Vec<&str> = data
        .rejects_per_day
        .iter()
        .map(|r| r.1.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let colour = |reason: &str| {
        let i = reasons.iter().position(|r| *r == reason).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    // Weeks (Monday to Sunday) when days are many, else days.
    let weekly = axis.days > 60;
    let mut buckets: BTreeMap<NaiveDate, BTreeMap<&str, i64>> = BTreeMap::new();
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for (d, reason, n) in &data.rejects_per_day {
        *totals.entry(reason.as_str()).or_default() += n;
        if axis.index(*d).is_some() {
            let bucket = if weekly { week_of(*d) } else { *d };
            *buckets
                .entry(bucket)
                .or_default()
                .entry(reason.as_str())
                .or_default() += n;
        }
    }
    let max = buckets
        .values()
        .map(|b| b.values().sum::<i64>())
        .max()
        .unwrap_or(0);
    let (step, top) = nice_ticks(max as f64);
    // Each bucket's bar, its reasons stacked in name order.
    let mut bars = vec![];
    for (start, by_reason) in &buckets {
        let end = if weekly {
            *start + Duration::days(6)
        } else {
            *start
        };
        let Some((x, w)) = axis.bar(*start, end, weekly) else {
            continue;
        };
        let span = if weekly {
            format!("week of {start}")
        } else {
            start.to_string()
        };
        let mut y = y0 + height;
        for reason in &reasons {
            let Some(n) = by_reason.get(reason) else {
                continue;
            };
            let h = *n as f64 / top * height;
            y -= h;
            bars.push((x, y, w, h, span.clone(), *reason, *n));
        }
    }
    html! {
        section.card #rejects {
            div.head {
                h2 { "Rejects by reason" }
                p {
                    "Blood tests that broke a rule of the contract, "
                    (if weekly { "per week (Monday to Sunday)" } else { "per day" })
                    " by delivery day."
                }
            }
            svg.chart width=(num(SVG_WIDTH)) height=(num(svg_h)) viewBox=(view_box(svg_h))
                role="img" aria-label="Rejects by reason" {
                (value_axis(axis, y0, height, step, top))
                @for (x, y, w, h, span, reason, n) in &bars {
                    rect fill=(colour(reason)) x=(num(*x)) y=(num(*y)) width=(num(*w)) height=(num(*h)) {
                        title { (span) ": " (reason) " " (thousands(*n)) }
                    }
                }
                (axis_labels(axis, y0 + height + 22.0, y0, y0 + height))
            }
            div.legend {
                @if reasons.is_empty() {
                    span.key { "No rejects." }
                }
                @for reason in &reasons {
                    span.key {
                        i style={ "background:" (colour(reason)) } {}
                        (reason) " " b { (thousands(totals.get(reason).copied().unwrap_or(0))) }
                    }
                }
            }
        }
    }
}

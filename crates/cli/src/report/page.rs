//! The page: its head with the inline style sheet, the header with the
//! headline tiles, then the charts and tables of `charts.rs` and
//! `tables.rs`. Every value goes through the templates' escaping; the
//! style sheet, a file of this crate, is the one text put in as it is.

use std::collections::BTreeSet;

use maud::{html, Markup, PreEscaped, Render, DOCTYPE};

use super::charts;
use super::data::{Execution, ReportData};
use super::format::{pill, thousands, when, Tone};
use super::geometry::Axis;
use super::tables;

/// The page's style sheet.
const CSS: &str = include_str!("style.css");

/// The whole page.
pub fn render(data: &ReportData) -> String {
    let axis = Axis::over(
        data.days
            .iter()
            .map(|d| d.date)
            .chain(data.rows_per_day.iter().map(|r| r.0))
            .chain(data.rejects_per_day.iter().map(|r| r.0)),
    );
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "OVŌM run report · " (data.warehouse) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    (header(data, axis.as_ref()))
                    @match &axis {
                        Some(axis) => {
                            (charts::grid(data, axis))
                            (charts::rows(data, axis))
                            (charts::rejects(data, axis))
                        }
                        None => section.card {
                            h2 { "Runs" }
                            p.empty { "No execution is recorded yet: run " code { "ovom run" } "." }
                        }
                    }
                    (tables::failures(data))
                    div.cols {
                        (tables::quality(data))
                        (tables::step_durations(data))
                    }
                    (tables::slowest(data))
                    footer {
                        "Made by " code { "ovom report" } " from the queries in "
                        code { "crates/local/sql/reports/report_*.sql" } ". Times are UTC."
                    }
                }
            }
        }
    };
    let mut html = page.into_string();
    html.push('\n');
    html
}

/// The title, what the page covers, and the headline tiles.
fn header(data: &ReportData, axis: Option<&Axis>) -> Markup {
    let loaded = data.days.iter().filter(|d| d.status == "SUCCEEDED").count();
    let failing = data
        .days
        .iter()
        .filter(|d| Tone::of_execution(&d.status) == Tone::Failed)
        .count();
    let reasons: BTreeSet<&str> = data.rejects_per_day.iter().map(|r| r.1.as_str()).collect();
    html! {
        header {
            div.title {
                h1 { "OVŌM warehouse " span { "run report" } }
                p.meta {
                    "warehouse " code { (data.warehouse) }
                    @if let (Some(first), Some(last)) = (data.days.first(), data.days.last()) {
                        " · logical days " (first.date) " – " (last.date)
                    }
                    @if let Some(t) = data.generated_at {
                        " · generated " (when(Some(t))) " UTC"
                    }
                    @if let Some(a) = axis.filter(|a| a.hidden > 0) {
                        " · the charts show the last " (a.days) " days"
                    }
                }
            }
            div.tiles {
                (tile("days-loaded", "Days loaded", thousands(loaded as i64), html! {
                    "of " (thousands(data.days.len() as i64)) " days run"
                    @if failing > 0 {
                        " · " b.bad { (failing) " failing" }
                    }
                }))
                (tile("fact-rows", "Rows in fact", thousands(data.totals.fact_rows), "fact_bloodtest"))
                (tile("rejects", "Rejects", thousands(data.totals.rejects), html! {
                    (reasons.len()) " rule" @if reasons.len() != 1 { "s" }
                }))
                (tile("duplicates", "Duplicates", thousands(data.totals.duplicates), "repeated test_id"))
                (tile("quarantined", "Quarantined", thousands(data.totals.quarantined), "malformed lines"))
                (tile("pending", "Pending", thousands(data.totals.pending), "waiting for their patient"))
                (last_execution(data.last_execution.as_ref()))
            }
        }
    }
}

fn tile(id: &str, label: &str, value: impl Render, sub: impl Render) -> Markup {
    html! {
        div.tile id=(id) {
            div.label { (label) }
            div.value { (value) }
            div.sub { (sub) }
        }
    }
}

fn last_execution(e: Option<&Execution>) -> Markup {
    let Some(e) = e else {
        return tile("last-execution", "Last execution", "–", "none yet");
    };
    let sub = html! {
        code { (e.execution_id) }
        br;
        (when(e.finished_at.or(e.started_at))) " UTC"
        @if let Some(st) = &e.failed_state {
            br;
            "in " (st) ": " (e.error.as_deref().unwrap_or(""))
        }
        @if e.redrive_count > 0 {
            " · redriven " (e.redrive_count) "×"
        }
    };
    tile("last-execution", "Last execution", pill(&e.status), sub)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::report::data::tests::run;
    use crate::report::data::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn sample() -> ReportData {
        let hostile = "<script>alert('x')</script> & \"quoted\"";
        ReportData {
            warehouse: "ovom.duckdb".into(),
            generated_at: d("2026-01-01").and_hms_opt(9, 30, 0),
            steps: vec!["StagePatients".into(), "LoadFact".into(), "Failed".into()],
            totals: Totals {
                fact_rows: 68512,
                rejects: 9,
                duplicates: 3,
                quarantined: 1,
                pending: 2,
            },
            last_execution: Some(Execution {
                execution_id: "pipeline-20250302-1".into(),
                state_machine: "pipeline".into(),
                logical_date: Some(d("2025-03-02")),
                status: "FAILED".into(),
                failed_state: Some("LoadFact".into()),
                error: Some("WarehouseError".into()),
                ..Execution::default()
            }),
            days: vec![
                Day {
                    date: d("2025-03-01"),
                    execution_id: "pipeline-20250301-1".into(),
                    status: "SUCCEEDED".into(),
                    executions: 1,
                    parent_execution_id: Some("backfill-1".into()),
                    states: vec![run("StagePatients", "SUCCEEDED", 0, 1)],
                    ..Day::default()
                },
                Day {
                    date: d("2025-03-02"),
                    execution_id: "pipeline-20250302-1".into(),
                    status: "FAILED".into(),
                    executions: 1,
                    redrive_count: 1,
                    states: vec![StateRun {
                        error: Some("WarehouseError".into()),
                        cause: Some(hostile.into()),
                        ..run("LoadFact", "CAUGHT", 1, 2)
                    }],
                    ..Day::default()
                },
            ],
            rows_per_day: vec![(d("2025-03-01"), 187)],
            rejects_per_day: vec![
                (d("2025-03-01"), "unknown_patient".into(), 7),
                (d("2025-03-02"), "out_of_domain".into(), 2),
            ],
            quality: Quality {
                passed: Some(CheckRun {
                    logical_date: Some(d("2025-03-01")),
                    execution_id: "pipeline-20250301-1".into(),
                    status: "SUCCEEDED".into(),
                    checks: vec![CheckResult {
                        check: ovom_core::params::Check::FactRulesHold,
                        got: 0,
                        comparison: ovom_core::sql::Comparison::Eq,
                        expected: 0,
                        passed: true,
                    }],
                    ..CheckRun::default()
                }),
                failed: None,
            },
            slowest: vec![],
            step_durations: vec![],
            failures: vec![Failure {
                execution_id: "pipeline-20250302-1".into(),
                state_machine: "pipeline".into(),
                logical_date: Some(d("2025-03-02")),
                failed_state: Some("LoadFact".into()),
                error: Some("WarehouseError".into()),
                cause: Some(hostile.into()),
                day_status_now: Some("FAILED".into()),
                ..Failure::default()
            }],
        }
    }

    /// Every tag of a page, style sheet aside: each is a known element
    /// with double-quoted attributes that hold no `"`, `<` or `>`, so no
    /// value has opened a tag or left an attribute.
    fn tags(html: &str) -> Vec<&str> {
        let (head, rest) = html.split_once("<style>").unwrap();
        let body = &rest[rest.find("</style>").unwrap()..];
        let mut names = vec![];
        for chunk in [head, body] {
            for (i, _) in chunk.match_indices('<') {
                let end = i + chunk[i..].find('>').unwrap();
                let tag = &chunk[i + 1..end];
                if tag == "!DOCTYPE html" {
                    continue;
                }
                let tag = tag.strip_prefix('/').unwrap_or(tag);
                let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
                while !attrs.is_empty() {
                    let (key, value) = attrs.split_once("=\"").unwrap_or_else(|| panic!("<{tag}>"));
                    assert!(
                        key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                        "<{tag}>"
                    );
                    let close = value.find('"').unwrap_or_else(|| panic!("<{tag}>"));
                    attrs = value[close + 1..].trim_start();
                }
                names.push(name);
            }
        }
        names
    }

    #[test]
    fn the_page_escapes_every_value_and_references_nothing_outside() {
        let html = render(&sample());
        assert!(!html.contains("<script"), "an unescaped value");
        assert!(html.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; &quot;quoted&quot;"));
        for external in ["src=", "href=", "@import", "url(", "http://", "https://"] {
            assert!(!html.contains(external), "{external}");
        }
        for needle in [
            "68,512",
            "unknown_patient <b>7</b>",
            "<code>LoadFact</code>",
            "<code class=\"err\">WarehouseError</code>",
            "started by backfill backfill-1",
            "redriven 1×",
            "run by redrive 1",
        ] {
            assert!(html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn markup_in_a_value_stays_text_wherever_it_is_shown() {
        const EVIL: &str = "<script>alert(1)</script>\"&'<>";
        const SHOWN: &str = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;'&lt;&gt;";
        let evil = || EVIL.to_owned();
        let mut data = sample();
        data.warehouse = evil();
        data.steps.push(evil());
        data.rejects_per_day.push((d("2025-03-02"), evil(), 1));
        let day = &mut data.days[1];
        day.execution_id = evil();
        day.failed_state = Some(evil());
        day.error = Some(evil());
        day.parent_execution_id = Some(evil());
        day.states.push(StateRun {
            error: Some(evil()),
            cause: Some(evil()),
            ..run(EVIL, "FAILED", 1, 3)
        });
        data.last_execution = Some(Execution {
            execution_id: evil(),
            status: evil(),
            failed_state: Some(evil()),
            error: Some(evil()),
            ..Execution::default()
        });
        data.failures[0] = Failure {
            execution_id: evil(),
            state_machine: evil(),
            failed_state: Some(evil()),
            error: Some(evil()),
            cause: Some(evil()),
            parent_execution_id: Some(evil()),
            day_status_now: Some(evil()),
            ..data.failures[0].clone()
        };
        data.quality.failed = Some(CheckRun {
            execution_id: evil(),
            status: evil(),
            error: Some(evil()),
            cause: Some(format!(
                "quality check `{EVIL}` failed for 2025-03-02: got 1, expected = 0"
            )),
            ..CheckRun::default()
        });
        // (A check's name is one of the fixed `Check`s: no markup can reach it.)
        data.slowest = vec![SlowRun {
            execution_id: evil(),
            path: evil(),
            state_type: evil(),
            status: evil(),
            ..SlowRun::default()
        }];
        data.step_durations = vec![StepDuration {
            step: evil(),
            state_type: evil(),
            ..StepDuration::default()
        }];
        let html = render(&data);

        assert!(!html.contains(EVIL) && !html.contains("<script"));
        let known = [
            "html", "head", "meta", "title", "style", "body", "main", "header", "div", "h1", "h2",
            "p", "span", "code", "b", "br", "section", "svg", "text", "line", "g", "rect", "path",
            "i", "table", "thead", "tbody", "tr", "th", "td", "pre", "footer",
        ];
        for name in tags(&html) {
            assert!(known.contains(&name), "a <{name}> in the page");
        }
        // The value as text: in the page's title, the header, the tiles,
        // the tables, the grid's tooltips; and in an attribute.
        for place in [
            format!("<title>OVŌM run report · {SHOWN}</title>"),
            format!("warehouse <code>{SHOWN}</code>"),
            format!("<code>{SHOWN}</code><br>– UTC<br>in {SHOWN}: {SHOWN}"),
            format!("<span class=\"pill fa\">{SHOWN}</span>"),
            format!("<div class=\"cause\">{SHOWN}</div>"),
            format!("<span class=\"tag\">{SHOWN}</span>"),
            format!("title=\"started by backfill {SHOWN}\""),
            format!("<code class=\"err\">{SHOWN}</code>"),
            format!("<code>{SHOWN}</code> <span class=\"type\">{SHOWN}</span>"),
            format!("\">{SHOWN}</text><g><title>{SHOWN}: not run</title>"),
            format!(
                "<title>2025-03-02 · {SHOWN}\nFAILED (failed) · 1 attempt · 0 ms\n\
                 {SHOWN}: {SHOWN}\nexecution {SHOWN} · run by redrive 1</title>"
            ),
            format!("<title>2025-03-02 · execution {SHOWN} FAILED in {SHOWN}: {SHOWN}</title>"),
            format!("<title>2025-03-02 · {SHOWN} · started by backfill {SHOWN}</title>"),
            format!("{SHOWN} <b>1</b>"),
        ] {
            assert!(html.contains(&place), "{place}");
        }
    }

    #[test]
    fn an_empty_warehouse_renders_a_page_that_says_so() {
        let html = render(&ReportData {
            warehouse: "ovom.duckdb".into(),
            ..ReportData::default()
        });
        assert!(html.contains("No execution is recorded yet"));
        assert!(html.contains("No execution has failed."));
        assert!(html.contains("No CheckQuality run yet."));
        assert!(html.ends_with("</html>\n"));
        assert_eq!(tags(&html).iter().filter(|t| **t == "svg").count(), 0);
    }
}

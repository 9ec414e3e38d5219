//! `ovom report`: a warehouse with a year of days, a backfill, a redriven
//! day, a day whose fact load failed and a day whose quality check failed,
//! reported to HTML and rendered by a real headless Chromium; the page's
//! figures are read back from the rendered DOM. Chromium is Debian's
//! `chromium`, installed by `tests/browser/setup.sh` when it is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use chrono::Utc;
use ovom::report::thousands;
use ovom_asl::{ManualClock, SystemClock, TaskFailure, TaskHandler};
use ovom_core::params::Days;
use ovom_local::backfill::{backfill, BackfillInput};
use ovom_local::pipeline::{Pipeline, RunOptions};

use crate::pipeline::generated;
use crate::support::*;

/// A cause with markup in it: the page must show it as text.
const HOSTILE_CAUSE: &str =
    "disk full: <b>boom</b> & \"quoted\" <script>alert('x')</script> <img src=x>";

/// Fails the fact load, as a warehouse error that is not retried.
struct FailFact<'a> {
    inner: &'a Pipeline,
}

impl TaskHandler for FailFact<'_> {
    fn invoke(
        &self,
        resource: &str,
        input: &serde_json::Value,
        ctx: &serde_json::Value,
    ) -> Result<serde_json::Value, TaskFailure> {
        if input["model"] == "fact_bloodtest" {
            return Err(TaskFailure::new("WarehouseError", HOSTILE_CAUSE));
        }
        self.inner.tasks().invoke(resource, input, ctx)
    }
}

/// Adds a fact row that breaks a rule after the fact load, so that the
/// quality check `fact_rules_hold` fails (got 1, expected = 0).
struct Tamper<'a> {
    inner: &'a Pipeline,
}

impl TaskHandler for Tamper<'_> {
    fn invoke(
        &self,
        resource: &str,
        input: &serde_json::Value,
        ctx: &serde_json::Value,
    ) -> Result<serde_json::Value, TaskFailure> {
        let out = self.inner.tasks().invoke(resource, input, ctx)?;
        if input["model"] == "fact_bloodtest" {
            let wh = self.inner.warehouse();
            wh.connection()
                .execute_batch("INSERT INTO fact_bloodtest SELECT * REPLACE (test_id || '-x' AS test_id, 999 AS ap_hi) FROM fact_bloodtest WHERE logical_date = (SELECT MAX(logical_date) FROM fact_bloodtest) LIMIT 1")
                .unwrap();
        }
        Ok(out)
    }
}

fn shown(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `tests/browser/setup.sh`, once per test run: the browser's path.
fn chromium() -> &'static Result<PathBuf, String> {
    static SETUP: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SETUP.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("tests/browser/setup.sh"))
            .output()
            .map_err(|e| format!("cannot run tests/browser/setup.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!("tests/browser/setup.sh failed\n{}", shown(&out)));
        }
        let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Ok(PathBuf::from(path))
    })
}

/// The DOM Chromium builds from a local HTML file.
fn rendered_dom(html: &Path) -> String {
    let browser = chromium().as_ref().unwrap_or_else(|e| panic!("{e}"));
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("300")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("running chromium");
    assert!(out.status.success(), "chromium\n{}", shown(&out));
    String::from_utf8(out.stdout).expect("the DOM is UTF-8")
}

/// The text of markup: tags dropped, entities decoded, whitespace collapsed.
fn text_of(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ovom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ovom"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running ovom")
}

#[test]
fn the_report_of_a_year_with_failures_renders_in_chromium_with_its_figures() {
    let data = generated(&ovom_generate::Options {
        seed: 23,
        patients: 150,
        tests: 1500,
        dirty_rate: 0.05,
        malformed_rate: 0.003,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline_file(data.path(), dir.path());
    let days = p.days().unwrap();
    assert!(days.len() > 300, "{}", days.len());
    for d in &days {
        let run = p.run_day(*d, RunOptions::default(), &SystemClock).unwrap();
        assert!(run.result.is_ok(), "{d}");
    }
    let (bf_from, bf_to) = (days[40], days[44]);
    let (fact_day, redrive_day, quality_day) = (days[200], days[250], days[days.len() - 1]);

    // A backfill of five days, run again, and a day failed then redriven,
    // each leaving the days after them as they are (the report's figures
    // are about these executions, not the later days they would run again).
    let leave = RunOptions {
        leave_later_days: true,
        ..RunOptions::default()
    };
    let bf = backfill(
        &p,
        &BackfillInput {
            days_per_execution: Some(1),
            rerun_later_days: false,
            ..BackfillInput::new(Days {
                first: bf_from,
                last: bf_to,
            })
        },
        None,
        &SystemClock,
        p.tasks(),
        |_| Ok(()),
    )
    .unwrap();
    assert!(bf.failed.is_none());
    // A day whose fact load failed, then redriven to success.
    let failed = p
        .run_day_with(redrive_day, leave, &SystemClock, &FailFact { inner: &p })
        .unwrap();
    assert!(failed.result.is_err());
    let redriven = p
        .redrive(&failed.execution_id, &SystemClock, p.tasks())
        .unwrap();
    assert!(redriven.result.is_ok(), "{:?}", redriven.result);
    // A day whose fact load fails and stays failed.
    let fact_run = p
        .run_day_with(
            fact_day,
            RunOptions::default(),
            &SystemClock,
            &FailFact { inner: &p },
        )
        .unwrap();
    assert_eq!(fact_run.failed_state.as_deref(), Some("LoadFact"));
    // The last execution: a quality check fails after its retry (a manual
    // clock an hour ahead skips the retry's delay and makes it the latest).
    let clock = ManualClock::new(Utc::now() + chrono::Duration::hours(1));
    let quality_run = p
        .run_day_with(
            quality_day,
            RunOptions::default(),
            &clock,
            &Tamper { inner: &p },
        )
        .unwrap();
    assert_eq!(quality_run.failed_state.as_deref(), Some("CheckQuality"));

    let fact_rows = scalar(&p, "SELECT COUNT(*) FROM fact_bloodtest");
    let top_reason = rows(
        &p,
        "SELECT reason, COUNT(*) FROM rejects GROUP BY reason ORDER BY 2 DESC, 1 LIMIT 1",
    )
    .remove(0);
    let (reason, reason_count) = (top_reason[0].clone(), top_reason[1].parse::<i64>().unwrap());
    drop(p);

    let warehouse = dir.path().join("ovom.duckdb");
    let before = std::fs::read(&warehouse).unwrap();
    let out = ovom(dir.path(), &["report", "--out", "run-report.html"]);
    assert!(out.status.success(), "{}", shown(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("wrote run-report.html"),
        "{}",
        shown(&out)
    );
    assert_eq!(
        std::fs::read(&warehouse).unwrap(),
        before,
        "the report opens the warehouse read-only"
    );

    // Self-contained: nothing is fetched from anywhere.
    let html_path = dir.path().join("run-report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    for external in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "@import",
        "<script",
        "<link",
        "<img",
        "<iframe",
    ] {
        assert!(!html.contains(external), "the page has `{external}`");
    }
    for (i, _) in html.match_indices("url(") {
        assert!(
            html[i..].starts_with("url(data:"),
            "a url() to something else than data: {}",
            &html[i..(i + 60).min(html.len())]
        );
    }

    let dom = rendered_dom(&html_path);
    assert!(dom.contains("<svg"), "no SVG in the rendered page");
    assert!(
        !dom.contains("<b>boom</b>") && !dom.contains("<script") && !dom.contains("<img"),
        "a cause became markup"
    );
    let text = text_of(&dom);
    let (run_days, failing) = (days.len(), 2);
    for needle in [
        format!(
            "Days loaded {} of {} days run · {failing} failing",
            thousands((run_days - failing) as i64),
            thousands(run_days as i64)
        ),
        format!("Rows in fact {}", thousands(fact_rows)),
        format!("{reason} {}", thousands(reason_count)),
        "Last execution FAILED".to_owned(),
        // The failed executions: state, error, cause as text.
        format!(
            "{fact_day} {} LoadFact WarehouseError {HOSTILE_CAUSE}",
            fact_run.execution_id
        ),
        format!(
            "{quality_day} {} CheckQuality QualityCheckFailed",
            quality_run.execution_id
        ),
        // The grid's tooltips.
        format!("{fact_day} · LoadFact FAILED (failed) · 1 attempt"),
        format!("{quality_day} · CheckQuality FAILED (failed) · 2 attempts"),
        format!("started by backfill {}", bf.execution_id),
        format!("{redrive_day} · {} · redriven 1×", failed.execution_id),
        // The quality checks: the failing one from the latest run, and the
        // last passing run's six.
        "fact_rules_hold 1 = 0 fail".to_owned(),
        "6 of 6 checks passed".to_owned(),
        "test_id_unique 0 = 0 pass".to_owned(),
    ] {
        assert!(
            text.contains(&needle),
            "the rendered page lacks `{needle}`:\n{}",
            &text[..text.len().min(3000)]
        );
    }
    // Every day run has a column: the execution row's tooltips.
    for d in [days[0], days[days.len() / 2], quality_day] {
        assert!(text.contains(&format!("{d} · execution pipeline-")), "{d}");
    }
    for section in [
        "Runs by logical day",
        "Rows loaded per day",
        "Rejects by reason",
        "Recent failed executions",
        "Quality checks",
        "Time per step",
        "Slowest state runs",
    ] {
        assert!(text.contains(section), "{section}");
    }
}

#[test]
fn report_fails_clearly_without_a_warehouse_and_reports_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = ovom(dir.path(), &["report", "--warehouse", "missing.duckdb"]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no warehouse at missing.duckdb: run `ovom run` first"),
        "{err}"
    );
    assert!(!dir.path().join("report.html").exists());

    // A warehouse with its schema and no execution yet.
    let data = Data::new();
    drop(pipeline_file(data.path(), dir.path()));
    let out = ovom(dir.path(), &["report"]);
    assert!(out.status.success(), "{}", shown(&out));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("No execution is recorded yet"));
}

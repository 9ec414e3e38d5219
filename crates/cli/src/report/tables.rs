//! The page's tables: the recent failed executions, the latest quality
//! checks, the time per step and the slowest state runs.

use maud::{html, Markup};

use super::data::{CheckResult, Failure, ReportData};
use super::format::{day_text, duration, pill, shorten, thousands, when};
use super::geometry::num;
use ovom_local::pipeline::STATE_MACHINE;

/// The most recent failed executions: the state that failed, its error and
/// cause, and how the day stands now.
pub fn failures(data: &ReportData) -> Markup {
    html! {
        section.card #failures {
            div.head {
                h2 { "Recent failed executions" }
                p { "The state that failed, its error and cause, and how the day stands now." }
            }
            @if data.failures.is_empty() {
                p.empty { "No execution has failed." }
            } @else {
                table.failures {
                    thead {
                        tr {
                            th { "Started" } th { "Day" } th { "Execution" } th { "Failed state" }
                            th { "Error" } th { "Cause" } th { "Day now" }
                        }
                    }
                    tbody {
                        @for e in &data.failures {
                            tr {
                                td.nowrap { (when(e.started_at)) }
                                td.nowrap { (day_text(e.logical_date)) }
                                td {
                                    code { (e.execution_id) }
                                    @if e.state_machine != STATE_MACHINE {
                                        " " span.tag { (e.state_machine) }
                                    }
                                    @if let Some(p) = &e.parent_execution_id {
                                        " " span.tag.bf title={ "started by backfill " (p) } { "backfill" }
                                    }
                                    @if e.redrive_count > 0 {
                                        " " span.tag.rd { "redriven " (e.redrive_count) "×" }
                                    }
                                }
                                td { code { (e.failed_state.as_deref().unwrap_or("–")) } }
                                td { code.err { (e.error.as_deref().unwrap_or("–")) } }
                                td { div.cause { (shorten(e.cause.as_deref().unwrap_or(""), 1200)) } }
                                td { (day_now(e)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// How the day of a failed execution stands now.
fn day_now(e: &Failure) -> Markup {
    match e.day_status_now.as_deref() {
        Some("SUCCEEDED") if e.logical_date.is_some() => {
            html! { span.pill.ok { "succeeded since" } }
        }
        Some(st) if e.logical_date.is_some() => pill(st),
        _ => html! { "–" },
    }
}

/// A table of checks: what each got against what it expects.
fn check_table(checks: &[CheckResult]) -> Markup {
    html! {
        table {
            thead {
                tr { th { "Check" } th.num { "Got" } th.num { "Expected" } th { "Result" } }
            }
            tbody {
                @for c in checks {
                    tr {
                        td { code { (c.check.name()) } }
                        td.num { (thousands(c.got)) }
                        td.num { (c.comparison.symbol()) " " (thousands(c.expected)) }
                        td {
                            @if c.passed {
                                span.pill.ok { "pass" }
                            } @else {
                                span.pill.fa { "fail" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The latest quality checks: the latest run when it failed (its first
/// failing check, from its cause), and the latest run that passed.
pub fn quality(data: &ReportData) -> Markup {
    let q = &data.quality;
    let none = q.passed.is_none() && q.failed.is_none();
    html! {
        section.card #quality {
            div.head {
                h2 { "Quality checks" }
                @if !none {
                    p {
                        "The latest run of " code { "CheckQuality" }
                        ": what each check got against what it expects."
                    }
                }
            }
            @if none {
                p.empty { "No CheckQuality run yet." }
            }
            @if let Some(run) = &q.failed {
                @let parsed = &run.failed_check;
                div.alert {
                    b { "The latest run failed" } ": " (day_text(run.logical_date)) " · "
                    code { (run.execution_id) } " · " (pill(&run.status)) " "
                    (run.error.as_deref().unwrap_or(""))
                }
                @if let Some(c) = parsed {
                    (check_table(std::slice::from_ref(c)))
                }
                @if let Some(cause) = &run.cause {
                    pre.cause { (shorten(cause, 2000)) }
                }
                @if parsed.is_some() {
                    p.note { "A failed run reports its first failing check; the last passing run is below." }
                }
            }
            @if let Some(run) = &q.passed {
                p.runline {
                    (day_text(run.logical_date)) " · " code { (run.execution_id) } " · "
                    (run.checks.iter().filter(|c| c.passed).count()) " of " (run.checks.len())
                    " checks passed"
                }
                (check_table(&run.checks))
            }
        }
    }
}

/// Each step's runs, median and longest run, with bars to the longest.
pub fn step_durations(data: &ReportData) -> Markup {
    let scale = data
        .step_durations
        .iter()
        .map(|d| d.max_ms)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    html! {
        section.card #steps {
            div.head {
                h2 { "Time per step" }
                p { "Median and longest run of each step over every execution (retry delays included)." }
            }
            @if data.step_durations.is_empty() {
                p.empty { "No state has run yet." }
            } @else {
                table {
                    thead {
                        tr {
                            th { "Step" } th.num { "Runs" } th.num { "Median" } th.num { "Max" }
                            th.barcol {}
                        }
                    }
                    tbody {
                        @for d in &data.step_durations {
                            tr {
                                td { code { (d.step) } " " span.type { (d.state_type) } }
                                td.num { (thousands(d.runs)) }
                                td.num { (duration(d.median_ms)) }
                                td.num { (duration(d.max_ms as f64)) }
                                td.barcol {
                                    div.hbar {
                                        span.max style={ "width:" (num(d.max_ms as f64 / scale * 100.0)) "%" } {}
                                        span.med style={ "width:" (num(d.median_ms / scale * 100.0)) "%" } {}
                                    }
                                }
                            }
                        }
                    }
                }
                div.legend {
                    span.key { i.med {} "median" }
                    span.key { i.max {} "max" }
                }
            }
        }
    }
}

/// The ten longest runs of a state, with bars to the longest.
pub fn slowest(data: &ReportData) -> Markup {
    let scale = data.slowest.first().map_or(1, |r| r.duration_ms).max(1) as f64;
    html! {
        section.card #slowest {
            div.head {
                h2 { "Slowest state runs" }
                p { "The ten longest runs of a state, Parallel branches included." }
            }
            @if data.slowest.is_empty() {
                p.empty { "No state has run yet." }
            } @else {
                table {
                    thead {
                        tr {
                            th.num { "#" } th { "State" } th { "Day" } th { "Execution" } th { "Status" }
                            th.num { "Attempts" } th.num { "Duration" } th.barcol {}
                        }
                    }
                    tbody {
                        @for (i, r) in data.slowest.iter().enumerate() {
                            tr {
                                td.num { (i + 1) }
                                td { code { (r.path) } " " span.type { (r.state_type) } }
                                td { (day_text(r.logical_date)) }
                                td {
                                    code { (r.execution_id) }
                                    @if r.redrive_count > 0 {
                                        " " span.tag.rd { "redrive " (r.redrive_count) }
                                    }
                                }
                                td { (pill(&r.status)) }
                                td.num { (r.attempts) }
                                td.num { (duration(r.duration_ms as f64)) }
                                td.barcol {
                                    div.hbar {
                                        span.med style={ "width:" (num(r.duration_ms as f64 / scale * 100.0)) "%" } {}
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

//! `aws-path`: load a data root through the AWS path, offline.
//!
//! ```text
//! aws-path --data DIR [--date D | --from D1 --to D2 [--range | --backfill [--days-per-execution N]]] [--statements] [--keep PGDIR]
//! ```
//!
//! Starts PostgreSQL, moto's S3 and the Data API test server, uploads the
//! data root, runs the daily state machine over the Lambda functions' code
//! (each day in order, the days as one range execution with `--range`, or
//! as the backfill state machine runs them with `--backfill`: chunks of
//! `--days-per-execution` days, a month by default), and prints the run's
//! summary with what the Data API served (calls, statements, COPYs, time in
//! PostgreSQL): the counts the cost model in the README is made of. With
//! `--statements`, it also lists the statements by kind (their first words),
//! most frequent first. With `--keep`, the PostgreSQL server is left
//! running on its folder, the warehouse's tables under their own names, for
//! `psql`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ovom_awspath::{days_of, input, AwsPath};
use ovom_core::params::{BackfillInput, Days, LogicalDate};

struct Args {
    data: PathBuf,
    from: Option<String>,
    to: Option<String>,
    range: bool,
    backfill: bool,
    days_per_execution: Option<u32>,
    statements: bool,
    keep: Option<PathBuf>,
}

const USAGE: &str = "usage: aws-path --data DIR [--date D | --from D1 --to D2 [--range | --backfill [--days-per-execution N]]] [--statements] [--keep PGDIR]";

fn args() -> Result<Args> {
    let mut a = Args {
        data: PathBuf::new(),
        from: None,
        to: None,
        range: false,
        backfill: false,
        days_per_execution: None,
        statements: false,
        keep: None,
    };
    let mut data = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--data" => data = Some(PathBuf::from(value()?)),
            "--date" => {
                let d = value()?;
                a.from = Some(d.clone());
                a.to = Some(d);
            }
            "--from" => a.from = Some(value()?),
            "--to" => a.to = Some(value()?),
            "--range" => a.range = true,
            "--backfill" => a.backfill = true,
            "--days-per-execution" => {
                let n = value()?;
                a.days_per_execution = Some(
                    n.parse()
                        .with_context(|| format!("--days-per-execution {n:?}: not a number"))?,
                );
            }
            "--statements" => a.statements = true,
            "--keep" => a.keep = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    a.data = data.with_context(|| format!("--data is required\n{USAGE}"))?;
    if a.from.is_some() != a.to.is_some() {
        bail!("--from and --to go together\n{USAGE}");
    }
    if a.range && a.backfill {
        bail!("--range or --backfill, not both\n{USAGE}");
    }
    if a.days_per_execution.is_some() && !a.backfill {
        bail!("--days-per-execution goes with --backfill\n{USAGE}");
    }
    Ok(a)
}

fn main() -> Result<()> {
    let a = args()?;
    let mut days = days_of(&a.data)?;
    if let (Some(from), Some(to)) = (&a.from, &a.to) {
        let (from, to): (LogicalDate, LogicalDate) = (
            from.parse()
                .map_err(|e| anyhow::anyhow!("--from {from:?}: {e}"))?,
            to.parse()
                .map_err(|e| anyhow::anyhow!("--to {to:?}: {e}"))?,
        );
        days = Days::new(from, Some(to))
            .map_err(|e| anyhow::anyhow!("--from/--to: {e}"))?
            .iter()
            .collect();
    }
    let (Some(first), Some(last)) = (days.first().copied(), days.last().copied()) else {
        bail!("{} holds no day folder", a.data.display());
    };
    let path = AwsPath::start(a.keep.as_deref())?;
    let files = path.upload(&a.data)?;
    eprintln!("uploaded {files} files; loading {first} … {last}");
    let mut failed = 0;
    let mut executions = days.len();
    let runs: Vec<(String, serde_json::Value)> = if a.backfill {
        let input = BackfillInput {
            days_per_execution: a.days_per_execution,
            ..BackfillInput::new(Days { first, last })
        };
        match path.backfill("backfill", &input) {
            Ok(range) => executions = range.executions,
            Err(f) => {
                failed += 1;
                executions = input.chunks().map_or(0, |c| c.len());
                eprintln!("the backfill failed: {}: {}", f.error, f.cause);
            }
        }
        vec![]
    } else if a.range {
        executions = 1;
        let (f, l) = (first.to_string(), last.to_string());
        vec![(format!("range-{f}-{l}"), input(&f, Some(&l)))]
    } else {
        days.iter()
            .map(|d| (format!("day-{d}"), input(&d.to_string(), None)))
            .collect()
    };
    for (name, input) in runs {
        if let Err(f) = path.execute(&name, input) {
            failed += 1;
            eprintln!("{name} failed in {}: {}: {}", f.state, f.error, f.cause);
        }
    }
    let stats = path.dataapi.stats()?;
    println!("days {first} … {last}: {executions} executions, {failed} failed");
    for (label, sql) in [
        ("fact_bloodtest", "SELECT COUNT(*) FROM fact_bloodtest"),
        ("rejects", "SELECT COUNT(*) FROM rejects"),
        ("duplicates", "SELECT COUNT(*) FROM duplicates"),
        ("quarantine", "SELECT COUNT(*) FROM quarantine"),
        ("dim_patient", "SELECT COUNT(*) FROM dim_patient"),
        ("dim_doctor", "SELECT COUNT(*) FROM dim_doctor"),
        ("dim_lab", "SELECT COUNT(*) FROM dim_lab"),
        ("dim_date", "SELECT COUNT(*) FROM dim_date"),
    ] {
        println!("  {label:<15} {:>8}", path.query(sql)?[0][0]);
    }
    for row in path.query("SELECT reason, COUNT(*) FROM rejects GROUP BY reason ORDER BY reason")? {
        println!("  rejected {:<22} {:>6}", row[0], row[1]);
    }
    println!(
        "Data API: {} calls ({}), {} statements, {} COPYs, {:.0} ms in PostgreSQL",
        stats["calls"]
            .as_object()
            .map(|c| c.values().filter_map(|v| v.as_u64()).sum::<u64>())
            .unwrap_or(0),
        stats["calls"],
        stats["statements"],
        stats["copies"],
        stats["server_ms"].as_f64().unwrap_or(0.0)
    );
    if a.statements {
        let mut kinds: Vec<(&String, u64)> = stats["kinds"]
            .as_object()
            .map(|k| {
                k.iter()
                    .map(|(s, n)| (s, n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        println!("statements by kind:");
        for (kind, n) in kinds {
            println!("  {n:>7}  {kind}");
        }
    }
    if a.keep.is_some() {
        println!("PostgreSQL is left running: {}", path.pg.psql_command());
        println!(
            "stop it with: pg_ctl -D {}/data stop",
            path.pg.dir().display()
        );
        let AwsPath { pg, .. } = path;
        pg.leave_running();
    }
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

//! The `ovom` command: a thin layer of flags over the `ovom` library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ovom::pipeline::{Pipeline, RunOptions};
use ovom::summary::Summary;
use ovom_asl::SystemClock;
use ovom_core::params::{DimMode, LogicalDate};

#[derive(Parser)]
#[command(
    name = "ovom",
    version,
    about = "The OVŌM Care blood-test warehouse, on one machine"
)]
struct Cli {
    /// Log level for the tasks' structured logs (on stderr): error, warn, info, debug.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the simulated EHR export (the data contract's layout) into a folder.
    Generate {
        /// A folder, or an S3 data root `s3://BUCKET/PREFIX` to upload to.
        #[arg(long)]
        out: String,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = 7000)]
        patients: u32,
        #[arg(long, default_value_t = 70000)]
        tests: u32,
        #[arg(long, default_value_t = 2025)]
        year: i32,
        #[arg(long, default_value_t = 0.01)]
        dirty_rate: f64,
        #[arg(long, default_value_t = 0.0)]
        malformed_rate: f64,
    },
    /// Run the daily state machine for every day in the data (or one day).
    Run {
        /// Run one logical day, YYYY-MM-DD.
        #[arg(long)]
        date: Option<String>,
        /// The data root; the default data set is generated there if it is missing.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The DuckDB warehouse file.
        #[arg(long, default_value = "ovom.duckdb")]
        warehouse: PathBuf,
        /// Fail a day on its first malformed line instead of quarantining it.
        #[arg(long)]
        strict: bool,
        /// How dimensions are loaded.
        #[arg(long, value_enum, default_value_t = Mode::Merge)]
        dim_mode: Mode,
    },
    /// Run a SQL file or statement on the warehouse and print the result.
    Query {
        /// A .sql file (e.g. sql/analysis/cardio_rate_by_city_month.sql) or a SQL statement.
        file_or_sql: String,
        #[arg(long, default_value = "ovom.duckdb")]
        warehouse: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Merge,
    Append,
    TruncateInsert,
}

impl From<Mode> for DimMode {
    fn from(m: Mode) -> DimMode {
        match m {
            Mode::Merge => DimMode::Merge,
            Mode::Append => DimMode::Append,
            Mode::TruncateInsert => DimMode::TruncateInsert,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log, cli.log_json);
    match execute(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn execute(command: Command) -> Result<ExitCode> {
    match command {
        Command::Generate {
            out,
            seed,
            patients,
            tests,
            year,
            dirty_rate,
            malformed_rate,
        } => {
            let opts = ovom_generate::Options {
                seed,
                patients,
                tests,
                year,
                dirty_rate,
                malformed_rate,
            };
            let started = Instant::now();
            let s = if out.starts_with("s3://") {
                ovom::generate::into_s3(&out, &opts)?
            } else {
                ovom::generate::into_dir(std::path::Path::new(&out), &opts)?
            };
            println!(
                "wrote {} patient records ({} files) and {} test lines ({} files) to {} in {:.2} s",
                s.patient_records,
                s.patient_files,
                s.test_lines,
                s.test_files,
                out,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            date,
            data,
            warehouse,
            strict,
            dim_mode,
        } => {
            let date = date.map(|d| d.parse::<LogicalDate>()).transpose()?;
            if !data.join("patient_data").is_dir() && !data.join("log_data").is_dir() {
                if date.is_some() {
                    bail!(
                        "no data under {}: run `ovom run` once, or `ovom generate --out {}`",
                        data.display(),
                        data.display()
                    );
                }
                println!(
                    "no data under {}: generating the default data set",
                    data.display()
                );
                ovom::generate::into_dir(&data, &ovom_generate::Options::default())?;
            }
            let started = Instant::now();
            let pipeline = Pipeline::open(&warehouse, &data)?;
            let days = match date {
                Some(d) => vec![d],
                None => pipeline.days()?,
            };
            let opts = RunOptions {
                strict,
                dim_mode: dim_mode.into(),
            };
            let bar = ProgressBar::new(days.len() as u64);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} days ({eta})")
                    .expect("template")
                    .progress_chars("=> "),
            );
            let mut summary = Summary::default();
            for day in days {
                bar.set_message(day.to_string());
                let run = pipeline.run_day(day, opts, &SystemClock)?;
                summary
                    .add(&run, &mut *pipeline.warehouse())
                    .context("summarising the run")?;
                bar.inc(1);
                if run.result.is_err() {
                    break;
                }
            }
            bar.finish_and_clear();
            print!("{}", summary.render(started.elapsed()));
            Ok(if summary.failure.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Query {
            file_or_sql,
            warehouse,
        } => {
            if !warehouse.is_file() {
                bail!(
                    "no warehouse at {}: run `ovom run` first",
                    warehouse.display()
                );
            }
            let conn = ovom_duckdb::duckdb::Connection::open_with_flags(
                &warehouse,
                ovom_duckdb::duckdb::Config::default()
                    .access_mode(ovom_duckdb::duckdb::AccessMode::ReadOnly)?,
            )
            .with_context(|| format!("opening {}", warehouse.display()))?;
            let sql = ovom::query::sql_text(&file_or_sql)?;
            print!("{}", ovom::query::run(&conn, &sql)?.render());
            Ok(ExitCode::SUCCESS)
        }
    }
}

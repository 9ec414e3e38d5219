//! The `ovom` command: a thin layer of flags over the `ovom` library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ovom::summary::Summary;
use ovom_asl::SystemClock;
use ovom_core::erasure::PatientId;
use ovom_core::params::{Days, DimMode, LogicalDate};
use ovom_duckdb::DuckWarehouse;
use ovom_local::backfill::{backfill, BackfillInput, BackfillOutcome, Day, Stop, BACKFILL};
use ovom_local::pipeline::{Access, Pipeline, RunOptions};

#[derive(Parser)]
#[command(
    name = "ovom",
    version,
    about = "The OVŌM Care blood-test warehouse, on one machine"
)]
struct Cli {
    /// Log level for the tasks' structured logs (on stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogLevel::Warn)]
    log: LogLevel,
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
        /// Share of patients (with no update) whose record is delivered 1 to
        /// 10 days after they registered, while their tests are on time.
        #[arg(long, default_value_t = 0.0)]
        late_patient_rate: f64,
    },
    /// Run the daily state machine for every day in the data (or one day).
    Run {
        /// Run one logical day, YYYY-MM-DD.
        #[arg(long, value_parser = DateArg)]
        date: Option<LogicalDate>,
        /// The data root (default `data`). On a first run (neither --data
        /// nor --warehouse given, no `ovom.duckdb` yet) the default data set
        /// is generated there if it is missing.
        #[arg(long)]
        data: Option<PathBuf>,
        /// The DuckDB warehouse file (default `ovom.duckdb`).
        #[arg(long)]
        warehouse: Option<PathBuf>,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Run the daily state machine over every day of a range, in chunks of
    /// consecutive days (one execution each), in order, stopping at the first
    /// chunk that fails (`ovom redrive` resumes it there).
    Backfill {
        /// First logical day, YYYY-MM-DD.
        #[arg(long, value_parser = DateArg)]
        from: LogicalDate,
        /// Last logical day, YYYY-MM-DD (included).
        #[arg(long, value_parser = DateArg)]
        to: LogicalDate,
        /// Days per execution of the daily state machine, 1 to 3000 (default
        /// 31, a month; 1 with --dim-mode append). The result is the same
        /// for any size.
        #[arg(long)]
        days_per_execution: Option<u32>,
        #[arg(long, default_value = "data")]
        data: PathBuf,
        #[command(flatten)]
        warehouse: WarehouseArg,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// List the latest executions, with the failed state and error of each failure.
    Status {
        /// How many executions to list (1 to 10000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        #[command(flatten)]
        warehouse: WarehouseArg,
    },
    /// Resume a failed execution from the state that failed, with the same
    /// input (the latest unresolved failure when no id is given); a failed
    /// backfill resumes at the first day it did not load.
    Redrive {
        execution_id: Option<String>,
        /// The data root; by default the one the execution read (recorded
        /// in the warehouse), and it must be that one when given.
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        warehouse: WarehouseArg,
    },
    /// Erase patients on request: from every table of the warehouse and from
    /// the raw export files of the data root; later runs, re-runs and
    /// backfills never load them again (their lines are suppressed).
    Forget {
        /// A patient id (an integer > 0); repeat for several (at most 50).
        #[arg(long = "patient", required = true, value_parser = patient_id())]
        patients: Vec<PatientId>,
        #[arg(long, default_value = "data")]
        data: PathBuf,
        #[command(flatten)]
        warehouse: WarehouseArg,
    },
    /// Run a SQL file or statement on the warehouse and print the result.
    Query {
        /// A .sql file (e.g. sql/analysis/cardio_rate_by_city_month.sql) or a SQL statement.
        file_or_sql: String,
        #[command(flatten)]
        warehouse: WarehouseArg,
    },
    /// Write a self-contained HTML run report of the warehouse (read-only).
    Report {
        #[command(flatten)]
        warehouse: WarehouseArg,
        /// The HTML file to write.
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// How a run loads: the input every daily execution gets besides its day.
#[derive(Args, Clone, Copy)]
struct LoadArgs {
    /// Fail a day on its first malformed line instead of quarantining it.
    #[arg(long)]
    strict: bool,
    /// How dimensions are loaded.
    #[arg(long, default_value = "merge", value_parser = dim_mode())]
    dim_mode: DimMode,
    /// Let a day with no file replace the rows the warehouse holds of it
    /// (refused otherwise: a wrong folder or moved files).
    #[arg(long)]
    allow_empty: bool,
}

impl LoadArgs {
    fn options(self) -> RunOptions {
        RunOptions {
            strict: self.strict,
            dim_mode: self.dim_mode,
            leave_later_days: false,
            allow_empty: self.allow_empty,
        }
    }
}

/// `--dim-mode`: one of the load task's modes, listed in `--help`.
fn dim_mode() -> impl TypedValueParser<Value = DimMode> {
    clap::builder::PossibleValuesParser::new(DimMode::ALL.map(DimMode::as_str))
        .map(|s| s.parse::<DimMode>().expect("a listed mode"))
}

/// `--patient`: a patient id of the data contract.
fn patient_id() -> impl TypedValueParser<Value = PatientId> {
    clap::builder::StringValueParser::new().try_map(|s| s.parse::<PatientId>())
}

/// A logical day argument. Its error quotes at most the start of the value
/// (clap's own would repeat all of it).
#[derive(Clone)]
struct DateArg;

impl TypedValueParser for DateArg {
    type Value = LogicalDate;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<LogicalDate, clap::Error> {
        let name = arg.map_or_else(|| "the date".to_owned(), |a| format!("--{}", a.get_id()));
        let refuse = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{name}: {why}\n"),
            )
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("is not a date YYYY-MM-DD".into()))?;
        text.parse()
            .map_err(|e: ovom_core::params::ValueError| refuse(e.reason))
    }
}

/// The warehouse file every command but `run` names the same way (`run`
/// tells a first run by its absence).
#[derive(Args, Clone)]
struct WarehouseArg {
    /// The DuckDB warehouse file.
    #[arg(long = "warehouse", default_value = DEFAULT_WAREHOUSE)]
    path: PathBuf,
}

/// mimalloc serves every allocation of the process, DuckDB's C++ ones too
/// (see the dependency's note in Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log.as_str(), cli.log_json);
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
            late_patient_rate,
        } => {
            let opts = ovom_generate::Options {
                seed,
                patients,
                tests,
                year,
                dirty_rate,
                malformed_rate,
                late_patient_rate,
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
            load,
        } => {
            // Only a newcomer's first run generates data: a typo in --data,
            // or a run against a warehouse that exists, must not load a
            // simulated data set into it.
            let first_run =
                data.is_none() && warehouse.is_none() && !Path::new(DEFAULT_WAREHOUSE).exists();
            let data = data.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
            let warehouse = warehouse.unwrap_or_else(|| PathBuf::from(DEFAULT_WAREHOUSE));
            ensure_data(&data, date.is_none() && first_run)?;
            let started = Instant::now();
            let pipeline = Pipeline::open(&warehouse, &data)?;
            let opts = load.options();
            let mut summary = Summary::default();
            let days = match date {
                Some(d) => vec![d],
                None => pipeline.days()?,
            };
            let bar = day_bar(days.len());
            match (date, days.first(), days.last()) {
                (None, Some(&first), Some(&last)) if range_path(opts) => {
                    // Every day in one execution: one pass over the files
                    // and one statement per model.
                    bar.set_message(format!("{first} … {last}"));
                    let days = Days::new(first, Some(last))?;
                    let run = pipeline.run_range(days, opts, &SystemClock)?;
                    summary
                        .add(&run, &mut *pipeline.warehouse())
                        .context("summarising the run")?;
                }
                _ => {
                    let last = days.last().copied();
                    for day in days {
                        bar.set_message(day.to_string());
                        // Only the last day runs again the days after it
                        // that are already loaded: the next days follow the
                        // others.
                        let opts = RunOptions {
                            leave_later_days: Some(day) != last,
                            ..opts
                        };
                        let run = pipeline.run_day(day, opts, &SystemClock)?;
                        summary
                            .add(&run, &mut *pipeline.warehouse())
                            .context("summarising the run")?;
                        bar.inc(1);
                        if run.result.is_err() {
                            break;
                        }
                    }
                }
            }
            bar.finish_and_clear();
            summary
                .settle(&mut *pipeline.warehouse())
                .context("summarising the run")?;
            print!("{}", summary.render(started.elapsed()));
            Ok(exit_code(summary.failure.is_none()))
        }
        Command::Backfill {
            from,
            to,
            days_per_execution,
            data,
            warehouse,
            load,
        } => {
            let warehouse = warehouse.path;
            if load.allow_empty {
                bail!("--allow-empty is for `ovom run --date`: a backfill, as on AWS, never empties a day (run the day with --allow-empty first)");
            }
            let input = BackfillInput {
                dim_mode: load.dim_mode,
                strict: load.strict,
                days_per_execution,
                ..BackfillInput::new(Days {
                    first: from,
                    last: to,
                })
            };
            let days: i64 = input.chunks()?.iter().map(|c| c.count()).sum();
            ensure_data(&data, false)?;
            let pipeline = Pipeline::open(&warehouse, &data)?;
            let mut progress = BackfillProgress::new(days as usize);
            let outcome = backfill(
                &pipeline,
                &input,
                None,
                &SystemClock,
                pipeline.tasks(),
                |day| progress.day(&pipeline, day),
            )?;
            progress.finish(&pipeline, &outcome)
        }
        Command::Status { limit, warehouse } => {
            let mut wh = open_read_only(&warehouse.path)?;
            print!(
                "{}{}",
                ovom::status::render(&ovom::status::recent(&mut wh, limit)?),
                ovom::status::render_pending(&ovom::status::pending(&mut wh)?)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Redrive {
            execution_id,
            data,
            warehouse,
        } => {
            let warehouse = warehouse.path;
            if let Some(data) = &data {
                local_root(data)?;
            }
            if !warehouse.is_file() {
                bail!(
                    "no warehouse at {}: nothing to redrive",
                    warehouse.display()
                );
            }
            let started = Instant::now();
            let given = data.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
            let mut pipeline = Pipeline::open(&warehouse, &given)?;
            let id = match execution_id {
                Some(id) => id,
                None => pipeline.latest_unresolved_failure()?.context(
                    "no failed execution to redrive (`ovom status` lists the executions)",
                )?,
            };
            // A redrive reads the data root its execution read.
            if let Some(recorded) = pipeline.recorded_data_root(&id)? {
                if data.is_some() && pipeline.data_root() != recorded {
                    bail!(
                        "execution {id} read the data root {}; --data {} is another folder: redrive it without --data (or with that folder)",
                        recorded.display(),
                        given.display()
                    );
                }
                if pipeline.data_root() != recorded {
                    drop(pipeline);
                    pipeline = Pipeline::open(&warehouse, &recorded)?;
                }
            }
            ensure_data(pipeline.store().root(), false)?;
            if pipeline.state_machine_of(&id)? == BACKFILL {
                let mut progress = BackfillProgress::new(0);
                let outcome = ovom_local::backfill::redrive(
                    &pipeline,
                    &id,
                    &SystemClock,
                    pipeline.tasks(),
                    |day| progress.day(&pipeline, day),
                )?;
                return progress.finish(&pipeline, &outcome);
            }
            let run = pipeline.redrive(&id, &SystemClock, pipeline.tasks())?;
            let mut summary = Summary::default();
            summary
                .add(&run, &mut *pipeline.warehouse())
                .context("summarising the run")?;
            summary
                .settle(&mut *pipeline.warehouse())
                .context("summarising the run")?;
            print!("{}", summary.render(started.elapsed()));
            Ok(exit_code(summary.failure.is_none()))
        }
        Command::Forget {
            patients,
            data,
            warehouse,
        } => {
            let warehouse = warehouse.path;
            if !warehouse.is_file() {
                bail!("no warehouse at {}: nothing to erase", warehouse.display());
            }
            ensure_data(&data, false)?;
            let mut pipeline = Pipeline::open(&warehouse, &data)?;
            let report = pipeline.forget(&warehouse, patients, &SystemClock)?;
            print!("{}", ovom::summary::render_erasure(&report));
            Ok(ExitCode::SUCCESS)
        }
        Command::Query {
            file_or_sql,
            warehouse,
        } => {
            let wh = open_read_only(&warehouse.path)?;
            // The warehouse is read-only; no file besides it either (no
            // COPY … TO, ATTACH, EXPORT or reading other files).
            wh.connection()
                .execute_batch("SET enable_external_access = false")
                .context("restricting the query to the warehouse")?;
            let sql = ovom::query::sql_text(&file_or_sql)?;
            print!("{}", ovom::query::run(wh.connection(), &sql)?.render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { warehouse, out } => {
            println!("{}", ovom::report::run(&warehouse.path, &out)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Generate the default data set into `data` when it holds no export yet
/// (only for a whole run: a named day or range needs the data to exist).
fn ensure_data(data: &Path, generate_if_missing: bool) -> Result<()> {
    local_root(data)?;
    if data.join("patient_data").is_dir() || data.join("log_data").is_dir() {
        return Ok(());
    }
    if !generate_if_missing {
        let what = if data.exists() {
            "holds neither patient_data/ nor log_data/"
        } else {
            "does not exist"
        };
        bail!(
            "the data root {} {what}: nothing was run (check --data; `ovom generate --out {}` writes the simulated data set there)",
            data.display(),
            data.display()
        );
    }
    println!(
        "no data under {}: generating the default data set",
        data.display()
    );
    ovom::generate::into_dir(data, &ovom_generate::Options::default())?;
    Ok(())
}

/// The defaults of `--data` and `--warehouse`.
const DEFAULT_DATA: &str = "data";
const DEFAULT_WAREHOUSE: &str = "ovom.duckdb";

/// Refuse an S3 data root: `ovom` runs on a local folder; only `generate`
/// writes to S3.
fn local_root(data: &Path) -> Result<()> {
    if data.to_str().is_some_and(|d| d.starts_with("s3:")) {
        bail!(
            "--data {}: `ovom run`, `backfill` and `redrive` read a local folder; an S3 data root is loaded by the deployed state machine (README, Deploy to AWS), and `ovom generate --out s3://…` writes one",
            data.display()
        );
    }
    Ok(())
}

fn open_read_only(warehouse: &Path) -> Result<DuckWarehouse> {
    if !warehouse.is_file() {
        bail!(
            "no warehouse at {}: run `ovom run` first",
            warehouse.display()
        );
    }
    let mut wh = DuckWarehouse::open_read_only(warehouse)
        .map_err(|e| ovom_local::pipeline::open_error(warehouse, e))?;
    ovom_local::pipeline::check_ovom_warehouse(&mut wh, Some(warehouse), Access::Read)?;
    Ok(wh)
}

/// A backfill's progress bar and summary, day by day.
struct BackfillProgress {
    bar: ProgressBar,
    summary: Summary,
    started: Instant,
}

impl BackfillProgress {
    /// `days`: the range's length when known (a redrive learns it as the
    /// days come).
    fn new(days: usize) -> Self {
        Self {
            bar: day_bar(days),
            summary: Summary::default(),
            started: Instant::now(),
        }
    }

    fn day(&mut self, pipeline: &Pipeline, day: Day<'_>) -> Result<(), Stop> {
        match day {
            Day::Loaded(days) => {
                self.summary.loaded_before += days.count() as usize;
                self.bar.set_message(format!("{days} loaded before"));
                self.bar.inc(days.count() as u64);
            }
            Day::Ran(run) => {
                self.summary.add(run, &mut *pipeline.warehouse())?;
                let secs = self.started.elapsed().as_secs_f64().max(1e-3);
                self.bar.set_message(format!(
                    "{} · {} rows · {:.0} rows/s",
                    run.days,
                    self.summary.loaded,
                    self.summary.loaded as f64 / secs
                ));
                self.bar.inc(run.days.count() as u64);
            }
        }
        Ok(())
    }

    fn finish(mut self, pipeline: &Pipeline, outcome: &BackfillOutcome) -> Result<ExitCode> {
        self.bar.finish_and_clear();
        self.summary
            .settle(&mut *pipeline.warehouse())
            .context("summarising the backfill")?;
        println!(
            "backfill    {}: {} days in {} execution{}, {} run{}",
            outcome.execution_id,
            outcome.days,
            outcome.executions,
            if outcome.executions == 1 { "" } else { "s" },
            outcome.ran,
            if outcome.loaded > 0 {
                format!(", {} days loaded before this redrive", outcome.loaded)
            } else {
                String::new()
            }
        );
        print!("{}", self.summary.render(self.started.elapsed()));
        Ok(exit_code(outcome.failed.is_none()))
    }
}

fn day_bar(days: usize) -> ProgressBar {
    let bar = ProgressBar::new(days as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} days ({eta})")
            .expect("template")
            .progress_chars("=> "),
    );
    bar
}

/// Whether `ovom run` loads every day in one range execution. A range gives
/// the result of its days run one after another, except where a day-by-day
/// run would stop part-way: append keeps each key's first day's version, and
/// strict stops at the first day with a malformed line, keeping the days
/// before it. Those run day by day.
fn range_path(opts: RunOptions) -> bool {
    !opts.strict && opts.dim_mode != DimMode::Append
}

fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

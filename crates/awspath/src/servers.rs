//! The servers the AWS path runs against, all on 127.0.0.1 or a Unix
//! socket: PostgreSQL (a new cluster in a folder), moto's S3, and the Data
//! API test server (`tests/dataapi/server.py`) in between.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub use crate::moto::{free_port, venv_python, Moto};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A PostgreSQL program: from the newest `/usr/lib/postgresql/<v>/bin`
/// (Debian's packages), else from `PATH`.
fn pg_program(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_else(|| PathBuf::from(name))
}

/// Install Debian's PostgreSQL server (which also creates the `postgres`
/// user it runs as) when its programs are missing, as root, once per
/// machine (under a lock, so concurrent tests wait for each other).
fn ensure_installed() -> Result<()> {
    if pg_program("initdb").is_absolute() {
        return Ok(());
    }
    if !is_root() {
        bail!("PostgreSQL's server programs are missing: install Debian's postgresql-15 package");
    }
    let mut install = Command::new("flock");
    install.arg("/var/lock/ovom-postgresql-install").args([
        "sh",
        "-c",
        "ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15; }",
    ]);
    run(install, "installing postgresql-15")
}

/// A command run as the `postgres` user when this process is root
/// (`initdb` refuses to run as root), as this user otherwise.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A PostgreSQL server of its own: a new cluster in `dir/data`, listening on
/// a Unix socket in `dir` and on no TCP address, with the database `dev`.
/// Stopped when dropped; the folder stays when it was asked to be kept.
pub struct Postgres {
    dir: PathBuf,
    port: u16,
    keep: bool,
}

impl Postgres {
    pub const DATABASE: &'static str = "dev";

    /// Start a new cluster in `dir` (which must not hold one), or in a new
    /// temporary folder when `dir` is `None`.
    pub fn start(dir: Option<&Path>) -> Result<Self> {
        ensure_installed()?;
        let keep = dir.is_some();
        let dir = match dir {
            Some(d) => {
                std::fs::create_dir_all(d)
                    .with_context(|| format!("cannot create {}", d.display()))?;
                d.canonicalize()?
            }
            None => {
                let d = std::env::temp_dir().join(format!(
                    "ovom-pg-{}-{}",
                    std::process::id(),
                    free_port()
                ));
                std::fs::create_dir_all(&d)?;
                d
            }
        };
        if dir.join("data").exists() {
            bail!(
                "{} already holds a PostgreSQL cluster (data/): give a new folder",
                dir.display()
            );
        }
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres").arg(&dir);
                    c
                },
                "chown postgres",
            )?;
        }
        let mut initdb = as_postgres(&pg_program("initdb"));
        initdb.arg("-D").arg(dir.join("data")).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb")?;
        let port = free_port();
        let mut ctl = as_postgres(&pg_program("pg_ctl"));
        ctl.arg("-D")
            .arg(dir.join("data"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                dir.display()
            ))
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .args(["-w", "-t", "60", "start"]);
        run(ctl, "pg_ctl start")?;
        let pg = Postgres { dir, port, keep };
        let mut createdb = Command::new(pg_program("createdb"));
        createdb.arg("-h").arg(&pg.dir).args([
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            Self::DATABASE,
        ]);
        run(createdb, "createdb")?;
        Ok(pg)
    }

    /// The libpq connection string of the warehouse database.
    pub fn dsn(&self) -> String {
        format!(
            "host={} port={} user=postgres dbname={}",
            self.dir.display(),
            self.port,
            Self::DATABASE
        )
    }

    /// How to open the warehouse with `psql`.
    pub fn psql_command(&self) -> String {
        format!(
            "psql -h {} -p {} -U postgres {}",
            self.dir.display(),
            self.port,
            Self::DATABASE
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Leave the server running and its folder in place when dropped.
    pub fn leave_running(mut self) {
        self.keep = true;
        std::mem::forget(self);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut ctl = as_postgres(&pg_program("pg_ctl"));
        ctl.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = ctl.status();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The Data API test server, from the tools virtual environment.
pub struct DataApi {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl DataApi {
    /// Start the server over `pg` and the S3 endpoint `s3`, and wait until
    /// it answers.
    pub fn start(pg: &Postgres, s3: &str) -> Result<Self> {
        let python = crate::moto::venv_python();
        let script = repo().join("tests/dataapi/server.py");
        let port = free_port();
        let log =
            std::env::temp_dir().join(format!("ovom-dataapi-{}-{port}.log", std::process::id()));
        let file = std::fs::File::create(&log)?;
        let child = Command::new(&python)
            .arg(&script)
            .args(["--port", &port.to_string(), "--dsn", &pg.dsn()])
            .args(["--database", Postgres::DATABASE, "--s3-endpoint", s3])
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {}", script.display()))?;
        let mut api = DataApi { child, port, log };
        let started = Instant::now();
        loop {
            if let Some(status) = api.child.try_wait()? {
                bail!(
                    "the Data API test server exited ({status}):\n{}",
                    api.log_text()
                );
            }
            if api.get("/ovom-test/stats").is_ok() {
                return Ok(api);
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "the Data API test server did not answer:\n{}",
                    api.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Faults to inject, replacing any earlier ones (see server.py).
    pub fn set_faults(&self, faults: &serde_json::Value) -> Result<()> {
        self.post("/ovom-test/faults", &faults.to_string())
            .map(|_| ())
    }

    /// Calls per operation, statements, COPYs, batches and server time
    /// since the last reset.
    pub fn stats(&self) -> Result<serde_json::Value> {
        Ok(serde_json::from_str(&self.get("/ovom-test/stats")?)?)
    }

    pub fn reset_stats(&self) -> Result<()> {
        self.post("/ovom-test/reset-stats", "{}").map(|_| ())
    }

    fn get(&self, path: &str) -> Result<String> {
        self.http(&format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"))
    }

    fn post(&self, path: &str, body: &str) -> Result<String> {
        self.http(&format!(
            "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    }

    fn http(&self, request: &str) -> Result<String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(request.as_bytes())?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        let (head, body) = text
            .split_once("\r\n\r\n")
            .context("no HTTP answer from the Data API test server")?;
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            bail!("the Data API test server answered {head}");
        }
        Ok(body.to_owned())
    }
}

impl Drop for DataApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

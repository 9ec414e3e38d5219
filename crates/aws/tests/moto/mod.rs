//! A real S3 endpoint for the tests: moto's server, from the pinned
//! `moto[server]` of `tests/offline/requirements.txt`, on 127.0.0.1.
//!
//! The server runs from the tools folder's virtual environment
//! (`$OVOM_TOOLS/venv`, `OVOM_TOOLS` defaulting to `/var/tmp/ovom-tools`, as
//! for `tests/offline/setup.sh`). When the environment or the pinned moto is
//! missing, the first test installs the requirements into it, holding the
//! same lock as `setup.sh` so that concurrent installs wait for each other.
//! Every failure to install or start moto panics with what went wrong: no
//! test passes without having talked to S3.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::Client;

const DEFAULT_TOOLS: &str = "/var/tmp/ovom-tools";
const PIN_PREFIX: &str = "moto[server]==";
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Installs the requirements unless the pinned moto is already there; run
/// under `flock` with arguments: venv folder, requirements file, moto version.
const INSTALL: &str = r#"set -eu
venv="$1"; requirements="$2"; pin="$3"
installed() {
    [ -x "$venv/bin/moto_server" ] &&
        [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" = "$pin" ] &&
        "$venv/bin/python" -c 'import psycopg' 2>/dev/null
}
if installed; then exit 0; fi
echo "installing moto $pin into $venv" >&2
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --requirement "$requirements"
installed || { echo "moto $pin is still not installed in $venv" >&2; exit 1; }
"#;

fn requirements() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/offline/requirements.txt")
}

fn tools() -> PathBuf {
    std::env::var_os("OVOM_TOOLS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TOOLS))
}

/// The moto version `requirements.txt` pins.
fn pinned_version(requirements: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(requirements)
        .map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix(PIN_PREFIX))
        .map(|v| v.trim().to_owned())
        .ok_or_else(|| format!("{} pins no `{PIN_PREFIX}…`", requirements.display()))
}

/// The version of moto installed in `venv`, if any, when the rest of the
/// requirements the servers need (psycopg, for the Data API test server)
/// import too.
fn installed_version(venv: &Path) -> Option<String> {
    let out = Command::new(venv.join("bin").join("python"))
        .args([
            "-c",
            "import importlib.metadata as m, psycopg; print(m.version('moto'))",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The installed moto server, installing it on first use (under the tools
/// folder's setup lock) unless the pinned version is already there.
fn moto_server() -> &'static Path {
    static SERVER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        let requirements = requirements();
        let pin = pinned_version(&requirements)?;
        let tools = tools();
        std::fs::create_dir_all(&tools)
            .map_err(|e| format!("cannot create {}: {e}", tools.display()))?;
        let venv = tools.join("venv");
        let server = venv.join("bin").join("moto_server");
        if server.is_file() && installed_version(&venv).as_deref() == Some(pin.as_str()) {
            return Ok(server);
        }
        let out = Command::new("flock")
            .arg(tools.join(".setup.lock"))
            .args(["sh", "-c", INSTALL, "sh"])
            .arg(&venv)
            .arg(&requirements)
            .arg(&pin)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `flock` (util-linux) to install moto: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "installing moto {pin} into {} failed ({}):\n{}{}",
                venv.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            ));
        }
        Ok(server)
    });
    match server {
        Ok(path) => path,
        Err(e) => panic!("moto is needed for the S3 tests and could not be installed: {e}"),
    }
}

/// The Python of the tools' virtual environment, with moto, boto3 and
/// psycopg installed (installing them on first use).
pub fn venv_python() -> PathBuf {
    moto_server().with_file_name("python")
}

/// A free port on 127.0.0.1 (free when asked; moto binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port on 127.0.0.1")
        .port()
}

/// A running moto server; killed when dropped.
pub struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Moto {
    /// Start a server on a free port of 127.0.0.1 and wait until it answers
    /// HTTP. Panics, with the server's log, when it cannot.
    pub fn start() -> Moto {
        let server = moto_server();
        let mut last = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log =
                std::env::temp_dir().join(format!("ovom-moto-{}-{port}.log", std::process::id()));
            let file = File::create(&log).expect("cannot create moto's log file");
            let child = Command::new(server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("cannot share moto's log file"))
                .stderr(file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
            let mut moto = Moto { child, port, log };
            match moto.wait_until_ready() {
                Ok(()) => return moto,
                Err(e) => last = e, // dropped: killed; try another port
            }
        }
        panic!("moto's S3 server did not start on 127.0.0.1: {last}");
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("it exited ({status}):\n{}", self.log_text()));
            }
            if answers_http(addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "no answer on {addr} within {START_TIMEOUT:?}:\n{}",
            self.log_text()
        ))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client of this server: path-style addressing, static test
    /// credentials, us-east-1.
    pub fn client(&self) -> Client {
        client_for(&self.endpoint(), 3)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Whether an HTTP server answers a request on `addr`.
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

/// An S3 client for a local endpoint, making at most `attempts` attempts a
/// request.
pub fn client_for(endpoint: &str, attempts: u32) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "moto-tests",
        ))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .retry_config(
            aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(attempts),
        )
        .build();
    Client::from_conf(config)
}

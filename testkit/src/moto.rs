//! moto's server (CloudWatch, SSM, ...) from the project virtualenv, plus the CBOR
//! bridge that lets the AWS SDK for Rust's CloudWatch client talk to it (see
//! `testkit/moto/cloudwatch_cbor_bridge.py` for why).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A program in the project virtualenv (made by `make venv`).
pub fn venv_bin(name: &str) -> PathBuf {
    crate::testkit_dir().join("../.venv/bin").join(name)
}

/// The virtualenv's Python, or `TRAFFIC_HOOKS_PYTHON`.
pub fn venv_python() -> PathBuf {
    std::env::var_os("TRAFFIC_HOOKS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| venv_bin("python"))
}

/// A running moto server and CloudWatch bridge; both stop when this is dropped.
pub struct Moto {
    _server: Child,
    _bridge: Child,
    url: String,
    cloudwatch_url: String,
    _dir: PathBuf,
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_for(port: u16, what: &str) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "{what} did not listen on 127.0.0.1:{port} within 30 s"
    ))
}

impl Moto {
    /// Starts `moto_server` on a free loopback port and the bridge in front of it.
    pub async fn start() -> Result<Self, String> {
        let moto = venv_bin("moto_server");
        if !moto.exists() {
            return Err(format!(
                "{} is missing: run `make venv` (make test does)",
                moto.display()
            ));
        }
        let port = free_port().map_err(|e| e.to_string())?;
        let server = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", moto.display()))?;
        wait_for(port, "moto_server").await?;
        let url = format!("http://127.0.0.1:{port}");
        let dir =
            std::env::temp_dir().join(format!("traffic-hooks-moto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let port_file = dir.join("bridge.port");
        let bridge = Command::new(venv_python())
            .arg(crate::testkit_dir().join("moto/cloudwatch_cbor_bridge.py"))
            .arg(&url)
            .arg(&port_file)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting the CloudWatch bridge: {e}"))?;
        let until = Instant::now() + Duration::from_secs(30);
        let bridge_port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                break text.trim().parse::<u16>().map_err(|e| e.to_string())?;
            }
            if Instant::now() > until {
                return Err("the CloudWatch bridge did not start within 30 s".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        wait_for(bridge_port, "the CloudWatch bridge").await?;
        Ok(Self {
            _server: server,
            _bridge: bridge,
            url,
            cloudwatch_url: format!("http://127.0.0.1:{bridge_port}"),
            _dir: dir,
        })
    }

    /// moto itself: the endpoint for SSM and the other JSON/Query services.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The endpoint for the Rust SDK's CloudWatch client (the CBOR bridge).
    pub fn cloudwatch_url(&self) -> &str {
        &self.cloudwatch_url
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

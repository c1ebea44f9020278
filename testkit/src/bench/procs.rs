//! Processes the bench runs and what they cost: CPU time of waited-for children (from
//! `/proc/self/stat`, no libc), pinning to a core with `taskset`, and an nginx of its
//! own on loopback that counts the requests it serves.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Linux reports children's CPU time in clock ticks of 1/100 s (`USER_HZ`, fixed by
/// the kernel's ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user and system) of this process's children that have been waited for.
pub fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which may hold spaces: state is field 3, so
    // cutime (16) and cstime (17) are at 13 and 14.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(13) + tick(14)) / TICKS_PER_SECOND
}

/// Whether `program` is on the `PATH`.
pub fn found(program: &str) -> bool {
    which(program).is_some()
}

/// Where `program` is on the `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Cores to pin the server and the client to: two different ones when the machine has
/// two and `taskset` is there, else none (the report says so).
#[derive(Debug, Clone, Copy)]
pub struct Pinning {
    /// The server's core and the client's.
    pub cores: Option<(usize, usize)>,
}

impl Pinning {
    /// Server on core 0 and clients on core 1, where possible.
    pub fn detect() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            cores: (cores >= 2 && found("taskset")).then_some((0, 1)),
        }
    }

    /// A command for `program`, pinned to the server's core (`server`) or the client's.
    pub fn command(&self, program: &Path, server: bool) -> Command {
        match self.cores {
            Some((s, c)) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c")
                    .arg((if server { s } else { c }).to_string())
                    .arg(program);
                cmd
            }
            None => Command::new(program),
        }
    }

    /// How the report describes the pinning.
    pub fn describe(&self) -> String {
        match self.cores {
            Some((s, c)) => format!("server pinned to core {s}, each client to core {c}"),
            None => "not pinned (one core, or no taskset)".to_owned(),
        }
    }
}

/// What a finished client cost.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// CPU seconds, user and system, all threads.
    pub cpu: f64,
    /// Wall-clock seconds from start to exit.
    pub wall: f64,
    /// Whether it exited with status 0.
    pub ok: bool,
}

/// Runs `cmd` to its end, its output discarded (kept in `log` when given), and says
/// what it cost. Nothing else may be waited for meanwhile.
pub fn run_measured(mut cmd: Command, log: Option<&Path>) -> std::io::Result<Cost> {
    let before = children_cpu();
    let started = Instant::now();
    match log {
        Some(path) => {
            let f = std::fs::File::create(path)?;
            cmd.stdout(f.try_clone()?).stderr(f);
        }
        None => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    let status = cmd.stdin(Stdio::null()).status()?;
    Ok(Cost {
        cpu: children_cpu() - before,
        wall: started.elapsed().as_secs_f64(),
        ok: status.success(),
    })
}

/// nginx on loopback serving `ok` to any path, with a request counter
/// (`stub_status`), one worker, access log off. Stopped on drop.
pub struct Nginx {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx (pinned to the server's core) and waits until it answers.
    pub fn start(pinning: &Pinning) -> Result<Self, String> {
        let nginx = which("nginx").ok_or("nginx is not installed (make bench-tools)")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port()?;
        let d = dir.path().display();
        let conf = format!(
            "master_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 1000000000;\n  keepalive_timeout 120s;\n\
             client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;\n\
             uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
             server {{\n    listen 127.0.0.1:{port} backlog=4096;\n\
             location = /status {{ stub_status; }}\n\
             location / {{ default_type text/plain; return 200 \"ok\\n\"; }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).map_err(|e| e.to_string())?;
        let mut cmd = pinning.command(&nginx, true);
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().map_err(|e| format!("nginx: {e}"))?;
        let server = Self {
            child,
            port,
            _dir: dir,
        };
        let started = Instant::now();
        while server.served().is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                return Err("nginx did not answer within 10 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The URL of its `ok` page.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Requests served so far, this one included.
    pub fn served(&self) -> Result<u64, String> {
        served_at(self.port)
    }
}

/// Requests the nginx on `port` has served, this one included (`stub_status`).
pub fn served_at(port: u16) -> Result<u64, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok();
    s.write_all(b"GET /status HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    // "server accepts handled requests\n 1 1 1 \n"
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("server accepts"));
    lines
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| "no request count in stub_status".to_owned())
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// The median of `v` (0 when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

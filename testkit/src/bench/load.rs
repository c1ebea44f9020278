//! `load` against wrk and hey: each client alone on its core, nginx on the other, all
//! at the same rate; requests counted by nginx, CPU by the kernel.

use super::procs::{median, run_measured, served_at, which, Cost, Nginx, Pinning};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One client's run at one rate.
#[derive(Debug, Clone)]
pub struct ClientRun {
    /// `traffic-hook load`, `wrk`, `hey`.
    pub client: &'static str,
    /// Requests per second asked for (wrk: about, from its connections and delay).
    pub rate: u32,
    /// Requests nginx served during the run.
    pub served: u64,
    /// What the client cost.
    pub cost: Cost,
    /// The sending rate seen at the server: requests over the time between the first
    /// and the last sample that saw the count rise (`None` for clients not sampled).
    pub held: Option<f64>,
}

impl ClientRun {
    /// CPU microseconds per request served.
    pub fn cpu_per_request_us(&self) -> f64 {
        self.cost.cpu * 1e6 / (self.served.max(1) as f64)
    }
}

/// The clients, which of them could run, and where their files are.
pub struct Clients {
    hook: PathBuf,
    wrk: Option<PathBuf>,
    hey: Option<PathBuf>,
    dir: tempfile::TempDir,
}

impl Clients {
    /// `hook`: the traffic-hook binary whose `load` check is measured.
    pub fn new(hook: &Path) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        // wrk has no rate option: each connection waits 1 ms after each answer, so
        // connections / (1 ms + latency) is its rate.
        std::fs::write(
            dir.path().join("delay.lua"),
            "function delay()\n  return 1\nend\n",
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            hook: hook.to_owned(),
            wrk: which("wrk"),
            hey: which("hey"),
            dir,
        })
    }

    /// Which reference clients are missing.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.wrk.is_none() {
            m.push("wrk");
        }
        if self.hey.is_none() {
            m.push("hey");
        }
        m
    }

    /// `traffic-hook run` with one `load` check at `rate` for `seconds`.
    fn ours(
        &self,
        pinning: &Pinning,
        url: &str,
        rate: u32,
        seconds: u64,
    ) -> Result<std::process::Command, String> {
        let config = self.dir.path().join(format!("load-{rate}.yaml"));
        std::fs::write(
            &config,
            format!(
                "checks:\n  - name: load\n    load: {{ http: {{ url: \"{url}\" }}, rate: {rate}, duration: {seconds}s }}\n    timeout: 5s\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut cmd = pinning.command(&self.hook, false);
        cmd.arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--function")
            .arg("bench")
            .arg("--phase")
            .arg("pre")
            .env_clear()
            .env("RUST_LOG", "error");
        Ok(cmd)
    }

    fn wrk(
        &self,
        pinning: &Pinning,
        url: &str,
        rate: u32,
        seconds: u64,
    ) -> Option<std::process::Command> {
        let mut cmd = pinning.command(self.wrk.as_ref()?, false);
        // About 800 requests/s per connection on loopback with the 1 ms delay.
        let connections = rate.div_ceil(800).max(1);
        cmd.arg("-t1")
            .arg(format!("-c{connections}"))
            .arg(format!("-d{seconds}s"))
            .arg("-s")
            .arg(self.dir.path().join("delay.lua"))
            .arg(url);
        Some(cmd)
    }

    fn hey(
        &self,
        pinning: &Pinning,
        url: &str,
        rate: u32,
        seconds: u64,
    ) -> Option<std::process::Command> {
        let mut cmd = pinning.command(self.hey.as_ref()?, false);
        // `-q` is per worker: 200 requests/s each.
        cmd.arg("-z")
            .arg(format!("{seconds}s"))
            .arg("-c")
            .arg((rate / 200).max(1).to_string())
            .arg("-q")
            .arg("200")
            .arg(url);
        Some(cmd)
    }
}

/// Runs `cmd` while sampling nginx's counter every 10 ms (from this process, on the
/// server's side), so the sending window is seen at the server.
fn measured(
    server: &Nginx,
    cmd: std::process::Command,
    client: &'static str,
    rate: u32,
    log: &Path,
) -> Result<ClientRun, String> {
    let before = server.served()?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let port = server.port;
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(n) = served_at(port) {
                    samples.push((Instant::now(), n));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            samples
        })
    };
    let cost = run_measured(cmd, Some(log)).map_err(|e| format!("{client}: {e}"))?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = sampler
        .join()
        .map_err(|_| "the sampler panicked".to_owned())?;
    let after = server.served()?;
    // Each sample and each `served` call is a request too: take them out.
    let served = after
        .saturating_sub(before)
        .saturating_sub(samples.len() as u64 + 1);
    Ok(ClientRun {
        client,
        rate,
        served,
        cost,
        held: held_rate(&samples),
    })
}

/// Requests over the window in which the count rose by more than the probes
/// themselves (one each): from the sample before the first rise to the sample after
/// the last, so it errs long by at most two sampling periods (0.4% of 5 s).
fn held_rate(samples: &[(Instant, u64)]) -> Option<f64> {
    let rose = |w: &[(Instant, u64)]| w[1].1 > w[0].1 + 1;
    let first = samples.windows(2).position(rose)?;
    let last = samples.windows(2).rposition(rose)? + 1;
    let (t0, n0) = samples[first];
    let (t1, n1) = samples[last];
    let window = (t1 - t0).as_secs_f64();
    let probes = (last - first) as u64;
    (window > 0.0).then(|| n1.saturating_sub(n0).saturating_sub(probes) as f64 / window)
}

/// Every client at each rate, `rounds` times, interleaved so drift in the machine's
/// load hits each alike. Returns the runs whose client was found.
pub fn compare(
    clients: &Clients,
    pinning: &Pinning,
    rates: &[u32],
    seconds: u64,
    rounds: usize,
) -> Result<Vec<ClientRun>, String> {
    let server = Nginx::start(pinning)?;
    let url = server.url();
    let mut runs = Vec::new();
    for round in 0..rounds {
        for &rate in rates {
            let log = |who: &str| clients.dir.path().join(format!("{who}-{rate}-{round}.log"));
            let ours = clients.ours(pinning, &url, rate, seconds)?;
            let run = measured(&server, ours, "traffic-hook load", rate, &log("ours"))?;
            if !run.cost.ok {
                let text = std::fs::read_to_string(log("ours")).unwrap_or_default();
                return Err(format!("traffic-hook load at {rate}/s failed:\n{text}"));
            }
            runs.push(run);
            if let Some(cmd) = clients.wrk(pinning, &url, rate, seconds) {
                runs.push(measured(&server, cmd, "wrk", rate, &log("wrk"))?);
            }
            if let Some(cmd) = clients.hey(pinning, &url, rate, seconds) {
                runs.push(measured(&server, cmd, "hey", rate, &log("hey"))?);
            }
        }
    }
    Ok(runs)
}

/// The median CPU per request of `client` at `rate`, and its runs' median held rate
/// and served count.
pub fn summary(
    runs: &[ClientRun],
    client: &str,
    rate: u32,
) -> Option<(f64, Option<f64>, u64, f64)> {
    let mine: Vec<&ClientRun> = runs
        .iter()
        .filter(|r| r.client == client && r.rate == rate)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let cpu = median(mine.iter().map(|r| r.cpu_per_request_us()).collect());
    let held: Vec<f64> = mine.iter().filter_map(|r| r.held).collect();
    let held = (!held.is_empty()).then(|| median(held));
    let served = mine.iter().map(|r| r.served).min().unwrap_or(0);
    let rate_seen = median(
        mine.iter()
            .map(|r| r.served as f64 / r.cost.wall.max(f64::EPSILON))
            .collect(),
    );
    Some((cpu, held, served, rate_seen))
}

//! Cold start: from spawning a binary to its first Runtime API poll
//! (`GET /2018-06-01/runtime/invocation/next`), against a bare `lambda_runtime` hello
//! world built with the same profile, alternating the two.

use super::procs::median;
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Lambda variables `lambda_runtime` reads at start-up.
fn lambda_env(cmd: &mut Command, api: &str) {
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "CodeDeployHook_bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench");
}

/// Milliseconds from spawning `binary` to its first poll.
fn once(binary: &Path, env: &[(&str, &str)]) -> Result<f64, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(binary);
    lambda_env(&mut cmd, &addr.to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    // A binary that dies before polling would leave accept() waiting: a watchdog
    // connects after 10 s to wake it.
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(10));
        let _ = std::net::TcpStream::connect(addr);
    });
    let (mut conn, _) = listener.accept().map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let _ = child.kill();
    let _ = child.wait();
    drop(watchdog);
    if !head.starts_with(b"GET /2018-06-01/runtime/invocation/next") {
        return Err(format!("{} did not poll for an event", binary.display()));
    }
    Ok(elapsed)
}

/// Medians of `rounds` cold starts of each, in milliseconds: (hook, hello).
pub fn compare(
    hook: &Path,
    config: &str,
    hello: &Path,
    rounds: usize,
) -> Result<(f64, f64), String> {
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    // The first start of each pays for reading the binary from disk: not a cold start
    // Lambda would see twice, and not what is compared.
    once(hook, &[("TRAFFIC_HOOK_CONFIG", config)])?;
    once(hello, &[])?;
    for _ in 0..rounds {
        ours.push(once(hook, &[("TRAFFIC_HOOK_CONFIG", config)])?);
        bare.push(once(hello, &[])?);
    }
    Ok((median(ours), median(bare)))
}

//! A server on an ephemeral loopback port that stops when dropped.

use std::net::SocketAddr;
use tokio::task::JoinHandle;

/// A running fake. Dropping it stops the server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Serves `router` on 127.0.0.1 at an ephemeral port.
    pub async fn start(router: axum::Router) -> std::io::Result<Self> {
        Self::start_on(router, 0).await
    }

    /// Serves `router` on 127.0.0.1:`port` (0 for any).
    pub async fn start_on(router: axum::Router, port: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "fake server stopped");
            }
        });
        Ok(Self { addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

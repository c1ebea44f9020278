//! A TLS endpoint with a self-signed certificate (`testkit/fixtures/tls/`), to show
//! how a hook meets an endpoint it must not trust: the handshake fails on the client.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// A listening TLS endpoint; dropping it stops it.
#[derive(Debug)]
pub struct SelfSignedTls {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SelfSignedTls {
    /// Listens on 127.0.0.1 at an ephemeral port and completes TLS handshakes with the
    /// fixture's self-signed certificate; a client that trusts it would get a 200.
    pub async fn start() -> std::io::Result<Self> {
        let dir = crate::testkit_dir().join("fixtures/tls");
        let invalid = |e: rustls::pki_types::pem::Error| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
        };
        let cert = CertificateDer::from_pem_file(dir.join("self-signed.crt")).map_err(invalid)?;
        let key = PrivateKeyDer::from_pem_file(dir.join("self-signed.key")).map_err(invalid)?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(vec![cert], key))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt as _;
                    if let Ok(mut tls) = acceptor.accept(stream).await {
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await;
                    }
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for SelfSignedTls {
    fn drop(&mut self) {
        self.task.abort();
    }
}

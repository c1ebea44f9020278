//! HTTP/1.1 over TCP or TLS, for the `http` check and `load`: connections made with
//! tokio and rustls, requests and responses framed by [`crate::wire`].
//!
//! Why not a general client: `load` must spend as little CPU per request as wrk
//! (`make bench` holds it to that), so it writes one encoded request again and again
//! and only frames the answers; the `http` check shares the code so both see
//! the same TLS, errors and bounds. TLS roots (the system's) are loaded at the first
//! `https` request, once.

use crate::error::EffectError;
use crate::wire::{encode_request, parse_head, Head, Target, MAX_HEAD};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Where the read buffer starts; it grows to hold a large head, up to [`MAX_HEAD`].
const BUFFER: usize = 16 * 1024;

/// A failure on the wire, as the effect error checks report.
fn failed(message: impl Into<String>, retryable: bool) -> EffectError {
    EffectError {
        operation: "HTTP",
        message: message.into(),
        retryable,
    }
}

/// A TCP connection, with TLS or without.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TLS client config: the system's roots, made at the first `https` request.
fn tls() -> Result<Arc<rustls::ClientConfig>, EffectError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no TLS root certificates found on this system{}",
                    found
                        .errors
                        .first()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ));
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(|e| failed(e, false))
}

/// Where a response body goes.
pub(crate) trait BodySink: Send {
    /// The head arrived: a declared length may be refused before the body is read.
    fn head(&mut self, _head: &Head) -> Result<(), String> {
        Ok(())
    }

    /// The next piece of the body.
    fn data(&mut self, data: &[u8]) -> Result<(), String>;
}

/// The `http` check's body: kept up to `max_body`, refused beyond it.
impl BodySink for crate::bounded::Capped {
    fn head(&mut self, head: &Head) -> Result<(), String> {
        self.declared(head.content_length)
    }

    fn data(&mut self, data: &[u8]) -> Result<(), String> {
        self.push(data)
    }
}

/// One connection and what has been read from it but not used yet.
pub(crate) struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Whether the last response allows another request on this connection.
    reusable: bool,
    /// Whether any of the last response arrived.
    responded: bool,
}

impl Conn {
    /// Connects to `target` (resolving its host, and with TLS for `https`).
    pub(crate) async fn open(target: &Target) -> Result<Self, EffectError> {
        let addrs: Vec<std::net::SocketAddr> =
            tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|e| failed(format!("dns error: {e}"), true))?
                .collect();
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = match (tcp, last) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(failed(format!("connect: {e}"), true)),
            (None, None) => {
                return Err(failed(
                    format!("dns error: no address for {}", target.host),
                    true,
                ))
            }
        };
        // Requests are written whole: waiting to coalesce them only adds latency.
        tcp.set_nodelay(true)
            .map_err(|e| failed(format!("connect: {e}"), true))?;
        let stream = if target.tls {
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| failed(format!("TLS: `{}`: {e}", target.host), false))?;
            let tls = tokio_rustls::TlsConnector::from(tls()?)
                .connect(name, tcp)
                .await
                .map_err(|e| failed(format!("TLS: {e}"), false))?;
            Stream::Tls(Box::new(tls))
        } else {
            Stream::Plain(tcp)
        };
        Ok(Self {
            stream,
            buf: vec![0; BUFFER],
            start: 0,
            end: 0,
            reusable: true,
            responded: false,
        })
    }

    /// Whether another request may go on this connection.
    pub(crate) fn reusable(&self) -> bool {
        self.reusable
    }

    /// Whether the server has closed this idle connection (or sent what it should not
    /// have): checked without waiting, before a kept-alive connection is used again.
    pub(crate) fn closed_by_peer(&self) -> bool {
        let tcp = match &self.stream {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        };
        let mut byte = [0u8; 1];
        !matches!(tcp.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Whether any byte of the last response arrived: a request that failed before
    /// may be sent again on a new connection (the server had closed this one).
    pub(crate) fn responded(&self) -> bool {
        self.responded
    }

    /// Writes `request` (encoded) and reads its response: the head, with the body
    /// handed to `data` as it arrives. Interim (1xx) responses are skipped.
    pub(crate) async fn exchange(
        &mut self,
        request: &[u8],
        head_request: bool,
        keep_headers: bool,
        sink: &mut dyn BodySink,
    ) -> Result<Head, EffectError> {
        self.reusable = false;
        self.responded = self.start < self.end;
        self.stream
            .write_all(request)
            .await
            .map_err(|e| failed(format!("sending the request: {e}"), true))?;
        let mut head = loop {
            let parsed = parse_head(&self.buf[self.start..self.end], head_request, keep_headers)
                .map_err(|e| failed(e.0, false))?;
            match parsed {
                Some((head, used)) => {
                    self.start += used;
                    if (100..200).contains(&head.status) && head.status != 101 {
                        continue;
                    }
                    break head;
                }
                None => self.fill().await?,
            }
        };
        sink.head(&head).map_err(|e| failed(e, false))?;
        while !head.body.is_done() {
            if self.start == self.end && self.read_more().await? == 0 {
                head.body.closed().map_err(|e| failed(e.0, true))?;
                break;
            }
            let used = head
                .body
                .feed(&self.buf[self.start..self.end], &mut |d| sink.data(d))
                .map_err(|e| failed(e.0, false))?;
            self.start += used;
        }
        self.reusable = head.keep_alive && head.status != 101;
        Ok(head)
    }

    /// Reads more of a head, keeping what is there; fails at EOF.
    async fn fill(&mut self) -> Result<(), EffectError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // parse_head refuses a head of MAX_HEAD bytes, so this stops growing there.
            let grown = (self.buf.len() * 2).min(MAX_HEAD + BUFFER);
            self.buf.resize(grown, 0);
        }
        let n = self
            .stream
            .read(&mut self.buf[self.end..])
            .await
            .map_err(|e| failed(format!("reading the response: {e}"), true))?;
        if n == 0 {
            return Err(failed("the connection closed before a response", true));
        }
        self.responded = true;
        self.end += n;
        Ok(())
    }

    /// Reads the next bytes of a body into the emptied buffer; 0 at EOF.
    async fn read_more(&mut self) -> Result<usize, EffectError> {
        self.start = 0;
        self.end = self
            .stream
            .read(&mut self.buf[..])
            .await
            .map_err(|e| failed(format!("reading the response: {e}"), true))?;
        Ok(self.end)
    }
}

/// Sends one request on a connection of its own and reads the response, keeping
/// headers and body (bounded by `data`). No redirects: the caller follows them.
pub(crate) async fn send_once(
    target: &Target,
    request: &[u8],
    head_request: bool,
    sink: &mut dyn BodySink,
) -> Result<Head, EffectError> {
    let mut conn = Conn::open(target).await?;
    conn.exchange(request, head_request, true, sink).await
}

/// The encoded form of a request to `target`.
pub(crate) fn encode(
    method: &str,
    target: &Target,
    headers: &std::collections::BTreeMap<String, String>,
    body: Option<&[u8]>,
) -> Result<Vec<u8>, EffectError> {
    encode_request(
        method,
        target,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        body,
    )
    .map_err(|e| failed(e, false))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A scripted HTTP/1.1 server on loopback: for each connection in turn, reads one
    /// request per scripted response and writes it, then closes the connection.
    /// Returns its URL and the requests it read (head and body, as text).
    pub(crate) async fn scripted(
        connections: Vec<Vec<&'static [u8]>>,
    ) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for responses in connections {
                let (mut s, _) = listener.accept().await.unwrap();
                for response in responses {
                    seen.push(read_request(&mut s).await);
                    s.write_all(response).await.unwrap();
                }
            }
            seen
        });
        (url, task)
    }

    async fn read_request(s: &mut TcpStream) -> String {
        let mut req = Vec::new();
        let mut byte = [0u8; 1];
        while !req.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            req.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&req).into_owned();
        let length = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        s.read_exact(&mut body).await.unwrap();
        text + &String::from_utf8_lossy(&body)
    }

    struct Keep(Vec<u8>);

    impl BodySink for Keep {
        fn data(&mut self, data: &[u8]) -> Result<(), String> {
            self.0.extend_from_slice(data);
            Ok(())
        }
    }

    fn get(target: &Target) -> Vec<u8> {
        encode("GET", target, &Default::default(), None).unwrap()
    }

    #[tokio::test]
    async fn one_connection_carries_chunked_then_close_delimited_answers() {
        let (url, server) = scripted(vec![vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\nbye",
        ]])
        .await;
        let target = Target::parse(&url).unwrap();
        let mut conn = Conn::open(&target).await.unwrap();
        let mut body = Keep(Vec::new());
        let head = conn
            .exchange(&get(&target), false, true, &mut body)
            .await
            .unwrap();
        assert_eq!(
            (head.status, body.0.as_slice(), conn.reusable()),
            (200, &b"hello"[..], true)
        );
        let mut body = Keep(Vec::new());
        conn.exchange(&get(&target), false, false, &mut body)
            .await
            .unwrap();
        assert_eq!(
            (body.0.as_slice(), conn.reusable()),
            (&b"bye"[..], false),
            "read to the close"
        );
        assert_eq!(server.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn interim_answers_are_skipped() {
        let (url, _server) = scripted(vec![vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
        ]])
        .await;
        let target = Target::parse(&url).unwrap();
        let mut body = Keep(Vec::new());
        let head = send_once(&target, &get(&target), false, &mut body)
            .await
            .unwrap();
        assert_eq!((head.status, body.0.as_slice()), (201, &b"ok"[..]));
    }

    #[tokio::test]
    async fn a_body_cut_short_or_a_garbled_answer_is_an_error() {
        let (url, _server) = scripted(vec![
            vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"],
            vec![b"not http at all\r\n\r\n"],
        ])
        .await;
        let target = Target::parse(&url).unwrap();
        let e = send_once(&target, &get(&target), false, &mut Keep(Vec::new()))
            .await
            .unwrap_err();
        assert_eq!(e.message, "the connection closed before the body ended");
        let e = send_once(&target, &get(&target), false, &mut Keep(Vec::new()))
            .await
            .unwrap_err();
        assert!(
            e.message.starts_with("not an HTTP/1.x response"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn a_declared_body_over_max_body_is_refused_before_it_is_read() {
        let (url, _server) = scripted(vec![vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 52428800\r\n\r\n",
        ]])
        .await;
        let target = Target::parse(&url).unwrap();
        let mut capped = crate::bounded::Capped::new(1024, true, None).unwrap();
        let e = send_once(&target, &get(&target), false, &mut capped)
            .await
            .unwrap_err();
        assert!(
            e.message
                .contains("larger than max_body 1.0 KiB (content-length 50.0 MiB)"),
            "{}",
            e.message
        );
    }
}

//! HTTP/1.1 on the wire, without I/O: a request encoded once ([`Target`],
//! [`encode_request`]), a response head parsed with httparse ([`parse_head`]), and its
//! body framed ([`Body`]: a length, chunks, or until the connection closes) so the
//! connection can carry the next request.
//!
//! `load` sends one encoded request again and again over a few connections, so this
//! is its whole per-request cost besides the socket: no header maps, no allocation
//! for a response it only counts. The `http` check uses the same code and keeps the
//! headers and body. Everything is bounded: a head larger than [`MAX_HEAD`] or with
//! more than [`MAX_HEADERS`] headers is an error, and a body is handed on as it
//! arrives, never gathered here.

use std::fmt::Write as _;

/// The largest response head read (status line and headers).
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// The most headers a response may have.
pub(crate) const MAX_HEADERS: usize = 100;

/// Where a request goes: parsed from its URL once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `https`.
    pub(crate) tls: bool,
    /// The host to connect to (no brackets around an IPv6 address).
    pub(crate) host: String,
    /// The port (the scheme's default when the URL has none).
    pub(crate) port: u16,
    /// The `Host` header: host, and port when not the default.
    pub(crate) authority: String,
    /// Path and query.
    pub(crate) path: String,
}

impl Target {
    /// Reads an absolute `http` or `https` URL.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let u = url::Url::parse(url).map_err(|e| format!("not an absolute URL: {e}"))?;
        let tls = match u.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(format!("scheme `{other}` is not http or https")),
        };
        let host = match u.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err("the URL has no host".to_owned()),
        };
        let port = u
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let shown = match u.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            _ => host.clone(),
        };
        let authority = match u.port() {
            Some(p) => format!("{shown}:{p}"),
            None => shown,
        };
        let mut path = u.path().to_owned();
        if let Some(q) = u.query() {
            path.push('?');
            path.push_str(q);
        }
        Ok(Self {
            tls,
            host,
            port,
            authority,
            path,
        })
    }

    /// Whether two targets are one origin (scheme, host, port): credentials may go to
    /// the same origin only, when a redirect leads elsewhere.
    pub(crate) fn same_origin(&self, other: &Self) -> bool {
        self.tls == other.tls
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
    }
}

/// The bytes of one request. `Host`, `user-agent` and `content-length` are added
/// unless `headers` has them. A header name or value that could end the header line
/// (CR, LF, NUL) is an error: it would let a value smuggle in headers of its own.
pub(crate) fn encode_request<'a>(
    method: &str,
    target: &Target,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let mut head = String::with_capacity(256);
    // Writing to a String cannot fail.
    let _ = write!(head, "{method} {} HTTP/1.1\r\n", target.path);
    let (mut host, mut agent, mut length) = (false, false, false);
    for (name, value) in headers {
        if name
            .bytes()
            .any(|b| matches!(b, b'\r' | b'\n' | b'\0' | b':'))
            || name.is_empty()
        {
            return Err(format!(
                "header name `{}` is not valid",
                name.escape_debug()
            ));
        }
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
            // The value may be a secret: name the header, never show the value.
            return Err(format!(
                "header `{name}` has a line break or NUL in its value"
            ));
        }
        host |= name.eq_ignore_ascii_case("host");
        agent |= name.eq_ignore_ascii_case("user-agent");
        length |= name.eq_ignore_ascii_case("content-length");
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if !host {
        let _ = write!(head, "host: {}\r\n", target.authority);
    }
    if !agent {
        head.push_str(concat!(
            "user-agent: traffic-hook/",
            env!("CARGO_PKG_VERSION"),
            "\r\n"
        ));
    }
    let body = body.unwrap_or_default();
    if !length && (!body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH")) {
        let _ = write!(head, "content-length: {}\r\n", body.len());
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    Ok(bytes)
}

/// A response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// The status code.
    pub(crate) status: u16,
    /// Names (lower-case) and values, when asked for.
    pub(crate) headers: Vec<(String, String)>,
    /// How the body is delimited.
    pub(crate) body: Body,
    /// Whether the connection may carry another request afterwards.
    pub(crate) keep_alive: bool,
    /// The declared `content-length`, if any.
    pub(crate) content_length: Option<u64>,
}

/// What went wrong on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct WireError(pub(crate) String);

fn bad(what: impl Into<String>) -> WireError {
    WireError(what.into())
}

/// Parses a response head at the start of `buf`: `Ok(None)` when more bytes are
/// needed, else the head and how many bytes it took. Interim (1xx) responses are
/// returned like any other; the caller skips them. `head_request`: the request was a
/// `HEAD`, whose response has no body whatever it declares.
pub(crate) fn parse_head(
    buf: &[u8],
    head_request: bool,
    keep_headers: bool,
) -> Result<Option<(Head, usize)>, WireError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut slots);
    let used = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(bad(format!(
                "the response head is larger than {} KiB",
                MAX_HEAD / 1024
            )))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(bad(format!(
                "the response has more than {MAX_HEADERS} headers"
            )))
        }
        Err(e) => return Err(bad(format!("not an HTTP/1.x response: {e}"))),
    };
    let status = resp.code.unwrap_or_default();
    let http10 = resp.version == Some(0);
    let (mut length, mut chunked, mut encoded) = (None::<u64>, false, false);
    let mut keep_alive = !http10;
    let mut headers = Vec::new();
    for h in resp.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value).unwrap_or_default().trim();
            let n: u64 = text
                .parse()
                .map_err(|_| bad("content-length is not a number"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("two different content-length headers"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            encoded = true;
            // Only the last coding frames the body.
            chunked = h
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    keep_alive = true;
                }
            }
        }
        if keep_headers {
            headers.push((
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            ));
        }
    }
    // RFC 9112 section 6.3, in its order.
    let body = if head_request || status < 200 || status == 204 || status == 304 {
        Body::Done
    } else if encoded && chunked {
        Body::Chunked(Chunk::Size { n: 0, digits: 0 })
    } else if encoded {
        Body::UntilClose
    } else if let Some(n) = length {
        if n == 0 {
            Body::Done
        } else {
            Body::Length(n)
        }
    } else {
        Body::UntilClose
    };
    if body == Body::UntilClose {
        keep_alive = false;
    }
    Ok(Some((
        Head {
            status,
            headers,
            body,
            keep_alive,
            content_length: length.filter(|_| !encoded),
        },
        used,
    )))
}

/// Where a body stands: how much is left, or where in the chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// This many bytes are left.
    Length(u64),
    /// Chunked, at this point of a chunk.
    Chunked(Chunk),
    /// Everything until the server closes the connection.
    UntilClose,
    /// Read to the end.
    Done,
}

/// A point in a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Reading the chunk size: its value so far and how many hex digits.
    Size { n: u64, digits: u8 },
    /// Skipping a chunk extension up to the end of the line.
    Extension { n: u64 },
    /// The size line's LF.
    SizeLf { n: u64 },
    /// Inside a chunk's data: this many bytes left.
    Data(u64),
    /// The CR after the data.
    DataCr,
    /// The LF after the data.
    DataLf,
    /// In the trailer section; `at_start`: at the start of a line.
    Trailer { at_start: bool },
    /// The final LF.
    EndLf,
}

impl Body {
    /// Whether the body has been read to its end.
    pub(crate) fn is_done(&self) -> bool {
        *self == Body::Done
    }

    /// Takes body bytes from the start of `input`, handing the data (not the chunk
    /// framing) to `data`; returns how many bytes of `input` were the body's. Bytes
    /// after the body's end are left.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        data: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<usize, WireError> {
        match self {
            Body::Done => Ok(0),
            Body::UntilClose => {
                data(input).map_err(WireError)?;
                Ok(input.len())
            }
            Body::Length(left) => {
                let take = input
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                data(&input[..take]).map_err(WireError)?;
                *left -= take as u64;
                if *left == 0 {
                    *self = Body::Done;
                }
                Ok(take)
            }
            Body::Chunked(state) => {
                let mut at = 0;
                while at < input.len() {
                    if let Chunk::Data(left) = state {
                        let take =
                            (input.len() - at).min(usize::try_from(*left).unwrap_or(usize::MAX));
                        data(&input[at..at + take]).map_err(WireError)?;
                        *left -= take as u64;
                        at += take;
                        if *left == 0 {
                            *state = Chunk::DataCr;
                        }
                        continue;
                    }
                    let b = input[at];
                    at += 1;
                    *state = match (*state, b) {
                        (Chunk::Size { n, digits }, b) if b.is_ascii_hexdigit() => {
                            if digits >= 16 {
                                return Err(bad("a chunk size is too large"));
                            }
                            let d = u64::from((b as char).to_digit(16).unwrap_or(0));
                            Chunk::Size {
                                n: (n << 4) | d,
                                digits: digits + 1,
                            }
                        }
                        (Chunk::Size { digits: 0, .. }, _) => {
                            return Err(bad("a chunk does not start with its size"))
                        }
                        (Chunk::Size { n, .. }, b';' | b' ' | b'\t') => Chunk::Extension { n },
                        (Chunk::Size { n, .. } | Chunk::Extension { n }, b'\r') => {
                            Chunk::SizeLf { n }
                        }
                        (Chunk::Extension { n }, _) => Chunk::Extension { n },
                        (Chunk::SizeLf { n: 0 }, b'\n') => Chunk::Trailer { at_start: true },
                        (Chunk::SizeLf { n }, b'\n') => Chunk::Data(n),
                        (Chunk::DataCr, b'\r') => Chunk::DataLf,
                        (Chunk::DataLf, b'\n') => Chunk::Size { n: 0, digits: 0 },
                        (Chunk::Trailer { at_start: true }, b'\r') => Chunk::EndLf,
                        (Chunk::Trailer { .. }, b'\n') => Chunk::Trailer { at_start: true },
                        (Chunk::Trailer { .. }, _) => Chunk::Trailer { at_start: false },
                        (Chunk::EndLf, b'\n') => {
                            *self = Body::Done;
                            return Ok(at);
                        }
                        _ => return Err(bad("malformed chunked body")),
                    };
                }
                Ok(at)
            }
        }
    }

    /// The connection closed: the end of an `UntilClose` body, else an error.
    pub(crate) fn closed(&mut self) -> Result<(), WireError> {
        match self {
            Body::UntilClose | Body::Done => {
                *self = Body::Done;
                Ok(())
            }
            _ => Err(bad("the connection closed before the body ended")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    /// Feeds `input` in pieces of `step` bytes; the data and what was left.
    fn feed_all(body: &mut Body, input: &[u8], step: usize) -> Result<(Vec<u8>, usize), WireError> {
        let mut out = Vec::new();
        let mut used = 0;
        for piece in input.chunks(step) {
            let mut at = 0;
            while at < piece.len() && !body.is_done() {
                let n = body.feed(&piece[at..], &mut |d| {
                    out.extend_from_slice(d);
                    Ok(())
                })?;
                at += n;
                used += n;
            }
        }
        Ok((out, input.len() - used))
    }

    #[test]
    fn a_request_carries_host_agent_and_length_unless_given() {
        let t = target("http://127.0.0.1:8080/health?x=1");
        let bytes = encode_request("POST", &t, [("x-a", "1")], Some(b"{}")).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("POST /health?x=1 HTTP/1.1\r\nx-a: 1\r\nhost: 127.0.0.1:8080\r\n"),
            "{text}"
        );
        assert!(text.contains("user-agent: traffic-hook/"), "{text}");
        assert!(text.ends_with("content-length: 2\r\n\r\n{}"), "{text}");
        let own = encode_request("GET", &t, [("Host", "example.com")], None).unwrap();
        let own = String::from_utf8(own).unwrap();
        assert!(
            own.contains("Host: example.com\r\n") && !own.contains("host: 127"),
            "{own}"
        );
        assert!(!own.contains("content-length"), "{own}");
    }

    #[test]
    fn a_header_value_with_a_line_break_is_refused_without_showing_it() {
        let t = target("https://api.example.com/");
        let e = encode_request("GET", &t, [("authorization", "s3cret\r\nx-evil: 1")], None)
            .unwrap_err();
        assert_eq!(
            e,
            "header `authorization` has a line break or NUL in its value"
        );
    }

    #[test]
    fn targets_know_their_default_ports_and_ipv6_hosts() {
        let t = target("https://api.example.com");
        assert_eq!(
            (t.tls, t.port, t.authority.as_str(), t.path.as_str()),
            (true, 443, "api.example.com", "/")
        );
        let t = target("http://[::1]:9000/a");
        assert_eq!(
            (t.host.as_str(), t.authority.as_str()),
            ("::1", "[::1]:9000")
        );
        assert!(target("http://a:80/").same_origin(&target("http://A/x")));
        assert!(!target("http://a/").same_origin(&target("https://a/")));
        assert!(Target::parse("ftp://a/")
            .unwrap_err()
            .contains("scheme `ftp`"));
    }

    #[test]
    fn heads_give_status_framing_and_keep_alive() {
        let (h, n) = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            false,
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (h.status, h.body, h.keep_alive, n),
            (200, Body::Length(5), true, 38)
        );
        assert_eq!(h.headers, [("content-length".to_owned(), "5".to_owned())]);
        let (h, _) = parse_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            false,
            false,
        )
        .unwrap()
        .unwrap();
        assert!(matches!(h.body, Body::Chunked(_)) && h.headers.is_empty());
        let (h, _) = parse_head(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!((h.body, h.keep_alive), (Body::Done, false));
        let (h, _) = parse_head(b"HTTP/1.0 200 OK\r\n\r\n", false, false)
            .unwrap()
            .unwrap();
        assert_eq!((h.body, h.keep_alive), (Body::UntilClose, false));
        let (h, _) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true, false)
            .unwrap()
            .unwrap();
        assert_eq!(h.body, Body::Done, "a HEAD response has no body");
        let (h, _) = parse_head(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            false,
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.body, Body::Done);
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", false, false).unwrap(),
            None
        );
    }

    #[test]
    fn bad_heads_are_errors_that_say_why() {
        let e = |b: &[u8]| parse_head(b, false, false).unwrap_err().0;
        assert!(e(b"SSH-2.0-OpenSSH\r\n\r\n").starts_with("not an HTTP/1.x response"));
        assert_eq!(
            e(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n"),
            "content-length is not a number"
        );
        assert_eq!(
            e(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
            "two different content-length headers"
        );
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "a: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(e(many.as_bytes()).contains("more than 100 headers"));
        let huge = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD));
        assert!(e(huge.as_bytes()).contains("larger than 64 KiB"));
    }

    #[test]
    fn chunked_bodies_decode_in_any_pieces_and_leave_what_follows() {
        let wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        for step in 1..wire.len() {
            let mut body = Body::Chunked(Chunk::Size { n: 0, digits: 0 });
            let (data, left) = feed_all(&mut body, wire, step).unwrap();
            assert_eq!(
                (data.as_slice(), left, body),
                (&b"hello world"[..], 4, Body::Done),
                "step {step}"
            );
        }
    }

    #[test]
    fn malformed_chunks_are_errors() {
        for wire in [
            &b"x\r\n"[..],
            b"5\r\nhelloX",
            b"11111111111111111\r\n",
            b"\r\n",
        ] {
            let mut body = Body::Chunked(Chunk::Size { n: 0, digits: 0 });
            assert!(
                feed_all(&mut body, wire, wire.len()).is_err(),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn a_length_body_stops_at_its_length_and_a_closed_one_at_eof() {
        let mut body = Body::Length(3);
        let (data, left) = feed_all(&mut body, b"abcdef", 2).unwrap();
        assert_eq!((data.as_slice(), left, body), (&b"abc"[..], 3, Body::Done));
        let mut body = Body::Length(3);
        feed_all(&mut body, b"ab", 2).unwrap();
        assert!(body.closed().is_err(), "cut short");
        let mut body = Body::UntilClose;
        let (data, _) = feed_all(&mut body, b"abc", 1).unwrap();
        assert_eq!(data, b"abc");
        assert!(body.closed().is_ok() && body.is_done());
    }

    #[test]
    fn the_data_sink_can_refuse_a_body() {
        let mut body = Body::Length(10);
        let e = body
            .feed(b"0123456789", &mut |_| Err("too large".to_owned()))
            .unwrap_err();
        assert_eq!(e.0, "too large");
    }
}

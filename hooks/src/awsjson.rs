//! AWS JSON 1.1 calls written by hand on [`crate::net`]: CodeDeploy's, for a hook's
//! discovery and report.
//!
//! Why not the SDK's client: a warm invocation makes three CodeDeploy calls one after
//! another (targets, target, report), and `make bench` found the SDK's orchestrator
//! (interceptors, runtime components, hyper's pool, type-erased bodies) at about 80% of
//! a warm invocation's CPU, some 0.3 ms a call on the bench machine. The calls are
//! small JSON documents: a request is signed with SigV4 (`aws-sigv4`, the SDK's own
//! signer) and written on a kept-alive connection; a response is framed by
//! [`crate::wire`] and read as JSON, bounded. The testkit's fake answers the same wire
//! format and boto3 checks the fake against botocore's model.
//!
//! What the SDK gave that is kept: the shared config's credentials, region and
//! endpoint (`AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`), FIPS and
//! dual-stack endpoints, and the standard retry mode for reads (3 attempts, jittered
//! exponential backoff, for throttling, 5xx and connection errors).

use crate::bounded::Capped;
use crate::error::EffectError;
use crate::net;
use crate::sdk::Aws;
use crate::wire::Target;
use aws_credential_types::Credentials;
use serde_json::Value;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

/// The largest response read; CodeDeploy's answers (an inline AppSpec at most) are
/// far smaller.
const MAX_RESPONSE: usize = 1 << 20;

/// Attempts of a read call, as the SDK's standard retry mode makes.
pub(crate) const READ_ATTEMPTS: u32 = 3;

/// The standard retry mode's backoff: a random part of `INITIAL × 2^attempt`, at most
/// `MAX`.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// How long a connection may take to open (the SDK's HTTP client default).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Idle connections kept per client: discovery makes two calls at once.
const IDLE: usize = 4;

/// A service spoken in AWS JSON 1.1.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Service {
    /// The endpoint prefix and SigV4 signing name (`codedeploy`).
    pub(crate) name: &'static str,
    /// The `X-Amz-Target` prefix (`CodeDeploy_20141006`).
    pub(crate) target: &'static str,
    /// The suffix of its endpoint variable (`AWS_ENDPOINT_URL_CODEDEPLOY`).
    pub(crate) env: &'static str,
}

/// CodeDeploy.
pub(crate) const CODEDEPLOY: Service = Service {
    name: "codedeploy",
    target: "CodeDeploy_20141006",
    env: "CODEDEPLOY",
};

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallError {
    /// The service's error code (`DeploymentDoesNotExistException`), when it answered.
    pub(crate) code: Option<String>,
    /// `Code: message` for a service error, the cause otherwise.
    pub(crate) message: String,
    /// Throttling, a 5xx, a connection error: another attempt may succeed.
    pub(crate) retryable: bool,
}

impl CallError {
    /// The effect error of `operation`.
    pub(crate) fn effect(self, operation: &'static str) -> EffectError {
        EffectError {
            operation,
            message: self.message,
            retryable: self.retryable,
        }
    }

    fn local(message: impl Into<String>) -> Self {
        Self {
            code: None,
            message: crate::error::one_line(&message.into()),
            retryable: false,
        }
    }
}

impl From<EffectError> for CallError {
    fn from(e: EffectError) -> Self {
        Self {
            code: None,
            message: e.message,
            retryable: e.retryable,
        }
    }
}

/// Where a client's calls go.
#[derive(Debug, Clone)]
struct Endpoint {
    url: String,
    target: Target,
    region: String,
}

/// A client of one service: its endpoint resolved at the first call, connections
/// kept alive between calls (and between warm invocations).
pub(crate) struct Client {
    aws: Arc<Aws>,
    service: Service,
    endpoint: OnceLock<Result<Endpoint, String>>,
    idle: Mutex<Vec<net::Conn>>,
    keys: Keys,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("service", &self.service.name)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of `service` with `aws`'s credentials, region and endpoints.
    pub(crate) fn new(aws: Arc<Aws>, service: Service) -> Self {
        Self {
            aws,
            service,
            endpoint: OnceLock::new(),
            idle: Mutex::new(Vec::new()),
            keys: Keys::default(),
        }
    }

    /// Calls `operation` with `input`, up to `attempts` times while the error is
    /// retryable.
    pub(crate) async fn call(
        &self,
        operation: &str,
        input: &Value,
        attempts: u32,
    ) -> Result<Value, CallError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(operation, input).await {
                Err(e) if e.retryable && attempt < attempts => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                done => return done,
            }
        }
    }

    /// Where calls go and the region they are signed for, resolved at the first call.
    async fn endpoint(&self) -> Result<&Endpoint, CallError> {
        if let Some(e) = self.endpoint.get() {
            return e.as_ref().map_err(|e| CallError::local(e.clone()));
        }
        let sdk = self.aws.sdk().await;
        let region = sdk.region().map(|r| r.to_string());
        let resolved = endpoint_url(
            std::env::var(format!("AWS_ENDPOINT_URL_{}", self.service.env)).ok(),
            sdk.endpoint_url(),
            region.as_deref(),
            sdk.use_fips().unwrap_or(false),
            sdk.use_dual_stack().unwrap_or(false),
            self.service.name,
        )
        .and_then(|url| {
            let target = Target::parse(&url).map_err(|e| format!("endpoint `{url}`: {e}"))?;
            let region = region.ok_or("no region: set AWS_REGION")?;
            Ok(Endpoint {
                url,
                target,
                region,
            })
        });
        self.endpoint
            .get_or_init(|| resolved)
            .as_ref()
            .map_err(|e| CallError::local(e.clone()))
    }

    async fn attempt(&self, operation: &str, input: &Value) -> Result<Value, CallError> {
        let Endpoint {
            url,
            target,
            region,
        } = self.endpoint().await?;
        let body = serde_json::to_vec(input).map_err(|e| CallError::local(e.to_string()))?;
        let mut headers = vec![
            (
                "content-type".to_owned(),
                "application/x-amz-json-1.1".to_owned(),
            ),
            (
                "x-amz-target".to_owned(),
                format!("{}.{operation}", self.service.target),
            ),
        ];
        let signed = if target.path == "/" {
            let credentials = self.aws.credentials().await.map_err(CallError::local)?;
            self.keys.sign(
                &credentials,
                region,
                self.service.name,
                &target.authority,
                &headers[1].1,
                &body,
                SystemTime::now(),
            )
        } else {
            signature(
                &self.aws,
                region,
                self.service.name,
                "POST",
                url,
                &headers,
                &body,
            )
            .await
            .map_err(CallError::local)?
        };
        headers.extend(signed);
        let request = crate::wire::encode_request(
            "POST",
            target,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            Some(&body),
        )
        .map_err(CallError::local)?;
        let (status, reply) = self.exchange(target, &request).await?;
        answer(status, &reply)
    }

    /// Sends `request` on an idle connection the server has not closed, or a new one.
    /// A failure after the request was written is the attempt's: it is not sent again
    /// here (the caller's retries decide), so attempts are counted honestly.
    async fn exchange(&self, target: &Target, request: &[u8]) -> Result<(u16, Head), CallError> {
        let pooled = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            std::iter::from_fn(|| idle.pop()).find(|c| !c.closed_by_peer())
        };
        let mut conn = match pooled {
            Some(c) => c,
            None => tokio::time::timeout(CONNECT_TIMEOUT, net::Conn::open(target))
                .await
                .map_err(|_| CallError {
                    code: None,
                    message: format!(
                        "connect: timed out after {}",
                        crate::duration::format(CONNECT_TIMEOUT)
                    ),
                    retryable: true,
                })??,
        };
        let mut body = Capped::new(MAX_RESPONSE, true, None).map_err(CallError::local)?;
        let head = conn.exchange(request, false, true, &mut body).await?;
        if conn.reusable() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < IDLE {
                idle.push(conn);
            }
        }
        let error_type = head
            .headers
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amzn-errortype"))
            .map(|(_, v)| v);
        Ok((
            head.status,
            Head {
                error_type,
                body: body.finish(),
            },
        ))
    }
}

/// The SigV4 signing key of the current day, region, service and access key: deriving
/// it takes four HMACs, more than signing a request with it.
#[derive(Default)]
struct Keys(Mutex<Option<(String, Vec<u8>)>>);

impl Keys {
    /// The SigV4 headers (`x-amz-date`, `x-amz-security-token`, `authorization`) of an
    /// AWS JSON request: `POST /` with exactly the headers `content-type`, `host`,
    /// `x-amz-date`, `x-amz-security-token` (with a session token) and `x-amz-target`,
    /// signed as `aws-sigv4` signs it (a test holds the two to the same bytes), without
    /// its general request model: every call of a warm invocation pays for signing.
    #[allow(clippy::too_many_arguments)]
    fn sign(
        &self,
        credentials: &Credentials,
        region: &str,
        service: &str,
        host: &str,
        amz_target: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Vec<(String, String)> {
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let amz_date: String = aws_smithy_types::DateTime::from_secs(secs as i64)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default()
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        let day = amz_date.get(..8).unwrap_or_default();
        let token = credentials.session_token();
        let signed_headers = if token.is_some() {
            "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        } else {
            "content-type;host;x-amz-date;x-amz-target"
        };
        let mut canonical = String::with_capacity(512);
        let _ = write!(
            canonical,
            "POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:{host}\nx-amz-date:{amz_date}\n"
        );
        if let Some(token) = token {
            let _ = writeln!(canonical, "x-amz-security-token:{}", token.trim());
        }
        let _ = write!(
            canonical,
            "x-amz-target:{amz_target}\n\n{signed_headers}\n{}",
            sha256_hex(body)
        );
        let scope = format!("{day}/{region}/{service}/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let cache_key = format!("{day}/{region}/{service}/{}", credentials.access_key_id());
        let signature = {
            let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            match cached.as_ref() {
                Some((k, key)) if *k == cache_key => {
                    aws_sigv4::sign::v4::calculate_signature(key, to_sign.as_bytes())
                }
                _ => {
                    let key = aws_sigv4::sign::v4::generate_signing_key(
                        credentials.secret_access_key(),
                        now,
                        region,
                        service,
                    )
                    .as_ref()
                    .to_vec();
                    let signature =
                        aws_sigv4::sign::v4::calculate_signature(&key, to_sign.as_bytes());
                    *cached = Some((cache_key, key));
                    signature
                }
            }
        };
        let mut headers = vec![("x-amz-date".to_owned(), amz_date.clone())];
        if let Some(token) = token {
            headers.push(("x-amz-security-token".to_owned(), token.to_owned()));
        }
        headers.push((
            "authorization".to_owned(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                credentials.access_key_id()
            ),
        ));
        headers
    }
}

/// Lower-case hex of the SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest.iter() {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// What a call's response gave.
struct Head {
    /// `x-amzn-ErrorType`.
    error_type: Option<String>,
    body: Vec<u8>,
}

/// The SigV4 headers (`authorization`, `x-amz-date`, `x-amz-security-token`) for a
/// request, signed for `service` in `region` with the shared credentials.
pub(crate) async fn signature(
    aws: &Aws,
    region: &str,
    service: &str,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity = aws.credentials().await?.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let (signed, _) = instructions.into_parts();
    Ok(signed
        .into_iter()
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect())
}

/// The output of a 2xx, or the service's error.
fn answer(status: u16, reply: &Head) -> Result<Value, CallError> {
    let json: Option<Value> = serde_json::from_slice(&reply.body).ok();
    if (200..300).contains(&status) {
        return json.ok_or_else(|| CallError {
            code: None,
            message: format!("HTTP {status} with a body that is not JSON"),
            retryable: false,
        });
    }
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let code = reply
        .error_type
        .clone()
        .or_else(|| field("__type"))
        .or_else(|| field("code"))
        .map(|c| error_code(&c).to_owned())
        .filter(|c| !c.is_empty());
    let message = field("message").or_else(|| field("Message"));
    let retryable = status >= 500
        || status == 429
        || code
            .as_deref()
            .is_some_and(|c| crate::error::THROTTLING.contains(&c));
    let text = match (&code, message) {
        (Some(code), Some(msg)) if !msg.is_empty() => format!("{code}: {msg}"),
        (Some(code), _) => code.clone(),
        (None, Some(msg)) if !msg.is_empty() => msg,
        (None, _) => format!("HTTP {status} without an error code"),
    };
    Err(CallError {
        code,
        message: crate::error::one_line(&text),
        retryable,
    })
}

/// The code of an error type as AWS JSON gives it: `aws.protocoltests#FooError:http://...`
/// is `FooError`.
fn error_code(raw: &str) -> &str {
    let raw = raw.split(':').next().unwrap_or(raw);
    raw.rsplit('#').next().unwrap_or(raw).trim()
}

/// The pause after failed attempt `attempt` (from 1): full jitter, as the standard
/// retry mode does.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let ceiling = INITIAL_BACKOFF
        .saturating_mul(1 << (attempt - 1).min(8))
        .min(MAX_BACKOFF);
    // A random fraction without a random number crate: std's per-instance hasher keys.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    ceiling.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64)
}

/// Where calls go: the service's own variable, then `AWS_ENDPOINT_URL` (the shared
/// config's), then the service's regional endpoint.
fn endpoint_url(
    service_env: Option<String>,
    shared: Option<&str>,
    region: Option<&str>,
    fips: bool,
    dual_stack: bool,
    name: &str,
) -> Result<String, String> {
    if let Some(url) = service_env.filter(|u| !u.trim().is_empty()) {
        return Ok(url.trim().to_owned());
    }
    if let Some(url) = shared.filter(|u| !u.trim().is_empty()) {
        return Ok(url.trim().to_owned());
    }
    let region = region.ok_or("no region: set AWS_REGION")?;
    let suffix = match () {
        () if region.starts_with("cn-") => "amazonaws.com.cn",
        () if region.starts_with("us-isob-") => "sc2s.sgov.gov",
        () if region.starts_with("us-isof-") => "csp.hci.ic.gov",
        () if region.starts_with("us-iso-") => "c2s.ic.gov",
        () if region.starts_with("eu-isoe-") => "cloud.adc-e.uk",
        () if dual_stack && region.starts_with("cn-") => "api.amazonwebservices.com.cn",
        () if dual_stack => "api.aws",
        () => "amazonaws.com",
    };
    let name = if fips {
        format!("{name}-fips")
    } else {
        name.to_owned()
    };
    Ok(format!("https://{name}.{region}.{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tests::scripted;

    fn client(endpoint: &str) -> Client {
        let aws = Aws::new(crate::sdk::Chain::Local);
        aws.preload(
            aws_config::SdkConfig::builder()
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(endpoint)
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(
                        aws_credential_types::Credentials::new(
                            "AKIDTEST", "secret", None, None, "test",
                        ),
                    ),
                )
                .build(),
        );
        Client::new(aws, CODEDEPLOY)
    }

    const OK: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: 16\r\n\r\n{\"targetIds\":[]}";

    #[tokio::test]
    async fn a_call_is_signed_json_with_its_target_and_keeps_the_connection() {
        let (url, server) = scripted(vec![vec![OK, OK]]).await;
        let c = client(&url);
        for _ in 0..2 {
            let out = c
                .call(
                    "ListDeploymentTargets",
                    &serde_json::json!({"deploymentId": "d-1"}),
                    1,
                )
                .await
                .unwrap();
            assert_eq!(out, serde_json::json!({"targetIds": []}));
        }
        let seen = server.await.unwrap();
        assert_eq!(seen.len(), 2, "both calls on one connection");
        let first = seen[0].to_ascii_lowercase();
        assert!(first.starts_with("post / http/1.1"), "{first}");
        assert!(first.contains("x-amz-target: codedeploy_20141006.listdeploymenttargets"));
        assert!(first.contains("content-type: application/x-amz-json-1.1"));
        assert!(first.contains("authorization: aws4-hmac-sha256 credential=akidtest/"));
        assert!(first.contains("/us-east-1/codedeploy/aws4_request"));
        assert!(
            seen[0].ends_with(r#"{"deploymentId":"d-1"}"#),
            "{}",
            seen[0]
        );
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_not_reused() {
        // The first connection answers once and closes; the second call must go on a
        // new connection, in one attempt.
        let (url, server) = scripted(vec![vec![OK], vec![OK]]).await;
        let c = client(&url);
        c.call("ListDeploymentTargets", &serde_json::json!({}), 1)
            .await
            .unwrap();
        // Let the server's task close its side (loopback delivers the FIN at once).
        for _ in 0..10_000 {
            let closed = {
                let idle = c.idle.lock().unwrap();
                idle.len() == 1 && idle[0].closed_by_peer()
            };
            if closed {
                break;
            }
            tokio::task::yield_now().await;
        }
        c.call("ListDeploymentTargets", &serde_json::json!({}), 1)
            .await
            .unwrap();
        assert_eq!(server.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn the_fast_signature_is_the_same_as_aws_sigv4s() {
        let keys = Keys::default();
        let body = br#"{"deploymentId":"d-ABCDEF123"}"#;
        for (credentials, host) in [
            (
                Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", None, None, "t"),
                "codedeploy.eu-west-1.amazonaws.com",
            ),
            (
                Credentials::new(
                    "AKID2",
                    "secret2",
                    Some("a-session-token".into()),
                    None,
                    "t",
                ),
                "127.0.0.1:4566",
            ),
        ] {
            let url = format!("http://{host}/");
            for now in [
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_711_186),
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_800_000),
            ] {
                let target = "CodeDeploy_20141006.GetDeployment";
                let fast = keys.sign(
                    &credentials,
                    "eu-west-1",
                    "codedeploy",
                    host,
                    target,
                    body,
                    now,
                );
                // The reference: aws-sigv4's general signer on the same request.
                use aws_sigv4::http_request::{
                    sign, SignableBody, SignableRequest, SigningSettings,
                };
                let identity = credentials.clone().into();
                let params = aws_sigv4::sign::v4::SigningParams::builder()
                    .identity(&identity)
                    .region("eu-west-1")
                    .name("codedeploy")
                    .time(now)
                    .settings(SigningSettings::default())
                    .build()
                    .unwrap()
                    .into();
                let headers = [
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", target),
                ];
                let signable = SignableRequest::new(
                    "POST",
                    &url,
                    headers.into_iter(),
                    SignableBody::Bytes(body),
                )
                .unwrap();
                let (instructions, _) = sign(signable, &params).unwrap().into_parts();
                let mut reference: Vec<(String, String)> = instructions
                    .into_parts()
                    .0
                    .into_iter()
                    .map(|h| (h.name().to_owned(), h.value().to_owned()))
                    .collect();
                let mut fast = fast;
                reference.sort();
                fast.sort();
                assert_eq!(fast, reference);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reads_are_retried_on_throttling_and_give_up_after_their_attempts() {
        const THROTTLED: &[u8] = b"HTTP/1.1 400 Bad Request\r\nx-amzn-errortype: ThrottlingException\r\ncontent-length: 2\r\n\r\n{}";
        let (url, server) = scripted(vec![vec![THROTTLED, THROTTLED, OK]]).await;
        let c = client(&url);
        c.call(
            "ListDeploymentTargets",
            &serde_json::json!({}),
            READ_ATTEMPTS,
        )
        .await
        .unwrap();
        assert_eq!(server.await.unwrap().len(), 3);
        let (url, _server) = scripted(vec![vec![THROTTLED]]).await;
        let e = client(&url)
            .call("ListDeploymentTargets", &serde_json::json!({}), 1)
            .await
            .unwrap_err();
        assert_eq!(e.message, "ThrottlingException");
        assert!(e.retryable);
    }

    #[test]
    fn the_endpoint_is_the_services_variable_then_the_shared_one_then_regional() {
        let url = |env: Option<&str>, shared: Option<&str>, region: &str, fips, dual| {
            endpoint_url(
                env.map(str::to_owned),
                shared,
                Some(region),
                fips,
                dual,
                "codedeploy",
            )
            .unwrap()
        };
        assert_eq!(
            url(
                Some("http://127.0.0.1:1"),
                Some("http://127.0.0.1:2"),
                "eu-west-1",
                false,
                false
            ),
            "http://127.0.0.1:1"
        );
        assert_eq!(
            url(None, Some("http://127.0.0.1:2"), "eu-west-1", false, false),
            "http://127.0.0.1:2"
        );
        assert_eq!(
            url(None, None, "eu-west-1", false, false),
            "https://codedeploy.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            url(None, None, "us-gov-west-1", true, false),
            "https://codedeploy-fips.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            url(None, None, "cn-north-1", false, false),
            "https://codedeploy.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            url(None, None, "eu-west-1", false, true),
            "https://codedeploy.eu-west-1.api.aws"
        );
        assert!(endpoint_url(None, None, None, false, false, "codedeploy").is_err());
    }

    fn reply(error_type: Option<&str>, body: &str) -> Head {
        Head {
            error_type: error_type.map(str::to_owned),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn service_errors_read_code_then_message_and_say_whether_to_retry() {
        let e = answer(
            400,
            &reply(
                None,
                r#"{"__type":"com.amazonaws.codedeploy#DeploymentDoesNotExistException","message":"no such deployment"}"#,
            ),
        )
        .unwrap_err();
        assert_eq!(e.code.as_deref(), Some("DeploymentDoesNotExistException"));
        assert_eq!(
            e.message,
            "DeploymentDoesNotExistException: no such deployment"
        );
        assert!(!e.retryable);
        let e = answer(
            400,
            &reply(
                Some("ThrottlingException:http://internal.amazon.com/"),
                "{}",
            ),
        )
        .unwrap_err();
        assert_eq!(e.message, "ThrottlingException");
        assert!(e.retryable);
        let e = answer(503, &reply(None, "<html>busy</html>")).unwrap_err();
        assert_eq!(e.message, "HTTP 503 without an error code");
        assert!(e.retryable);
        assert_eq!(
            answer(200, &reply(None, r#"{"a":1}"#)).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert!(answer(200, &reply(None, "nope")).is_err());
    }

    #[test]
    fn backoff_is_jittered_below_a_doubling_ceiling() {
        for attempt in 1..12 {
            let ceiling = (INITIAL_BACKOFF * (1 << (attempt - 1).min(8))).min(MAX_BACKOFF);
            assert!(backoff(attempt) <= ceiling);
        }
    }
}

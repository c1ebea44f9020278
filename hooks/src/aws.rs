//! The AWS SDK behind the effect traits: CodeDeploy (discovery and reporting),
//! Lambda `Invoke`, CloudWatch, SSM parameters and SigV4 signing. One shared
//! [`SdkConfig`] builds every client, so `AWS_ENDPOINT_URL` /
//! `AWS_ENDPOINT_URL_<SERVICE>` point all of them at fakes.
//!
//! Nothing is built before it is needed: [`Aws`] loads the SDK config at the first call
//! that needs it and each client at its first use, once. A cold start pays only for
//! what its first event uses, and a terminal run of HTTP checks never touches AWS.

use crate::bounded::Capped;
use crate::check::{
    AlarmSource, Effects, HttpReply, HttpRequest, HttpSender, InvokeOutput, LambdaInvoker,
    MetricQuery, MetricSource, Repeater,
};
use crate::config::source::Parameter;
use crate::config::ParameterStore;
use crate::deployment::{DeploymentSource, Facts, Phase};
use crate::error::EffectError;
use crate::event::HookEvent;
use crate::hook::{Configs, Hook};
use crate::net;
use crate::ops::effects::{AliasInfo, OpsEffects, Publisher, Versions};
use crate::report::{ReportError, Reporter, Status};
use crate::wire::Target;
use async_trait::async_trait;
use aws_sdk_codedeploy::error::SdkError;
use aws_sdk_codedeploy::types::{LifecycleEventStatus, RevisionLocation};
use std::sync::Arc;
use tokio::time::Instant;

pub(crate) use crate::sdk::{Aws, Chain};

/// CodeDeploy: discovery reads and the status report.
#[derive(Debug, Clone)]
pub(crate) struct CodeDeploy(pub(crate) Arc<Aws>);

fn revision_text(rev: &RevisionLocation) -> Option<String> {
    rev.app_spec_content()
        .and_then(|c| c.content())
        .or_else(|| rev.string().and_then(|s| s.content()))
        .map(str::to_owned)
}

#[async_trait]
impl DeploymentSource for CodeDeploy {
    async fn target_facts(&self, deployment_id: &str) -> Result<Facts, EffectError> {
        let reads = &self.0.codedeploy().await.0;
        let list = reads
            .list_deployment_targets()
            .deployment_id(deployment_id)
            .send()
            .await
            .map_err(|e| EffectError::aws("ListDeploymentTargets", &e))?;
        let target_id = list.target_ids().first().ok_or_else(|| {
            EffectError::new("ListDeploymentTargets", "the deployment has no targets")
        })?;
        let out = reads
            .get_deployment_target()
            .deployment_id(deployment_id)
            .target_id(target_id)
            .send()
            .await
            .map_err(|e| EffectError::aws("GetDeploymentTarget", &e))?;
        let target = out
            .deployment_target()
            .and_then(|t| t.lambda_target())
            .ok_or_else(|| {
                EffectError::new("GetDeploymentTarget", "the target is not a Lambda target")
            })?;
        let info = target.lambda_function_info();
        let own = |s: Option<&str>| s.map(str::to_owned);
        Ok(Facts {
            function: own(info.and_then(|i| i.function_name())),
            alias: own(info.and_then(|i| i.function_alias())),
            current_version: own(info.and_then(|i| i.current_version())),
            target_version: own(info.and_then(|i| i.target_version())),
            target_weight: info.map(|i| i.target_version_weight()),
            phase: target
                .lifecycle_events()
                .iter()
                .filter(|e| e.status() == Some(&LifecycleEventStatus::InProgress))
                .find_map(|e| {
                    e.lifecycle_event_name()
                        .and_then(Phase::from_lifecycle_event)
                }),
        })
    }

    async fn creator(&self, deployment_id: &str) -> Result<String, EffectError> {
        let out = self
            .0
            .codedeploy()
            .await
            .0
            .get_deployment()
            .deployment_id(deployment_id)
            .send()
            .await
            .map_err(|e| EffectError::aws("GetDeployment", &e))?;
        Ok(out
            .deployment_info()
            .and_then(|i| i.creator())
            .map_or_else(|| "user".to_owned(), |c| c.as_str().to_owned()))
    }

    async fn appspec(&self, deployment_id: &str) -> Result<String, EffectError> {
        let reads = &self.0.codedeploy().await.0;
        let out = reads
            .get_deployment()
            .deployment_id(deployment_id)
            .send()
            .await
            .map_err(|e| EffectError::aws("GetDeployment", &e))?;
        let info = out
            .deployment_info()
            .ok_or_else(|| EffectError::new("GetDeployment", "no deploymentInfo"))?;
        let revision = info
            .revision()
            .ok_or_else(|| EffectError::new("GetDeployment", "no revision"))?;
        if let Some(text) = revision_text(revision) {
            return Ok(text);
        }
        let app = info.application_name().unwrap_or_default();
        let out = reads
            .get_application_revision()
            .application_name(app)
            .revision(revision.clone())
            .send()
            .await
            .map_err(|e| EffectError::aws("GetApplicationRevision", &e))?;
        out.revision().and_then(revision_text).ok_or_else(|| {
            EffectError::new(
                "GetApplicationRevision",
                "the revision has no AppSpec content",
            )
        })
    }
}

#[async_trait]
impl Reporter for CodeDeploy {
    async fn put_status(&self, event: &HookEvent, status: Status) -> Result<(), ReportError> {
        let sent = self
            .0
            .codedeploy()
            .await
            .1
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(&event.deployment_id)
            .lifecycle_event_hook_execution_id(&event.execution_id)
            .status(aws_sdk_codedeploy::types::LifecycleEventStatus::from(
                status.as_str(),
            ))
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let e = EffectError::aws("PutLifecycleEventHookExecutionStatus", &err);
        let already = matches!(&err, SdkError::ServiceError(ctx) if ctx.err().is_lifecycle_event_already_completed_exception());
        Err(if already {
            ReportError::AlreadyCompleted(e.message)
        } else if e.retryable {
            ReportError::Retryable(e.message)
        } else {
            ReportError::Fatal(e.message)
        })
    }
}

/// Lambda `Invoke`.
#[derive(Debug, Clone)]
pub(crate) struct Lambda(pub(crate) Arc<Aws>);

#[async_trait]
impl LambdaInvoker for Lambda {
    async fn invoke(
        &self,
        function: &str,
        qualifier: &str,
        payload: Vec<u8>,
    ) -> Result<InvokeOutput, EffectError> {
        let out = self
            .0
            .lambda()
            .await
            .invoke()
            .function_name(function)
            .qualifier(qualifier)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| EffectError::aws("Invoke", &e))?;
        Ok(InvokeOutput {
            payload: out
                .payload()
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default(),
            function_error: out.function_error().map(str::to_owned),
            executed_version: out.executed_version().map(str::to_owned),
        })
    }
}

#[async_trait]
impl Versions for Lambda {
    async fn versions(&self, function: &str) -> Result<Vec<String>, EffectError> {
        let client = self.0.lambda().await;
        let mut versions = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let out = client
                .list_versions_by_function()
                .function_name(function)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| EffectError::aws("ListVersionsByFunction", &e))?;
            versions.extend(
                out.versions()
                    .iter()
                    .filter_map(|v| v.version().map(str::to_owned)),
            );
            match out.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
                _ => return Ok(versions),
            }
        }
        Err(EffectError::new(
            "ListVersionsByFunction",
            format!("more than {MAX_PAGES} pages of versions"),
        ))
    }

    async fn aliases(&self, function: &str) -> Result<Vec<AliasInfo>, EffectError> {
        let client = self.0.lambda().await;
        let mut aliases = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let out = client
                .list_aliases()
                .function_name(function)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| EffectError::aws("ListAliases", &e))?;
            aliases.extend(out.aliases().iter().map(|a| {
                AliasInfo {
                    name: a.name().unwrap_or_default().to_owned(),
                    version: a.function_version().unwrap_or_default().to_owned(),
                    additional: a
                        .routing_config()
                        .and_then(|r| r.additional_version_weights())
                        .map(|w| w.keys().cloned().collect())
                        .unwrap_or_default(),
                }
            }));
            match out.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
                _ => return Ok(aliases),
            }
        }
        Err(EffectError::new(
            "ListAliases",
            format!("more than {MAX_PAGES} pages of aliases"),
        ))
    }

    async fn delete(&self, function: &str, version: &str) -> Result<(), EffectError> {
        self.0
            .lambda()
            .await
            .delete_function()
            .function_name(function)
            .qualifier(version)
            .send()
            .await
            .map_err(|e| EffectError::aws("DeleteFunction", &e))?;
        Ok(())
    }
}

/// SNS `Publish`.
#[derive(Debug, Clone)]
pub(crate) struct Sns(pub(crate) Arc<Aws>);

#[async_trait]
impl Publisher for Sns {
    async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), EffectError> {
        // SNS subjects: at most 100 printable ASCII characters.
        let subject: String = subject
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .take(100)
            .collect();
        self.0
            .sns()
            .await
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| EffectError::aws("Publish", &e))?;
        Ok(())
    }
}

/// SSM `GetParameter`, SecureStrings decrypted.
#[derive(Debug, Clone)]
pub(crate) struct Ssm(pub(crate) Arc<Aws>);

#[async_trait]
impl ParameterStore for Ssm {
    async fn get(&self, name: &str) -> Result<String, EffectError> {
        Ok(self.parameter(name).await?.value)
    }

    async fn parameter(&self, name: &str) -> Result<Parameter, EffectError> {
        let out = self
            .0
            .ssm()
            .await
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| EffectError::aws("GetParameter", &e))?;
        let p = out
            .parameter()
            .ok_or_else(|| EffectError::new("GetParameter", "no parameter in the answer"))?;
        Ok(Parameter {
            value: p
                .value()
                .map(str::to_owned)
                .ok_or_else(|| EffectError::new("GetParameter", "the parameter has no value"))?,
            version: Some(p.version()),
            last_modified: p
                .last_modified_date()
                .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        })
    }
}

/// The effects of the built-in checks, each reaching AWS only at its first call.
pub(crate) fn effects(aws: &Arc<Aws>) -> Effects {
    let cloudwatch = Arc::new(CloudWatch(aws.clone()));
    Effects {
        lambda: Arc::new(Lambda(aws.clone())),
        http: Arc::new(Sender::new(aws.clone())),
        alarms: cloudwatch.clone(),
        metrics: cloudwatch,
        aws: Some(aws.clone()),
        shared: Default::default(),
    }
}

/// A hook wired to AWS: CodeDeploy for discovery and reports, the SDK for checks and
/// operations (SNS, Lambda versions, SSM for the skip switch).
pub(crate) fn hook(aws: &Arc<Aws>, configs: Configs) -> Hook {
    let codedeploy = Arc::new(CodeDeploy(aws.clone()));
    Hook::new(configs, codedeploy.clone(), codedeploy, effects(aws)).with_ops(
        OpsEffects {
            sns: Some(Arc::new(Sns(aws.clone()))),
            versions: Some(Arc::new(Lambda(aws.clone()))),
        },
        Some(Arc::new(Ssm(aws.clone()))),
    )
}

/// The most pages a paginated read follows.
const MAX_PAGES: usize = 20;

/// The most datapoints a metric read keeps (a window of 1440 periods is the most a
/// config may ask for).
const MAX_DATAPOINTS: usize = 10_000;

/// CloudWatch: alarm states and metric data.
#[derive(Debug, Clone)]
pub(crate) struct CloudWatch(pub(crate) Arc<Aws>);

#[async_trait]
impl AlarmSource for CloudWatch {
    async fn alarms(
        &self,
        names: &[String],
        prefix: Option<&str>,
    ) -> Result<Vec<(String, String)>, EffectError> {
        use aws_sdk_cloudwatch::types::AlarmType;
        let mut found = Vec::new();
        let mut token = None;
        let mut pages = 0;
        loop {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(EffectError::new(
                    "DescribeAlarms",
                    format!(
                        "more than {MAX_PAGES} pages of alarms: stopped reading; narrow `prefix`"
                    ),
                ));
            }
            let out = self
                .0
                .cloudwatch()
                .await
                .describe_alarms()
                .set_alarm_names((!names.is_empty()).then(|| names.to_vec()))
                .set_alarm_name_prefix(prefix.map(str::to_owned))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| EffectError::aws("DescribeAlarms", &e))?;
            let state = |s: Option<&aws_sdk_cloudwatch::types::StateValue>| {
                s.map(|v| v.as_str().to_owned()).unwrap_or_default()
            };
            for a in out.metric_alarms() {
                found.push((
                    a.alarm_name().unwrap_or_default().to_owned(),
                    state(a.state_value()),
                ));
            }
            for a in out.composite_alarms() {
                found.push((
                    a.alarm_name().unwrap_or_default().to_owned(),
                    state(a.state_value()),
                ));
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(found);
            }
        }
    }
}

#[async_trait]
impl MetricSource for CloudWatch {
    async fn datapoints(&self, q: &MetricQuery) -> Result<Vec<(i64, f64)>, EffectError> {
        use aws_sdk_cloudwatch::primitives::DateTime;
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
        let dimensions = q
            .dimensions
            .iter()
            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
            .collect();
        let metric = Metric::builder()
            .namespace(&q.namespace)
            .metric_name(&q.name)
            .set_dimensions(Some(dimensions))
            .build();
        let stat = MetricStat::builder()
            .metric(metric)
            .period(i32::try_from(q.period.as_secs()).unwrap_or(i32::MAX))
            .stat(q.stat.to_string())
            .build();
        let query = MetricDataQuery::builder()
            .id("m")
            .metric_stat(stat)
            .return_data(true)
            .build();
        let end = std::time::SystemTime::now();
        let start = end.checked_sub(q.window).unwrap_or(std::time::UNIX_EPOCH);
        let mut points = Vec::new();
        let mut token = None;
        let mut pages = 0;
        loop {
            pages += 1;
            // Bounded, whatever the endpoint answers: a window holds at most
            // MAX_DATAPOINTS periods, and no real answer needs more pages.
            if pages > MAX_PAGES || points.len() > MAX_DATAPOINTS {
                return Err(EffectError::new(
                    "GetMetricData",
                    format!("more than {MAX_DATAPOINTS} datapoints or {MAX_PAGES} pages: stopped reading"),
                ));
            }
            let out = self
                .0
                .cloudwatch()
                .await
                .get_metric_data()
                .metric_data_queries(query.clone())
                .start_time(DateTime::from(start))
                .end_time(DateTime::from(end))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| EffectError::aws("GetMetricData", &e))?;
            for r in out.metric_data_results() {
                points.extend(
                    r.timestamps()
                        .iter()
                        .map(|t| t.secs())
                        .zip(r.values().iter().copied()),
                );
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(points);
            }
        }
    }
}

/// The most redirects an `http` check follows.
const MAX_REDIRECTS: usize = 10;

/// A SigV4 signature is accepted for five minutes after its `x-amz-date`: a load
/// connection signs its request again after this long.
const RESIGN_AFTER: std::time::Duration = std::time::Duration::from_secs(4 * 60);

/// HTTP for the `http` check and `load` (over [`crate::net`]): SigV4 signing for
/// requests that ask for it (`http.sigv4`) with the shared credentials chain,
/// redirects followed. TLS roots are loaded at the first `https` request.
#[derive(Debug)]
pub(crate) struct Sender {
    aws: Arc<Aws>,
}

impl Sender {
    /// A sender that signs with `aws`'s credentials and region.
    pub(crate) fn new(aws: Arc<Aws>) -> Self {
        Self { aws }
    }
}

/// Signs `req` in place when it asks for SigV4.
async fn sign(aws: &Aws, req: &mut HttpRequest) -> Result<(), EffectError> {
    sign_headers(aws, req)
        .await
        .map_err(|e| EffectError::new("SigV4", e))
}

async fn sign_headers(aws: &Aws, req: &mut HttpRequest) -> Result<(), String> {
    use aws_credential_types::provider::ProvideCredentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let Some(sigv4) = req.sigv4.clone() else {
        return Ok(());
    };
    let sdk = aws.sdk().await;
    let provider = sdk
        .credentials_provider()
        .ok_or("sigv4: no AWS credentials are configured")?;
    let identity = provider
        .provide_credentials()
        .await
        .map_err(|e| format!("sigv4: credentials: {e}"))?
        .into();
    let region = sigv4
        .region
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .ok_or("sigv4: no region: set sigv4.region or AWS_REGION")?;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name(&sigv4.service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("sigv4: {e}"))?
        .into();
    let body = req.body.as_deref().unwrap_or_default();
    let signable = SignableRequest::new(
        req.method.as_str(),
        req.url.as_str(),
        req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("sigv4: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("sigv4: {e}"))?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    for h in headers {
        req.headers
            .insert(h.name().to_owned(), h.value().to_owned());
    }
    Ok(())
}

fn target(req: &HttpRequest) -> Result<Target, EffectError> {
    Target::parse(&req.url).map_err(|e| EffectError::new("HTTP", e))
}

#[async_trait]
impl HttpSender for Sender {
    async fn send(&self, req: &HttpRequest) -> Result<HttpReply, EffectError> {
        let origin = target(req)?;
        let mut hop = req.clone();
        for _ in 0..=MAX_REDIRECTS {
            let to = target(&hop)?;
            let mut signed = hop.clone();
            // Credentials go to the origin the config names, never where a redirect leads.
            if to.same_origin(&origin) {
                sign(&self.aws, &mut signed).await?;
            }
            let bytes = net::encode(
                signed.method.as_str(),
                &to,
                &signed.headers,
                signed.body.as_deref(),
            )?;
            let mut body = Capped::new(req.max_body, req.keep_body, None)
                .map_err(|e| EffectError::new("HTTP", e))?;
            let head =
                net::send_once(&to, &bytes, hop.method.as_str() == "HEAD", &mut body).await?;
            let location = head
                .headers
                .iter()
                .find(|(k, _)| k == "location")
                .map(|(_, v)| v.as_str());
            match (head.status, location) {
                (301 | 302 | 303 | 307 | 308, Some(location)) => {
                    hop = redirected(&hop, &origin, head.status, location)
                        .map_err(|e| EffectError::new("HTTP", e))?;
                }
                _ => {
                    return Ok(HttpReply {
                        status: head.status,
                        headers: head.headers.into_iter().collect(),
                        body: body.finish(),
                    })
                }
            }
        }
        Err(EffectError::new(
            "HTTP",
            format!("too many redirects (more than {MAX_REDIRECTS})"),
        ))
    }

    async fn connect(
        self: Arc<Self>,
        req: Arc<HttpRequest>,
    ) -> Result<Box<dyn Repeater>, EffectError> {
        let to = target(&req)?;
        let mut signed = (*req).clone();
        sign(&self.aws, &mut signed).await?;
        let bytes = net::encode(
            signed.method.as_str(),
            &to,
            &signed.headers,
            signed.body.as_deref(),
        )?;
        Ok(Box::new(Repeat {
            head_request: req.method.as_str() == "HEAD",
            resign: req
                .sigv4
                .is_some()
                .then(|| (self.aws.clone(), req.clone(), Instant::now())),
            target: to,
            bytes,
            conn: None,
        }))
    }
}

/// The request a redirect leads to: `303` (and `301`/`302` after anything but `GET`
/// or `HEAD`) becomes a `GET` without a body, as browsers do; another origin gets no
/// credentials (`authorization`, `cookie`, `proxy-authorization`, SigV4 headers).
fn redirected(
    req: &HttpRequest,
    origin: &Target,
    status: u16,
    location: &str,
) -> Result<HttpRequest, String> {
    let base = url::Url::parse(&req.url).map_err(|e| e.to_string())?;
    let next = base
        .join(location)
        .map_err(|e| format!("redirect to an invalid location: {e}"))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!("redirect to scheme `{}`", next.scheme()));
    }
    let mut hop = req.clone();
    hop.url = next.to_string();
    let to_get = status == 303
        || (matches!(status, 301 | 302) && !matches!(req.method.as_str(), "GET" | "HEAD"));
    if to_get {
        hop.method = crate::check::Method::default();
        hop.body = None;
        hop.headers.retain(|k, _| {
            !k.eq_ignore_ascii_case("content-type") && !k.eq_ignore_ascii_case("content-length")
        });
    }
    if !target(&hop).is_ok_and(|t| t.same_origin(origin)) {
        hop.headers.retain(|k, _| {
            let k = k.to_ascii_lowercase();
            !matches!(
                k.as_str(),
                "authorization" | "cookie" | "proxy-authorization"
            ) && !k.starts_with("x-amz-")
        });
        hop.sigv4 = None;
    }
    Ok(hop)
}

/// `load`'s connection: one encoded request written again and again.
struct Repeat {
    target: Target,
    bytes: Vec<u8>,
    head_request: bool,
    /// For a signed request: what signs it again, and when it was signed.
    resign: Option<(Arc<Aws>, Arc<HttpRequest>, Instant)>,
    conn: Option<net::Conn>,
}

/// Drops a body, counting nothing: `load` keeps no bodies.
struct Drain;

impl net::BodySink for Drain {
    fn data(&mut self, _: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

#[async_trait]
impl Repeater for Repeat {
    async fn repeat(&mut self) -> Result<u16, EffectError> {
        if let Some((aws, req, at)) = &mut self.resign {
            if at.elapsed() >= RESIGN_AFTER {
                let mut signed = (**req).clone();
                sign(aws, &mut signed).await?;
                self.bytes = net::encode(
                    signed.method.as_str(),
                    &self.target,
                    &signed.headers,
                    signed.body.as_deref(),
                )?;
                *at = Instant::now();
            }
        }
        loop {
            // Taken while in use: a request cut short (its timeout) leaves no
            // half-read connection behind.
            let (mut conn, fresh) = match self.conn.take() {
                Some(c) => (c, false),
                None => (net::Conn::open(&self.target).await?, true),
            };
            match conn
                .exchange(&self.bytes, self.head_request, false, &mut Drain)
                .await
            {
                Ok(head) => {
                    if conn.reusable() {
                        self.conn = Some(conn);
                    }
                    return Ok(head.status);
                }
                // A kept-alive connection the server closed meanwhile: once more on a new one.
                Err(_) if !fresh && !conn.responded() => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tests::scripted;

    fn request(method: &str, url: &str) -> HttpRequest {
        HttpRequest {
            method: serde_json::from_value(serde_json::json!(method)).unwrap(),
            url: url.to_owned(),
            headers: [("authorization".to_owned(), "Bearer s3cret".to_owned())].into(),
            body: Some(b"{}".to_vec()),
            timeout: std::time::Duration::from_secs(5),
            sigv4: None,
            max_body: 1024,
            keep_body: true,
        }
    }

    fn sender() -> Arc<Sender> {
        Arc::new(Sender::new(Aws::new(Chain::Local)))
    }

    #[tokio::test]
    async fn a_303_turns_a_post_into_a_get_without_its_body() {
        let (url, server) = scripted(vec![
            vec![b"HTTP/1.1 303 See Other\r\nlocation: /done\r\ncontent-length: 0\r\n\r\n"],
            vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"],
        ])
        .await;
        let reply = sender()
            .send(&request("POST", &format!("{url}/start")))
            .await
            .unwrap();
        assert_eq!((reply.status, reply.body.as_slice()), (200, &b"ok"[..]));
        let seen = server.await.unwrap();
        assert!(
            seen[0].starts_with("POST /start HTTP/1.1") && seen[0].ends_with("{}"),
            "{}",
            seen[0]
        );
        assert!(
            seen[1].starts_with("GET /done HTTP/1.1") && !seen[1].contains("{}"),
            "{}",
            seen[1]
        );
        assert!(
            seen[1].contains("authorization: Bearer s3cret"),
            "same origin keeps it: {}",
            seen[1]
        );
    }

    #[tokio::test]
    async fn a_redirect_to_another_origin_carries_no_credentials() {
        let (elsewhere, other) =
            scripted(vec![vec![b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]]).await;
        let hop: &'static [u8] = Box::leak(
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {elsewhere}/x\r\ncontent-length: 0\r\n\r\n")
                .into_bytes()
                .into_boxed_slice(),
        );
        let (url, _first) = scripted(vec![vec![hop]]).await;
        let reply = sender().send(&request("PUT", &url)).await.unwrap();
        assert_eq!(reply.status, 200);
        let seen = other.await.unwrap();
        assert!(
            seen[0].starts_with("PUT /x HTTP/1.1") && seen[0].ends_with("{}"),
            "307 keeps method and body: {}",
            seen[0]
        );
        assert!(!seen[0].contains("s3cret"), "{}", seen[0]);
    }

    #[tokio::test]
    async fn a_load_connection_is_reused_and_sent_again_once_when_the_server_closed_it() {
        let ok: &'static [u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        // The first connection answers twice and closes without saying so.
        let (url, server) = scripted(vec![vec![ok, ok], vec![ok]]).await;
        let mut conn = sender()
            .connect(Arc::new(request("GET", &url)))
            .await
            .unwrap();
        for _ in 0..3 {
            assert_eq!(conn.repeat().await.unwrap(), 200);
        }
        assert_eq!(
            server.await.unwrap().len(),
            3,
            "three requests on two connections"
        );
    }
}

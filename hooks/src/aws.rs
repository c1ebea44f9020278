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
    MetricQuery, MetricSource,
};
use crate::config::ParameterStore;
use crate::deployment::{DeploymentSource, Facts, Phase};
use crate::error::EffectError;
use crate::event::HookEvent;
use crate::hook::{Configs, Hook};
use crate::report::{ReportError, Reporter, Status};
use async_trait::async_trait;
use aws_sdk_codedeploy::error::SdkError;
use aws_sdk_codedeploy::types::{LifecycleEventStatus, RevisionLocation};
use std::sync::{Arc, OnceLock};

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

/// SSM `GetParameter`, SecureStrings decrypted.
#[derive(Debug, Clone)]
pub(crate) struct Ssm(pub(crate) Arc<Aws>);

#[async_trait]
impl ParameterStore for Ssm {
    async fn get(&self, name: &str) -> Result<String, EffectError> {
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
        out.parameter()
            .and_then(|p| p.value())
            .map(str::to_owned)
            .ok_or_else(|| EffectError::new("GetParameter", "the parameter has no value"))
    }
}

/// The effects of the built-in checks, each reaching AWS only at its first call.
pub(crate) fn effects(aws: &Arc<Aws>) -> Effects {
    let cloudwatch = Arc::new(CloudWatch(aws.clone()));
    Effects {
        lambda: Arc::new(Lambda(aws.clone())),
        http: Arc::new(SigningSender::new(aws.clone())),
        alarms: cloudwatch.clone(),
        metrics: cloudwatch,
        aws: Some(aws.clone()),
        shared: Default::default(),
    }
}

/// A hook wired to AWS: CodeDeploy for discovery and reports, the SDK for checks.
pub(crate) fn hook(aws: &Arc<Aws>, configs: Configs) -> Hook {
    let codedeploy = Arc::new(CodeDeploy(aws.clone()));
    Hook::new(configs, codedeploy.clone(), codedeploy, effects(aws))
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

/// The reqwest (rustls) implementation, with one connection pool for all checks.
#[derive(Debug, Clone)]
pub(crate) struct ReqwestSender {
    client: reqwest::Client,
}

impl ReqwestSender {
    /// A sender with its own client.
    pub(crate) fn new() -> Result<Self, EffectError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("traffic-hook/", env!("CARGO_PKG_VERSION")))
            // Idle connections hold buffers: a load burst must not leave hundreds behind.
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| EffectError::new("HTTP client", crate::error::chain(&e)))?;
        Ok(Self { client })
    }
}

#[async_trait]
impl HttpSender for ReqwestSender {
    async fn send(&self, req: &HttpRequest) -> Result<HttpReply, EffectError> {
        let method = reqwest::Method::from_bytes(req.method.as_str().as_bytes())
            .map_err(|e| EffectError::new("HTTP", e.to_string()))?;
        let mut builder = self.client.request(method, &req.url).timeout(req.timeout);
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        // reqwest names the URL in its message; ours names a redacted one already.
        let failed = |e: reqwest::Error| {
            let retryable = e.is_timeout() || e.is_connect();
            let message = crate::error::chain(&e.without_url());
            EffectError {
                operation: "HTTP",
                message,
                retryable,
            }
        };
        let mut resp = builder.send().await.map_err(failed)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        // Streamed with a cap: a 50 MB answer must not take a 128 MB hook down.
        let capped = |e: String| EffectError::new("HTTP", e);
        let mut body =
            Capped::new(req.max_body, req.keep_body, resp.content_length()).map_err(capped)?;
        while let Some(chunk) = resp.chunk().await.map_err(failed)? {
            body.push(&chunk).map_err(capped)?;
        }
        let body = body.finish();
        Ok(HttpReply {
            status,
            headers,
            body,
        })
    }
}

/// HTTP with SigV4 signing for requests that ask for it (`http.sigv4`), using the
/// shared credentials chain. The HTTP client (and its TLS roots) is made at the first
/// request.
#[derive(Debug)]
pub(crate) struct SigningSender {
    inner: OnceLock<Result<ReqwestSender, EffectError>>,
    aws: Arc<Aws>,
}

impl SigningSender {
    /// A sender that signs with `aws`'s credentials and region.
    pub(crate) fn new(aws: Arc<Aws>) -> Self {
        Self {
            inner: OnceLock::new(),
            aws,
        }
    }

    fn inner(&self) -> Result<&ReqwestSender, EffectError> {
        self.inner
            .get_or_init(ReqwestSender::new)
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn sign(&self, req: &mut HttpRequest) -> Result<(), EffectError> {
        self.sign_headers(req)
            .await
            .map_err(|e| EffectError::new("SigV4", e))
    }

    async fn sign_headers(&self, req: &mut HttpRequest) -> Result<(), String> {
        use aws_credential_types::provider::ProvideCredentials;
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let Some(sigv4) = req.sigv4.clone() else {
            return Ok(());
        };
        let sdk = self.aws.sdk().await;
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
}

#[async_trait]
impl HttpSender for SigningSender {
    async fn send(&self, req: &HttpRequest) -> Result<HttpReply, EffectError> {
        let inner = self.inner()?;
        if req.sigv4.is_none() {
            return inner.send(req).await;
        }
        let mut signed = req.clone();
        self.sign(&mut signed).await?;
        inner.send(&signed).await
    }
}

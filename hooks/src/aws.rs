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
    AlarmSource, ApprovalStore, Effects, HttpReply, HttpRequest, HttpSender, InvokeOutput,
    LambdaInvoker, MetricQuery, MetricSource, Repeater,
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
use aws_smithy_runtime_api::client::result::SdkError;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::time::Instant;

pub(crate) use crate::sdk::{Aws, Chain};

/// CodeDeploy: discovery reads and the status report, over [`crate::awsjson`]; its
/// connections are kept alive between invocations.
#[derive(Debug, Clone)]
pub(crate) struct CodeDeploy(Arc<crate::awsjson::Client>);

impl CodeDeploy {
    /// CodeDeploy with `aws`'s credentials, region and endpoint.
    pub(crate) fn new(aws: Arc<Aws>) -> Self {
        Self(Arc::new(crate::awsjson::Client::new(
            aws,
            crate::awsjson::CODEDEPLOY,
        )))
    }

    /// A read call, retried as the SDK's standard mode would.
    async fn read(&self, operation: &'static str, input: Value) -> Result<Value, EffectError> {
        self.0
            .call(operation, &input, crate::awsjson::READ_ATTEMPTS)
            .await
            .map_err(|e| e.effect(operation))
    }
}

/// A string at `path` in a JSON document.
fn text<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(doc, |v, key| v.get(key))
        .and_then(Value::as_str)
}

/// The AppSpec of a revision: inline content, or a string revision's.
fn revision_text(rev: &Value) -> Option<String> {
    text(rev, &["appSpecContent", "content"])
        .or_else(|| text(rev, &["string", "content"]))
        .map(str::to_owned)
}

/// What a `GetDeploymentTarget` output says of a Lambda deployment.
fn lambda_facts(out: &Value) -> Result<Facts, EffectError> {
    let target = out
        .get("deploymentTarget")
        .and_then(|t| t.get("lambdaTarget"))
        .filter(|t| t.is_object())
        .ok_or_else(|| {
            EffectError::new("GetDeploymentTarget", "the target is not a Lambda target")
        })?;
    let info = target.get("lambdaFunctionInfo").filter(|i| i.is_object());
    let own = |key: &str| info.and_then(|i| text(i, &[key])).map(str::to_owned);
    let events = target
        .get("lifecycleEvents")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    Ok(Facts {
        function: own("functionName"),
        alias: own("functionAlias"),
        current_version: own("currentVersion"),
        target_version: own("targetVersion"),
        target_weight: info.map(|i| {
            i.get("targetVersionWeight")
                .and_then(Value::as_f64)
                .unwrap_or_default()
        }),
        phase: events
            .iter()
            .filter(|e| text(e, &["status"]) == Some("InProgress"))
            .find_map(|e| text(e, &["lifecycleEventName"]).and_then(Phase::from_lifecycle_event)),
    })
}

#[async_trait]
impl DeploymentSource for CodeDeploy {
    async fn target_facts(&self, deployment_id: &str) -> Result<Facts, EffectError> {
        let list = self
            .read(
                "ListDeploymentTargets",
                json!({ "deploymentId": deployment_id }),
            )
            .await?;
        let target_id = list
            .get("targetIds")
            .and_then(Value::as_array)
            .and_then(|ids| ids.first())
            .and_then(Value::as_str)
            .ok_or_else(|| {
                EffectError::new("ListDeploymentTargets", "the deployment has no targets")
            })?;
        let out = self
            .read(
                "GetDeploymentTarget",
                json!({ "deploymentId": deployment_id, "targetId": target_id }),
            )
            .await?;
        lambda_facts(&out)
    }

    async fn creator(&self, deployment_id: &str) -> Result<String, EffectError> {
        let out = self
            .read("GetDeployment", json!({ "deploymentId": deployment_id }))
            .await?;
        Ok(text(&out, &["deploymentInfo", "creator"])
            .unwrap_or("user")
            .to_owned())
    }

    async fn appspec(&self, deployment_id: &str) -> Result<String, EffectError> {
        let out = self
            .read("GetDeployment", json!({ "deploymentId": deployment_id }))
            .await?;
        let info = out
            .get("deploymentInfo")
            .filter(|i| i.is_object())
            .ok_or_else(|| EffectError::new("GetDeployment", "no deploymentInfo"))?;
        let revision = info
            .get("revision")
            .filter(|r| r.is_object())
            .ok_or_else(|| EffectError::new("GetDeployment", "no revision"))?;
        if let Some(text) = revision_text(revision) {
            return Ok(text);
        }
        let app = text(info, &["applicationName"]).unwrap_or_default();
        let out = self
            .read(
                "GetApplicationRevision",
                json!({ "applicationName": app, "revision": revision }),
            )
            .await?;
        out.get("revision").and_then(revision_text).ok_or_else(|| {
            EffectError::new(
                "GetApplicationRevision",
                "the revision has no AppSpec content",
            )
        })
    }
}

#[async_trait]
impl Reporter for CodeDeploy {
    /// One attempt: reporting retries on its own, bounded by the Lambda deadline.
    async fn put_status(&self, event: &HookEvent, status: Status) -> Result<(), ReportError> {
        let input = json!({
            "deploymentId": event.deployment_id,
            "lifecycleEventHookExecutionId": event.execution_id,
            "status": status.as_str(),
        });
        let err = match self
            .0
            .call("PutLifecycleEventHookExecutionStatus", &input, 1)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let already = err.code.as_deref() == Some("LifecycleEventAlreadyCompletedException");
        let e = err.effect("PutLifecycleEventHookExecutionStatus");
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

    async fn invoke_event(
        &self,
        function: &str,
        qualifier: Option<&str>,
        payload: Vec<u8>,
    ) -> Result<(), EffectError> {
        self.0
            .lambda()
            .await
            .invoke()
            .function_name(function)
            .set_qualifier(qualifier.map(str::to_owned))
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| EffectError::aws("Invoke", &e))?;
        Ok(())
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

impl Ssm {
    /// `GetParameter`, decrypted (a SecureString reads as its value).
    async fn get_parameter(
        &self,
        name: &str,
    ) -> Result<
        aws_sdk_ssm::operation::get_parameter::GetParameterOutput,
        SdkError<
            aws_sdk_ssm::operation::get_parameter::GetParameterError,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    > {
        self.0
            .ssm()
            .await
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
    }
}

#[async_trait]
impl ParameterStore for Ssm {
    async fn get(&self, name: &str) -> Result<String, EffectError> {
        Ok(self.parameter(name).await?.value)
    }

    async fn parameter(&self, name: &str) -> Result<Parameter, EffectError> {
        let out = self
            .get_parameter(name)
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

/// Approvals (`approval` checks, `traffic-hook approve|reject`): plain String
/// parameters, read decrypted in case an operator made one a SecureString.
#[async_trait]
impl ApprovalStore for Ssm {
    async fn read(&self, name: &str) -> Result<Option<String>, EffectError> {
        match self.get_parameter(name).await {
            Ok(out) => Ok(out.parameter().and_then(|p| p.value()).map(str::to_owned)),
            Err(SdkError::ServiceError(ctx)) if ctx.err().is_parameter_not_found() => Ok(None),
            Err(e) => Err(EffectError::aws("GetParameter", &e)),
        }
    }

    async fn write(&self, name: &str, value: &str) -> Result<(), EffectError> {
        self.0
            .ssm()
            .await
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| EffectError::aws("PutParameter", &e))?;
        Ok(())
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
        approvals: Arc::new(Ssm(aws.clone())),
        own_function: None,
        aws: Some(aws.clone()),
        shared: Default::default(),
    }
}

/// A hook wired to AWS: CodeDeploy for discovery and reports, the SDK for checks and
/// operations (SNS, Lambda versions, SSM for the skip switch).
pub(crate) fn hook(aws: &Arc<Aws>, configs: Configs) -> Hook {
    let codedeploy = Arc::new(CodeDeploy::new(aws.clone()));
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
    let Some(sigv4) = req.sigv4.clone() else {
        return Ok(());
    };
    let region = match sigv4.region {
        Some(r) => r,
        None => aws
            .sdk()
            .await
            .region()
            .map(|r| r.to_string())
            .ok_or("sigv4: no region: set sigv4.region or AWS_REGION")?,
    };
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = req.body.as_deref().unwrap_or_default();
    let signed = crate::awsjson::signature(
        aws,
        &region,
        &sigv4.service,
        req.method.as_str(),
        &req.url,
        &headers,
        body,
    )
    .await
    .map_err(|e| format!("sigv4: {e}"))?;
    req.headers.extend(signed);
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

//! In-memory fakes of every effect trait, for the library's own tests.

use crate::check::{
    AlarmSource, Effects, HttpReply, HttpRequest, HttpSender, InvokeOutput, LambdaInvoker,
    MetricQuery, MetricSource,
};
use crate::deployment::{DeploymentSource, Facts, Phase};
use crate::error::EffectError;
use crate::event::HookEvent;
use crate::report::{ReportError, Reporter, Status};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, PoisonError};

/// A deployment source that knows one deployment, or nothing.
pub(crate) struct Source(pub(crate) Option<Facts>);

#[async_trait]
impl DeploymentSource for Source {
    async fn target_facts(&self, _: &str) -> Result<Facts, EffectError> {
        self.0
            .clone()
            .ok_or_else(|| EffectError::new("GetDeploymentTarget", "unknown"))
    }
    async fn appspec(&self, _: &str) -> Result<String, EffectError> {
        Err(EffectError::new("GetDeployment", "unknown"))
    }
}

/// Records reports.
#[derive(Default)]
pub(crate) struct Reports(pub(crate) Mutex<Vec<Status>>);

impl Reports {
    pub(crate) fn statuses(&self) -> Vec<Status> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl Reporter for Reports {
    async fn put_status(&self, _: &HookEvent, status: Status) -> Result<(), ReportError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(status);
        Ok(())
    }
}

/// Version 1 and 2 answer alike but for `requestId`; version 3 answers `ok: false`.
pub(crate) struct Lambda;

#[async_trait]
impl LambdaInvoker for Lambda {
    async fn invoke(
        &self,
        _: &str,
        qualifier: &str,
        _: Vec<u8>,
    ) -> Result<InvokeOutput, EffectError> {
        let payload = json!({ "ok": qualifier != "3", "requestId": format!("req-{qualifier}") });
        Ok(InvokeOutput {
            payload: payload.to_string().into_bytes(),
            function_error: None,
            executed_version: Some(qualifier.into()),
        })
    }
}

/// Alarms `a-ok` (OK), `a-nodata` (INSUFFICIENT_DATA) and `a-firing` (ALARM).
pub(crate) struct Alarms;

#[async_trait]
impl AlarmSource for Alarms {
    async fn alarms(
        &self,
        names: &[String],
        prefix: Option<&str>,
    ) -> Result<Vec<(String, String)>, EffectError> {
        let all = [
            ("a-ok", "OK"),
            ("a-nodata", "INSUFFICIENT_DATA"),
            ("a-firing", "ALARM"),
        ];
        Ok(all
            .iter()
            .filter(|(n, _)| {
                names.iter().any(|x| x == n) || prefix.is_some_and(|p| n.starts_with(p))
            })
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect())
    }
}

/// `Errors` has datapoints 1 and 2; anything else has none.
pub(crate) struct Metrics;

#[async_trait]
impl MetricSource for Metrics {
    async fn datapoints(&self, q: &MetricQuery) -> Result<Vec<(i64, f64)>, EffectError> {
        Ok(if q.name == "Errors" {
            vec![(120, 2.0), (60, 1.0)]
        } else {
            vec![]
        })
    }
}

/// Answers every request with 200 and `{}`.
pub(crate) struct Http;

#[async_trait]
impl HttpSender for Http {
    async fn send(&self, _: &HttpRequest) -> Result<HttpReply, EffectError> {
        Ok(HttpReply {
            status: 200,
            headers: Default::default(),
            body: b"{}".to_vec(),
        })
    }
}

/// Approvals in memory: parameter name → value.
#[derive(Default)]
pub(crate) struct Approvals(pub(crate) Mutex<std::collections::BTreeMap<String, String>>);

#[async_trait]
impl crate::check::ApprovalStore for Approvals {
    async fn read(&self, name: &str) -> Result<Option<String>, EffectError> {
        Ok(self.0.lock().unwrap().get(name).cloned())
    }

    async fn write(&self, name: &str, value: &str) -> Result<(), EffectError> {
        self.0
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
        Ok(())
    }
}

/// Every fake together.
pub(crate) fn effects() -> Effects {
    Effects {
        lambda: Arc::new(Lambda),
        http: Arc::new(Http),
        alarms: Arc::new(Alarms),
        metrics: Arc::new(Metrics),
        approvals: Arc::new(Approvals::default()),
        own_function: None,
        #[cfg(feature = "aws")]
        aws: None,
        shared: Default::default(),
    }
}

/// `fn:live` from version 1 to 2 in `phase`.
pub(crate) fn facts(phase: Option<Phase>) -> Facts {
    Facts {
        function: Some("fn".into()),
        alias: Some("live".into()),
        current_version: Some("1".into()),
        target_version: Some("2".into()),
        target_weight: Some(0.0),
        phase,
    }
}

/// A lifecycle event with both ids.
pub(crate) fn event() -> Value {
    json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "e-1"})
}

//! A function the fake Lambda runs for real: each invocation goes to a process of a
//! binary through the Runtime API host, as Lambda runs the hook's own function for its
//! continuations (`InvocationType: Event`) and load workers (synchronous).
//!
//! Processes are kept warm and reused; a synchronous invocation that finds none idle
//! starts another, up to a limit (then `429 TooManyRequestsException`, as Lambda's
//! concurrency limit answers). An asynchronous one is accepted at once (`202`) and
//! delivered in the background, or held for the test to deliver itself.

use crate::runtime::{HostError, Outcome, RuntimeHost};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Lambda's limits on payloads: 256 KB asynchronous, 6 MB synchronous.
pub(crate) const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;
pub(crate) const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;

/// How a delivered asynchronous invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The function answered.
    Answered(Outcome),
    /// It did not answer in time, or its process died.
    Lost(String),
}

/// A function served by processes of a binary.
pub(crate) struct Served {
    binary: PathBuf,
    env: Vec<(String, String)>,
    deadline: Duration,
    max: usize,
    idle: tokio::sync::Mutex<Vec<RuntimeHost>>,
    started: Mutex<usize>,
    /// Every process's log lines, kept after the process is gone.
    logs: Mutex<Vec<Arc<Mutex<Vec<String>>>>>,
    hold: Mutex<bool>,
    held: Mutex<Vec<Value>>,
    duplicate: Mutex<usize>,
    deliveries: Mutex<Vec<Delivery>>,
}

impl Served {
    pub(crate) fn new(
        binary: PathBuf,
        env: Vec<(String, String)>,
        deadline: Duration,
        max: usize,
    ) -> Self {
        Self {
            binary,
            env,
            deadline,
            max,
            idle: tokio::sync::Mutex::new(Vec::new()),
            started: Mutex::new(0),
            logs: Mutex::new(Vec::new()),
            hold: Mutex::new(false),
            held: Mutex::new(Vec::new()),
            duplicate: Mutex::new(0),
            deliveries: Mutex::new(Vec::new()),
        }
    }

    /// An idle process, or a new one while fewer than `max` run.
    async fn take(&self) -> Result<RuntimeHost, String> {
        if let Some(host) = self.idle.lock().await.pop() {
            return Ok(host);
        }
        {
            let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
            if *started >= self.max {
                return Err(format!(
                    "all {} processes of the function are busy",
                    self.max
                ));
            }
            *started += 1;
        }
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let host = RuntimeHost::start(&self.binary, &env)
            .await
            .map_err(|e| e.to_string())?;
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(host.log_lines());
        Ok(host)
    }

    async fn give_back(&self, host: RuntimeHost) {
        self.idle.lock().await.push(host);
    }

    /// A synchronous invocation: the function's answer, or why there is none.
    pub(crate) async fn invoke(&self, payload: Value) -> Result<Outcome, InvokeFailure> {
        let mut host = self.take().await.map_err(InvokeFailure::Busy)?;
        let out = host.invoke(payload, self.deadline).await;
        match out {
            Ok(outcome) => {
                self.give_back(host).await;
                Ok(outcome)
            }
            Err(e @ HostError::Timeout(_)) => Err(InvokeFailure::TimedOut(e.to_string())),
            Err(e) => Err(InvokeFailure::Died(e.to_string())),
        }
    }

    /// An asynchronous invocation: held, or delivered in the background (twice in a
    /// row on one process, when a duplicate is due).
    pub(crate) fn accept(self: &Arc<Self>, payload: Value) {
        if *self.hold.lock().unwrap_or_else(PoisonError::into_inner) {
            self.held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(payload);
            return;
        }
        let twice = {
            let mut d = self
                .duplicate
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let due = *d > 0;
            *d = d.saturating_sub(1);
            due
        };
        let me = self.clone();
        tokio::spawn(async move {
            let mut host = match me.take().await {
                Ok(h) => h,
                Err(e) => {
                    me.delivered(Delivery::Lost(e));
                    return;
                }
            };
            for _ in 0..if twice { 2 } else { 1 } {
                match host.invoke(payload.clone(), me.deadline).await {
                    Ok(outcome) => me.delivered(Delivery::Answered(outcome)),
                    Err(e) => {
                        me.delivered(Delivery::Lost(e.to_string()));
                        return;
                    }
                }
            }
            me.give_back(host).await;
        });
    }

    fn delivered(&self, d: Delivery) {
        self.deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(d);
    }

    pub(crate) fn set_hold(&self, hold: bool) {
        *self.hold.lock().unwrap_or_else(PoisonError::into_inner) = hold;
    }

    pub(crate) fn take_held(&self) -> Vec<Value> {
        std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn duplicate_next(&self, n: usize) {
        *self
            .duplicate
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += n;
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn processes(&self) -> usize {
        *self.started.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The JSON log lines of every process whose `record` is `kind`.
    pub(crate) fn records(&self, kind: &str) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .flat_map(|l| l.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .filter(|v| v.get("record").and_then(Value::as_str) == Some(kind))
            .collect()
    }
}

/// Why a synchronous invocation has no answer.
#[derive(Debug)]
pub(crate) enum InvokeFailure {
    /// Every process is busy (Lambda's concurrency limit).
    Busy(String),
    /// No answer before the deadline.
    TimedOut(String),
    /// The process died.
    Died(String),
}

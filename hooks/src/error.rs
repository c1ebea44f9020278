//! The one error type of the effect seam, and how error chains are rendered.

#[cfg(feature = "aws")]
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
#[cfg(feature = "aws")]
use aws_smithy_runtime_api::client::result::SdkError;
#[cfg(feature = "aws")]
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Why an outside effect (CodeDeploy, Lambda, CloudWatch, SSM, SNS, HTTP) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct EffectError {
    /// The operation, e.g. `GetDeploymentTarget` or `HTTP GET`.
    pub operation: &'static str,
    /// What went wrong, in one line: `Code: message` for AWS, the cause chain otherwise.
    pub message: String,
    /// Whether another attempt may succeed (throttling, a 5xx, a timeout, a connection error).
    pub retryable: bool,
}

impl EffectError {
    /// An error another attempt would not fix.
    pub fn new(operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            operation,
            message: one_line(&message.into()),
            retryable: false,
        }
    }

    /// An error another attempt may fix.
    pub fn retryable(operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            ..Self::new(operation, message)
        }
    }

    #[cfg(feature = "aws")]
    /// An AWS SDK error of `operation`: `Code: message` for service errors, the chain
    /// of causes for transport errors, with `retryable` set for throttling, 5xx,
    /// timeouts and connection failures.
    pub fn aws<E>(operation: &'static str, e: &SdkError<E, HttpResponse>) -> Self
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
    {
        let (message, retryable) = describe_sdk(e);
        Self {
            operation,
            message,
            retryable,
        }
    }
}

#[cfg(feature = "aws")]
/// The throttling codes AWS services answer with.
pub(crate) const THROTTLING: [&str; 6] = [
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
];

#[cfg(feature = "aws")]
/// `(Code: message, retryable)` for an SDK error; never the SDK's debug dump.
pub(crate) fn describe_sdk<E>(e: &SdkError<E, HttpResponse>) -> (String, bool)
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    match e {
        SdkError::ServiceError(ctx) => {
            let err = ctx.err();
            let status = Some(ctx.raw().status().as_u16());
            let code = err.code().unwrap_or_default();
            let retryable =
                status.is_some_and(|s| s >= 500 || s == 429) || THROTTLING.contains(&code);
            let message = match (err.code(), err.message()) {
                (Some(code), Some(msg)) if !msg.is_empty() => format!("{code}: {msg}"),
                (Some(code), _) => code.to_owned(),
                (None, Some(msg)) => msg.to_owned(),
                (None, None) => match status {
                    Some(s) => format!("HTTP {s} without an error code"),
                    None => chain(e),
                },
            };
            (one_line(&message), retryable)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (one_line(&chain(e)), true)
        }
        _ => (one_line(&chain(e)), false),
    }
}

/// An error and its causes, `outer: inner: innermost`, with repeats dropped (many
/// errors repeat their source's text).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    one_line(&parts.join(": "))
}

/// Folds a multi-line message into one line, so it never breaks a log line or a table.
pub(crate) fn one_line(text: &str) -> String {
    if text.contains(['\n', '\r']) {
        text.split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner\nsecond line")]
    struct Inner;

    #[test]
    fn chains_render_every_cause_on_one_line() {
        assert_eq!(chain(&Outer(Inner)), "outer: inner second line");
    }

    #[test]
    fn effect_errors_read_operation_then_message() {
        let e = EffectError::retryable("Invoke", "TooManyRequestsException: Rate exceeded");
        assert_eq!(
            e.to_string(),
            "Invoke: TooManyRequestsException: Rate exceeded"
        );
        assert!(e.retryable);
    }
}

//! The fake CloudWatch through the AWS SDK for Rust's own CloudWatch client: its wire
//! protocol (Smithy RPC v2 CBOR) decoded and encoded by the client the hooks use.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use traffic_hooks_testkit::{FakeAlarm, FakeAws, MetricKey, Stats};

async fn client(url: &str) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&traffic_hooks_testkit::sdk_config(url).await)
}

fn alarm(name: &str, state: &str) -> FakeAlarm {
    FakeAlarm {
        name: name.into(),
        namespace: "AWS/Lambda".into(),
        metric: "Duration".into(),
        dimensions: [("FunctionName".to_owned(), "f".to_owned())].into(),
        statistic: "p99".into(),
        period: 60,
        evaluation_periods: 3,
        datapoints_to_alarm: Some(2),
        threshold: 250.0,
        comparison: "GreaterThanOrEqualToThreshold".into(),
        treat_missing_data: "missing".into(),
        state: state.into(),
        reason: "test".into(),
        updated: 1_700_000_000.5,
    }
}

#[tokio::test]
async fn the_sdk_reads_alarms_by_name_and_prefix() {
    let aws = FakeAws::new();
    aws.alarm(alarm("f-latency", "ALARM"))
        .alarm(alarm("f-ok", "OK"))
        .alarm(alarm("g", "OK"));
    let server = aws.start().await.unwrap();
    let cw = client(&server.url()).await;
    let out = cw
        .describe_alarms()
        .alarm_name_prefix("f-")
        .send()
        .await
        .unwrap();
    let got: Vec<(&str, &StateValue)> = out
        .metric_alarms()
        .iter()
        .map(|a| (a.alarm_name().unwrap(), a.state_value().unwrap()))
        .collect();
    assert_eq!(
        got,
        [("f-latency", &StateValue::Alarm), ("f-ok", &StateValue::Ok)]
    );
    let a = &out.metric_alarms()[0];
    assert_eq!(a.extended_statistic(), Some("p99"));
    assert_eq!(a.datapoints_to_alarm(), Some(2));
    assert_eq!(a.threshold(), Some(250.0));
    assert_eq!(
        a.state_updated_timestamp().map(|t| t.as_secs_f64()),
        Some(1_700_000_000.5)
    );
    let named = cw.describe_alarms().alarm_names("g").send().await.unwrap();
    assert_eq!(named.metric_alarms().len(), 1);
    let both = cw
        .describe_alarms()
        .alarm_names("g")
        .alarm_name_prefix("f")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&both.into_service_error()),
        Some("InvalidParameterCombination")
    );
}

#[tokio::test]
async fn the_sdk_reads_metric_data_aggregated_by_period_newest_first() {
    let aws = FakeAws::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let key = MetricKey {
        namespace: "AWS/Lambda".into(),
        name: "Duration".into(),
        dimensions: [("FunctionName".to_owned(), "f".to_owned())].into(),
    };
    // Two samples in one period (aligned to the minute), one two periods earlier.
    let period = now / 60 * 60 - 180;
    aws.put_metric(key.clone(), period - 120, Stats::repeated(20.0, 5.0));
    aws.put_metric(key.clone(), period, Stats::repeated(40.0, 5.0));
    aws.put_metric(key, period + 1, Stats::repeated(60.0, 5.0));
    let server = aws.start().await.unwrap();
    let cw = client(&server.url()).await;
    let metric = Metric::builder()
        .namespace("AWS/Lambda")
        .metric_name("Duration")
        .dimensions(Dimension::builder().name("FunctionName").value("f").build())
        .build();
    let query = MetricDataQuery::builder()
        .id("d")
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(60)
                .stat("Average")
                .build(),
        )
        .build();
    let end = SystemTime::now();
    let out = cw
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from(end - Duration::from_secs(600)))
        .end_time(DateTime::from(end))
        .send()
        .await
        .unwrap();
    let r = &out.metric_data_results()[0];
    assert_eq!(r.id(), Some("d"));
    let times: Vec<i64> = r.timestamps().iter().map(|t| t.secs()).collect();
    assert!(
        times.windows(2).all(|w| w[0] > w[1]),
        "newest first: {times:?}"
    );
    assert_eq!(r.values(), [50.0, 20.0]);
    assert_eq!(times, [period, period - 120]);
    assert_eq!(aws.cloudwatch_calls(), ["GetMetricData"]);
}

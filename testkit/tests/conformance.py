"""Drives the testkit's fake CodeDeploy, Lambda and CloudWatch with boto3, the official
AWS SDK for Python, so the fakes' wire format is checked by a client we did not write.
CloudWatch is spoken in Smithy RPC v2 CBOR, the protocol the AWS SDK for Rust uses,
encoded and decoded by botocore's own CBOR serializer and parser from its service model.

Usage: python conformance.py ENDPOINT_URL  (the Rust test `boto3_accepts_the_fakes` runs it)
Prints one line per check and `N passed, N failed` at the end; exits 1 on any failure.
"""
import json
import sys

import datetime

import boto3
import botocore.config
import botocore.model
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
cfg = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
session = boto3.session.Session(aws_access_key_id="testkit", aws_secret_access_key="testkit", region_name="us-east-1")
codedeploy = session.client("codedeploy", endpoint_url=endpoint, config=cfg)
lam = session.client("lambda", endpoint_url=endpoint, config=cfg)
# botocore would speak CloudWatch's JSON protocol; put CBOR first so this client speaks
# what the Rust SDK speaks.
botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = ("smithy-rpc-v2-cbor",) + tuple(
    p for p in botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS if p != "smithy-rpc-v2-cbor")
cloudwatch = session.client("cloudwatch", endpoint_url=endpoint, config=cfg)

results = []


def check(name, fn):
    try:
        fn()
        results.append((name, None))
    except Exception as e:  # noqa: BLE001 - every failure is reported, none hidden
        results.append((name, f"{type(e).__name__}: {e}"))


def eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def target():
    ids = codedeploy.list_deployment_targets(deploymentId="d-PRETRAFFIC1")["targetIds"]
    eq(len(ids), 1, "target ids")
    t = codedeploy.get_deployment_target(deploymentId="d-PRETRAFFIC1", targetId=ids[0])["deploymentTarget"]
    eq(t["deploymentTargetType"], "LambdaTarget", "target type")
    info = t["lambdaTarget"]["lambdaFunctionInfo"]
    eq((info["functionName"], info["functionAlias"], info["currentVersion"], info["targetVersion"]),
       ("demo-fn", "live", "1", "2"), "function info")
    eq(type(info["targetVersionWeight"]), float, "weight type")
    in_progress = [e["lifecycleEventName"] for e in t["lambdaTarget"]["lifecycleEvents"] if e["status"] == "InProgress"]
    eq(in_progress, ["BeforeAllowTraffic"], "in-progress event")


def appspec():
    info = codedeploy.get_deployment(deploymentId="d-PRETRAFFIC1")["deploymentInfo"]
    eq(info["computePlatform"], "Lambda", "platform")
    rev = codedeploy.get_application_revision(applicationName=info["applicationName"], revision=info["revision"])
    spec = json.loads(rev["revision"]["appSpecContent"]["content"])
    props = spec["Resources"][0]["fn"]["Properties"]
    eq((props["Name"], props["TargetVersion"]), ("demo-fn", "2"), "appspec")


def report_once():
    out = codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId="d-PRETRAFFIC1", lifecycleEventHookExecutionId="boto3-exec", status="Succeeded")
    eq(out["lifecycleEventHookExecutionId"], "boto3-exec", "echoed id")
    try:
        codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId="d-PRETRAFFIC1", lifecycleEventHookExecutionId="boto3-exec", status="Failed")
    except codedeploy.exceptions.LifecycleEventAlreadyCompletedException:
        return
    raise AssertionError("a second report must raise LifecycleEventAlreadyCompletedException")


def unknown_deployment():
    try:
        codedeploy.get_deployment(deploymentId="d-NOPE")
    except codedeploy.exceptions.DeploymentDoesNotExistException:
        return
    raise AssertionError("expected DeploymentDoesNotExistException")


def invoke_ok():
    out = lam.invoke(FunctionName="demo-fn", Qualifier="2", Payload=b'{"path": "/health"}')
    eq(out["StatusCode"], 200, "status")
    eq(out["ExecutedVersion"], "2", "executed version")
    eq("FunctionError" in out, False, "no function error")
    eq(json.loads(out["Payload"].read())["statusCode"], 200, "payload")


def invoke_error_and_alias():
    out = lam.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:demo-fn", Qualifier="3", Payload=b"{}")
    eq(out["FunctionError"], "Unhandled", "function error")
    eq(lam.invoke(FunctionName="demo-fn", Qualifier="live", Payload=b"{}")["ExecutedVersion"], "1", "alias")


def invoke_missing():
    try:
        lam.invoke(FunctionName="nope", Qualifier="1", Payload=b"{}")
    except lam.exceptions.ResourceNotFoundException:
        return
    raise AssertionError("expected ResourceNotFoundException")


def invoke_event():
    # An asynchronous invocation (a hook's continuation): 202, an empty payload, queued.
    out = lam.invoke(FunctionName="demo-fn", Qualifier="2", InvocationType="Event", Payload=b'{"async": true}')
    eq(out["StatusCode"], 202, "status")
    eq(out["Payload"].read(), b"", "payload")
    eq("FunctionError" in out, False, "no function error")
    try:
        lam.invoke(FunctionName="demo-fn", Qualifier="2", InvocationType="Event", Payload=b'"' + b"x" * (300 * 1024) + b'"')
    except lam.exceptions.RequestTooLargeException:
        return
    raise AssertionError("an async payload over 256 KB must be refused with RequestTooLargeException")


def cloudwatch_alarms():
    eq(cloudwatch.meta.service_model.resolved_protocol, "smithy-rpc-v2-cbor", "protocol")
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix="demo-fn-")["MetricAlarms"]
    eq([(a["AlarmName"], a["StateValue"]) for a in alarms], [("demo-fn-errors", "ALARM")], "alarms by prefix")
    a = alarms[0]
    eq((a["Namespace"], a["MetricName"], a["Statistic"], a["Period"], a["Threshold"]),
       ("AWS/Lambda", "Errors", "Sum", 60, 0.0), "definition")
    eq(a["Dimensions"], [{"Name": "FunctionName", "Value": "demo-fn"}], "dimensions")
    eq(isinstance(a["StateUpdatedTimestamp"], datetime.datetime), True, "timestamp type")
    eq(cloudwatch.describe_alarms(AlarmNames=["nope"])["MetricAlarms"], [], "no such alarm")


def cloudwatch_metrics():
    now = datetime.datetime.now(datetime.timezone.utc)
    out = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": "demo-fn"}]}, "Period": 60, "Stat": "Sum"}}],
        StartTime=now - datetime.timedelta(minutes=10), EndTime=now)
    r = out["MetricDataResults"][0]
    eq((r["Id"], r["StatusCode"]), ("m", "Complete"), "result")
    eq(sum(r["Values"]), 3.0, "sum of the datapoints put in")
    eq(all(isinstance(t, datetime.datetime) for t in r["Timestamps"]), True, "timestamps")
    eq(r["Timestamps"], sorted(r["Timestamps"], reverse=True), "newest first")


def lambda_versions():
    pages = lam.get_paginator("list_versions_by_function").paginate(
        FunctionName="prune-fn", PaginationConfig={"PageSize": 2})
    eq([v["Version"] for p in pages for v in p["Versions"]], ["$LATEST", "1", "2", "3", "4", "5"],
       "versions, over three pages")


def lambda_aliases():
    aliases = lam.list_aliases(FunctionName="prune-fn")["Aliases"]
    eq([(a["Name"], a["FunctionVersion"], a.get("RoutingConfig", {}).get("AdditionalVersionWeights"))
        for a in aliases], [("live", "4", {"5": 0.1})], "aliases with routing")


def lambda_delete_version():
    lam.delete_function(FunctionName="prune-fn", Qualifier="1")
    left = [v["Version"] for v in lam.list_versions_by_function(FunctionName="prune-fn")["Versions"]]
    eq(left, ["$LATEST", "2", "3", "4", "5"], "after deleting version 1")
    try:
        lam.delete_function(FunctionName="prune-fn", Qualifier="5")
    except lam.exceptions.ResourceConflictException:
        return
    raise AssertionError("deleting a version an alias routes to must raise ResourceConflictException")


for name, fn in [("codedeploy target", target), ("codedeploy appspec", appspec), ("codedeploy report once", report_once),
                 ("codedeploy unknown deployment", unknown_deployment), ("lambda invoke", invoke_ok),
                 ("lambda function error and alias", invoke_error_and_alias), ("lambda missing function", invoke_missing),
                 ("lambda async invoke", invoke_event),
                 ("cloudwatch alarms (CBOR)", cloudwatch_alarms), ("cloudwatch metric data (CBOR)", cloudwatch_metrics),
                 ("lambda versions (paginated)", lambda_versions), ("lambda aliases", lambda_aliases),
                 ("lambda delete a version", lambda_delete_version)]:
    check(name, fn)

failed = [r for r in results if r[1]]
for name, err in results:
    print(f"{'FAIL' if err else 'ok  '} {name}{': ' + err if err else ''}")
print(f"boto3: {len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)

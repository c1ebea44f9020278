"""Runs aws-sam-translator on template.yaml and asserts what SAM generates: the CodeDeploy
application, a deployment group with the alarms and automatic rollback, the alias'
UpdatePolicy with both hooks, hook names and least-privilege IAM.

Usage: python tests/sam_template.py  (`make validate` runs it; offline, no AWS account)
Prints one line per check and `N passed, N failed`; exits 1 on any failure.
"""
import json
import os
import re
import subprocess

from checks import check, finish, resolve
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no managed policies by name, so nothing needs looking up in IAM."""

    def load(self):
        return {}


# The translator fills AWS::Region and the partition from the environment; no call is made.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "..", "template.yaml")) as f:
    template = yaml_parse(f.read())
# The translator runs on packaged templates, where `sam package` has replaced each local
# CodeUri with the S3 location of its uploaded zip: do the same.
for name, resource in template["Resources"].items():
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = f"s3://traffic-hooks-artifacts/{name}.zip"
out = transform(template, {"DeploymentType": "Canary10Percent5Minutes"}, NoManagedPolicies())
resources = out["Resources"]


def of_type(kind):
    return {k: v for k, v in resources.items() if v["Type"] == kind}


@check("one CodeDeploy application for Lambda")
def _():
    apps = of_type("AWS::CodeDeploy::Application")
    assert len(apps) == 1, apps
    assert list(apps.values())[0]["Properties"]["ComputePlatform"] == "Lambda"


@check("a deployment group with both alarms and automatic rollback")
def _():
    groups = of_type("AWS::CodeDeploy::DeploymentGroup")
    assert len(groups) == 1, groups
    props = list(groups.values())[0]["Properties"]
    alarms = props["AlarmConfiguration"]
    assert alarms["Enabled"] is True, alarms
    names = sorted(a["Name"]["Ref"] for a in alarms["Alarms"])
    assert names == ["AliasErrorsAlarm", "NewVersionErrorsAlarm"], names
    rollback = props["AutoRollbackConfiguration"]
    assert rollback["Enabled"] is True, rollback
    assert {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"} <= set(rollback["Events"]), rollback
    config = props["DeploymentConfigName"]
    assert "Canary10Percent5Minutes" in json.dumps(config), config


@check("the alias' UpdatePolicy names both hooks")
def _():
    aliases = of_type("AWS::Lambda::Alias")
    assert len(aliases) == 1, aliases
    alias = list(aliases.values())[0]
    assert alias["Properties"]["Name"] == "live"
    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert update["BeforeAllowTrafficHook"] == {"Ref": "PreTrafficHook"}, update
    assert update["AfterAllowTrafficHook"] == {"Ref": "PostTrafficHook"}, update


@check("hooks are named CodeDeployHook_*, arm64, provided.al2023, with short timeouts")
def _():
    for hook, limit in (("PreTrafficHook", 60), ("PostTrafficHook", 300)):
        props = resources[hook]["Properties"]
        name = json.dumps(props["FunctionName"])
        assert "CodeDeployHook_" in name, name
        assert props["Architectures"] == ["arm64"] and props["Runtime"] == "provided.al2023", props
        assert props["Timeout"] <= limit < 3600, props["Timeout"]
        assert "TRAFFIC_HOOK_CONFIG" in props["Environment"]["Variables"]


def statements(role, pruning=False):
    policies = resources[role]["Properties"].get("Policies", [])
    conditions = {"Pruning": pruning}
    return [s for p in policies for s in resolve(p["PolicyDocument"]["Statement"], conditions)]


PRUNE_ACTIONS = ["lambda:DeleteFunction", "lambda:ListAliases", "lambda:ListVersionsByFunction"]


@check("PruneKeep > 0 grants the PostTraffic hook exactly prune's three calls on DemoFunction; 0 grants none")
def _():
    assert template["Parameters"]["PruneKeep"]["Default"] == 0
    assert template["Conditions"]["Pruning"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "PruneKeep"}, "0"]}]}
    for role in ("PreTrafficHookRole", "PostTrafficHookRole"):
        granted = [a for s in statements(role) for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
        assert not set(granted) & set(PRUNE_ACTIONS), (role, granted)
    pruning = [s for s in statements("PostTrafficHookRole", pruning=True) if "lambda:DeleteFunction" in s["Action"]]
    assert len(pruning) == 1, pruning
    assert sorted(pruning[0]["Action"]) == PRUNE_ACTIONS, pruning
    res = json.dumps(pruning[0]["Resource"])
    assert "DemoFunction" in res and "Hook" not in res, res
    assert not [s for s in statements("PreTrafficHookRole", pruning=True) if "lambda:DeleteFunction" in json.dumps(s)]


@check("hook roles: no * resource except GetMetricData, invoke only the demo function and the hook itself")
def _():
    for role in ("PreTrafficHookRole", "PostTrafficHookRole"):
        own = "CodeDeployHook_${AWS::StackName}-" + ("pre" if role.startswith("Pre") else "post")
        itself = 0
        for s in statements(role):
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            res = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            if "*" in res:
                assert actions == ["cloudwatch:GetMetricData"], (role, s)
            if "lambda:InvokeFunction" in actions:
                text = json.dumps(res)
                if s.get("Sid") == "InvokeItself":
                    # Continuations and load workers: this hook, by name, and nothing else.
                    assert all(own in json.dumps(r) for r in res) and len(res) == 2, (role, s)
                    itself += 1
                else:
                    assert "DemoFunction" in text and "PreTrafficHook" not in text, (role, s)
            if any(a.startswith("codedeploy:") for a in actions):
                assert "ServerlessDeploymentApplication" in json.dumps(res), (role, s)
        assert itself == 1, (role, "no InvokeItself statement")
    for hook in ("PreTrafficHook", "PostTrafficHook"):
        # Continuations are a recursive chain by design: Lambda must not stop it at 16.
        eq = resources[hook]["Properties"].get("RecursiveLoop")
        assert eq == "Allow", (hook, eq)


@check("the demo function publishes alias live from a rust-cargolambda build")
def _():
    props = resources["DemoFunction"]["Properties"]
    assert props["Architectures"] == ["arm64"] and props["Runtime"] == "provided.al2023"
    versions = of_type("AWS::Lambda::Version")
    assert len(versions) == 1, versions


@check("each hook's TRAFFIC_HOOK_CONFIG passes `traffic-hook validate --timeout` with its Timeout")
def _():
    binary = os.environ.get("TRAFFIC_HOOK_BIN", os.path.join(here, "..", "target", "debug", "traffic-hook"))
    params = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
    for hook in ("PreTrafficHook", "PostTrafficHook"):
        props = template["Resources"][hook]["Properties"]
        config = props["Environment"]["Variables"]["TRAFFIC_HOOK_CONFIG"]
        if isinstance(config, dict):  # !Sub: parameters take their defaults, the rest a value, as CloudFormation will
            config = re.sub(r"\$\{([^}]+)\}", lambda m: params.get(m.group(1), "resolved-by-cloudformation"), config["Fn::Sub"])
        timeout = f"{props['Timeout']}s"
        out = subprocess.run([binary, "validate", "--timeout", timeout], env={"TRAFFIC_HOOK_CONFIG": config},
                             capture_output=True, text=True)
        assert out.returncode == 0, f"{hook}: {out.stderr}"


finish("sam-translator")

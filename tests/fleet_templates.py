"""Runs aws-sam-translator on shared-hooks/template.yaml and examples/fleet/template.yaml
and asserts what a platform team relies on: the shared hooks' names, least-privilege IAM
(invoke only on functions carrying the opt-in tag, SSM only under the config path), a
publishable Serverless Application Repository entry; and in the fleet, that every
function's alias hands its deployments to the shared hooks, and every config validates.

Usage: python tests/fleet_templates.py  (`make validate` runs it; offline, no AWS account)
Prints one line per check and `fleet-templates: N passed, N failed`; exits 1 on any failure.
"""
import json
import os
import subprocess
import tempfile

from checks import check, finish, resolve
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """No managed policy is named by name, so nothing needs looking up in IAM."""

    def load(self):
        return {}


os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
binary = os.environ.get("TRAFFIC_HOOK_BIN", os.path.join(root, "target", "debug", "traffic-hook"))


def load(path):
    with open(os.path.join(root, path)) as f:
        return yaml_parse(f.read())


def translate(template, parameters):
    # The translator runs on packaged templates, where `sam package` has replaced each
    # local CodeUri with the S3 location of its uploaded zip: do the same.
    template = json.loads(json.dumps(template))
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in props:
            props["CodeUri"] = f"s3://traffic-hooks-artifacts/{name}.zip"
    return transform(template, parameters, NoManagedPolicies())["Resources"]


shared_source = load("shared-hooks/template.yaml")
shared = translate(shared_source, {"HookName": "traffic-hooks", "Architecture": "arm64"})
fleet_source = load("examples/fleet/template.yaml")
fleet = translate(fleet_source, {})

def of_type(resources, kind):
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def as_list(x):
    return x if isinstance(x, list) else [x]


def statements(pruning=False, notify=False):
    (role,) = of_type(shared, "AWS::IAM::Role").values()
    conditions = {"PruningAllowed": pruning, "NotifyBySns": notify}
    return [resolve(s, conditions) for p in role["Properties"]["Policies"]
            for s in resolve(p["PolicyDocument"]["Statement"], conditions)]


HOOKS = {
    "PreTrafficHookArm64": ("pre", "arm64", "IsArm64"),
    "PostTrafficHookArm64": ("post", "arm64", "IsArm64"),
    "PreTrafficHookX86": ("pre", "x86_64", "IsX86"),
    "PostTrafficHookX86": ("post", "x86_64", "IsX86"),
}


@check("shared hooks: CodeDeployHook_<name>-pre/-post, one pair per architecture, from make package's zips")
def _():
    functions = of_type(shared, "AWS::Lambda::Function")
    assert sorted(functions) == sorted(HOOKS), sorted(functions)
    for name, (phase, arch, condition) in HOOKS.items():
        resource = functions[name]
        props = resource["Properties"]
        assert props["FunctionName"] == {"Fn::Sub": f"CodeDeployHook_${{HookName}}-{phase}"}, props["FunctionName"]
        assert props["Architectures"] == [arch], props["Architectures"]
        assert props["Runtime"] == "provided.al2023" and props["Handler"] == "bootstrap", props
        assert resource["Condition"] == condition, resource
        source = shared_source["Resources"][name]["Properties"]["CodeUri"]
        assert source == f"../dist/traffic-hook-{arch}.zip", source
        env = props["Environment"]["Variables"]
        assert env["TRAFFIC_HOOK_CONFIG_SSM"] == {"Fn::Sub": "${ConfigPath}/{{function}}"}, env
        assert env["TRAFFIC_HOOK_CONFIG_TTL"] == {"Ref": "ConfigCacheTtl"}, env
        assert props["Role"] == {"Fn::GetAtt": ["HookRole", "Arn"]}, props["Role"]


@check("shared hooks are not themselves deployed with a DeploymentPreference")
def _():
    assert not of_type(shared, "AWS::CodeDeploy::DeploymentGroup")
    assert not of_type(shared, "AWS::Lambda::Alias")
    for name in HOOKS:
        assert "DeploymentPreference" not in shared_source["Resources"][name]["Properties"]


@check("shared hooks invoke only functions tagged traffic-hooks=<OptInTagValue>, and themselves")
def _():
    every = statements()
    invoking = [s for s in every if "lambda:InvokeFunction" in as_list(s["Action"])]
    assert len(invoking) == 2, invoking
    tagged = [s for s in invoking if s.get("Sid") == "InvokeOptedInFunctionsOnly"]
    assert len(tagged) == 1, invoking
    (s,) = tagged
    assert as_list(s["Action"]) == ["lambda:InvokeFunction"], s
    assert s["Condition"] == {"StringEquals": {"aws:ResourceTag/traffic-hooks": {"Ref": "OptInTagValue"}}}, s
    assert "function:*" in json.dumps(s["Resource"]), s
    assert shared_source["Parameters"]["OptInTagValue"]["Default"] == "enabled"
    # Continuations are a recursive chain by design: Lambda must not stop it at 16.
    hooks = [r for r in shared_source["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert hooks and all(r["Properties"].get("RecursiveLoop") == "Allow" for r in hooks), hooks
    # Continuations and load workers: the two hooks by name (and their versions), only.
    (me,) = [x for x in invoking if x is not s]
    assert as_list(me["Action"]) == ["lambda:InvokeFunction"] and "Condition" not in me, me
    names = sorted(json.dumps(r) for r in as_list(me["Resource"]))
    assert len(names) == 4 and all("function:CodeDeployHook_${HookName}-" in n for n in names), names
    # No other statement grants any lambda action.
    others = [a for x in every if x is not s and x is not me for a in as_list(x["Action"])]
    assert not [a for a in others if a.startswith("lambda:")], others


@check("shared hooks read SSM only under ConfigPath and the approvals path, and no other action has a * resource but GetMetricData")
def _():
    ssm = [s for s in statements() if any(a.startswith("ssm:") for a in as_list(s["Action"]))]
    assert len(ssm) == 2 and all(as_list(s["Action"]) == ["ssm:GetParameter"] for s in ssm), ssm
    assert sorted(json.dumps(s["Resource"]) for s in ssm) == sorted(json.dumps(r) for r in [
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ConfigPath}/*"},
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/traffic-hooks/approvals/*"},
    ]), ssm
    for s in statements():
        assert s["Effect"] == "Allow", s
        if "*" in as_list(s["Resource"]):
            assert as_list(s["Action"]) == ["cloudwatch:GetMetricData"], s
        if any(a.startswith("codedeploy:") for a in as_list(s["Action"])):
            text = json.dumps(s["Resource"])
            assert "${AWS::AccountId}:deploymentgroup:" in text or "${AWS::AccountId}:application:" in text, s


@check("shared hooks grant prune's three calls on opted-in functions only with AllowPruning, sns:Publish only with a topic")
def _():
    params = shared_source["Parameters"]
    assert params["AllowPruning"]["Default"] == "false" and params["NotifyTopicArn"]["Default"] == ""
    off = [a for s in statements() for a in as_list(s["Action"])]
    assert not [a for a in off if a in ("lambda:DeleteFunction", "lambda:ListVersionsByFunction", "lambda:ListAliases", "sns:Publish")], off
    pruning = [s for s in statements(pruning=True) if "lambda:DeleteFunction" in as_list(s["Action"])]
    assert len(pruning) == 1, pruning
    (s,) = pruning
    assert sorted(as_list(s["Action"])) == ["lambda:DeleteFunction", "lambda:ListAliases", "lambda:ListVersionsByFunction"], s
    assert s["Condition"] == {"StringEquals": {"aws:ResourceTag/traffic-hooks": {"Ref": "OptInTagValue"}}}, s
    publishing = [s for s in statements(notify=True) if "sns:Publish" in as_list(s["Action"])]
    assert len(publishing) == 1 and publishing[0]["Resource"] == {"Ref": "NotifyTopicArn"}, publishing
    assert as_list(publishing[0]["Action"]) == ["sns:Publish"], publishing


@check("shared hooks: Serverless Application Repository metadata complete enough to publish")
def _():
    meta = shared_source["Metadata"]["AWS::ServerlessRepo::Application"]
    for key in ("Name", "Description", "Author", "SpdxLicenseId", "LicenseUrl", "ReadmeUrl", "SemanticVersion", "Labels"):
        assert meta.get(key), key
    for key in ("LicenseUrl", "ReadmeUrl"):
        assert os.path.isfile(os.path.join(root, "shared-hooks", meta[key])), meta[key]
    with open(os.path.join(root, "Cargo.toml")) as f:
        cargo = f.read()
    assert f'version = "{meta["SemanticVersion"]}"' in cargo, "SemanticVersion differs from the workspace version"
    assert f'license = "{meta["SpdxLicenseId"]}"' in cargo, "SpdxLicenseId differs from the workspace license"


@check("shared hooks export both hook names")
def _():
    outputs = shared_source["Outputs"]
    for output, phase in (("PreTrafficHookName", "Pre"), ("PostTrafficHookName", "Post")):
        assert outputs[output]["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{phase}TrafficHook"}, outputs[output]
        assert outputs[output]["Value"] == {"Fn::If": ["IsArm64", {"Ref": f"{phase}TrafficHookArm64"}, {"Ref": f"{phase}TrafficHookX86"}]}


fleet_functions = {k: v for k, v in of_type(fleet, "AWS::Lambda::Function").items()}


@check("fleet: at least 12 functions, each tagged traffic-hooks=enabled")
def _():
    assert len(fleet_functions) >= 12, len(fleet_functions)
    for name, fn in fleet_functions.items():
        tags = {t["Key"]: t["Value"] for t in fn["Properties"].get("Tags", [])}
        assert tags.get("traffic-hooks") == "enabled", (name, tags)


@check("fleet: every function's alias UpdatePolicy names the shared hooks")
def _():
    aliases = of_type(fleet, "AWS::Lambda::Alias")
    assert len(aliases) == len(fleet_functions), (len(aliases), len(fleet_functions))
    for name, alias in aliases.items():
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert update["BeforeAllowTrafficHook"] == {"Fn::ImportValue": {"Fn::Sub": "${SharedHooksStack}-PreTrafficHook"}}, (name, update)
        assert update["AfterAllowTrafficHook"] == {"Fn::ImportValue": {"Fn::Sub": "${SharedHooksStack}-PostTrafficHook"}}, (name, update)
    groups = of_type(fleet, "AWS::CodeDeploy::DeploymentGroup")
    assert len(groups) == len(fleet_functions), len(groups)
    assert fleet_source["Parameters"]["SharedHooksStack"]["Default"] == "traffic-hooks"


@check("fleet: the hooks are another stack's, so no function here has hooks of its own")
def _():
    for name, fn in fleet_functions.items():
        assert "CodeDeployHook_" not in json.dumps(fn["Properties"].get("FunctionName")), name


@check("fleet: each function has its config at <ConfigPath>/<function>, two different configs in all")
def _():
    params = of_type(fleet, "AWS::SSM::Parameter")
    named = {}
    for p in params.values():
        name = p["Properties"]["Name"]["Fn::Sub"]
        assert name.startswith("${ConfigPath}/${") and name.endswith("}"), name
        named[name[len("${ConfigPath}/${"):-1]] = p["Properties"]["Value"]
    assert sorted(named) == sorted(fleet_functions), (sorted(named), sorted(fleet_functions))
    kinds = {json.dumps(v) for v in named.values()}
    assert len(kinds) == 2, kinds
    assert fleet_source["Parameters"]["ConfigPath"]["Default"] == shared_source["Parameters"]["ConfigPath"]["Default"]


@check("fleet: both configs pass `traffic-hook validate --timeout` with the shared hooks' timeout")
def _():
    timeout = f"{shared_source['Parameters']['TimeoutSeconds']['Default']}s"
    for kind, entry in fleet_source["Mappings"]["Checks"].items():
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(entry["config"])
        try:
            out = subprocess.run([binary, "validate", "--config", f.name, "--timeout", timeout],
                                 capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        assert out.returncode == 0, f"{kind}: {out.stderr}"
        assert "valid" in out.stdout, out.stdout


finish("fleet-templates")

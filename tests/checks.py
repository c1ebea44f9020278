"""The small harness the offline template tests share: `@check("...")` runs a function at
once and records whether it raised; `finish(label)` prints one line per check and
`label: N passed, N failed` (what scripts/test-summary.sh counts), then exits 1 on any
failure. `resolve` decides a template's conditions the way CloudFormation does."""
import sys

results = []


def check(name):
    def wrap(fn):
        try:
            fn()
            results.append((name, None))
        except Exception as e:  # noqa: BLE001 - every failure is reported
            results.append((name, f"{type(e).__name__}: {e}"))
        return fn
    return wrap


def finish(label):
    failed = [r for r in results if r[1]]
    for name, err in results:
        print(f"{'FAIL' if err else 'ok  '} {name}{': ' + err if err else ''}")
    print(f"{label}: {len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


def resolve(x, conditions):
    """The template value with each Fn::If decided by `conditions` and AWS::NoValue
    dropped, as CloudFormation does."""
    if isinstance(x, dict) and "Fn::If" in x:
        name, yes, no = x["Fn::If"]
        return resolve(yes if conditions[name] else no, conditions)
    if isinstance(x, dict):
        return {k: resolve(v, conditions) for k, v in x.items()}
    if isinstance(x, list):
        items = [resolve(v, conditions) for v in x]
        return [v for v in items if v != {"Ref": "AWS::NoValue"}]
    return x

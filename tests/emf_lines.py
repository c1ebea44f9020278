"""Validates CloudWatch EMF lines (JSON, one per line, on stdin) against the EMF
specification: the JSON Schema in testkit/fixtures/emf-schema.json, then the rules a
schema cannot say (every dimension and metric a directive names is a member of the
root; metric values are numbers; at most 100 metrics and 30 dimensions).

Run by hooks/tests/operations.rs with the lines the real hook printed. Exit 0 when
every line is valid; else each problem on stderr and exit 1."""

import json
import pathlib
import sys

import jsonschema

SCHEMA = json.loads(
    (pathlib.Path(__file__).parent.parent / "testkit/fixtures/emf-schema.json").read_text()
)


def problems(doc):
    validator = jsonschema.Draft7Validator(SCHEMA)
    for error in validator.iter_errors(doc):
        yield f"schema: {error.message} at {list(error.absolute_path)}"
    for directive in doc.get("_aws", {}).get("CloudWatchMetrics", []):
        for dims in directive.get("Dimensions", []):
            for d in dims:
                if d not in doc:
                    yield f"dimension {d} is not a member of the root"
                elif not isinstance(doc[d], str):
                    yield f"dimension {d} is not a string"
        for metric in directive.get("Metrics", []):
            name = metric.get("Name")
            value = doc.get(name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                yield f"metric {name} has no numeric value: {value!r}"


def main():
    lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
    if not lines:
        print("no EMF lines given", file=sys.stderr)
        return 1
    bad = 0
    for n, line in enumerate(lines, 1):
        for p in problems(json.loads(line)):
            bad += 1
            print(f"line {n}: {p}", file=sys.stderr)
    print(f"{len(lines)} EMF lines, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

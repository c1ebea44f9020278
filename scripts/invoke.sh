#!/usr/bin/env bash
# `make invoke`: the cargo-lambda workflow against the testkit fakes, on loopback only.
#   1. start the fake CodeDeploy + Lambda + HTTP (testkit's `fakes` binary);
#   2. `cargo lambda watch` serves the traffic-hook binary with the demo checks, pointed
#      at the fakes through AWS_ENDPOINT_URL;
#   3. `cargo lambda invoke --data-file testkit/events/pre-traffic.json` and show the verdict;
#   4. with --check (CI): fail unless the fake CodeDeploy got exactly one `Succeeded`.
set -euo pipefail
cd "$(dirname "$0")/.."
check=false
[ "${1:-}" = "--check" ] && check=true

export PATH="$PWD/.venv/bin:$PATH"
command -v cargo-lambda >/dev/null || { echo "cargo-lambda is missing: run \`make venv\`" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --workspace --bins --quiet
target/debug/fakes --env-file "$work/fakes.env" >/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -f "$work/fakes.env" ] && break; sleep 0.1; done
[ -f "$work/fakes.env" ] || { echo "the fakes did not start" >&2; exit 1; }
. "$work/fakes.env"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/hook.env" <<ENV
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
HEALTH_URL=$HEALTH_URL
TRAFFIC_HOOK_CONFIG_FILE=$PWD/testkit/fixtures/demo-config.yaml
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=testkit
AWS_SECRET_ACCESS_KEY=testkit
AWS_EC2_METADATA_DISABLED=true
ENV
cargo lambda watch --quiet --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$port" \
  --env-file "$work/hook.env" --bin traffic-hook >"$work/watch.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

echo "== cargo lambda invoke traffic-hook --data-file testkit/events/pre-traffic.json"
if ! cargo lambda invoke traffic-hook --invoke-address 127.0.0.1 --invoke-port "$port" \
     --data-file testkit/events/pre-traffic.json --output-format json >"$work/response.json"; then
  echo "invoke failed; cargo lambda watch said:" >&2
  cat "$work/watch.log" >&2
  exit 1
fi
python3 - "$work/response.json" "$AWS_ENDPOINT_URL" "$check" <<'PY'
import json, sys, urllib.request
response = json.load(open(sys.argv[1]))
print(f"verdict: {response['status']} ({response['reason']}); report {response['report']}")
for c in response["checks"]:
    print(f"  {c['name']:<11} {c['status']:<8} {c.get('reason') or ''}".rstrip())
calls = json.load(urllib.request.urlopen(sys.argv[2] + "/_testkit/calls"))
reports = [(r["deployment_id"], r["status"]) for r in calls["reports"]]
print(f"CodeDeploy received: {reports}")
if sys.argv[3] == "true" and reports != [("d-PRETRAFFIC1", "Succeeded")]:
    sys.exit("expected exactly one Succeeded report for d-PRETRAFFIC1")
PY

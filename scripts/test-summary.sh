#!/usr/bin/env bash
# Adds up the `test result:` lines of a cargo test log and the `N passed, N failed`
# lines of the Python checks, and prints one closing line for the whole `make test`.
set -euo pipefail
passed=0 failed=0
for log in "$@"; do
  [ -f "$log" ] || continue
  while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(
    sed -nE 's/.*test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p; s/^[a-z0-9-]+: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log")
done
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# The whole suite N times in a row under CPU load: stress-ng keeps every
# core busy (--cpu 2 on this 2-core machine) while ./tests/run.sh runs. The
# first run sets up and builds as ./tests/run.sh always does; the others
# run the tests of the same builds again (./tests/run.sh --no-build), since
# what is stressed is the tests, not the compiler.
#   ./tests/stress.sh [--runs N] [--cpu N] [--no-build]
# Defaults: 5 runs, 2 CPU workers. --no-build: the first run too uses the
# builds already there. Prints each run's "N passed, N failed"
# line and time, and ends with "N runs: N passed, N failed" (runs);
# exits non-zero if any run failed.
set -uo pipefail
source "$(dirname "$0")/../pipelines/lib/common.sh"
cd "$LATESTFRAME_ROOT"

runs=5
cpu=2
first_build=1
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --no-build) first_build=0; shift ;;
    *) echo "usage: $0 [--runs N] [--cpu N] [--no-build]" >&2; exit 2 ;;
  esac
done

ensure_packages || exit 1
stress-ng --cpu "$cpu" --timeout 0 --quiet &
load=$!
trap 'kill "$load" 2>/dev/null; wait "$load" 2>/dev/null' EXIT

mkdir -p out/stress
passed=0
failed=0
summary=()
for run in $(seq "$runs"); do
  started=$(date +%s)
  log=out/stress/run-$run.log
  if [ "$run" -eq 1 ] && [ "$first_build" = 1 ]; then ./tests/run.sh >"$log" 2>&1; else ./tests/run.sh --no-build >"$log" 2>&1; fi
  status=$?
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  summary+=("run $run: ${line:-no summary line} (exit $status, $(($(date +%s) - started)) s, $log)")
  echo "${summary[-1]}"
  if [ "$status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); grep -E 'FAIL|TIMEOUT' "$log" | head -20; fi
done
echo "$runs runs under stress-ng --cpu $cpu: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

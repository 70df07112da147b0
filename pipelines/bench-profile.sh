#!/usr/bin/env bash
# Where a camera's CPU and memory go in latestframe-service (issue 27): the
# service of bench-service.sh (the test camera's out-of-phase streams, one
# analysis a second, decode: key-units, a local mosquitto) at 1 and 32
# cameras, with, over each measured window, its CPU by stage (perf record
# -p, perf report --sort comm,dso), its threads by name, and its resident
# memory by kind (/proc/PID/smaps); then at 4 and 8 cameras under
# heaptrack, its heap by owner. Writes service-profile.md and .json, and
# the perf, smaps and heaptrack files, to the results folder and prints
# the tables; --publish also writes them into docs/benchmarks.md (section
# 7.3, with the run's date, commit and CPU).
#   ./pipelines/bench-profile.sh [--quick] [--out DIR] [--cameras 1,32]
#                                [--heap-cameras 4,8|none] [--seconds S]
#                                [--warmup S] [--rate R] [--decode MODE]
#                                [--publish]
# perf (Debian's linux-perf) and heaptrack are bench-only packages
# (LATESTFRAME_BENCH_PACKAGES), installed here when missing; the CPU table
# is skipped, saying why, when perf cannot record on this machine.
# --quick: 1 and 2 cameras of 320x240, 2 s windows, no heaptrack, perf when
#   it is installed and records (the suite's smoke test; installs nothing).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
out=$LATESTFRAME_ROOT/out/bench-profile
args=(--command "$(command_line ./pipelines/bench-profile.sh "$@")")
quick=0
usage="usage: $0 [--quick] [--out DIR] [--cameras 1,32] [--heap-cameras 4,8|none] [--seconds S] [--warmup S] [--rate R] [--decode MODE] [--publish]"
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; args+=(--cameras 1,2 --heap-cameras none --seconds 2 --warmup 1 --width 320 --height 240); shift ;;
    --out) out=$2; shift 2 ;;
    --publish) args+=(--publish "$LATESTFRAME_ROOT/docs/benchmarks.md"); shift ;;
    --publish-to) args+=(--publish "$2"); shift 2 ;; # the suite's check, on a copy
    --cameras|--heap-cameras|--seconds|--rate|--decode|--warmup|--analyses) args+=("$1" "$2"); shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
prepare_build
# The suite installs nothing of the bench's: without perf, the quick run
# says so and makes the other tables.
[ $quick = 1 ] || ensure_packages "${LATESTFRAME_BENCH_PACKAGES[@]}"
export LATESTFRAME_BENCH_RUN="$("$(system_python)" "$LATESTFRAME_ROOT/pipelines/bench/publish.py" --stamp)"
exec "$(system_python)" "$LATESTFRAME_ROOT/pipelines/bench/bench_profile.py" \
  --service "$build_dir/src/service/latestframe-service" \
  --testcam "${LATESTFRAME_TESTCAM:-$build_dir/src/testcam/latestframe-testcam}" \
  --out "$out" "${args[@]}"

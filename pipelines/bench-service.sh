#!/usr/bin/env bash
# How many cameras one latestframe-service process carries at one analysis
# per second: CPU and resident memory of the service with N cameras of the
# RTSP test camera (1280x720@30 H.264, one stream shared by N RTSP
# sessions), a mosquitto broker on 127.0.0.1 receiving the results, and the
# sizing rule fitted from them. Writes service-density.md and .json to the
# results folder and prints the table; --publish also writes it into
# docs/benchmarks.md (section 7, with the run's date, commit and CPU), where
# the sizing in docs/service.md comes from.
#   ./pipelines/bench-service.sh [--quick] [--out DIR] [--cameras 1,4,8,16]
#                                [--seconds S] [--rate R] [--decode MODE] [--publish]
# --quick: 1 and 2 cameras of 320x240, 3 s each (the suite's smoke test).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
out=$LATESTFRAME_ROOT/out/bench-service
args=(--command "./pipelines/bench-service.sh${*:+ $*}")
while [ $# -gt 0 ]; do
  case $1 in
    --quick) args+=(--cameras 1,2 --seconds 3 --warmup 2 --width 320 --height 240); shift ;;
    --out) out=$2; shift 2 ;;
    --publish) args+=(--publish "$LATESTFRAME_ROOT/docs/benchmarks.md"); shift ;;
    --publish-to) args+=(--publish "$2"); shift 2 ;; # the suite's check, on a copy
    --cameras|--seconds|--rate|--decode|--warmup|--analyses) args+=("$1" "$2"); shift 2 ;;
    *) echo "usage: $0 [--quick] [--out DIR] [--cameras 1,4,8,16] [--seconds S] [--rate R] [--decode MODE] [--publish]" >&2; exit 2 ;;
  esac
done
prepare_build
export LATESTFRAME_BENCH_RUN="$("$(system_python)" "$LATESTFRAME_ROOT/pipelines/bench/publish.py" --stamp)"
exec "$(system_python)" "$LATESTFRAME_ROOT/pipelines/bench/bench_service.py" \
  --service "$build_dir/src/service/latestframe-service" \
  --testcam "${LATESTFRAME_TESTCAM:-$build_dir/src/testcam/latestframe-testcam}" \
  --out "$out" "${args[@]}"

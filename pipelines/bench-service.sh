#!/usr/bin/env bash
# How many cameras one latestframe-service process carries at one analysis
# per second: CPU and resident memory of the service with N cameras of the
# RTSP test camera (1280x720@30 H.264; N streams whose key units and
# frames are out of step, from one encoder: latestframe-testcam
# --mounts=N), a mosquitto broker on 127.0.0.1 receiving the results, and
# the sizing rule fitted from them. Writes service-density.md and .json to the results folder and
# prints the tables; --publish also writes them into docs/benchmarks.md
# (section 7, with the run's date, commit and CPU), where the sizing in
# docs/service.md comes from.
#   ./pipelines/bench-service.sh [--quick] [--out DIR] [--cameras 1,4,8,16]
#                                [--seconds S] [--warmup S] [--rate R] [--decode MODE]
#                                [--in-phase] [--page [--page-cameras 1,8]]
#                                [--peer ffmpeg] [--on-request] [--analyses A]
#                                [--also-analyses A] [--rounds R] [--publish]
# --in-phase: one stream shared by N RTSP sessions, key frames in step
#   (the bench before issue 27).
# --page: each service measured again with its status page open in
#   headless chromium (section 7's "status page" table, issue 26).
# --peer ffmpeg: the same cameras as one ffmpeg process each, after each
#   service run (section 7's "ffmpeg" table, issue 27). ffmpeg is a
#   bench-only package (LATESTFRAME_BENCH_PACKAGES), installed here when
#   missing.
# --on-request: each service measured again with its cameras'
#   snapshot-frame: on-request (no frame kept for latest.jpg while nobody
#   asks; section 7's "on-request" table).
# --analyses A: the cameras' analyses (default "cvmotion analysis-width=320").
# --also-analyses A: each service measured again right after with analyses
#   A (section 7's "also-analyses" table: cvmotion mixtures=1, issue 27).
# --rounds R: the counts measured R times in turn (1, 48, 1, 48, ...), each
#   count's windows pooled (its cameras' age p95 over all their ages), so
#   that the host's noise of the moment falls on every count alike.
# --quick: 1 and 2 cameras of 320x240, 3 s each, and the page at 2 cameras
#   when chromium is there (the suite's smoke test).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
out=$LATESTFRAME_ROOT/out/bench-service
args=(--command "$(command_line ./pipelines/bench-service.sh "$@")")
quick=0 peer=""
usage="usage: $0 [--quick] [--out DIR] [--cameras 1,4,8,16] [--seconds S] [--warmup S] [--rate R] [--decode MODE] [--in-phase] [--page [--page-cameras LIST]] [--peer ffmpeg] [--on-request] [--analyses A] [--also-analyses A] [--rounds R] [--publish]"
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; args+=(--cameras 1,2 --seconds 3 --warmup 2 --width 320 --height 240); shift ;;
    --out) out=$2; shift 2 ;;
    --publish) args+=(--publish "$LATESTFRAME_ROOT/docs/benchmarks.md"); shift ;;
    --publish-to) args+=(--publish "$2"); shift 2 ;; # the suite's check, on a copy
    --in-phase|--page|--on-request) args+=("$1"); shift ;;
    --peer) peer=$2; args+=("$1" "$2"); shift 2 ;;
    --cameras|--seconds|--rate|--decode|--warmup|--analyses|--also-analyses|--page-cameras|--rounds) args+=("$1" "$2"); shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
prepare_build
[ "$peer" = ffmpeg ] && ensure_packages "${LATESTFRAME_BENCH_PACKAGES[@]}"
# The quick run checks the page's row too (no snapshot encoded while
# nobody looks) when the browser is installed (tests/run.sh installs it).
if [ $quick = 1 ] && command -v chromium >/dev/null && command -v chromedriver >/dev/null \
    && "$(system_python)" -c "import selenium" 2>/dev/null; then
  args+=(--page --page-cameras 2)
fi
export LATESTFRAME_BENCH_RUN="$("$(system_python)" "$LATESTFRAME_ROOT/pipelines/bench/publish.py" --stamp)"
exec "$(system_python)" "$LATESTFRAME_ROOT/pipelines/bench/bench_service.py" \
  --service "$build_dir/src/service/latestframe-service" \
  --testcam "${LATESTFRAME_TESTCAM:-$build_dir/src/testcam/latestframe-testcam}" \
  --out "$out" "${args[@]}"

#!/usr/bin/env bash
# The slow-consumer soak: the live demo (pipelines/demo.py: the test camera
# over RTSP, decode, latestframe, cvmotion, cvpeopledetect at full width,
# slower than the camera's 30 fps) run for a chosen time, its resident
# memory sampled every few seconds. After the warm-up, RSS must stay
# within +-1 MiB (--flat-mib) of its median; the curve is plotted
# (gnuplot).
#   ./pipelines/soak.sh [--minutes M] [--sample S] [--warmup S]
#                       [--flat-mib MIB] [--out DIR]
# Defaults: 60 minutes, a sample every 10 s, 60 s of warm-up, 1 MiB,
# out/soak.
# Writes DIR/soak-rss.csv (seconds, RSS kB), DIR/soak-rss.png and
# DIR/soak.json (the fault matrix's row; pipelines/faults.sh runs this
# briefly), prints a summary line; exits non-zero when RSS is not flat,
# the demo fails or frames were lost uncounted.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

minutes=60
sample=10
warmup=60
flat_mib=1
out=$LATESTFRAME_ROOT/out/soak
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --sample) sample=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --flat-mib) flat_mib=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--minutes M] [--sample S] [--warmup S] [--flat-mib MIB] [--out DIR]" >&2; exit 2 ;;
  esac
done

prepare_build
export LATESTFRAME_TESTCAM=${LATESTFRAME_TESTCAM:-$build_dir/src/testcam/latestframe-testcam}
mkdir -p "$out"
seconds=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')

# Under the leaks tracer: what is alive once the pipeline is gone goes into
# the row.
GST_TRACERS=leaks GST_DEBUG=${GST_DEBUG:-*:1} "$(system_python)" "$LATESTFRAME_ROOT/pipelines/demo.py" \
  --duration "$seconds" --analysis-width 0 --json "$out/soak.json" \
  --jpeg "$out/soak.jpg" >"$out/soak.log" 2>&1 &
demo=$!
trap 'kill "$demo" 2>/dev/null || true' EXIT

echo "seconds,rss_kb" >"$out/soak-rss.csv"
started=$(date +%s.%N)
while kill -0 "$demo" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$demo/status" 2>/dev/null || true)
  now=$(date +%s.%N)
  # Samples of the run only: past its duration the demo tears its pipeline
  # down, and the memory that frees is not a trend (a short soak's last
  # sample once fell 28 MiB so, and failed the flatness bound).
  [ -n "$rss" ] && awk -v t="$now" -v s="$started" -v r="$rss" -v d="$seconds" \
    'BEGIN { if (t - s < d) printf "%.1f,%d\n", t - s, r }' >>"$out/soak-rss.csv"
  # Sleep in small steps: the demo may end between samples.
  for _ in $(seq $((sample * 10))); do
    kill -0 "$demo" 2>/dev/null || break
    sleep 0.1
  done
done
status=0
wait "$demo" || status=$?
trap - EXIT
if [ "$status" -ne 0 ]; then
  echo "the demo failed ($status):" >&2; tail -20 "$out/soak.log" >&2; exit 1
fi

exec "$(system_python)" "$LATESTFRAME_ROOT/pipelines/soak_report.py" \
  --csv "$out/soak-rss.csv" --json "$out/soak.json" --warmup "$warmup" --flat-mib "$flat_mib" \
  --png "$out/soak-rss.png"

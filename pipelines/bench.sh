#!/usr/bin/env bash
# The side-by-side benchmarks: frame age, memory and CPU of the consumers of
# a live RTSP camera, the hand-off cost of latestframe, the analysis cost of
# the cv* elements, and density. Writes results.md and PNG plots to the
# results folder and prints the table. At most about 5 minutes on 2 cores.
#   ./pipelines/bench.sh [--quick] [--out DIR] [--seconds S] [--section N]...
# --section N runs only section N (1-4; repeat it for several); the results
# folder then holds only what this run measured. Sections 1 and 4 start the
# RTSP test camera; 2 and 3 do not need it.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
out=bench-results seconds=10 quick=0 sections=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 seconds=2; shift ;;
    --out) out=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --section)
      case $2 in [1-4]) sections="$sections $2" ;; *) echo "no section $2 (1-4)" >&2; exit 2 ;; esac
      shift 2 ;;
    *) echo "usage: $0 [--quick] [--out DIR] [--seconds S] [--section N]..." >&2; exit 2 ;;
  esac
done
[ -n "$sections" ] || sections="1 2 3 4"
section() { case " $sections " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
prepare_build
mkdir -p "$out"
rm -f "$out"/*.dat "$out"/*.png "$out"/runs.txt "$out"/handoff.txt "$out"/analysis.md "$out"/results.md

trap stop_testcam EXIT

rtsp() { # consumer analysis-ms [extra args]
  local consumer=$1 ms=$2; shift 2
  "$build_dir/pipelines/bench/bench_rtsp" --uri "$url" --consumer "$consumer" --analysis-ms "$ms" \
    --seconds "$seconds" --timeline "$out/age-$consumer-$ms.dat" "$@" | tee -a "$out/runs.txt"
}

if section 1; then
  start_testcam --width 1280 --height 720 --fps 30
  echo "== 1. slow analysis over RTSP (1280x720@30 H.264 on 127.0.0.1), $seconds s each"
  # Compared consumers run in pairs, at the same time, on the same camera: the
  # network's stalls (rtspsrc's RTCP every few seconds) hit both alike.
  together() { # consumer analysis-ms consumer analysis-ms
    rtsp "$1" "$2" & local first=$!
    rtsp "$3" "$4"
    wait "$first"
  }
  cv2_loop() { # analysis-ms: the loop people write with OpenCV, where present
    if "$(system_python)" -c "import cv2" 2>/dev/null; then
      "$(system_python)" "$LATESTFRAME_ROOT/pipelines/bench/bench_cv2.py" --uri "$url" --analysis-ms "$1" \
        --seconds "$seconds" --timeline "$out/age-cv2-videocapture-$1.dat" | tee -a "$out/runs.txt"
    else
      echo "cv2.VideoCapture loop skipped: python3-opencv is not installed" | tee -a "$out/runs.txt"
    fi
  }
  analyses=(100 20)
  [ $quick = 1 ] && analyses=(100)
  for ms in "${analyses[@]}"; do
    together latestframe "$ms" queue-leaky "$ms"
    together floor 0 latestframe-maxage "$ms"
    [ $quick = 1 ] && continue
    together appsink-drop "$ms" queue "$ms"
    cv2_loop "$ms"
  done
  if [ $quick = 0 ]; then
    rtsp latestframe-before-convert 100
    rtsp latestframe-after-convert 100
  fi
  # The camera's CPU would slow what follows: stop it until density needs it.
  stop_testcam
fi

if section 2; then
  echo "== 2. hand-off cost (16-byte buffers, interleaved rounds)"
  buffers=1000000 rounds=3
  [ $quick = 1 ] && buffers=50000 rounds=1
  for round in $(seq $rounds); do
    for element in none queue latestframe; do
      middle=""
      case $element in
        queue) middle="! queue max-size-buffers=64" ;;
        latestframe) middle="! latestframe leaky=no max-size-buffers=64" ;;
      esac
      start=$(date +%s%N)
      # shellcheck disable=SC2086
      gst-launch-1.0 -q fakesrc num-buffers=$buffers sizetype=fixed sizemax=16 filltype=nothing \
        $middle ! fakesink sync=false
      end=$(date +%s%N)
      echo "$element $(( (end - start) / buffers ))" | tee -a "$out/handoff.txt"
    done
  done
fi

if section 3; then
  echo "== 3. analysis cost"
  "$build_dir/pipelines/bench/bench_analysis" $([ $quick = 1 ] && echo --quick || echo --rounds 5) | tee "$out/analysis.md"
fi

if section 4 && [ $quick = 0 ]; then
  start_testcam --width 1280 --height 720 --fps 30
  echo "== 4. density: cameras in one process, each rtspsrc ! decodebin ! latestframe ! cvmotion"
  for cameras in 1 2 4; do rtsp density 0 --cameras "$cameras"; done
  stop_testcam
fi

"$(system_python)" "$LATESTFRAME_ROOT/pipelines/bench/bench_report.py" "$out" --seconds "$seconds"

#!/usr/bin/env bash
# The capture API's examples (issue 6) on the bundled test camera: installs
# the Debian packages that are missing, builds if needed, starts
# latestframe-testcam playing OpenCV's vtest.avi at 30 fps, and runs the C++
# example (or, with --python, the Python one) on it: the newest frame, a
# 100 ms analysis, what it found and how many frames it skipped.
#   ./pipelines/capture-example.sh
#   ./pipelines/capture-example.sh --python --seconds 20
#   ./pipelines/capture-example.sh --uri rtsp://camera/stream --seconds 0
# --seconds N (default 10; 0 = until the stream ends), --extra-ms N (the
# analysis' extra time, default 100) and --protocols go to the example.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
sample_data=${LATESTFRAME_SAMPLE_DATA:-/usr/share/doc/opencv-doc/examples/data}

python=0 uri="" seconds=10 extra_ms=100 passed=()
while [ $# -gt 0 ]; do
  case $1 in
    --python) python=1; shift ;;
    --uri) uri=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --extra-ms) extra_ms=$2; shift 2 ;;
    --protocols) passed+=("$1" "$2"); shift 2 ;;
    *) echo "unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done

prepare_build

if [ -z "$uri" ]; then
  trap stop_testcam EXIT
  start_testcam --file="$sample_data/vtest.avi" --width=768 --height=576
  uri=$url
  echo "test camera: $uri (vtest.avi, 768x576@30)"
fi

if [ "$python" = 1 ]; then
  # The package latestframe as built (<build>/src/capture/python), unless one
  # on PYTHONPATH already comes first.
  PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$build_dir/src/capture/python \
    "$(system_python)" "$LATESTFRAME_ROOT/src/capture/examples/newest_frame.py" "$uri" \
      --seconds "$seconds" --extra-ms "$extra_ms" "${passed[@]}"
else
  "$build_dir/src/capture/latestframe-capture-example" "$uri" \
    --seconds "$seconds" --extra-ms "$extra_ms" "${passed[@]}"
fi

#!/usr/bin/env bash
# Frame age from the camera's clock over a long run (pipelines/clock-drift.py):
# installs what is missing, builds if needed, starts the bundled test camera
# at 1280x720@30 and reads it over TCP through latestframe for --minutes
# (default 5), printing latestframe's age by capture time and, beside it, by
# running time, minute by minute.
#   ./pipelines/clock-drift.sh                 # 5 minutes, the figure in docs/memory.md
#   ./pipelines/clock-drift.sh --minutes 0.25  # what the suite runs
#   ./pipelines/clock-drift.sh --uri rtsp://camera/stream --minutes 60
# Other options (--check, --sample S) go to clock-drift.py.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

uri="" passed=()
while [ $# -gt 0 ]; do
  case $1 in
    --uri) uri=$2; shift 2 ;;
    *) passed+=("$1"); shift ;;
  esac
done

prepare_build
if [ -z "$uri" ]; then
  trap stop_testcam EXIT
  start_testcam --width=1280 --height=720 --fps=30
  uri=$url
fi
"$(system_python)" "$LATESTFRAME_ROOT/pipelines/clock-drift.py" --uri "$uri" "${passed[@]}"

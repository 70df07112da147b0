#!/usr/bin/env bash
# A camera with motion and people boxed on the picture.
#   ./pipelines/rtsp-overlay.sh --uri rtsp://127.0.0.1:8554/cam --sink autovideosink
set -euo pipefail
source "$(dirname "$0")/lib/launch.sh"
run_launch rtspsrc location="$uri" protocols="$protocols" latency=0 add-reference-timestamp-meta=true \
  ! decodebin ! latestframe ! videoconvert ! cvmotion ! cvpeopledetect analysis-width=640 \
  ! cvoverlay ! videoconvert ! $sink

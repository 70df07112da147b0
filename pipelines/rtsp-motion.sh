#!/usr/bin/env bash
# A camera analysed for motion on the newest frame; results as bus messages.
#   ./pipelines/rtsp-motion.sh --uri rtsp://127.0.0.1:8554/cam [--protocols udp] [--seconds 10]
set -euo pipefail
source "$(dirname "$0")/lib/launch.sh"
run_launch rtspsrc location="$uri" protocols="$protocols" latency=0 add-reference-timestamp-meta=true \
  ! decodebin ! latestframe ! videoconvert ! cvmotion ! $sink

#!/usr/bin/env bash
# Records the full-rate camera stream (no re-encoding) to a Matroska file
# while only the analysis branch goes through latestframe.
#   ./pipelines/rtsp-record-and-analyse.sh --uri rtsp://127.0.0.1:8554/cam --seconds 10 [record.mkv]
set -euo pipefail
source "$(dirname "$0")/lib/launch.sh"
file=${extra[0]:-record.mkv}
run_launch rtspsrc location="$uri" protocols="$protocols" latency=0 add-reference-timestamp-meta=true \
  ! rtph264depay ! h264parse ! tee name=t \
  t. ! queue ! matroskamux ! filesink location="$file" \
  t. ! queue leaky=downstream max-size-buffers=2 ! avdec_h264 ! latestframe ! videoconvert ! cvmotion ! $sink

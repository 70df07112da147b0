#!/usr/bin/env bash
# Several cameras in one process under one memory budget: their held and
# in-flight frames together never exceed --budget-bytes.
#   ./pipelines/rtsp-cameras-one-budget.sh --uri URL1 --uri2 URL2 [--budget-bytes N] [--seconds 10]
set -euo pipefail
args=() uris=() budget=8000000
while [ $# -gt 0 ]; do
  case $1 in
    --uri|--uri2|--uri3|--uri4) uris+=("$2"); shift 2 ;;
    --budget-bytes) budget=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#uris[@]} -gt 0 ] || { echo "usage: $0 --uri URL1 [--uri2 URL2 ...] [--budget-bytes N] [--seconds N]" >&2; exit 2; }
source "$(dirname "$0")/lib/launch.sh" --uri "${uris[0]}" "${args[@]}"
branches=()
for camera in "${uris[@]}"; do
  branches+=(rtspsrc location="$camera" protocols="$protocols" latency=0 add-reference-timestamp-meta=true ! decodebin
    ! latestframe memory-budget=cameras memory-budget-bytes="$budget" stats-interval=1000
    ! videoconvert ! cvmotion ! fakesink)
done
run_launch "${branches[@]}"

#!/usr/bin/env bash
# A camera analysed for motion at a chosen rate, decoding only what the
# analysis needs: latestframe sits between the parser and the decoder.
# Prints latestframe's stats every second (decoding, decode-only,
# dropped-skipped-delta, dropped-broken-chain, key-interval).
#   ./pipelines/rtsp-decode-only-analysed.sh --uri rtsp://127.0.0.1:8554/cam \
#       [--decode auto|key-units|on-demand|all] [--rate 1] [--seconds 10]
set -euo pipefail
source "$(dirname "$0")/lib/launch.sh"
decode=auto rate=1
set -- "${extra[@]+"${extra[@]}"}"
while [ $# -gt 0 ]; do
  case $1 in
    --decode) decode=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
run_launch rtspsrc location="$uri" protocols="$protocols" latency=0 add-reference-timestamp-meta=true \
  ! rtph264depay ! h264parse \
  ! latestframe decode="$decode" analysis-rate="$rate" stats-interval=1000 \
  ! avdec_h264 ! videoconvert ! cvmotion analysis-width=320 ! $sink

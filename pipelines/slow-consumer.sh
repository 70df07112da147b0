#!/usr/bin/env bash
# A live 640x480@30 source read by a consumer that takes 100 ms a frame.
# With latestframe's default (leaky=downstream) the source keeps its pace
# and 150 frames take about 5 s; with leaky=no the consumer holds the source
# up and they take about 15 s.
#   ./pipelines/slow-consumer.sh [leaky] [num-buffers]
set -euo pipefail
leaky=${1:-downstream}
buffers=${2:-150}
exec gst-launch-1.0 videotestsrc is-live=true num-buffers="$buffers" \
  ! video/x-raw,width=640,height=480,framerate=30/1 \
  ! latestframe leaky="$leaky" \
  ! identity sleep-time=100000 \
  ! fakesink sync=false

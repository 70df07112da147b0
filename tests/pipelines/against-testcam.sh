#!/usr/bin/env bash
# Runs a pipelines/ script against a fresh test camera for a few seconds;
# passes when it exits 0 and printed analysis messages.
#   against-testcam.sh TESTCAM SCRIPT [SCRIPT ARGS...]
set -uo pipefail
testcam=$1 script=$2
shift 2
log=$(mktemp) camlog=$(mktemp)
trap 'kill "$cam" 2>/dev/null; wait "$cam" 2>/dev/null; rm -f "$log" "$camlog"' EXIT
"$testcam" --port 0 --width 320 --height 240 --duration 60 >"$camlog" 2>&1 &
cam=$!
for _ in $(seq 100); do [ -s "$camlog" ] && break; sleep 0.1; done
url=$(head -1 "$camlog")
case $url in rtsp://*) ;; *) echo "the test camera did not start: $(cat "$camlog")"; exit 1 ;; esac
"$script" --uri "$url" --seconds 4 "$@" >"$log" 2>&1
status=$?
messages=$(grep -c '(element): cv\|latestframe-stats' "$log")
echo "$(basename "$script") $*: exit $status, $messages analysis messages"
# 130: gst-launch was interrupted before its forced EOS could finish (the
# stop came while it was still settling); the launch line itself worked if
# it analysed frames.
[ "$status" -eq 0 ] || [ "$status" -eq 130 ] || { tail -20 "$log"; exit 1; }
[ "$messages" -gt 0 ] || { tail -20 "$log"; exit 1; }
for file in "$@"; do
  case $file in *.mkv) [ -s "$file" ] || { echo "no recording in $file"; exit 1; } ;; esac
done

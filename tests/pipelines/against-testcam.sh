#!/usr/bin/env bash
# Runs a pipelines/ script against a fresh test camera for a few seconds;
# passes when it exits 0 and printed analysis messages.
#   against-testcam.sh TESTCAM SCRIPT [SCRIPT ARGS...]
set -uo pipefail
source "$(dirname "$0")/../../pipelines/lib/common.sh"
export LATESTFRAME_TESTCAM=$1
script=$2
shift 2
log=$(mktemp)
trap 'stop_testcam; rm -f "$log"' EXIT
start_testcam --width 320 --height 240 --duration 60 || exit 1
"$script" --uri "$url" --seconds 4 "$@" >"$log" 2>&1
status=$?
messages=$(grep -c '(element): cv\|latestframe-stats' "$log")
echo "$(basename "$script") $*: exit $status, $messages analysis messages"
# 130: gst-launch was interrupted before its forced EOS could finish (the
# stop came while it was still settling); the launch line itself worked if
# it analysed frames.
# 1 with only rtspsrc failing to send its PAUSE/TEARDOWN once the pipeline had
# reached EOS and was being set to NULL: the server closed the connection
# first (rtspsrc's shutdown race after -e); the launch line had done its work.
stopped_after_eos() {
  grep -q "EOS received - stopping pipeline" "$log" || return 1
  awk '/Setting pipeline to NULL/ { stopping = 1 }
       /^ERROR: from element/ { errors++; if (!stopping || $0 !~ /GstRTSPSrc/) bad++ }
       END { exit !(errors > 0 && bad == 0) }' "$log"
}
if [ "$status" -eq 1 ] && stopped_after_eos; then
  echo "(rtspsrc could not send its teardown after EOS: the server had closed the connection)"
  status=0
fi
[ "$status" -eq 0 ] || [ "$status" -eq 130 ] || { tail -20 "$log"; exit 1; }
[ "$messages" -gt 0 ] || { tail -20 "$log"; exit 1; }
for file in "$@"; do
  case $file in *.mkv) [ -s "$file" ] || { echo "no recording in $file"; exit 1; } ;; esac
done

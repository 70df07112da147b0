#!/usr/bin/env bash
# latestframe-service on the bundled test camera: a mosquitto broker on
# 127.0.0.1, N cameras reading the test camera, one service process, and a
# subscriber printing each camera's messages and health every second, then
# an excerpt of /metrics. Prints the URL of the service's page (every
# camera's newest frame with its boxes) to open meanwhile. Exits non-zero if
# a camera published nothing.
#   ./pipelines/service-demo.sh [--cameras N] [--seconds S] [--analyses FRAGMENT] [--port P]
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --cameras|--seconds|--analyses|--port) args+=("$1" "$2"); shift 2 ;;
    *) echo "usage: $0 [--cameras N] [--seconds S] [--analyses FRAGMENT] [--port P]" >&2; exit 2 ;;
  esac
done
prepare_build
exec "$(system_python)" "$LATESTFRAME_ROOT/pipelines/service_demo.py" \
  --service "$build_dir/src/service/latestframe-service" \
  --testcam "${LATESTFRAME_TESTCAM:-$build_dir/src/testcam/latestframe-testcam}" "${args[@]}"

#!/usr/bin/env bash
# The main job: installs the Debian packages that are missing, builds if
# needed, and runs the live demo (pipelines/demo.py): the bundled RTSP test
# camera playing vtest.avi, analysed on the newest frame. Options go to the
# demo:
#   ./pipelines/demo.sh --duration 20
#   ./pipelines/demo.sh --uri rtsp://camera/stream
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
build_dir=${LATESTFRAME_BUILD_DIR:-$LATESTFRAME_ROOT/build}
ensure_packages
ensure_build "$build_dir"
export GST_PLUGIN_PATH="$build_dir${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export LATESTFRAME_TESTCAM="$build_dir/src/testcam/latestframe-testcam"
exec "$(system_python)" "$LATESTFRAME_ROOT/pipelines/demo.py" "$@"

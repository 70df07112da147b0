#!/usr/bin/env bash
# The main job: installs the Debian packages that are missing, builds if
# needed, installs the build (plugins, capture library, Python package), and
# runs the live demo (pipelines/demo.py): the bundled RTSP test
# camera playing vtest.avi, analysed on the newest frame. Options go to the
# demo:
#   ./pipelines/demo.sh --duration 20
#   ./pipelines/demo.sh --uri rtsp://camera/stream
#   ./pipelines/demo.sh --install-only   # packages, build, install; no demo
#                                        # (an image for latestframe-service)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
prepare_build
# The test suite runs this script too; it does not touch the system.
[ "${LATESTFRAME_NO_INSTALL:-0}" = 1 ] || install_build "$build_dir"
[ "${1:-}" = --install-only ] && exit 0
export LATESTFRAME_TESTCAM="$build_dir/src/testcam/latestframe-testcam"
exec "$(system_python)" "$LATESTFRAME_ROOT/pipelines/demo.py" "$@"
